import { exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { ADMIN_AUTH, createKey, EMULATOR_URL, emulator, gateway, gatewayWith, user } from "./helpers.ts";

beforeEach(() => emulator.reset());

const OLLAMA_JSON = "application/json; charset=utf-8";
const NDJSON = "application/x-ndjson";
const admin = { authorization: ADMIN_AUTH };

/** A native call through the gateway (the test key unless `headers` says otherwise). */
function native(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
  return gateway(path, init);
}

/** The same call straight to the emulator, to compare bytes. */
function direct(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${EMULATOR_URL}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** Fix the emulator's created_at so two answers to the same request are byte-identical. */
async function fixClock(): Promise<void> {
  await fetch(`${EMULATOR_URL}/__emulator/clock`, { method: "POST", body: JSON.stringify({ createdAt: "2026-11-01T10:00:00.5Z" }) });
}

async function ollamaError(res: Response): Promise<string> {
  expect(res.headers.get("content-type")).toBe(OLLAMA_JSON);
  const body = (await res.json()) as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(["error"]);
  expect(typeof body.error).toBe("string");
  return body.error as string;
}

// (workerd warns when .text() reads an NDJSON body; decode the bytes instead)
const utf8 = (bytes: ArrayBuffer) => new TextDecoder().decode(bytes);
const lines = (text: string) =>
  text
    .trimEnd()
    .split("\n")
    .map((line) => JSON.parse(line));

describe("read-only routes for keys", () => {
  it("GET /api/version and /api/tags pass through untouched", async () => {
    const version = await native("GET", "/api/version");
    expect(version.status).toBe(200);
    expect(version.headers.get("content-type")).toBe(OLLAMA_JSON);
    expect(version.headers.get("x-request-id")).toMatch(/^req_/);
    expect(await version.json()).toEqual({ version: "0.33.0" });
    const tags = await native("GET", "/api/tags");
    expect(tags.headers.get("content-type")).toBe(OLLAMA_JSON);
    expect(await tags.arrayBuffer().then(utf8)).toBe(await (await direct("GET", "/api/tags")).arrayBuffer().then(utf8));
    const head = await native("HEAD", "/api/tags");
    expect([head.status, await head.arrayBuffer().then(utf8)]).toEqual([200, ""]);
  });

  it("POST /api/show resolves aliases and untagged names, including the legacy `name` field", async () => {
    const res = await native("POST", "/api/show", { model: "gpt-4o-mini" });
    expect(res.status).toBe(200);
    const show = (await res.json()) as any;
    expect(show.details.family).toBe("llama");
    await native("POST", "/api/show", { name: "nomic-embed-text" });
    const [viaAlias, viaName] = await emulator.requests("/api/show");
    expect(viaAlias!.body).toEqual({ model: "llama3.2:latest" });
    expect(viaName!.body).toEqual({ model: "nomic-embed-text:latest" });
    // The blob's path on the home machine is not shown: the Modelfile names the model instead.
    const direct = (await (await fetch(`${EMULATOR_URL}/api/show`, { method: "POST", body: JSON.stringify({ model: "llama3.2:latest" }) })).json()) as any;
    expect(direct.modelfile).toMatch(/^FROM \/root\/\.ollama\/models\/blobs\/sha256-/m);
    expect(show.modelfile).toBe(direct.modelfile.replace(/^FROM \/.*$/m, "FROM llama3.2:latest"));
    expect({ ...show, modelfile: direct.modelfile }).toStrictEqual(direct);
  });

  it("GET /api/ps lists what ran", async () => {
    await (await native("POST", "/api/chat", { model: "llama3.2", stream: false, messages: [user("x")] })).arrayBuffer().then(utf8);
    const ps = (await (await native("GET", "/api/ps")).json()) as any;
    expect(ps.models.map((model: any) => model.name)).toEqual(["llama3.2:latest"]);
  });

  it("a key's allow-list limits /api/tags, /api/ps and the models it may call (404, as for a missing model)", async () => {
    const { key } = await createKey({ name: "native-limited", models: ["llama3.2"], rpm: 1000, tpm: 1_000_000 });
    const auth = { authorization: `Bearer ${key}` };
    const tags = (await (await native("GET", "/api/tags", undefined, auth)).json()) as any;
    expect(tags.models.map((model: any) => model.name)).toEqual(["llama3.2:latest"]);
    expect(tags.models[0]).toMatchObject({ details: { family: "llama" }, capabilities: ["completion", "tools"] });
    const refused = await native("POST", "/api/chat", { model: "qwen3:8b", messages: [user("x")] }, auth);
    expect(refused.status).toBe(404);
    expect(refused.headers.get("x-ratelimit-limit-requests")).toBe("1000"); // authenticated answers carry them
    expect(await ollamaError(refused)).toBe("The model 'qwen3:8b' does not exist or this key may not use it. Closest available models: llama3.2:latest.");
    expect((await native("POST", "/api/show", { model: "qwen3:8b" }, auth)).status).toBe(404);
    expect(await emulator.requests("/api/chat")).toEqual([]);
    await native("POST", "/api/chat", { model: "qwen3:8b", stream: false, messages: [user("x")] }).then((res) => res.arrayBuffer());
    const running = async (headers: Record<string, string> = {}) =>
      ((await (await native("GET", "/api/ps", undefined, headers)).json()) as any).models.map((model: any) => model.name);
    expect(await running()).toEqual(["qwen3:8b"]);
    expect(await running(auth)).toEqual([]);
  });

  it("a key over its request limit gets 429 {error} with Retry-After and the rate-limit headers", async () => {
    const { key } = await createKey({ name: "native-rpm", rpm: 1 });
    const auth = { authorization: `Bearer ${key}` };
    const first = await native("GET", "/api/version", undefined, auth);
    expect(first.status).toBe(200);
    expect(first.headers.get("x-ratelimit-limit-requests")).toBe("1");
    const second = await native("GET", "/api/version", undefined, auth);
    expect(second.status).toBe(429);
    expect(Number(second.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(second.headers.get("x-ratelimit-remaining-requests")).toBe("0");
    await ollamaError(second);
  });
});

describe("generation routes pass through byte for byte", () => {
  it("a /api/chat stream: untagged name resolved, NDJSON bytes and content type as Ollama sent them", async () => {
    await fixClock();
    const res = await native("POST", "/api/chat", { model: "llama3.2", messages: [user("hi there ✓")] });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(NDJSON);
    const text = await res.arrayBuffer().then(utf8);
    const [forwarded] = await emulator.requests("/api/chat");
    // Only `model` changed and the answer's ceiling (DEFAULT_MAX_TOKENS) added; `stream` stays absent, so Ollama's
    // native default (true) applies.
    expect(forwarded!.body).toEqual({ model: "llama3.2:latest", messages: [user("hi there ✓")], options: { num_predict: 8192 } });
    const reference = await direct("POST", "/api/chat", forwarded!.body);
    expect(text).toBe(await reference.arrayBuffer().then(utf8));
    expect(
      lines(text)
        .map((line) => line.message.content)
        .join(""),
    ).toBe("Hello! You said: hi there ✓");
  });

  it("/api/generate non-stream and /api/embed through an alias: same bytes as Ollama's", async () => {
    await fixClock();
    const generated = await native("POST", "/api/generate", { model: "gpt-4o-mini", prompt: "why", stream: false, options: { num_predict: 2 } });
    expect(generated.headers.get("content-type")).toBe(OLLAMA_JSON);
    const generateText = await generated.arrayBuffer().then(utf8);
    const [forwarded] = await emulator.requests("/api/generate");
    expect(forwarded!.body).toEqual({ model: "llama3.2:latest", prompt: "why", stream: false, options: { num_predict: 2 } });
    expect(generateText).toBe(await (await direct("POST", "/api/generate", forwarded!.body)).arrayBuffer().then(utf8));
    expect(JSON.parse(generateText)).toMatchObject({ response: "Hello! You", done_reason: "length" });

    const embedded = await native("POST", "/api/embed", { model: "nomic-embed-text", input: ["a", "b"] });
    const embedText = await embedded.arrayBuffer().then(utf8);
    expect(embedText).toBe(await (await direct("POST", "/api/embed", { model: "nomic-embed-text:latest", input: ["a", "b"] })).arrayBuffer().then(utf8));
    expect((JSON.parse(embedText) as any).embeddings).toHaveLength(2);
  });

  it("streams as Ollama writes: lines arrive before the answer ends, and cancelling aborts upstream", async () => {
    await emulator.fault({ fault: { kind: "stall", afterLines: 2 } });
    const res = await native("POST", "/api/chat", { model: "llama3.2", messages: [user("one two")] });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (text.split("\n").length < 3) text += decoder.decode((await reader.read()).value, { stream: true });
    expect(lines(text).map((line) => line.message.content)).toEqual(["Hello!", " You"]);
    expect((await emulator.stats()).open).toBe(1);
    await reader.cancel();
    await expect.poll(async () => (await emulator.stats()).open).toBe(0);
    expect((await emulator.stats()).aborted).toBe(1);
  });

  it("a stream that stalls past UPSTREAM_IDLE_TIMEOUT ends with an error line, and the upstream call is aborted", async () => {
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 } });
    const res = await gatewayWith({ UPSTREAM_IDLE_TIMEOUT: "300ms" }, "/api/generate", {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2", prompt: "x" }),
    });
    const received = lines(await res.arrayBuffer().then(utf8));
    expect(received[0].response).toBe("Hello!");
    expect(received.at(-1)).toEqual({ error: "The backend sent nothing for 300 ms; the request was stopped." });
    await expect.poll(async () => (await emulator.stats()).open).toBe(0);
    expect((await emulator.stats()).aborted).toBe(1);
  });

  it("settles the key's usage from the final done:true object", async () => {
    const { id, key } = await createKey({ name: "native-usage", rpm: 1000, tpm: 1_000_000 });
    const res = await native("POST", "/api/chat", { model: "llama3.2", messages: [user("count me")] }, { authorization: `Bearer ${key}` });
    const final = lines(await res.arrayBuffer().then(utf8)).at(-1);
    expect(final).toMatchObject({ done: true, prompt_eval_count: expect.any(Number), eval_count: 5 });
    await expect
      .poll(async () => {
        const list = (await (await exports.default.fetch(new Request("https://gateway.test/admin/keys", { headers: admin }))).json()) as any;
        return list.data.find((entry: any) => entry.id === id)?.usage;
      })
      .toEqual({ requests: 1, prompt_tokens: final.prompt_eval_count, completion_tokens: 5 });
  });

  it("an error line from Ollama mid-stream passes through; a broken connection ends with Ollama's error line", async () => {
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 1, message: "runner crashed" }, times: 1 });
    const crashed = lines(await (await native("POST", "/api/chat", { model: "llama3.2", messages: [user("x")] })).arrayBuffer().then(utf8));
    expect(crashed.at(-1)).toEqual({ error: "runner crashed" });
    await emulator.fault({ fault: { kind: "drop", afterLines: 2 }, times: 1 });
    const dropped = lines(await (await native("POST", "/api/chat", { model: "llama3.2", messages: [user("a b c")] })).arrayBuffer().then(utf8));
    expect(dropped.slice(0, 2).map((line) => line.message.content)).toEqual(["Hello!", " You"]);
    expect(dropped.at(-1)).toEqual({ error: "The connection to the backend broke during the answer." });
  });
});

describe("errors in Ollama's shape", () => {
  it("Ollama's own errors pass through with their status and message", async () => {
    const thinking = await native("POST", "/api/chat", { model: "llama3.2", think: true, messages: [user("x")] });
    expect(thinking.status).toBe(400);
    expect(await ollamaError(thinking)).toBe('"llama3.2:latest" does not support thinking');
    await emulator.fault({ fault: { kind: "busy" }, paths: ["/api/generate"] });
    const busy = await native("POST", "/api/generate", { model: "llama3.2", prompt: "x" });
    expect(busy.status).toBe(503);
    expect(await ollamaError(busy)).toBe("server busy, please try again.  maximum pending requests exceeded");
  });

  it("our own refusals: 401, 400, 404 for an unknown model, 413", async () => {
    const anonymous = await native("GET", "/api/tags", undefined, { authorization: "" });
    expect(anonymous.status).toBe(401);
    expect(await ollamaError(anonymous)).toMatch(/^Missing API key/);
    const bad = await native("POST", "/api/chat", "{nope");
    expect(bad.status).toBe(400);
    expect(await ollamaError(bad)).toMatch(/^We could not parse the JSON body/);
    const noModel = await native("POST", "/api/generate", { prompt: "x" });
    expect([noModel.status, await ollamaError(noModel)]).toEqual([400, "model is required"]);
    const unknown = await native("POST", "/api/chat", { model: "llama3.1", messages: [user("x")] });
    expect(unknown.status).toBe(404);
    expect(await ollamaError(unknown)).toMatch(/^The model 'llama3.1' does not exist or this key may not use it\. Closest available models: llama3\.2:latest/);
    const big = await gatewayWith({ MAX_BODY_BYTES: "1KiB" }, "/api/chat", {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2", messages: [user("x".repeat(4000))] }),
    });
    expect([big.status, await ollamaError(big)]).toEqual([413, "Request body is larger than the limit of 1024 bytes."]);
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("unknown paths are 404 and wrong methods 405, both as {error}", async () => {
    for (const path of ["/api/nope", "/api/embeddings", "/api/tags/extra"]) {
      const res = await native("GET", path);
      expect(res.status, path).toBe(404);
      expect(await ollamaError(res)).toContain(path);
    }
    const wrong = await native("GET", "/api/chat");
    expect([wrong.status, wrong.headers.get("allow"), await ollamaError(wrong)]).toEqual([405, "POST", "method not allowed"]);
    const wrongAdmin = await native("GET", "/api/pull", undefined, admin);
    expect([wrongAdmin.status, await ollamaError(wrongAdmin)]).toEqual([405, "method not allowed"]);
  });

  it("backend down → 502, an HTML page → 502, no headers in time → 504", async () => {
    const down = await gatewayWith({ OLLAMA_URL: "http://127.0.0.1:9" }, "/api/version");
    expect(down.status).toBe(502);
    expect(await ollamaError(down)).toMatch(/^Could not connect to the Ollama backend: is the tunnel up and Ollama running\? \(request id: req_[0-9a-f]+\)$/);
    const downChat = await gatewayWith({ OLLAMA_URL: "http://127.0.0.1:9" }, "/api/chat", {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2", messages: [] }),
    });
    expect(downChat.status).toBe(502);
    await ollamaError(downChat);

    await emulator.fault({ fault: { kind: "html", status: 530 }, paths: ["/api/version"] });
    const html = await native("GET", "/api/version");
    expect(html.status).toBe(502);
    // The page's title names the tunnel's hostname: it goes to the log, never to the client.
    expect(await ollamaError(html)).toMatch(
      /^The tunnel or backend answered HTTP 530 with an HTML page: check that the home machine, Ollama and cloudflared are running\. \(request id: req_[0-9a-f]+\)$/,
    );

    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 2000 } });
    const slow = await gatewayWith({ UPSTREAM_HEADERS_TIMEOUT: "300ms" }, "/api/chat", {
      method: "POST",
      body: JSON.stringify({ model: "llama3.2", messages: [user("x")] }),
    });
    expect(slow.status).toBe(504);
    expect(await ollamaError(slow)).toMatch(/^The backend sent no response headers within 300 ms\. \(request id: req_[0-9a-f]+\)$/);
  });

  it("Ollama's empty 403 (Host check) and an Access login redirect are explained as 502", async () => {
    await emulator.fault({ fault: { kind: "forbidden" }, paths: ["/api/ps"], times: 1 });
    const forbidden = await native("GET", "/api/ps");
    expect(forbidden.status).toBe(502);
    expect(await ollamaError(forbidden)).toMatch(/^Ollama refused the request \(HTTP 403, empty body\).*httpHostHeader/);
    await emulator.fault({ fault: { kind: "access-redirect" }, paths: ["/api/chat"], times: 1 });
    const redirected = await native("POST", "/api/chat", { model: "llama3.2", messages: [user("x")] });
    expect(redirected.status).toBe(502);
    expect(await ollamaError(redirected)).toMatch(/Cloudflare Access login/);
  });
});

describe("upstream hygiene", () => {
  it("never forwards Authorization, Cookie, Origin or CF-* headers; a foreign Origin is not an Ollama 403", async () => {
    const spy = { cookie: "session=abc", origin: "https://evil.example", "cf-access-client-id": "client-supplied", "cf-connecting-ip": "203.0.113.9" };
    const res = await native("POST", "/api/chat", { model: "llama3.2", stream: false, messages: [user("x")] }, spy);
    expect(res.status).toBe(200);
    await (await native("POST", "/api/pull", { model: "tinyllama" }, { ...admin, ...spy })).arrayBuffer().then(utf8);
    const recorded = await emulator.requests();
    expect(recorded.map((request) => request.path)).toEqual(["/api/tags", "/api/chat", "/api/pull"]);
    for (const request of recorded) {
      const names = Object.keys(request.headers);
      for (const name of ["authorization", "cookie", "origin"]) expect(names).not.toContain(name);
      expect(names.filter((name) => name.startsWith("cf-") && name !== "cf-worker")).toEqual([]);
      expect(JSON.stringify(request)).not.toMatch(/Bearer|test-admin-token|session=abc/);
    }
  });

  it("sends the Access service-token headers when configured", async () => {
    const vars = { CF_ACCESS_CLIENT_ID: "id.access", CF_ACCESS_CLIENT_SECRET: "cfast_secret" };
    expect((await gatewayWith(vars, "/api/version")).status).toBe(200);
    const [request] = await emulator.requests("/api/version");
    expect(request!.headers).toMatchObject({ "cf-access-client-id": "id.access", "cf-access-client-secret": "cfast_secret" });
  });
});

describe("admin routes", () => {
  it("need ADMIN_TOKEN: 401 with a key or a wrong token, 404 when it is not configured", async () => {
    const withKey = await native("POST", "/api/pull", { model: "tinyllama" });
    expect(withKey.status).toBe(401);
    await ollamaError(withKey);
    const wrong = await native("DELETE", "/api/delete", { model: "llama3.2" }, { authorization: "Bearer not-the-admin-token" });
    expect([wrong.status, await ollamaError(wrong)]).toEqual([401, "The admin token is not valid."]);
    const off = await gatewayWith({ ADMIN_TOKEN: "" }, "/api/pull", { method: "POST", headers: admin, body: JSON.stringify({ model: "tinyllama" }) });
    expect(off.status).toBe(404);
    expect(await ollamaError(off)).toMatch(/^Unknown request URL: POST \/api\/pull/);
    const offBlob = await gatewayWith({ ADMIN_TOKEN: "" }, `/api/blobs/sha256:${"a".repeat(64)}`, { method: "GET", headers: admin });
    expect(offBlob.status).toBe(404);
    expect(await emulator.requests()).toEqual([]);
  });

  it("pull streams Ollama's progress untouched, and honours stream:false", async () => {
    const res = await native("POST", "/api/pull", { model: "tinyllama" }, admin);
    expect([res.status, res.headers.get("content-type")]).toEqual([200, NDJSON]);
    const text = await res.arrayBuffer().then(utf8);
    expect(text).toBe(await (await direct("POST", "/api/pull", { model: "tinyllama" })).arrayBuffer().then(utf8));
    expect(lines(text).at(-1)).toEqual({ status: "success" });
    const quiet = await native("POST", "/api/pull", { model: "tinyllama", stream: false }, admin);
    expect(await quiet.json()).toEqual({ status: "success" });
    expect((await emulator.requests("/api/pull"))[0]!.body).toEqual({ model: "tinyllama" });
    const tags = (await (await native("GET", "/api/tags")).json()) as any;
    expect(tags.models.map((model: any) => model.name)).toContain("tinyllama:latest");
  });

  it("push, create, copy and delete, with Ollama's errors passed through", async () => {
    expect(lines(await (await native("POST", "/api/push", { model: "llama3.2" }, admin)).arrayBuffer().then(utf8)).at(-1)).toEqual({ status: "success" });
    const created = await native("POST", "/api/create", { model: "mario", from: "llama3.2", system: "You are Mario", stream: false }, admin);
    expect(await created.json()).toEqual({ status: "success" });
    const copied = await native("POST", "/api/copy", { source: "mario", destination: "luigi" }, admin);
    expect([copied.status, await copied.arrayBuffer().then(utf8)]).toEqual([200, ""]);
    const deleted = await native("DELETE", "/api/delete", { model: "luigi" }, admin);
    expect([deleted.status, await deleted.arrayBuffer().then(utf8)]).toEqual([200, ""]);
    const again = await native("DELETE", "/api/delete", { model: "luigi" }, admin);
    expect([again.status, await ollamaError(again)]).toEqual([404, "model 'luigi' not found"]);
    const noSource = await native("POST", "/api/copy", { source: "ghost", destination: "x" }, admin);
    expect([noSource.status, await ollamaError(noSource)]).toEqual([404, 'model "ghost" not found']);
    // Admin calls use exact names: no alias resolution.
    expect((await emulator.requests("/api/delete"))[0]!.body).toEqual({ model: "luigi" });
  });

  it("blobs: HEAD and POST streamed through, not capped by MAX_BODY_BYTES", async () => {
    const data = new Uint8Array(64 * 1024).map((_, i) => (i * 7) % 256);
    const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))].map((b) => b.toString(16).padStart(2, "0")).join("");
    const path = `/api/blobs/sha256:${hex}`;
    expect((await native("HEAD", path, undefined, admin)).status).toBe(404);
    const upload = await gatewayWith({ MAX_BODY_BYTES: "1KiB" }, path, { method: "POST", headers: admin, body: data });
    expect([upload.status, await upload.arrayBuffer().then(utf8)]).toEqual([201, ""]);
    expect((await native("HEAD", path, undefined, admin)).status).toBe(200);
    const [recorded] = (await emulator.requests()).filter((request) => request.method === "POST");
    expect(recorded!.headers["content-type"]).toBe("application/octet-stream");
    const mismatch = await gateway(`/api/blobs/sha256:${"0".repeat(64)}`, { method: "POST", headers: admin, body: data });
    expect([mismatch.status, await ollamaError(mismatch)]).toEqual([400, `digest mismatch, expected "sha256:${"0".repeat(64)}", got "sha256:${hex}"`]);
    const invalid = await native("HEAD", "/api/blobs/sha256:xyz", undefined, admin);
    expect(invalid.status).toBe(400);
    const invalidPost = await native("POST", "/api/blobs/md5:abc", "x", admin);
    expect([invalidPost.status, await ollamaError(invalidPost)]).toEqual([400, "invalid digest format"]);
  });

  it("a client that leaves a pull aborts it upstream", async () => {
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 }, paths: ["/api/pull"] });
    const res = await native("POST", "/api/pull", { model: "tinyllama" }, admin);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await expect.poll(async () => (await emulator.stats()).open).toBe(0);
    expect((await emulator.stats()).aborted).toBe(1);
  });
});
