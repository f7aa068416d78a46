import { createHash } from "node:crypto";
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Emulator, FaultRule } from "../../tools/ollama-emulator.ts";
import { DEFAULT_MODELS, startOllamaEmulator } from "../../tools/ollama-emulator.ts";

type Json = Record<string, any>;
let emu: Emulator;
let slow: Emulator; // tokenDelayMs 20, so streams are still in progress when a test looks
let legacy: Emulator;

beforeAll(async () => {
  [emu, slow, legacy] = await Promise.all([
    startOllamaEmulator(),
    startOllamaEmulator({ tokenDelayMs: 20 }),
    startOllamaEmulator({ legacyNotFound: true, version: "0.11.4" }),
  ]);
});
afterAll(() => Promise.all([emu.close(), slow.close(), legacy.close()]));
beforeEach(() => {
  emu.reset();
  slow.reset();
});

const post = (path: string, body: unknown, init: RequestInit = {}, on = emu) =>
  fetch(on.url + path, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), ...init });
const chat = (body: Json, on = emu) => post("/api/chat", { model: "llama3.2", ...body }, {}, on);
const user = (content: string, extra: Json = {}) => [{ role: "user", content, ...extra }];
async function ndjson(res: Response): Promise<Json[]> {
  const text = await res.text();
  expect(text.endsWith("\n")).toBe(true);
  return text
    .slice(0, -1)
    .split("\n")
    .map((l) => JSON.parse(l));
}
async function expectError(res: Response | Promise<Response>, status: number, error: string) {
  const r = await res;
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toBe("application/json; charset=utf-8");
  expect(await r.json()).toEqual({ error });
}
const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};
const contentOf = (lines: Json[]) => lines.map((l) => l.message?.content ?? l.response ?? "").join("");
const CREATED_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

describe("metadata endpoints", () => {
  it("answers /, /api/version, 404 and 405 like Ollama", async () => {
    const root = await fetch(`${emu.url}/`);
    expect(root.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await root.text()).toBe("Ollama is running");
    expect(await (await fetch(`${emu.url}/api/version`)).json()).toEqual({ version: "0.33.0" });
    expect(await (await fetch(`${legacy.url}/api/version`)).json()).toEqual({ version: "0.11.4" });
    const missing = await fetch(`${emu.url}/api/nope`);
    expect([missing.status, await missing.text()]).toEqual([404, "404 page not found"]);
    const wrong = await fetch(`${emu.url}/api/chat`);
    expect([wrong.status, await wrong.text()]).toEqual([405, "405 method not allowed"]);
  });

  it("lists tags newest first with full details", async () => {
    const { models } = await (await fetch(`${emu.url}/api/tags`)).json();
    expect(models.map((m: Json) => m.name)).toEqual(DEFAULT_MODELS.map((m) => m.name));
    const qwen = models[2];
    expect(qwen).toMatchObject({
      name: "qwen3:8b",
      model: "qwen3:8b",
      modified_at: "2026-10-04T12:00:00+02:00",
      details: { parent_model: "", format: "gguf", family: "qwen3", families: ["qwen3"], parameter_size: "8.2B", quantization_level: "Q4_K_M" },
      capabilities: ["completion", "tools", "thinking"],
    });
    expect(qwen.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(models.map((m: Json) => m.digest)).size).toBe(6);
    expect(qwen.size).toBeGreaterThan(4e9);
  });

  it("shows a model by model or legacy name", async () => {
    const show = await (await post("/api/show", { model: "nomic-embed-text" })).json();
    expect(show.model_info).toEqual({
      "general.architecture": "nomic-bert",
      "general.parameter_count": 137_000_000,
      "nomic-bert.context_length": 2048,
      "nomic-bert.embedding_length": 8,
    });
    expect(show).toMatchObject({ parameters: 'stop "<|eot_id|>"', template: "{{ .Prompt }}", capabilities: ["embedding"] });
    expect((await (await post("/api/show", { name: "llava:7b" })).json()).details.family).toBe("llama");
    await expectError(post("/api/show", { model: "ghost" }), 404, "model 'ghost' not found");
    await expectError(post("/api/show", {}), 400, "model is required");
  });

  it("lists models used since reset in /api/ps", async () => {
    expect(await (await fetch(`${emu.url}/api/ps`)).json()).toEqual({ models: [] });
    await (await chat({ messages: user("hi"), stream: false })).json();
    const { models } = await (await fetch(`${emu.url}/api/ps`)).json();
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({ name: "llama3.2:latest", model: "llama3.2:latest", context_length: 4096 });
    expect(Date.parse(models[0].expires_at)).toBeGreaterThan(Date.now());
    expect(models[0].size_vram).toBe(models[0].size);
  });
});

describe("/api/chat", () => {
  it("answers non-stream with exact text and metrics", async () => {
    const res = await chat({ stream: false, messages: [{ role: "system", content: "be nice" }, ...user("hi there")] });
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const body = await res.json();
    expect(body.created_at).toMatch(CREATED_AT);
    expect(body).toEqual({
      model: "llama3.2",
      created_at: body.created_at,
      message: { role: "assistant", content: "Hello! You said: hi there" },
      done: true,
      done_reason: "stop",
      total_duration: 132_000_000,
      load_duration: 25_000_000,
      prompt_eval_count: 6,
      prompt_eval_duration: 6_000_000,
      eval_count: 5,
      eval_duration: 100_000_000,
    });
  });

  it("streams one NDJSON object per token, then the metrics line", async () => {
    const res = await chat({ messages: user("hi") });
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    expect(res.headers.get("content-length")).toBeNull();
    expect(res.headers.get("transfer-encoding")).toBe("chunked");
    const lines = await ndjson(res);
    expect(lines.map((l) => l.message.content)).toEqual(["Hello!", " You", " said:", " hi", ""]);
    expect(lines.slice(0, 4).every((l) => l.done === false && l.model === "llama3.2" && CREATED_AT.test(l.created_at))).toBe(true);
    expect(lines[4]).toMatchObject({ done: true, done_reason: "stop", eval_count: 4, prompt_eval_count: 2 });
  });

  it("thinks on qwen3 unless think:false, and refuses think on llama3.2", async () => {
    const lines = await ndjson(await chat({ model: "qwen3:8b", messages: user("hi") }));
    expect(lines.slice(0, 5).map((l) => l.message)).toEqual(
      ["Let", " me", " think", " about", " that."].map((t) => ({ role: "assistant", content: "", thinking: t })),
    );
    expect(contentOf(lines)).toBe("Hello! You said: hi");
    expect(lines.at(-1)!.eval_count).toBe(9);
    const off = await (await chat({ model: "qwen3:8b", think: false, stream: false, messages: user("hi") })).json();
    expect(off.message).toEqual({ role: "assistant", content: "Hello! You said: hi" });
    const on = await (await chat({ model: "qwen3:8b", think: "high", stream: false, messages: user("hi") })).json();
    expect(on.message.thinking).toBe("Let me think about that.");
    await expectError(chat({ think: true, messages: user("hi") }), 400, '"llama3.2" does not support thinking');
    const rule = '(must be "high", "medium", "low", "max", true, or false)';
    await expectError(chat({ think: "extreme", messages: user("hi") }), 400, `invalid think value: "extreme" ${rule}`);
    await expectError(chat({ think: 3, messages: user("hi") }), 400, `invalid think value: 3 ${rule}`);
  });

  it("honours num_predict, stop and top_logprobs limits", async () => {
    const short = await (await chat({ stream: false, options: { num_predict: 3 }, messages: user("hi there") })).json();
    expect(short).toMatchObject({ message: { content: "Hello! You said:" }, done_reason: "length", eval_count: 3 });
    const thinkCut = await (await chat({ model: "qwen3:8b", stream: false, options: { num_predict: 2 }, messages: user("x") })).json();
    expect(thinkCut.message).toEqual({ role: "assistant", content: "", thinking: "Let me" });
    const stopped = await (await chat({ stream: false, options: { stop: ["said", "You"] }, messages: user("hi") })).json();
    expect(stopped).toMatchObject({ message: { content: "Hello! " }, done_reason: "stop", eval_count: 2 }); // "Hello!" and " "
    await expectError(chat({ top_logprobs: 21, messages: user("hi") }), 400, "top_logprobs must be between 0 and 20");
  });

  it("adds logprobs to content lines", async () => {
    const lines = await ndjson(await chat({ logprobs: true, top_logprobs: 2, messages: user("é") }));
    expect(lines[3]!.logprobs).toEqual([
      {
        token: " é",
        logprob: -0.4,
        bytes: [32, 195, 169],
        top_logprobs: [
          { token: " é", logprob: -0.4, bytes: [32, 195, 169] },
          { token: "alt1", logprob: -1.4, bytes: [97, 108, 116, 49] },
        ],
      },
    ]);
  });

  const weather = {
    type: "function",
    function: {
      name: "get_weather",
      parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" }, unit: { type: "string", enum: ["C", "F"] } } },
    },
  };
  const time = { type: "function", function: { name: "get_time", parameters: { type: "object", properties: { tz: { type: "string" } } } } };

  it("calls the first tool, the one named in the prompt's last line, or the first two for 'both'", async () => {
    const lines = await ndjson(await chat({ tools: [weather, time], messages: user("weather?") }));
    expect(lines).toHaveLength(2);
    const call = lines[0]!.message.tool_calls[0];
    expect(lines[0]!.message.content).toBe("");
    expect(call.id).toMatch(/^call_[a-z0-9]{8}$/);
    expect(call.function).toEqual({ index: 0, name: "get_weather", arguments: { city: "text", days: 42, unit: "C" } });
    expect(lines[1]).toMatchObject({ done: true, eval_count: 5 });
    const again = await (await chat({ stream: false, tools: [weather, time], messages: user("weather?") })).json();
    expect(again.message.tool_calls).toEqual([call]);
    const both = await ndjson(await chat({ tools: [weather, time], messages: user("do both") }));
    expect(both.slice(0, 2).map((l) => l.message.tool_calls[0].function.name)).toEqual(["get_weather", "get_time"]);
    expect(both[1]!.message.tool_calls[0].function.index).toBe(1);
    // A tool named in the last line of the user's text is called instead of the first.
    const named = await (await chat({ stream: false, tools: [weather, time], messages: user("context about get_weather\nask get_time now") })).json();
    expect(named.message.tool_calls.map((c: Json) => c.function.name)).toEqual(["get_time"]);
    const answer = [...user("weather?"), { role: "assistant", content: "" }, { role: "tool", content: "22C" }];
    expect((await (await chat({ stream: false, tools: [weather], messages: answer })).json()).message.content).toBe("The tool said: 22C");
    await expectError(chat({ model: "llava:7b", tools: [weather], messages: user("x") }), 400, "registry.ollama.ai/library/llava:7b does not support tools");
    await expectError(
      chat({ model: "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M", tools: [weather], messages: user("x") }),
      400,
      "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M does not support tools",
    );
  });

  it("answers in JSON for format json or a schema", async () => {
    const json = await (await chat({ stream: false, format: "json", messages: user("hi you") })).json();
    expect(json.message.content).toBe('{"answer":"hi you"}');
    const schema = {
      type: "object",
      properties: {
        name: { type: "string" },
        age: { type: "integer" },
        ok: { type: "boolean" },
        tags: { type: "array", items: { type: "string" } },
        pet: { type: "object", properties: { kind: { enum: ["cat", "dog"] } } },
      },
    };
    const out = await (await chat({ stream: false, format: schema, messages: user("x") })).json();
    expect(out.message.content).toBe('{"name":"text","age":42,"ok":true,"tags":["text"],"pet":{"kind":"cat"}}');
  });

  it("checks images as Go base64", async () => {
    const ok = await (await chat({ model: "llava:7b", stream: false, messages: user("look", { images: ["aGVsbG8=", "aGk="] }) })).json();
    expect(ok.message.content).toBe("Hello! You said: look (I see 2 image(s))");
    await expectError(chat({ messages: user("x", { images: ["aGVs*G8="] }) }), 400, "illegal base64 data at input byte 4");
    await expectError(chat({ messages: user("x", { images: ["abc"] }) }), 400, "illegal base64 data at input byte 0");
  });

  it("rejects bad requests with Ollama's wording", async () => {
    await expectError(chat({ model: "ghost", messages: user("x") }), 404, "model 'ghost' not found");
    await expectError(chat({ model: "ghost", messages: user("x") }, legacy), 404, 'model "ghost" not found, try pulling it first');
    await expectError(chat({ model: "", messages: user("x") }), 400, "model is required");
    await expectError(post("/api/chat", ""), 400, "missing request body");
    await expectError(post("/api/chat", "{x"), 400, "invalid character 'x' looking for beginning of object key string");
    await expectError(post("/api/chat", "nope"), 400, "invalid character 'o' in literal null (expecting 'u')");
    await expectError(chat({ model: "nomic-embed-text", messages: user("x") }), 400, '"nomic-embed-text" does not support chat');
  });

  it("cuts a prompt longer than the context window silently, as Ollama does: oldest messages first, never system or last", async () => {
    const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(" ");
    const messages = [
      { role: "system", content: "be brief" },
      { role: "user", content: `first ${words(2999)}` },
      { role: "assistant", content: words(1000) },
      { role: "user", content: "the question" },
    ];
    // 3 + 3001 + 1001 + 3 = 4008 tokens fit Ollama's default window of 4096: nothing is cut.
    const whole = await (await chat({ stream: false, messages })).json();
    expect(whole.prompt_eval_count).toBe(4008);
    // A window of 2048 drops the first user turn, keeps the system prompt and the rest.
    const cut = await (await chat({ stream: false, messages, options: { num_ctx: 2048 } })).json();
    expect(cut.prompt_eval_count).toBe(3 + 1001 + 3);
    // The tools count too (their JSON's words), and what still does not fit is cut by the runner to the window.
    const tools = [{ type: "function", function: { name: "f", description: words(100), parameters: { type: "object" } } }];
    const alone = await (await chat({ stream: false, messages: user(words(300)), tools: [], options: { num_ctx: 200 } })).json();
    expect(alone.prompt_eval_count).toBe(200);
    const withTools = await (await chat({ stream: false, messages: user("x"), tools, options: { num_ctx: 8192 } })).json();
    expect(withTools.prompt_eval_count).toBe(2 + 100);
  });

  it("answers a load request for empty messages", async () => {
    const body = await (await chat({ messages: [] })).json();
    expect(body).toEqual({ model: "llama3.2", created_at: body.created_at, message: { role: "assistant", content: "" }, done: true, done_reason: "load" });
    expect((await (await fetch(`${emu.url}/api/ps`)).json()).models).toHaveLength(1);
    expect((await (await chat({ messages: [], keep_alive: 0 })).json()).done_reason).toBe("unload");
    expect((await (await fetch(`${emu.url}/api/ps`)).json()).models).toHaveLength(0);
  });
});

describe("Go's field matching: case-insensitive keys, the last one wins", () => {
  const KELVIN = "\u212a";
  const LONG_S = "\u017f";
  const answer = async (path: string, text: string) => {
    const res = await post(path, text);
    expect(res.status).toBe(200);
    return res.json();
  };

  it("/api/chat runs the model of the last key that matches `model` in any case, and echoes it", async () => {
    const text = '{"model":"llama3.2","Model":"qwen3:8b","stream":false,"think":false,"messages":[{"role":"user","content":"hi"}]}';
    expect(JSON.parse(text).model).toBe("llama3.2");
    const body = await answer("/api/chat", text);
    expect(body.model).toBe("qwen3:8b");
    expect(body.message).toEqual({ role: "assistant", content: "Hello! You said: hi" });
    expect((await (await fetch(`${emu.url}/api/ps`)).json()).models.map((m: Json) => m.name)).toEqual(["qwen3:8b"]);
  });

  it("text order decides between exact duplicates, which JSON.parse reorders", async () => {
    const text = '{"model":"qwen3:8b","MODEL":"ghost","model":"llama3.2","stream":false,"messages":[]}';
    expect(JSON.parse(text)).toMatchObject({ model: "llama3.2", MODEL: "ghost" });
    expect((await answer("/api/chat", text)).model).toBe("llama3.2");
    await expectError(post("/api/chat", '{"model":"llama3.2","model":"qwen3:8b","MODEL":"ghost","stream":false}'), 404, "model 'ghost' not found");
  });

  it("the Kelvin sign and the long s fold onto k and s; an escaped key is its decoded name", async () => {
    const unload = await answer("/api/chat", `{"model":"llama3.2","messages":[],"stream":false,"keep_alive":"5m","${KELVIN}EEP_ALIVE":0}`);
    expect(unload.done_reason).toBe("unload");
    const lines = await ndjson(
      await post("/api/chat", `{"model":"llama3.2","messages":[{"role":"user","content":"hi"}],"stream":false,"${LONG_S}tream":true}`),
    );
    expect(lines).toHaveLength(5);
    expect((await answer("/api/chat", '{"model":"llama3.2","\\u006dodel":"qwen3:8b","stream":false,"messages":[]}')).model).toBe("qwen3:8b");
  });

  it("null leaves model as it was; options merge like a Go map; a nested model binds nothing", async () => {
    expect((await answer("/api/chat", '{"Model":"qwen3:8b","model":null,"stream":false,"messages":[]}')).model).toBe("qwen3:8b");
    const merged = await answer(
      "/api/chat",
      '{"model":"llama3.2","stream":false,"Options":{"num_predict":3},"options":{"temperature":0},"messages":[{"role":"user","content":"hi there"}]}',
    );
    expect(merged).toMatchObject({ message: { content: "Hello! You said:" }, done_reason: "length", eval_count: 3 });
    const emptied = await answer(
      "/api/chat",
      '{"model":"llama3.2","stream":false,"options":{"num_predict":3},"OPTIONS":null,"messages":[{"role":"user","content":"hi there"}]}',
    );
    expect(emptied).toMatchObject({ message: { content: "Hello! You said: hi there" }, done_reason: "stop" });
    const nested = await answer("/api/chat", '{"messages":[{"role":"user","content":"x","model":"qwen3:8b"}],"MODEL":"llama3.2","stream":false}');
    expect(nested.model).toBe("llama3.2");
  });

  it("/api/generate, /api/embed and /api/show read their fields the same way", async () => {
    expect((await answer("/api/generate", '{"model":"llama3.2","Model":"qwen3:8b","PROMPT":"a","Stream":false,"Think":false}')).model).toBe("qwen3:8b");
    const generated = await answer("/api/generate", '{"model":"llama3.2","prompt":"a","Prompt":"b","stream":false}');
    expect(generated.response).toBe("Hello! You said: b");
    const embedded = await answer("/api/embed", '{"model":"nomic-embed-text","input":"a","INPUT":["a","b"]}');
    expect(embedded.embeddings).toHaveLength(2);
    expect((await answer("/api/show", '{"model":"ghost","MODEL":"llava:7b"}')).details.family).toBe("llama");
    await expectError(post("/api/show", '{"model":"llava:7b","Model":"ghost"}'), 404, "model 'ghost' not found");
  });
});

describe("Host and Origin guards", () => {
  const raw = (headers: Record<string, string>) =>
    new Promise<[number, string]>((resolve, reject) => {
      const req = httpRequest(`${emu.url}/api/version`, { headers }, (res) => {
        let text = "";
        res.on("data", (c) => (text += c)).on("end", () => resolve([res.statusCode ?? 0, text]));
      });
      req.on("error", reject).end();
    });

  it("returns an empty 403 for a foreign Host or Origin", async () => {
    expect(await raw({ Host: "ollama.example.com" })).toEqual([403, ""]);
    expect(await raw({ Host: "ollama.example.com", Origin: "http://localhost:3000" })).toEqual([403, ""]);
    for (const host of ["localhost:11434", "[::1]:11434", "box.local", "10.0.0.5:80", "api.internal"]) {
      expect((await raw({ Host: host }))[0]).toBe(200);
    }
    expect(await raw({ Origin: "https://chat.example.com" })).toEqual([403, ""]);
    expect((await raw({ Origin: "http://127.0.0.1:5173" }))[0]).toBe(200);
    expect(emu.requests.at(-1)!.headers.origin).toBe("http://127.0.0.1:5173");
  });
});

describe("/api/generate", () => {
  it("streams response tokens and a final context", async () => {
    const lines = await ndjson(await post("/api/generate", { model: "llama3.2", prompt: "hi" }));
    expect(lines.map((l) => l.response)).toEqual(["Hello!", " You", " said:", " hi", ""]);
    expect(lines.at(-1)).toMatchObject({ done: true, done_reason: "stop", context: [1, 2, 3], prompt_eval_count: 2, eval_count: 4 });
  });

  it("handles suffix, raw mode, thinking, load and capabilities", async () => {
    const sfx = await (await post("/api/generate", { model: "llama3.2", prompt: "a", suffix: "z", stream: false, raw: true })).json();
    expect(sfx.response).toBe("Hello! You said: a [suffix: z]");
    expect(sfx.context).toBeUndefined();
    const think = await (await post("/api/generate", { model: "qwen3:8b", prompt: "a", stream: false })).json();
    expect([think.thinking, think.response]).toEqual(["Let me think about that.", "Hello! You said: a"]);
    await expectError(
      post("/api/generate", { model: "llama3.2", prompt: "a", raw: true, system: "s" }),
      400,
      "raw mode does not support template, system, or context",
    );
    const load = await (await post("/api/generate", { model: "llama3.2", prompt: "" })).json();
    expect(load).toEqual({ model: "llama3.2", created_at: load.created_at, response: "", done: true, done_reason: "load" });
    await expectError(post("/api/generate", { model: "nomic-embed-text", prompt: "a" }), 400, '"nomic-embed-text" does not support generate');
  });
});

describe("/api/embed", () => {
  const norm = (v: number[]) => Math.hypot(...v);
  const embed = async (body: Json) => (await post("/api/embed", { model: "nomic-embed-text", ...body })).json();

  it("returns deterministic unit vectors", async () => {
    const one = await embed({ input: "hello world" });
    expect(one).toMatchObject({ model: "nomic-embed-text", prompt_eval_count: 2 });
    expect(one.embeddings).toHaveLength(1);
    expect(one.embeddings[0]).toHaveLength(8);
    expect(norm(one.embeddings[0])).toBeCloseTo(1, 6);
    const many = await embed({ input: ["hello world", "other"] });
    expect(many.embeddings[0]).toEqual(one.embeddings[0]);
    expect(many.embeddings[1]).not.toEqual(one.embeddings[0]);
    expect(await embed({ input: "" })).toEqual({ model: "nomic-embed-text", embeddings: [] });
  });

  it("truncates and renormalises to dimensions", async () => {
    const full = (await embed({ input: "abc" })).embeddings[0];
    const cut = (await embed({ input: "abc", dimensions: 3 })).embeddings[0];
    expect(cut).toHaveLength(3);
    expect(norm(cut)).toBeCloseTo(1, 6);
    const scale = norm(full.slice(0, 3));
    cut.forEach((x: number, i: number) => expect(x).toBeCloseTo(full[i] / scale, 6));
    await expectError(post("/api/embed", { model: "nomic-embed-text", input: "a", dimensions: 9 }), 400, "dimensions must be between 1 and 8");
    await expectError(post("/api/embed", { model: "nomic-embed-text", input: [1] }), 400, "invalid input type");
    await expectError(post("/api/embed", { model: "llama3.2", input: "a" }), 400, '"llama3.2" does not support embeddings');
  });
});

describe("faults", () => {
  const withFault = (rule: FaultRule) => emu.setFault(rule);

  it("busy, html, slow-first-byte, times and paths", async () => {
    withFault({ fault: { kind: "busy" }, times: 1 });
    await expectError(chat({ messages: user("x") }), 503, "server busy, please try again.  maximum pending requests exceeded");
    expect((await chat({ messages: user("x") })).status).toBe(200);
    withFault({ fault: { kind: "html", status: 530 }, paths: ["/api/tags"] });
    const html = await fetch(`${emu.url}/api/tags`);
    expect([html.status, html.headers.get("content-type")]).toEqual([530, "text/html; charset=UTF-8"]);
    expect(await html.text()).toContain("Error 1033");
    expect((await chat({ messages: user("x") })).status).toBe(200);
    withFault({ fault: { kind: "slow-first-byte", delayMs: 120 } });
    const started = Date.now();
    const res = await chat({ stream: false, messages: user("x") });
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    expect((await res.json()).message.content).toBe("Hello! You said: x");
  });

  it("forbidden (an empty 403) and access-redirect (a 302 to an Access login)", async () => {
    withFault({ fault: { kind: "forbidden" }, paths: ["/api/tags"], times: 1 });
    const forbidden = await fetch(`${emu.url}/api/tags`);
    expect([forbidden.status, await forbidden.text()]).toEqual([403, ""]);
    withFault({ fault: { kind: "access-redirect" }, times: 1 });
    // (redirect: "manual": never follow it off this machine)
    const manual = await post("/api/chat", { model: "llama3.2", messages: user("x") }, { redirect: "manual" });
    expect(manual.status).toBe(302);
    expect(manual.headers.get("location")).toMatch(/^https:\/\/[^/]+\.cloudflareaccess\.com\/cdn-cgi\/access\/login\//);
  });

  it("error-midstream and malformed end the stream after N lines, even for stream:false", async () => {
    withFault({ fault: { kind: "error-midstream", afterLines: 2, message: "boom" } });
    const text = await (await chat({ stream: false, messages: user("a b c") })).text();
    const lines = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.message?.content ?? l)).toEqual(["Hello!", " You", { error: "boom" }]);
    withFault({ fault: { kind: "malformed", afterLines: 1 } });
    const bad = await (await chat({ messages: user("x") })).text();
    expect(bad.split("\n").slice(1)).toEqual(['{"model":"x","mess', ""]);
  });

  it("drop destroys the socket before headers or mid-stream", async () => {
    withFault({ fault: { kind: "drop", afterLines: 0 }, times: 1 });
    await expect(chat({ messages: user("x") })).rejects.toThrow();
    withFault({ fault: { kind: "drop", afterLines: 2 }, times: 1 });
    const res = await chat({ messages: user("x y z") });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    await until(() => emu.stats().open === 0);
    expect(emu.stats().aborted).toBe(0);
  });

  it("stall keeps the stream open until the client aborts", async () => {
    withFault({ fault: { kind: "stall", afterLines: 1 } });
    const ac = new AbortController();
    const res = await post("/api/chat", { model: "llama3.2", messages: user("x") }, { signal: ac.signal });
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('"Hello!"');
    await new Promise((r) => setTimeout(r, 60));
    expect(emu.stats().open).toBe(1);
    ac.abort();
    await until(() => emu.stats().open === 0);
    expect(emu.stats()).toMatchObject({ aborted: 1, open: 0 });
  });
});

describe("counting and control routes", () => {
  it("counts aborted streams correctly under concurrency", async () => {
    const controllers = Array.from({ length: 200 }, () => new AbortController());
    const words = "a ".repeat(150); // ~150 tokens at 20 ms (3 s): every stream is still running below, even on a loaded machine
    const responses = await Promise.all(
      controllers.map((ac, i) => post("/api/chat", { model: "llama3.2", messages: user(`n${i} ${words}`) }, { signal: ac.signal }, slow)),
    );
    expect(slow.stats().open).toBe(200);
    controllers.slice(0, 100).forEach((ac) => ac.abort());
    await Promise.all(responses.slice(100).map((r) => r.text()));
    await until(() => slow.stats().open === 0);
    expect(slow.stats()).toEqual({ open: 0, aborted: 100, completed: 100, total: 200 });
  });

  it("drives faults, requests, stats and reset over HTTP", async () => {
    const control = (path: string, body?: unknown) =>
      fetch(`${emu.url}/__emulator/${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
    expect((await control("fault", { fault: { kind: "busy" }, times: 1 })).status).toBe(200);
    expect((await chat({ messages: user("x") })).status).toBe(503);
    expect((await control("fault", { fault: { kind: "nope" } })).status).toBe(400);
    await (await chat({ stream: false, messages: user("hi") }, emu)).json();
    const recorded = await (await control("requests")).json();
    expect(recorded).toHaveLength(2);
    expect(recorded[1]).toMatchObject({ method: "POST", path: "/api/chat", body: { model: "llama3.2", messages: user("hi") } });
    expect(recorded[1].headers["content-type"]).toBe("text/plain;charset=UTF-8");
    expect(await (await control("stats")).json()).toEqual({ open: 0, aborted: 0, completed: 2, total: 2 });
    expect((await control("fault", null)).status).toBe(200);
    await control("reset", {});
    expect(await (await control("requests")).json()).toEqual([]);
    expect(emu.requests).toEqual([]);
  });
});

describe("model management", () => {
  const names = async () => ((await (await fetch(`${emu.url}/api/tags`)).json()).models as Json[]).map((m) => m.name);
  const send = (method: string, path: string, body: unknown) => fetch(emu.url + path, { method, body: typeof body === "string" ? body : JSON.stringify(body) });

  it("pull streams progress ending in success, installs the model, and honours stream:false", async () => {
    const res = await post("/api/pull", { model: "phi4-mini" });
    expect(res.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = await ndjson(res);
    expect(lines[0]).toEqual({ status: "pulling manifest" });
    expect(lines[1]!.status).toMatch(/^pulling [0-9a-f]{12}$/);
    expect(lines[1]).toMatchObject({ digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), total: expect.any(Number), completed: expect.any(Number) });
    expect(lines.slice(-3)).toEqual([{ status: "verifying sha256 digest" }, { status: "writing manifest" }, { status: "success" }]);
    expect((await names())[0]).toBe("phi4-mini:latest");
    // The legacy `name` field, as ollama-js sends it.
    const quiet = await post("/api/pull", { name: "smollm2:135m", stream: false });
    expect([quiet.status, quiet.headers.get("content-type"), await quiet.json()]).toEqual([200, "application/json", { status: "success" }]);
    expect(await names()).toContain("smollm2:135m");
  });

  it("pull fails like a registry without the model: an error line, or a 500 without streaming", async () => {
    const lines = await ndjson(await post("/api/pull", { model: "does-not-exist" }));
    expect(lines).toEqual([{ status: "pulling manifest" }, { error: "pull model manifest: file does not exist" }]);
    await expect(post("/api/pull", { model: "does-not-exist", stream: false }).then(async (r) => [r.status, await r.json()])).resolves.toEqual([
      500,
      { error: "pull model manifest: file does not exist" },
    ]);
    await expectError(post("/api/pull", {}), 400, "invalid model name");
    expect(await names()).not.toContain("does-not-exist:latest");
  });

  it("push streams progress for an installed model", async () => {
    const lines = await ndjson(await post("/api/push", { model: "llama3.2" }));
    expect(lines[0]).toEqual({ status: "retrieving manifest" });
    expect(lines[1]!.status).toMatch(/^pushing [0-9a-f]{12}$/);
    expect(lines.slice(-2)).toEqual([{ status: "pushing manifest" }, { status: "success" }]);
    const missing = await ndjson(await post("/api/push", { model: "ghost" }));
    expect(missing.at(-1)).toEqual({ error: "model 'ghost' not found" });
  });

  it("create from a model or from uploaded blobs", async () => {
    const lines = await ndjson(await post("/api/create", { model: "mario", from: "llama3.2", system: "You are Mario." }));
    expect(lines[0]!.status).toMatch(/^using existing layer sha256:[0-9a-f]{64}$/);
    expect(lines.at(-3)!.status).toMatch(/^creating new layer sha256:/);
    expect(lines.slice(-2)).toEqual([{ status: "writing manifest" }, { status: "success" }]);
    expect(await names()).toContain("mario:latest");
    expect((await (await chat({ model: "mario", stream: false, messages: user("hi") })).json()).message.content).toBe("Hello! You said: hi");
    // Errors sent through Ollama's progress channel carry a bare "application/json".
    const channelError = async (res: Promise<Response>) => {
      const r = await res;
      return [r.status, r.headers.get("content-type"), await r.json()];
    };
    expect(await channelError(post("/api/create", { model: "x", stream: false }))).toEqual([
      400,
      "application/json",
      { error: "neither 'from' or 'files' was specified" },
    ]);
    expect(await channelError(post("/api/create", { model: "x", from: "ghost" }))).toEqual([404, "application/json", { error: "model 'ghost' not found" }]);
    await expectError(post("/api/create", { from: "llama3.2" }), 400, "invalid model name");

    const gguf = Buffer.from("GGUF fake weights");
    const digest = `sha256:${createHash("sha256").update(gguf).digest("hex")}`;
    const missing = await ndjson(await post("/api/create", { model: "custom", files: { "m.gguf": digest } }));
    expect(missing.at(-1)!.error).toMatch(/no such file or directory$/);
    expect((await fetch(`${emu.url}/api/blobs/${digest}`, { method: "POST", body: gguf })).status).toBe(201);
    const made = await post("/api/create", { model: "custom", files: { "m.gguf": digest }, stream: false });
    expect(await made.json()).toEqual({ status: "success" });
    expect(await names()).toContain("custom:latest");
  });

  it("blobs: HEAD 404 then 200, POST 201 then 200, digest checked", async () => {
    const data = Buffer.from([0, 1, 2, 255, 254]);
    const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
    const head = () => fetch(`${emu.url}/api/blobs/${digest}`, { method: "HEAD" }).then((r) => r.status);
    expect(await head()).toBe(404);
    expect((await fetch(`${emu.url}/api/blobs/${digest}`, { method: "POST", body: data })).status).toBe(201);
    expect(await head()).toBe(200);
    expect((await fetch(`${emu.url}/api/blobs/${digest}`, { method: "POST", body: data })).status).toBe(200);
    const other = `sha256:${"0".repeat(64)}`;
    await expectError(fetch(`${emu.url}/api/blobs/${other}`, { method: "POST", body: data }), 400, `digest mismatch, expected "${other}", got "${digest}"`);
    await expectError(fetch(`${emu.url}/api/blobs/sha256:nope`, { method: "POST", body: data }), 400, "invalid digest format");
    expect((await fetch(`${emu.url}/api/blobs/${digest}`)).status).toBe(405);
  });

  it("copy and delete, with Ollama's errors; reset restores the library", async () => {
    const copied = await post("/api/copy", { source: "llama3.2", destination: "my-llama:v1" });
    expect([copied.status, await copied.text()]).toEqual([200, ""]);
    expect(await names()).toContain("my-llama:v1");
    await expectError(post("/api/copy", { source: "ghost", destination: "x" }), 404, 'model "ghost" not found');
    await expectError(post("/api/copy", { source: "llama3.2", destination: "" }), 400, 'destination "" is invalid');
    const deleted = await send("DELETE", "/api/delete", { model: "my-llama:v1" });
    expect([deleted.status, await deleted.text()]).toEqual([200, ""]);
    expect(await names()).not.toContain("my-llama:v1");
    expect((await send("DELETE", "/api/delete", { name: "llama3.2" })).status).toBe(200); // legacy `name`
    await expectError(send("DELETE", "/api/delete", { model: "llama3.2" }), 404, "model 'llama3.2' not found");
    await expectError(send("DELETE", "/api/delete", {}), 400, 'name "" is invalid');
    expect((await send("POST", "/api/delete", { model: "x" })).status).toBe(405);
    emu.reset();
    expect(await names()).toEqual(DEFAULT_MODELS.map((m) => m.name));
  });

  it("a client that leaves mid-pull cancels it", async () => {
    const ac = new AbortController();
    const res = await post("/api/pull", { model: "slow-model" }, { signal: ac.signal }, slow);
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await until(() => slow.stats().open === 0);
    expect(slow.stats().aborted).toBe(1);
    const { models } = await (await fetch(`${slow.url}/api/tags`)).json();
    expect(models.map((m: Json) => m.name)).not.toContain("slow-model:latest");
  });

  it("a fixed clock makes answers byte-identical", async () => {
    const at = "2026-11-01T10:00:00.123456789Z";
    expect((await fetch(`${emu.url}/__emulator/clock`, { method: "POST", body: JSON.stringify({ createdAt: at }) })).status).toBe(200);
    const once = await (await chat({ messages: user("same") })).text();
    expect(await (await chat({ messages: user("same") })).text()).toBe(once);
    expect(JSON.parse(once.split("\n")[0]!).created_at).toBe(at);
    expect((await fetch(`${emu.url}/__emulator/clock`, { method: "POST", body: JSON.stringify({ createdAt: "soon" }) })).status).toBe(400);
    emu.reset();
    expect(JSON.parse((await (await chat({ messages: user("x") })).text()).split("\n")[0]!).created_at).not.toBe(at);
  });
});
