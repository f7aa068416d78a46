import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import { upstreamTarget } from "../../src/backends/target.ts";
import { parseBackends } from "../../src/config/backends.ts";
import { ConfigError } from "../../src/config/parse.ts";
import type { EnvVars } from "../../src/env.ts";
import { ADMIN_AUTH, chunksOf, EMULATOR_URL, emulator, freshState, gatewayWith, readSse, user } from "./helpers.ts";

// A backend named by `"binding"` instead of `"url"`: its requests go through `env.OLLAMA_VPC.fetch`, a stand-in for a
// Workers VPC service (vitest.worker.config.ts) that reaches the same Ollama emulator as EMULATOR_URL and marks what
// it carries with `x-vpc-service`.

const SECOND_URL = inject("secondEmulatorUrl");
const VIA_BINDING = [{ name: "home", kind: "ollama", binding: "OLLAMA_VPC" }];
const VIA_URL = [{ name: "home", kind: "ollama", url: EMULATOR_URL }];

/** Settings for one test; `bindings` adds test-made bindings (fetchers) to the Worker's env. */
const vars = (backends: unknown[], extra: Record<string, string> = {}, bindings: Record<string, unknown> = {}) =>
  ({ BACKENDS: JSON.stringify(backends), BACKEND_MAX_CONCURRENCY: "0", UPSTREAM_RETRY_BACKOFF: "10ms", ...extra, ...bindings }) as EnvVars;

const post = (v: EnvVars, path: string, body: unknown) =>
  gatewayWith(v, path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** What the emulator received, and how: through the binding (host and marker), or directly. */
async function arrivals(): Promise<{ path: string; via: string | undefined; host: string | undefined }[]> {
  return (await emulator.requests()).map((r) => ({ path: r.path, via: r.headers["x-vpc-service"], host: r.headers.host }));
}

/** An answer without what differs on every call (its id and time). */
const stable = (body: any) => ({ ...body, id: "<id>", created: 0 });

const utf8 = (bytes: ArrayBuffer) => new TextDecoder().decode(bytes);

beforeEach(async () => {
  await emulator.reset();
  await fetch(`${SECOND_URL}/__emulator/reset`, { method: "POST" });
});

describe("a backend reached through a binding", () => {
  it("answers chat completions, non-stream and stream, exactly as the same machine by URL does, every request through the binding", async () => {
    const request = { model: "llama3.2", messages: [user("hi there")] };
    const streamed = { ...request, stream: true, stream_options: { include_usage: true } };

    const plain = await post(vars(VIA_BINDING), "/v1/chat/completions", request);
    expect(plain.status).toBe(200);
    const plainBody = (await plain.json()) as any;
    expect(plainBody.choices[0].message.content).toBe("Hello! You said: hi there");
    const stream = await post(vars(VIA_BINDING), "/v1/chat/completions", streamed);
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const streamData = (await readSse(stream)).data;
    expect(streamData.at(-1)).toBe("[DONE]");

    // Tags to resolve the name, then the chat, twice: all through the binding, with the placeholder URL's host.
    const through = await arrivals();
    expect(through.filter((r) => r.path === "/api/chat")).toHaveLength(2);
    expect(through.every((r) => r.via === "OLLAMA_VPC" && r.host === "home.internal")).toBe(true);

    await emulator.reset();
    const plainByUrl = await post(vars(VIA_URL), "/v1/chat/completions", request);
    const streamByUrl = await post(vars(VIA_URL), "/v1/chat/completions", streamed);
    const direct = await arrivals();
    expect(direct.filter((r) => r.path === "/api/chat")).toHaveLength(2);
    expect(direct.every((r) => r.via === undefined && r.host === new URL(EMULATOR_URL).host)).toBe(true);

    expect(stable(plainBody)).toEqual(stable(await plainByUrl.json()));
    const byUrlData = (await readSse(streamByUrl)).data;
    expect(chunksOf(streamData).map(stable)).toEqual(chunksOf(byUrlData).map(stable));
    expect(streamData.length).toBe(byUrlData.length);
  });

  it("sends the configured headers (Access token, llama-server key) through the binding, and never the client's", async () => {
    const backends = [{ name: "home", kind: "ollama", binding: "OLLAMA_VPC", api_key: "$HOME_KEY", headers: { "x-home": "1" } }];
    const extra = { HOME_KEY: "home-secret", CF_ACCESS_CLIENT_ID: "id.access", CF_ACCESS_CLIENT_SECRET: "access-secret" };
    expect((await post(vars(backends, extra), "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] })).status).toBe(200);
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.headers).toMatchObject({
      host: "home.internal",
      "x-vpc-service": "OLLAMA_VPC",
      "cf-access-client-id": "id.access",
      "cf-access-client-secret": "access-secret",
      authorization: "Bearer home-secret",
      "x-home": "1",
    });
  });

  it("lists the emulator's models in /v1/models, as the URL backend does", async () => {
    const tags = (await (await fetch(`${EMULATOR_URL}/api/tags`)).json()) as { models: { name: string }[] };
    await emulator.reset();
    const res = await gatewayWith(vars(VIA_BINDING), "/v1/models");
    expect(res.status).toBe(200);
    const listed = (await res.json()) as any;
    expect(listed.data.map((model: any) => model.id).sort()).toEqual(tags.models.map((model) => model.name).sort());
    expect(listed.data.every((model: any) => model.owned_by === "home")).toBe(true);
    expect(await arrivals()).toEqual([{ path: "/api/tags", via: "OLLAMA_VPC", host: "home.internal" }]);
    expect(listed).toEqual(await (await gatewayWith(vars(VIA_URL), "/v1/models")).json());
  });

  it("is healthy in /health, probed through the binding", async () => {
    const anonymous = await gatewayWith(vars(VIA_BINDING), "/health", { headers: { authorization: "" } });
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toEqual({ status: "ok" });
    freshState();
    const admin = await gatewayWith(vars(VIA_BINDING), "/health", { headers: { authorization: ADMIN_AUTH } });
    expect(await admin.json()).toEqual({ status: "ok", backends: [{ name: "home", kind: "ollama", status: "ok", latency_ms: expect.any(Number) }] });
    expect(await arrivals()).toEqual([
      { path: "/api/version", via: "OLLAMA_VPC", host: "home.internal" },
      { path: "/api/version", via: "OLLAMA_VPC", host: "home.internal" },
    ]);
  });

  it("passes native routes through byte for byte: /api/tags, and an /api/chat stream", async () => {
    await fetch(`${EMULATOR_URL}/__emulator/clock`, { method: "POST", body: JSON.stringify({ createdAt: "2026-11-01T10:00:00.5Z" }) });
    const tags = await gatewayWith(vars(VIA_BINDING), "/api/tags");
    expect(tags.status).toBe(200);
    expect(utf8(await tags.arrayBuffer())).toBe(utf8(await (await fetch(`${EMULATOR_URL}/api/tags`)).arrayBuffer()));

    const chat = await post(vars(VIA_BINDING), "/api/chat", { model: "llama3.2:latest", messages: [user("hi")] });
    expect(chat.status).toBe(200);
    expect(chat.headers.get("content-type")).toBe("application/x-ndjson");
    const text = utf8(await chat.arrayBuffer());
    const reference = await fetch(`${EMULATOR_URL}/api/chat`, { method: "POST", body: JSON.stringify({ model: "llama3.2:latest", messages: [user("hi")] }) });
    expect(text).toBe(utf8(await reference.arrayBuffer()));
    const [forwarded] = await emulator.requests("/api/chat");
    expect(forwarded!.headers["x-vpc-service"]).toBe("OLLAMA_VPC");
  });

  it("streams as the machine writes, and a client that leaves stops the request through the binding", async () => {
    await emulator.fault({ fault: { kind: "stall", afterLines: 2 } });
    const res = await post(vars(VIA_BINDING), "/v1/chat/completions", { model: "llama3.2", stream: true, messages: [user("one two")] });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("You")) text += decoder.decode((await reader.read()).value, { stream: true });
    expect((await emulator.stats()).open).toBe(1);
    await reader.cancel();
    await expect.poll(async () => (await emulator.stats()).open).toBe(0);
    expect((await emulator.stats()).aborted).toBe(1);
  });

  it("times out a silent machine behind the binding: its headers timeout aborts the request (504)", async () => {
    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 3000 } });
    const res = await post(vars(VIA_BINDING, { UPSTREAM_HEADERS_TIMEOUT: "300ms" }), "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
    expect(res.status).toBe(504);
    expect(((await res.json()) as any).error).toMatchObject({ type: "server_error", code: "backend_timeout" });
  });
});

describe("failover with a binding", () => {
  /** OLLAMA_VPC, except that /api/chat cannot connect (a VPC binding's fetch throws then); counts those attempts. */
  function brokenChat() {
    const real = (env as unknown as Record<string, Fetcher>).OLLAMA_VPC!;
    const fetcher = {
      chats: 0,
      fetch(request: Request): Promise<Response> {
        if (new URL(request.url).pathname !== "/api/chat") return real.fetch(request);
        fetcher.chats++;
        return Promise.reject(new TypeError("Network connection lost."));
      },
    };
    return fetcher;
  }

  it("a binding whose fetch throws is marked down and the request goes to the next machine", async () => {
    const broken = brokenChat();
    // home ranks first: unlimited free capacity against laptop's 2.
    const backends = [
      { name: "home", kind: "ollama", binding: "BROKEN_VPC" },
      { name: "laptop", kind: "ollama", url: SECOND_URL, max_concurrency: 2 },
    ];
    // The model lists stay cached: a fresh listing through the binding would mark home up again.
    for (let i = 0; i < 2; i++) {
      const res = await post(vars(backends, { MODELS_CACHE_TTL: "1m" }, { BROKEN_VPC: broken }), "/v1/chat/completions", {
        model: "qwen3:8b",
        messages: [user("x")],
      });
      expect(res.status).toBe(200);
    }
    expect(broken.chats).toBe(1); // tried once (no retries while another machine can take over), then in cooldown
    const onLaptop = (await (await fetch(`${SECOND_URL}/__emulator/requests`)).json()) as { path: string }[];
    expect(onLaptop.filter((r) => r.path === "/api/chat")).toHaveLength(2);
  });

  it("a machine behind a binding that answers 5xx fails over to a URL backend", async () => {
    await emulator.fault({ fault: { kind: "busy" }, times: 1 });
    const backends = [
      { name: "home", kind: "ollama", binding: "OLLAMA_VPC" },
      { name: "laptop", kind: "ollama", url: SECOND_URL, max_concurrency: 2 },
    ];
    const res = await post(vars(backends), "/v1/chat/completions", { model: "qwen3:8b", messages: [user("x")] });
    expect(res.status).toBe(200);
    expect((await arrivals()).filter((r) => r.path === "/api/chat")).toEqual([{ path: "/api/chat", via: "OLLAMA_VPC", host: "home.internal" }]);
    const onLaptop = (await (await fetch(`${SECOND_URL}/__emulator/requests`)).json()) as { path: string }[];
    expect(onLaptop.filter((r) => r.path === "/api/chat")).toHaveLength(1);
  });

  it("alone, a binding that cannot connect is retried UPSTREAM_RETRIES times, then 502 backend_unavailable", async () => {
    const broken = brokenChat();
    const res = await post(
      vars([{ name: "home", kind: "ollama", binding: "BROKEN_VPC" }], { UPSTREAM_RETRIES: "2" }, { BROKEN_VPC: broken }),
      "/v1/chat/completions",
      {
        model: "llama3.2",
        messages: [user("x")],
      },
    );
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error).toMatchObject({ type: "server_error", code: "backend_unavailable" });
    expect(broken.chats).toBe(3);
  });
});

describe("a binding that is not there", () => {
  afterEach(() => vi.restoreAllMocks());

  it("is a configuration error (500 invalid_configuration) naming BACKENDS and the binding in the log, never a secret, calling no backend", async () => {
    const logged: string[] = [];
    for (const level of ["error", "warn", "log"] as const)
      vi.spyOn(console, level).mockImplementation((...args) => void logged.push(args.map(String).join(" ")));
    const secret = String((env as unknown as EnvVars).ADMIN_TOKEN);
    const cases = {
      NO_SUCH_BINDING:
        'Invalid configuration BACKENDS: [0].binding: there is no binding named NO_SUCH_BINDING (declare it in wrangler.toml, e.g. [[vpc_services]] binding = "NO_SUCH_BINDING")',
      KEYS: "Invalid configuration BACKENDS: [0].binding: KEYS has no fetch method (name a VPC service or a service binding)",
      ADMIN_TOKEN: "Invalid configuration BACKENDS: [0].binding: ADMIN_TOKEN has no fetch method (name a VPC service or a service binding)",
    };
    for (const [binding, message] of Object.entries(cases)) {
      logged.length = 0;
      const res = await post(vars([{ name: "home", kind: "ollama", binding }]), "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
      expect(res.status, binding).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text).error, binding).toMatchObject({ type: "server_error", code: "invalid_configuration" });
      expect(text).not.toContain(secret);
      expect(logged.join("\n"), binding).toContain(message);
      expect(logged.join("\n")).not.toContain(secret);
    }
    expect(await emulator.requests()).toEqual([]);
  });
});

describe("upstreamTarget (what app.ts builds each backend's client from)", () => {
  const ACCESS = { "CF-Access-Client-Id": "id", "CF-Access-Client-Secret": "secret" };
  const vpc = { fetch: async (_request: Request) => new Response("") };

  it("takes the binding from the Worker's env", () => {
    const bindings = env as unknown as Record<string, unknown>;
    const [home] = parseBackends(JSON.stringify(VIA_BINDING), "ignored", {}, bindings);
    const target = upstreamTarget(home!, bindings);
    expect(target.url).toBe("http://home.internal");
    expect(target.fetcher).toBe(bindings.OLLAMA_VPC);
  });

  it("carries a binding backend's fetcher, with its headers and llama-server key", () => {
    const [desk, box] = parseBackends(
      JSON.stringify([
        { name: "desk", kind: "ollama", binding: "OLLAMA" },
        { name: "box", kind: "llamacpp", binding: "OLLAMA", api_key: "k" },
      ]),
      "ignored",
      ACCESS,
      { OLLAMA: vpc },
    );
    const env = { OLLAMA: vpc };
    expect(upstreamTarget(desk!, env)).toStrictEqual({ url: "http://desk.internal", headers: ACCESS, fetcher: vpc });
    expect(upstreamTarget(box!, env)).toStrictEqual({ url: "http://box.internal", headers: { ...ACCESS, authorization: "Bearer k" }, fetcher: vpc });
  });

  it("leaves a url backend on the global fetch", () => {
    const [laptop] = parseBackends('[{"name":"laptop","kind":"llamacpp","url":"https://laptop.example.com/","api_key":"k"}]', "ignored", {}, {});
    expect(upstreamTarget(laptop!, {})).toStrictEqual({ url: "https://laptop.example.com", headers: { authorization: "Bearer k" } });
  });

  it("is a ConfigError naming BACKENDS and the binding when another env lacks it", () => {
    const [desk] = parseBackends('[{"name":"desk","kind":"ollama","binding":"OLLAMA"}]', "ignored", {}, { OLLAMA: vpc });
    expect(() => upstreamTarget(desk!, { OLLAMA: "a-secret-string" })).toThrow(
      new ConfigError("BACKENDS", '"desk".binding: OLLAMA has no fetch method (name a VPC service or a service binding)'),
    );
    expect(() => upstreamTarget(desk!, {})).toThrow(/^Invalid configuration BACKENDS: "desk"\.binding: there is no binding named OLLAMA /);
  });
});
