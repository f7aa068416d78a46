import { beforeEach, describe, expect, inject, it } from "vitest";
import { ADMIN_AUTH, chunksOf, createKey, EMULATOR_URL, emulatorAt, freshState, gatewayWith, readSse, testKey, user } from "./helpers.ts";

const SECOND_URL = inject("secondEmulatorUrl");
const LLAMA_URL = inject("llamaEmulatorUrl");
const EMBEDDER_URL = inject("llamaEmbedderUrl");

const desk = emulatorAt(EMULATOR_URL);
const laptop = emulatorAt(SECOND_URL);
const box = emulatorAt(LLAMA_URL);
const embedder = emulatorAt(EMBEDDER_URL);

const BACKENDS = [
  { name: "desk", kind: "ollama", url: EMULATOR_URL },
  { name: "laptop", kind: "ollama", url: SECOND_URL },
  { name: "box", kind: "llamacpp", url: LLAMA_URL, api_key: "$BOX_KEY" },
  { name: "embedder", kind: "llamacpp", url: EMBEDDER_URL },
];
const vars = (backends: unknown[] = BACKENDS, extra: Record<string, string> = {}) =>
  ({
    BACKENDS: JSON.stringify(backends),
    BOX_KEY: "llama-secret",
    BACKEND_COOLDOWN: "30s",
    UPSTREAM_RETRY_BACKOFF: "10ms",
    ...extra,
  }) as Record<string, string>;

const post = (path: string, body: unknown, extra: Record<string, string> = {}, backends?: unknown[]) =>
  gatewayWith(vars(backends, extra), path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
const get = (path: string, headers: Record<string, string> = {}, backends?: unknown[]) => gatewayWith(vars(backends), path, { headers });

beforeEach(async () => {
  await Promise.all([desk.reset(), laptop.reset(), box.reset(), embedder.reset()]);
});

describe("several backends: discovery and routing", () => {
  it("merges every backend's models into /v1/models, each once, owned by its backend", async () => {
    const res = await get("/v1/models");
    expect(res.status).toBe(200);
    const owners = Object.fromEntries(((await res.json()) as any).data.map((model: any) => [model.id, model.owned_by]));
    expect(owners).toMatchObject({ "llama3.2:latest": "desk", "qwen3:8b": "desk", "phi4:14b": "laptop", "qwen2.5-7b-instruct": "box" });
    expect(Object.keys(owners).filter((id) => id === "qwen3:8b")).toHaveLength(1);
  });

  it("sends a model to a machine that has it", async () => {
    expect((await post("/v1/chat/completions", { model: "phi4", messages: [user("hi")] })).status).toBe(200);
    expect(await laptop.requests("/api/chat")).toHaveLength(1);
    expect(await desk.requests("/api/chat")).toHaveLength(0);
  });

  it("spreads a model that two machines have across both", async () => {
    for (let i = 0; i < 6; i++) expect((await post("/v1/chat/completions", { model: "qwen3:8b", messages: [user("x")] })).status).toBe(200);
    const [onDesk, onLaptop] = [(await desk.requests("/api/chat")).length, (await laptop.requests("/api/chat")).length];
    expect(onDesk + onLaptop).toBe(6);
    expect(onDesk).toBeGreaterThan(0);
    expect(onLaptop).toBeGreaterThan(0);
  });

  it("fails over to the next machine when one answers 5xx before any byte, and passes over it afterwards", async () => {
    await desk.fault({ fault: { kind: "busy" } });
    await laptop.fault({ fault: { kind: "busy" }, times: 0 });
    for (let i = 0; i < 3; i++) {
      const res = await post("/v1/chat/completions", { model: "qwen3:8b", messages: [user("x")] });
      expect(res.status).toBe(200);
    }
    expect((await laptop.requests("/api/chat")).length).toBe(3);
    expect((await desk.requests("/api/chat")).length).toBeLessThanOrEqual(1); // tried once, then in cooldown
  });

  it("a machine that refuses connections costs no failed request", async () => {
    const withDead = [{ name: "dead", kind: "ollama", url: "http://127.0.0.1:9" }, ...BACKENDS];
    const res = await post("/v1/chat/completions", { model: "qwen3:8b", messages: [user("x")] }, {}, withDead);
    expect(res.status).toBe(200);
  });

  it("404 with the closest names across every backend when none has the model", async () => {
    const res = await post("/v1/chat/completions", { model: "phi3", messages: [user("x")] });
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error.message).toMatch(/Closest available models: .*phi4:14b/);
  });
});

describe("the native API with several Ollama machines", () => {
  it("merges /api/tags, sends /api/chat to a machine that has the model, and keeps llama.cpp models out", async () => {
    const tags = (await (await get("/api/tags")).json()) as any;
    const names = tags.models.map((model: any) => model.name);
    expect(names).toContain("phi4:14b");
    expect(names).toContain("llava:7b");
    expect(names.filter((name: string) => name === "qwen3:8b")).toHaveLength(1);
    const chat = await post("/api/chat", { model: "phi4", stream: false, messages: [user("native")] });
    expect(chat.status).toBe(200);
    expect(((await chat.json()) as any).message.content).toBe("Hello! You said: native");
    expect((await laptop.requests("/api/chat"))[0]!.body.model).toBe("phi4:14b");
    const llamaModel = await post("/api/chat", { model: "qwen2.5-7b-instruct", messages: [user("x")] });
    expect(llamaModel.status).toBe(404);
    expect(await llamaModel.json()).toEqual({ error: "The model 'qwen2.5-7b-instruct' is not on an Ollama backend; use the /v1 API for it." });
  });
});

describe("a llama-server backend", () => {
  it("answers chat with our auth and its own API key, never the client's", async () => {
    const key = await testKey();
    const res = await post("/v1/chat/completions", { model: "qwen2.5-7b-instruct", messages: [user("hello box")] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.model).toBe("qwen2.5-7b-instruct");
    expect(body.choices[0].message.content).toBe("Hello from llama.cpp! You said: hello box");
    expect(body).not.toHaveProperty("timings");
    const [sent] = await box.requests("/v1/chat/completions");
    expect(sent!.headers.authorization).toBe("Bearer llama-secret");
    // Streamed upstream and assembled here, like every upstream call: long answers keep the tunnel busy.
    expect(sent!.body).toMatchObject({ model: "qwen2.5-7b-instruct", stream: true, stream_options: { include_usage: true } });
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    expect(JSON.stringify(sent)).not.toContain(key);
  });

  it("streams with usage only when asked, without timings, ending in [DONE]", async () => {
    const plain = chunksOf((await readSse(await post("/v1/chat/completions", { model: "qwen2.5-7b-instruct", stream: true, messages: [user("a b")] }))).data);
    expect(plain.every((chunk) => chunk.model === "qwen2.5-7b-instruct" && !("timings" in chunk) && !("usage" in chunk))).toBe(true);
    expect(plain.map((chunk) => chunk.choices[0]?.delta?.content ?? "").join("")).toBe("Hello from llama.cpp! You said: a b");
    const [upstream] = await box.requests("/v1/chat/completions");
    expect(upstream!.body.stream_options).toEqual({ include_usage: true });

    const { data } = await readSse(
      await post("/v1/chat/completions", { model: "qwen2.5-7b-instruct", stream: true, stream_options: { include_usage: true }, messages: [user("a b")] }),
    );
    expect(data.at(-1)).toBe("[DONE]");
    const last = chunksOf(data).at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage.completion_tokens).toBeGreaterThan(0);
  });

  it("streams tool-call deltas as llama-server sends them, under our envelope", async () => {
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const chunks = chunksOf(
      (await readSse(await post("/v1/chat/completions", { model: "qwen2.5-7b-instruct", stream: true, tools, messages: [user("weather")] }))).data,
    );
    const calls = chunks.flatMap((chunk) => chunk.choices[0]?.delta?.tool_calls ?? []);
    expect(calls[0]).toMatchObject({ index: 0, type: "function", function: { name: "get_weather" } });
    expect(JSON.parse(calls.map((call: any) => call.function.arguments ?? "").join(""))).toEqual({ city: "text" });
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls");
  });

  it("legacy completions and embeddings (float and base64)", async () => {
    const completion = (await (await post("/v1/completions", { model: "qwen2.5-7b-instruct", prompt: "p" })).json()) as any;
    expect(completion.choices[0].text).toBe("Hello from llama.cpp! You said: p");
    const floats = (await (await post("/v1/embeddings", { model: "bge-m3", input: ["a", "b"] })).json()) as any;
    expect(floats).toMatchObject({ object: "list", model: "bge-m3" });
    expect(floats.data.map((entry: any) => entry.index)).toEqual([0, 1]);
    expect(floats.data[0].embedding).toHaveLength(8);
    const encoded = (await (await post("/v1/embeddings", { model: "bge-m3", input: "a", encoding_format: "base64" })).json()) as any;
    const bytes = Uint8Array.from(atob(encoded.data[0].embedding), (c) => c.charCodeAt(0));
    expect(Array.from(new Float32Array(bytes.buffer))).toEqual(floats.data[0].embedding.map((x: number) => Math.fround(x)));
  });

  it("503 with Retry-After while it loads its model", async () => {
    await box.fault({ fault: { kind: "loading" } });
    const res = await post("/v1/chat/completions", { model: "qwen2.5-7b-instruct", messages: [user("x")] });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(((await res.json()) as any).error).toMatchObject({ type: "server_error", code: "backend_unavailable" });
  });

  it("a wrong api_key is the gateway's configuration problem (502), not the client's", async () => {
    const res = await post("/v1/chat/completions", { model: "qwen2.5-7b-instruct", messages: [user("x")] }, { BOX_KEY: "wrong" });
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.message).toContain("Invalid API Key");
  });

  it("its extensions: /tokenize round-trips through /detokenize, /props for keys; /slots and /metrics for admin", async () => {
    const text = "Héllo wörld 🌍";
    // With two llama.cpp backends, a `model` field or ?backend= picks one.
    const tokens = (await (await post("/tokenize", { content: text, model: "qwen2.5-7b-instruct" })).json()) as any;
    expect(tokens.tokens.length).toBeGreaterThan(0);
    const back = (await (await post("/detokenize?backend=box", { tokens: tokens.tokens })).json()) as any;
    expect(back.content).toBe(text);
    expect((await box.requests("/tokenize"))[0]!.body).toEqual({ content: text });
    const ambiguous = await get("/props");
    expect(ambiguous.status).toBe(400);
    expect(((await ambiguous.json()) as any).error.message).toBe(
      "There are several llama.cpp backends (box, embedder): pick one with ?backend=<name> or a model field.",
    );
    expect((await get("/props?backend=box")).status).toBe(200);
    expect((await get("/slots?backend=box")).status).toBe(401);
    expect((await get("/slots?backend=box", { authorization: ADMIN_AUTH })).status).toBe(200);
    const metrics = await get("/metrics?backend=box", { authorization: ADMIN_AUTH });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("llamacpp:");
    expect((await get("/props", {}, BACKENDS.slice(0, 2))).status).toBe(404);
    expect((await get("/props?backend=embedder")).status).toBe(200);
    expect((await get("/props?backend=nope")).status).toBe(400);
  });

  it("its extensions keep to a key's scope, and /props never shows a key the machine's model path", async () => {
    const direct = (await (await fetch(`${LLAMA_URL}/props`, { headers: { authorization: "Bearer llama-secret" } })).json()) as any;
    expect(typeof direct.model_path).toBe("string");
    const props = (await (await get("/props?backend=box")).json()) as any;
    const { model_path: _path, ...rest } = direct;
    expect(props).toStrictEqual(rest);

    const scoped = await createKey({ name: "llama scoped", models: ["qwen2.5-7b-instruct"] });
    const auth = { authorization: `Bearer ${scoped.key}` };
    // A scoped key names its model: without one it could reach a machine serving models it may not use.
    const unnamed = await get("/props?backend=embedder", auth);
    expect(unnamed.status).toBe(400);
    expect(((await unnamed.json()) as any).error.param).toBe("model");
    const outside = await gatewayWith(vars(), "/tokenize", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ content: "x", model: "bge-m3" }),
    });
    expect(outside.status).toBe(404);
    expect(((await outside.json()) as any).error.code).toBe("model_not_found");
    expect(await embedder.requests("/tokenize")).toEqual([]);
    const inside = await get("/props?model=qwen2.5-7b-instruct", auth);
    expect(inside.status).toBe(200);
    expect(((await inside.json()) as any).model_path).toBeUndefined();
  });
});

describe("/health with several backends", () => {
  it("ok when all answer, degraded when some do, down (503) when none does", async () => {
    const anonymous = (await (await get("/health", { authorization: "" })).json()) as any;
    expect(anonymous).toStrictEqual({ status: "ok" });
    const all = (await (await get("/health", { authorization: ADMIN_AUTH })).json()) as any;
    expect(all.status).toBe("ok");
    expect(all.backends.map((b: any) => [b.name, b.kind, b.status])).toEqual([
      ["desk", "ollama", "ok"],
      ["laptop", "ollama", "ok"],
      ["box", "llamacpp", "ok"],
      ["embedder", "llamacpp", "ok"],
    ]);
    const some = await get("/health", {}, [...BACKENDS, { name: "dead", kind: "ollama", url: "http://127.0.0.1:9" }]);
    expect(some.status).toBe(200);
    expect(((await some.json()) as any).status).toBe("degraded");
    const none = await get("/health", {}, [{ name: "dead", kind: "ollama", url: "http://127.0.0.1:9" }]);
    expect(none.status).toBe(503);
    expect(((await none.json()) as any).status).toBe("down");
    await box.fault({ fault: { kind: "loading" }, paths: ["/health"] });
    freshState(); // probes are reused for a few seconds
    const loading = (await (await get("/health", { authorization: ADMIN_AUTH })).json()) as any;
    expect(loading.backends[2].status).toBe("loading");
  });
});
