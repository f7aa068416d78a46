import { spawn } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { LlamaEmulator, LlamaFaultRule } from "../../tools/llama-emulator.ts";
import { startLlamaEmulator } from "../../tools/llama-emulator.ts";

type Json = Record<string, any>;
let emu: LlamaEmulator; // --metrics, default alias, no delay
let slow: LlamaEmulator; // tokenDelayMs 20, so streams are still in progress when a test looks
let keyed: LlamaEmulator; // --api-key sekrit, --no-slots, no --metrics
let embed: LlamaEmulator; // --embeddings
let single: LlamaEmulator; // -np 1, slow: a second request waits for the slot
let thinker: LlamaEmulator; // a thinking model

beforeAll(async () => {
  [emu, slow, keyed, embed, single, thinker] = await Promise.all([
    startLlamaEmulator({ metrics: true }),
    startLlamaEmulator({ tokenDelayMs: 20 }),
    startLlamaEmulator({ apiKey: "sekrit", slots: false, alias: "my-model" }),
    startLlamaEmulator({ embeddings: true }),
    startLlamaEmulator({ parallel: 1, tokenDelayMs: 20, metrics: true }),
    startLlamaEmulator({ thinking: true, alias: "qwen3-8b" }),
  ]);
});
afterAll(() => Promise.all([emu, slow, keyed, embed, single, thinker].map((e) => e.close())));
beforeEach(() => [emu, slow, keyed, embed, single, thinker].forEach((e) => e.reset()));

const post = (path: string, body: unknown, init: RequestInit = {}, on = emu) =>
  fetch(on.url + path, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), ...init });
const chat = (body: Json, on = emu, init: RequestInit = {}) => post("/v1/chat/completions", body, init, on);
const user = (content: string) => [{ role: "user", content }];
const until = async (check: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((r) => setTimeout(r, 5));
  expect(await check()).toBe(true);
};
async function expectError(res: Response | Promise<Response>, status: number, body: Json) {
  const r = await res;
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toBe("application/json; charset=utf-8");
  expect(await r.text()).toBe(JSON.stringify(body));
}
const llamaError = (code: number, message: string, type: string) => ({ error: { code, message, type } });

/** The data of each server-sent event, checking the framing: `data: …` blocks, each ended by a blank line. */
async function sse(res: Response): Promise<string[]> {
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  const text = await res.text();
  expect(text.endsWith("\n\n")).toBe(true);
  return text
    .slice(0, -2)
    .split("\n\n")
    .map((block) => {
      expect(block.startsWith("data: ")).toBe(true);
      expect(block.includes("\n")).toBe(false);
      return block.slice("data: ".length);
    });
}
const chunksOf = (data: string[]): Json[] => {
  expect(data.at(-1)).toBe("[DONE]");
  return data.slice(0, -1).map((d) => JSON.parse(d));
};
/** Reads a body until it ends or breaks; returns the text and whether it broke. */
async function readAll(res: Response): Promise<{ text: string; broke: boolean }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, broke: false };
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return { text, broke: true };
  }
}

const CHAT_ID = /^chatcmpl-[A-Za-z0-9]{32}$/;
const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" }, metric: { type: "boolean" } } },
  },
};
const TIMINGS = (promptN: number, predictedN: number) => ({
  cache_n: 0,
  prompt_n: promptN,
  prompt_ms: promptN * 2,
  prompt_per_token_ms: promptN ? 2 : 0,
  prompt_per_second: promptN ? 500 : 0,
  predicted_n: predictedN,
  predicted_ms: predictedN * 20,
  predicted_per_token_ms: predictedN ? 20 : 0,
  predicted_per_second: predictedN ? 50 : 0,
});

describe("server routes", () => {
  it("answers /health, /v1/models and 404s like llama-server", async () => {
    const health = await fetch(`${emu.url}/health`);
    expect([health.status, health.headers.get("content-type"), health.headers.get("server"), await health.json()]).toEqual([
      200,
      "application/json; charset=utf-8",
      "llama.cpp",
      { status: "ok" },
    ]);
    expect(await (await fetch(`${emu.url}/v1/health`)).json()).toEqual({ status: "ok" });
    const models = await (await fetch(`${emu.url}/v1/models`)).json();
    expect(models).toEqual({
      object: "list",
      data: [{ id: "qwen2.5-7b-instruct", object: "model", created: expect.any(Number), owned_by: "llamacpp", meta: expect.any(Object) }],
    });
    expect(Object.keys(models.data[0].meta)).toEqual(["vocab_type", "n_vocab", "n_ctx_train", "n_embd", "n_params", "size"]);
    expect(await (await fetch(`${emu.url}/models`)).json()).toEqual(models);
    const notFound = { error: { message: "File Not Found", type: "not_found_error", code: 404 } };
    await expectError(fetch(`${emu.url}/api/tags`), 404, notFound);
    await expectError(fetch(`${emu.url}/v1/chat/completions`), 404, notFound); // GET on a POST route
  });

  it("describes itself in /props and /slots", async () => {
    const props = await (await fetch(`${emu.url}/props`)).json();
    expect(props).toMatchObject({
      total_slots: 4,
      model_alias: "qwen2.5-7b-instruct",
      model_path: "/models/qwen2.5-7b-instruct-q4_k_m.gguf",
      endpoint_slots: true,
      endpoint_metrics: true,
      build_info: "b6100-6d2b79f5",
      is_sleeping: false,
      default_generation_settings: { id: 0, id_task: -1, n_ctx: 8192, is_processing: false, params: { n_predict: -1, top_k: 40 } },
    });
    expect(props.chat_template).toContain("<|im_start|>");
    const slots = await (await fetch(`${emu.url}/slots`)).json();
    expect(slots.map((s: Json) => [s.id, s.is_processing, s.n_ctx])).toEqual([
      [0, false, 8192],
      [1, false, 8192],
      [2, false, 8192],
      [3, false, 8192],
    ]);
    await expectError(
      post("/props", {}),
      501,
      llamaError(501, "This server does not support changing global properties. Start it with `--props`", "not_supported_error"),
    );
  });

  it("serves /slots and /metrics only when enabled", async () => {
    const key = { headers: { Authorization: "Bearer sekrit" } };
    await expectError(
      fetch(`${keyed.url}/slots`, key),
      501,
      llamaError(501, "This server does not support slots endpoint. Start it with `--slots`", "not_supported_error"),
    );
    await expectError(
      fetch(`${keyed.url}/metrics`, key),
      501,
      llamaError(501, "This server does not support metrics endpoint. Start it with `--metrics`", "not_supported_error"),
    );
    await (await chat({ messages: user("hi there") })).json();
    const metrics = await fetch(`${emu.url}/metrics`);
    expect(metrics.headers.get("content-type")).toBe("text/plain; version=0.0.4");
    const text = await metrics.text();
    expect(text).toContain("# TYPE llamacpp:prompt_tokens_total counter\nllamacpp:prompt_tokens_total 3\n");
    expect(text).toContain("llamacpp:tokens_predicted_total 7\n");
    expect(text).toContain("# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 0\n");
    emu.reset();
    expect(await (await fetch(`${emu.url}/metrics`)).text()).toContain("llamacpp:prompt_tokens_total 0\n");
  });
});

describe("/v1/chat/completions", () => {
  it("answers non-stream with exact text, usage and timings", async () => {
    const res = await chat({ model: "anything", messages: [{ role: "system", content: "be nice" }, ...user("hi there")] });
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    const body = await res.json();
    expect(body.id).toMatch(CHAT_ID);
    expect(body).toEqual({
      choices: [{ finish_reason: "stop", index: 0, message: { role: "assistant", content: "Hello from llama.cpp! You said: hi there" } }],
      created: expect.any(Number),
      model: "anything",
      system_fingerprint: "b6100-6d2b79f5",
      object: "chat.completion",
      // prompt: 2 + 2 words, 1 per message; completion: Hello, from, llama.cpp!, You, said:, hi, there
      usage: { completion_tokens: 7, prompt_tokens: 6, total_tokens: 13, prompt_tokens_details: { cached_tokens: 0 } },
      id: body.id,
      timings: TIMINGS(6, 7),
    });
    // Deterministic: the same request gets the same id; the model defaults to the alias.
    const again = await (await chat({ model: "anything", messages: [{ role: "system", content: "be nice" }, ...user("hi there")] })).json();
    expect(again.id).toBe(body.id);
    expect((await (await chat({ messages: user("x") })).json()).model).toBe("qwen2.5-7b-instruct");
  });

  it("streams a role delta, one delta per token, a finish chunk with timings, then [DONE]", async () => {
    const data = await sse(await chat({ stream: true, messages: user("hi there") }));
    const chunks = chunksOf(data);
    expect(chunks.map((c) => c.choices[0].delta)).toEqual([
      { role: "assistant", content: null },
      ...["Hello", " from", " llama.cpp!", " You", " said:", " hi", " there"].map((content) => ({ content })),
      {},
    ]);
    expect(chunks.map((c) => c.choices[0].finish_reason)).toEqual([...Array(8).fill(null), "stop"]);
    const id = chunks[0]!.id;
    expect(id).toMatch(CHAT_ID);
    for (const c of chunks) {
      expect(Object.keys(c).slice(0, 6)).toEqual(["choices", "created", "id", "model", "system_fingerprint", "object"]);
      expect([c.id, c.object, c.model]).toEqual([id, "chat.completion.chunk", "qwen2.5-7b-instruct"]);
    }
    expect(chunks.slice(0, -1).some((c) => "timings" in c || "usage" in c)).toBe(false);
    expect(chunks.at(-1)!.timings).toEqual(TIMINGS(3, 7));
    expect(chunks.at(-1)!.usage).toBeUndefined();
  });

  it("adds a usage chunk with empty choices for stream_options.include_usage, timings on it", async () => {
    const chunks = chunksOf(await sse(await chat({ stream: true, stream_options: { include_usage: true }, messages: user("hi") })));
    const [finish, usage] = chunks.slice(-2);
    expect(finish).toMatchObject({ choices: [{ finish_reason: "stop", index: 0, delta: {} }] });
    expect(finish!.timings).toBeUndefined();
    expect(usage).toMatchObject({
      choices: [],
      object: "chat.completion.chunk",
      usage: { completion_tokens: 6, prompt_tokens: 2, total_tokens: 8, prompt_tokens_details: { cached_tokens: 0 } },
      timings: TIMINGS(2, 6),
    });
  });

  it("streams a tool call: id and name first, then the arguments in pieces", async () => {
    const body = { stream: true, tools: [WEATHER_TOOL, { type: "function", function: { name: "other" } }], messages: user("weather in Paris?") };
    const chunks = chunksOf(await sse(await chat(body)));
    const deltas = chunks.map((c) => c.choices[0].delta);
    expect(deltas[0]).toEqual({ role: "assistant", content: null });
    const first = deltas[1].tool_calls[0];
    expect(first).toEqual({ index: 0, id: expect.stringMatching(/^[A-Za-z0-9]{32}$/), type: "function", function: { name: "get_weather", arguments: "" } });
    const pieces = deltas.slice(2, -1).map((d) => {
      expect(d).toEqual({ tool_calls: [{ index: 0, function: { arguments: expect.any(String) } }] });
      return d.tool_calls[0].function.arguments as string;
    });
    expect(pieces).toEqual(['{"city":', '"text",', '"days":', "42,", '"metric":', "true}"]);
    expect(JSON.parse(pieces.join(""))).toEqual({ city: "text", days: 42, metric: true });
    expect(chunks.at(-1)).toMatchObject({ choices: [{ finish_reason: "tool_calls", delta: {} }], timings: TIMINGS(4, 7) });

    const single = await (await chat({ ...body, stream: false })).json();
    expect(single.choices[0]).toEqual({
      finish_reason: "tool_calls",
      index: 0,
      message: {
        role: "assistant",
        content: null,
        tool_calls: [{ type: "function", function: { name: "get_weather", arguments: pieces.join("") }, id: expect.stringMatching(/^[A-Za-z0-9]{32}$/) }],
      },
    });
    expect(single.usage.completion_tokens).toBe(7);
  });

  it("a thinking model reasons first (reasoning_content), unless turned off; raw <think> text with reasoning_format none", async () => {
    const chunks = chunksOf(await sse(await chat({ stream: true, stream_options: { include_usage: true }, messages: user("hi") }, thinker)));
    expect(chunks.slice(1, -2).map((c) => c.choices[0].delta)).toEqual([
      ...["The", " user", " wrote:", " hi"].map((reasoning_content) => ({ reasoning_content })),
      ...["Hello", " from", " llama.cpp!", " You", " said:", " hi"].map((content) => ({ content })),
    ]);
    expect(chunks.at(-1)!.usage.completion_tokens).toBe(10);
    const single = await (await chat({ messages: user("hi") }, thinker)).json();
    expect(single.choices[0].message).toEqual({ role: "assistant", content: "Hello from llama.cpp! You said: hi", reasoning_content: "The user wrote: hi" });
    const called = await (await chat({ tools: [WEATHER_TOOL], messages: user("hi") }, thinker)).json();
    expect(called.choices[0].message).toMatchObject({
      content: null,
      reasoning_content: "The user wrote: hi",
      tool_calls: [{ function: { name: "get_weather" } }],
    });
    for (const off of [{ chat_template_kwargs: { enable_thinking: false } }, { reasoning_effort: "none" }]) {
      expect((await (await chat({ ...off, messages: user("hi") }, thinker)).json()).choices[0].message).toEqual({
        role: "assistant",
        content: "Hello from llama.cpp! You said: hi",
      });
    }
    const raw = await (await chat({ reasoning_format: "none", messages: user("hi") }, thinker)).json();
    expect(raw.choices[0].message.content).toBe("<think>\nThe user wrote: hi\n</think>\n\nHello from llama.cpp! You said: hi");
    // A model that does not think ignores all of it.
    expect(
      (await (await chat({ chat_template_kwargs: { enable_thinking: true }, messages: user("hi") })).json()).choices[0].message.reasoning_content,
    ).toBeUndefined();
  });

  it("answers with text when the last message is not the user's or tool_choice is none", async () => {
    const afterTool = [
      ...user("weather?"),
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: "{}" } }] },
      { role: "tool", tool_call_id: "c1", content: "sunny" },
    ];
    const a = await (await chat({ tools: [WEATHER_TOOL], messages: afterTool })).json();
    expect(a.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "Hello from llama.cpp! You said: weather?" } });
    const b = await (await chat({ tools: [WEATHER_TOOL], tool_choice: "none", messages: user("hi") })).json();
    expect(b.choices[0].message.tool_calls).toBeUndefined();
    const named = await (
      await chat({
        tools: [WEATHER_TOOL, { type: "function", function: { name: "other" } }],
        tool_choice: { type: "function", function: { name: "other" } },
        messages: user("go"),
      })
    ).json();
    expect(named.choices[0].message.tool_calls[0].function).toEqual({ name: "other", arguments: "{}" });
  });

  it("honours max_tokens (finish_reason length), stop, and text content parts", async () => {
    const short = await (await chat({ max_tokens: 3, messages: user("hi there") })).json();
    expect([short.choices[0].message.content, short.choices[0].finish_reason, short.usage.completion_tokens]).toEqual(["Hello from llama.cpp!", "length", 3]);
    const streamed = chunksOf(await sse(await chat({ stream: true, max_tokens: 2, messages: user("hi") })));
    expect(streamed.at(-1)!.choices[0].finish_reason).toBe("length");
    expect(streamed.map((c) => c.choices[0].delta.content ?? "").join("")).toBe("Hello from");
    const stopped = await (await chat({ stop: ["llama"], messages: user("hi") })).json();
    expect([stopped.choices[0].message.content, stopped.choices[0].finish_reason]).toEqual(["Hello from ", "stop"]);
    const parts = await (
      await chat({
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "look" },
              { type: "image_url", image_url: { url: "x" } },
            ],
          },
        ],
      })
    ).json();
    expect(parts.choices[0].message.content).toBe("Hello from llama.cpp! You said: look");
  });

  it("rejects bad bodies with llama-server's errors", async () => {
    const invalid = (message: string) => llamaError(400, message, "invalid_request_error");
    await expectError(chat({}), 400, invalid("'messages' is required"));
    await expectError(chat({ messages: "hi" }), 400, invalid("Expected 'messages' to be an array"));
    await expectError(chat({ messages: [{ role: "user" }] }), 400, invalid("All non-assistant messages must contain 'content'"));
    await expectError(chat({ n: 2, messages: user("hi") }), 400, invalid("Only one completion choice is allowed"));
    const broken = await post("/v1/chat/completions", "{nope");
    expect(broken.status).toBe(500);
    expect((await broken.json()).error).toMatchObject({
      code: 500,
      type: "server_error",
      message: expect.stringMatching(/^\[json\.exception\.parse_error\.101\]/),
    });
  });
});

describe("/v1/completions", () => {
  it("answers non-stream and stream in text_completion shape", async () => {
    const body = await (await post("/v1/completions", { prompt: "Once upon" })).json();
    expect(body).toEqual({
      choices: [{ text: "Hello from llama.cpp! You said: Once upon", index: 0, logprobs: null, finish_reason: "stop" }],
      created: expect.any(Number),
      model: "qwen2.5-7b-instruct",
      system_fingerprint: "b6100-6d2b79f5",
      object: "text_completion",
      usage: { completion_tokens: 7, prompt_tokens: 3, total_tokens: 10, prompt_tokens_details: { cached_tokens: 0 } },
      id: expect.stringMatching(CHAT_ID),
      timings: TIMINGS(3, 7),
    });
    const chunks = chunksOf(await sse(await post("/v1/completions", { prompt: "Once", stream: true, max_tokens: 4 })));
    expect(chunks.map((c) => c.choices[0].text)).toEqual(["Hello", " from", " llama.cpp!", " You", ""]);
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null && c.object === "text_completion" && !c.timings)).toBe(true);
    expect(chunks.at(-1)).toMatchObject({ choices: [{ finish_reason: "length" }], usage: { completion_tokens: 4, prompt_tokens: 2 }, timings: TIMINGS(2, 4) });
    await expectError(post("/v1/completions", {}), 400, llamaError(400, '"prompt" is required', "invalid_request_error"));
  });
});

describe("/v1/embeddings", () => {
  it("needs --embeddings, and an embedding server refuses completions", async () => {
    await expectError(
      post("/v1/embeddings", { input: "x" }),
      501,
      llamaError(501, "This server does not support embeddings. Start it with `--embeddings`", "not_supported_error"),
    );
    await expectError(
      chat({ messages: user("hi") }, embed),
      501,
      llamaError(501, "This server does not support completions. Start it without `--embeddings`", "not_supported_error"),
    );
  });

  it("returns deterministic unit vectors of length 8, as floats or base64", async () => {
    const res = await post("/v1/embeddings", { model: "embedder", input: ["hello world", "bye"] }, {}, embed);
    const body = await res.json();
    expect(body).toMatchObject({ model: "embedder", object: "list", usage: { prompt_tokens: 5, total_tokens: 5 } });
    expect(body.data.map((d: Json) => [d.index, d.object, d.embedding.length])).toEqual([
      [0, "embedding", 8],
      [1, "embedding", 8],
    ]);
    for (const { embedding } of body.data) expect(Math.hypot(...embedding)).toBeCloseTo(1, 6);
    const again = await (await post("/v1/embeddings", { input: "hello world" }, {}, embed)).json();
    expect(again.data[0].embedding).toEqual(body.data[0].embedding);
    expect(again.model).toBe("qwen2.5-7b-instruct");
    const b64 = await (await post("/v1/embeddings", { input: "bye", encoding_format: "base64" }, {}, embed)).json();
    const floats = new Float32Array(Uint8Array.from(Buffer.from(b64.data[0].embedding, "base64")).buffer);
    expect(floats.length).toBe(8);
    floats.forEach((x, i) => expect(x).toBeCloseTo(body.data[1].embedding[i], 6));
    const invalid = (message: string) => llamaError(400, message, "invalid_request_error");
    await expectError(post("/v1/embeddings", {}, {}, embed), 400, invalid('"input" or "content" must be provided'));
    await expectError(post("/v1/embeddings", { input: "" }, {}, embed), 400, invalid("Input content cannot be empty"));
  });
});

describe("/tokenize and /detokenize", () => {
  const tokenize = (body: Json) => post("/tokenize", body).then((r) => r.json());
  const detokenize = (tokens: unknown) => post("/detokenize", { tokens }).then((r) => r.json());

  it("round-trips any text exactly, non-ASCII included", async () => {
    for (const text of ["Hello, world!", "héllo wörld — 世界 🦙", "  spaces\tand\nnewlines  ", ""]) {
      const { tokens } = await tokenize({ content: text });
      expect(tokens.every((t: unknown) => Number.isInteger(t))).toBe(true);
      expect(await detokenize(tokens)).toEqual({ content: text });
    }
    expect((await tokenize({ content: "Hi" })).tokens).toEqual([172, 205]); // UTF-8 byte + 100
  });

  it("returns pieces (bytes when not valid UTF-8 alone), BOS with add_special, special tokens by text", async () => {
    expect(await tokenize({ content: "há", with_pieces: true })).toEqual({
      tokens: [
        { id: 204, piece: "h" },
        { id: 295, piece: [195] },
        { id: 261, piece: [161] },
      ],
    });
    expect((await tokenize({ content: "a", add_special: true })).tokens).toEqual([1, 197]);
    const special = (await tokenize({ content: "<s>x</s>" })).tokens;
    expect(special).toEqual([1, 220, 2]);
    expect(await detokenize(special)).toEqual({ content: "<s>x</s>" });
    expect((await tokenize({ content: "<s>", parse_special: false })).tokens).toEqual([160, 215, 162]);
    expect(await tokenize({})).toEqual({ tokens: [] });
  });
});

describe("API key", () => {
  it("answers 401 without a valid key except on public routes", async () => {
    const invalidKey = { error: { message: "Invalid API Key", type: "authentication_error", code: 401 } };
    await expectError(chat({ messages: user("hi") }, keyed), 401, invalidKey);
    await expectError(chat({ messages: user("hi") }, keyed, { headers: { Authorization: "Bearer wrong" } }), 401, invalidKey);
    await expectError(fetch(`${keyed.url}/props`), 401, invalidKey);
    await expectError(post("/tokenize", { content: "x" }, {}, keyed), 401, invalidKey);
    const accepted: Record<string, string>[] = [{ Authorization: "Bearer sekrit" }, { "X-Api-Key": "sekrit" }];
    for (const headers of accepted) {
      const ok = await (await chat({ messages: user("hi") }, keyed, { headers })).json();
      expect(ok.choices[0].message.content).toBe("Hello from llama.cpp! You said: hi");
    }
    for (const path of ["/health", "/v1/health", "/models", "/v1/models"]) expect((await fetch(keyed.url + path)).status).toBe(200);
    expect((await (await fetch(`${keyed.url}/v1/models`)).json()).data[0].id).toBe("my-model");
    // A CORS preflight carries no Authorization: answered without the key, origin echoed.
    const preflight = await fetch(`${keyed.url}/v1/chat/completions`, { method: "OPTIONS", headers: { Origin: "https://app.example" } });
    expect([preflight.status, preflight.headers.get("access-control-allow-origin"), preflight.headers.get("access-control-allow-headers")]).toEqual([
      200,
      "https://app.example",
      "*",
    ]);
    expect(keyed.requests.map((r) => r.path)).toContain("/props");
  });
});

describe("loading", () => {
  it("answers 503 Loading model everywhere for loadingMs, then serves", async () => {
    const loading = await startLlamaEmulator({ loadingMs: 200, apiKey: "k" });
    try {
      const body = { error: { message: "Loading model", type: "unavailable_error", code: 503 } };
      await expectError(fetch(`${loading.url}/health`), 503, body);
      await expectError(fetch(`${loading.url}/v1/models`), 503, body);
      await expectError(chat({ messages: user("hi") }, loading), 503, body); // before the key check
      await until(async () => (await fetch(`${loading.url}/health`)).status === 200);
      expect(await (await fetch(`${loading.url}/health`)).json()).toEqual({ status: "ok" });
      expect((await chat({ messages: user("hi") }, loading, { headers: { Authorization: "Bearer k" } })).status).toBe(200);
    } finally {
      await loading.close();
    }
  });
});

describe("slots", () => {
  it("queues requests beyond -np and reports it in /slots and /metrics", async () => {
    const first = await chat({ stream: true, messages: user("one") }, single);
    const reader = first.body!.getReader();
    await reader.read();
    const second = chat({ stream: true, messages: user("two") }, single);
    const metrics = () => fetch(`${single.url}/metrics`).then((r) => r.text());
    await until(async () => (await metrics()).includes("llamacpp:requests_deferred 1\n"));
    expect(await metrics()).toContain("llamacpp:requests_processing 1\n");
    const [slot] = await (await fetch(`${single.url}/slots`)).json();
    expect(slot).toMatchObject({ id: 0, is_processing: true, params: { stream: true } });
    await expectError(fetch(`${single.url}/slots?fail_on_no_slot=1`), 503, llamaError(503, "no slot available", "unavailable_error"));
    while (!(await reader.read()).done);
    const later = chunksOf(await sse(await second));
    expect(later.map((c) => c.choices[0].delta.content ?? "").join("")).toBe("Hello from llama.cpp! You said: two");
    await until(() => single.stats().open === 0);
    expect(await metrics()).toContain("llamacpp:requests_deferred 0\n");
  });
});

describe("faults", () => {
  const withFault = (rule: LlamaFaultRule, on = emu) => on.setFault(rule);

  it("busy and loading answer 503 like llama-server, for `times` requests on the chosen paths", async () => {
    withFault({ fault: { kind: "busy" }, times: 1 });
    await expectError(chat({ messages: user("hi") }), 503, llamaError(503, "no slot available", "unavailable_error"));
    expect((await chat({ messages: user("hi") })).status).toBe(200);
    withFault({ fault: { kind: "loading" }, paths: ["/health"], times: 1 });
    await expectError(fetch(`${emu.url}/health`), 503, { error: { message: "Loading model", type: "unavailable_error", code: 503 } });
    expect((await fetch(`${emu.url}/health`)).status).toBe(200);
  });

  it("slow-first-byte delays the headers", async () => {
    withFault({ fault: { kind: "slow-first-byte", delayMs: 120 }, times: 1 });
    const started = Date.now();
    const res = await chat({ messages: user("hi") });
    expect(Date.now() - started).toBeGreaterThanOrEqual(110);
    expect(res.status).toBe(200);
  });

  it("drop cuts the connection before headers or after some events, without counting an abort", async () => {
    withFault({ fault: { kind: "drop", afterLines: 0 }, times: 1 });
    await expect(chat({ messages: user("hi") })).rejects.toThrow();
    withFault({ fault: { kind: "drop", afterLines: 2 }, times: 1 });
    const res = await chat({ stream: true, messages: user("hi") });
    expect(res.status).toBe(200);
    const { text, broke } = await readAll(res);
    expect(broke).toBe(true);
    expect(
      text
        .split("\n\n")
        .filter(Boolean)
        .map((b) => JSON.parse(b.slice(6)).choices[0].delta),
    ).toEqual([{ role: "assistant", content: null }, { content: "Hello" }]);
    withFault({ fault: { kind: "drop", afterLines: 2 }, times: 1 });
    await expect(chat({ messages: user("hi") })).rejects.toThrow(); // non-stream: nothing was sent yet
    await until(() => emu.stats().open === 0);
    expect(emu.stats().aborted).toBe(0);
  });

  it("stall holds the stream open until the client aborts; stats go back to 0 open", async () => {
    withFault({ fault: { kind: "stall", afterLines: 1 } });
    const ac = new AbortController();
    const res = await chat({ stream: true, messages: user("hi") }, emu, { signal: ac.signal });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(JSON.parse(first.slice(6)).choices[0].delta).toEqual({ role: "assistant", content: null });
    await new Promise((r) => setTimeout(r, 30));
    expect(emu.stats().open).toBe(1);
    ac.abort();
    await until(() => emu.stats().open === 0);
    expect(emu.stats()).toEqual({ open: 0, aborted: 1, completed: 0, total: 1 });
  });

  it("error-midstream ends a stream with an error event, a non-stream answer with a 500", async () => {
    withFault({ fault: { kind: "error-midstream", afterLines: 1, message: "boom" } });
    const data = await sse(await chat({ stream: true, messages: user("hi") }));
    expect(data.map((d) => JSON.parse(d))).toEqual([
      expect.objectContaining({ choices: [{ finish_reason: null, index: 0, delta: { role: "assistant", content: null } }] }),
      llamaError(500, "boom", "server_error"),
    ]);
    await expectError(chat({ messages: user("hi") }), 500, llamaError(500, "boom", "server_error"));
  });

  it("html replaces the answer with Cloudflare's error page", async () => {
    withFault({ fault: { kind: "html", status: 530 }, paths: ["/v1/models"], times: 1 });
    const res = await fetch(`${emu.url}/v1/models`);
    expect([res.status, res.headers.get("content-type"), res.headers.get("server")]).toEqual([530, "text/html; charset=UTF-8", "cloudflare"]);
    expect(await res.text()).toContain("Error 1033");
  });

  it("a client that leaves mid-stream is counted as aborted and frees its slot", async () => {
    const ac = new AbortController();
    const res = await chat({ stream: true, messages: user("a long question") }, slow, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    expect(slow.stats().open).toBe(1);
    ac.abort();
    await until(() => slow.stats().open === 0);
    expect(slow.stats()).toEqual({ open: 0, aborted: 1, completed: 0, total: 1 });
    const slots = await (await fetch(`${slow.url}/slots`)).json();
    expect(slots.every((s: Json) => s.is_processing === false)).toBe(true);
  });

  it("drives faults, requests, stats, clock and reset over HTTP", async () => {
    const control = (path: string, body?: unknown) =>
      fetch(`${emu.url}/__emulator/${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
    expect((await control("fault", { fault: { kind: "busy" }, times: 1 })).status).toBe(200);
    expect((await chat({ messages: user("hi") })).status).toBe(503);
    expect((await control("fault", { fault: { kind: "nope" } })).status).toBe(400);
    expect((await control("fault", { fault: { kind: "stall" } })).status).toBe(400);
    await (await chat({ messages: user("hi") }, emu, { headers: { "X-Trace": "t1" } })).json();
    const requests = await (await control("requests")).json();
    expect(requests.map((r: Json) => r.path)).toEqual(["/v1/chat/completions", "/v1/chat/completions"]);
    expect(requests[1]).toMatchObject({ method: "POST", headers: { "x-trace": "t1" }, body: { messages: user("hi") } });
    expect(await (await control("stats")).json()).toEqual({ open: 0, aborted: 0, completed: 2, total: 2 });
    expect((await control("clock", { created: 1700000000 })).status).toBe(200);
    const once = await (await chat({ stream: true, messages: user("same") })).text();
    expect(await (await chat({ stream: true, messages: user("same") })).text()).toBe(once);
    expect(JSON.parse(once.split("\n\n")[0]!.slice(6)).created).toBe(1700000000);
    expect((await control("clock", { created: "soon" })).status).toBe(400);
    expect((await control("reset", {})).status).toBe(200);
    expect(emu.requests).toEqual([]);
    expect(await (await control("stats")).json()).toEqual({ open: 0, aborted: 0, completed: 0, total: 0 });
    expect((await (await chat({ messages: user("x") })).json()).created).not.toBe(1700000000);
  });
});

describe("CLI", () => {
  it("prints its URL and serves", async () => {
    const child = spawn(process.execPath, ["tools/llama-emulator-main.ts", "--port", "0", "--alias", "cli-model", "--metrics"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const [line] = (await once(child.stdout!, "data")) as [Buffer];
      const match = /^llama-emulator listening on (http:\/\/127\.0\.0\.1:\d+)\n$/.exec(line.toString());
      expect(match).not.toBeNull();
      const models = await (await fetch(`${match![1]}/v1/models`)).json();
      expect(models.data[0].id).toBe("cli-model");
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  });
});
