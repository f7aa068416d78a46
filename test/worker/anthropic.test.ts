/**
 * POST /v1/messages and /v1/messages/count_tokens inside workerd against the Ollama emulator (and the llama-server
 * one for exact counts): the native request a Message request becomes, the exact Message and SSE framing and event
 * order, thinking, a tool round trip, images, the answer's ceiling, stop sequences, counting tokens.
 */
import { beforeEach, describe, expect, inject, it } from "vitest";
import { createKey, EMULATOR_URL, emulator, IMAGE_SERVER_URL, postJson, postJsonWith, testKey } from "./helpers.ts";

beforeEach(() => emulator.reset());

const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const ANTHROPIC_HEADERS = { "anthropic-version": "2023-06-01", "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14" };
const CLAUDE = { MODEL_ALIASES: JSON.stringify({ "claude-*": "qwen3:8b" }) };
const user = (content: unknown) => ({ role: "user", content });
const weather = {
  name: "get_weather",
  description: "The weather in a city.",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

/** The key in `x-api-key`, as Anthropic's SDK and Claude Code (ANTHROPIC_API_KEY) send it; no Authorization. */
const xApiKey = async () => ({ authorization: "", "x-api-key": await testKey(), ...ANTHROPIC_HEADERS });

interface Frame {
  event: string;
  data: any;
}

/** Every frame of an Anthropic stream: `event: <type>\ndata: <json of that type>\n\n`, pings included. */
async function frames(res: Response): Promise<Frame[]> {
  const text = await res.text();
  expect(text.endsWith("\n\n"), text.slice(-200)).toBe(true);
  return text
    .slice(0, -2)
    .split("\n\n")
    .map((block) => {
      const match = /^event: ([a-z_]+)\ndata: (\{[^\n]*\})$/.exec(block);
      expect(match, block).not.toBeNull();
      const data = JSON.parse(match![2]!);
      expect(data.type).toBe(match![1]);
      return { event: match![1]!, data };
    });
}

const chats = async () => (await emulator.requests("/api/chat")).map((request) => request.body);

describe("POST /v1/messages", () => {
  it("non-stream at Claude Code's path with x-api-key: the Message, the name as sent, and the native request it became", async () => {
    const res = await postJsonWith(
      CLAUDE,
      "/v1/messages?beta=true",
      {
        model: "claude-sonnet-4-5",
        system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
        messages: [user([{ type: "text", text: "hi there" }])],
        max_tokens: 200,
        temperature: 0.5,
        metadata: { user_id: "u-1" },
      },
      await xApiKey(),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-ratelimit-limit-requests")).toBe("1000000");
    const body = (await res.json()) as any;
    expect(body.id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(body).toStrictEqual({
      id: body.id,
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [{ type: "text", text: "Hello! You said: hi there" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      // The emulator's counts: a token a word, one more a message.
      usage: { input_tokens: 6, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    expect(await chats()).toStrictEqual([
      {
        model: "qwen3:8b",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "hi there" },
        ],
        stream: true,
        options: { num_predict: 200, temperature: 0.5 },
        // No thinking asked: Anthropic's models do not think unasked, so neither does a thinking model here.
        think: false,
      },
    ]);
  });

  it("stream: Anthropic's events in order, thinking with its signature, text, then the stop reason and the backend's counts", async () => {
    const res = await postJson(
      "/v1/messages",
      { model: "qwen3:8b", max_tokens: 100, stream: true, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [user("two words")] },
      ANTHROPIC_HEADERS,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache, no-transform");
    const all = await frames(res);
    expect(all.map((frame) => frame.event)).toStrictEqual([
      "message_start",
      "content_block_start",
      ...Array(5).fill("content_block_delta"), // "Let me think about that." in five thinking deltas
      "content_block_delta", // the signature
      "content_block_stop",
      "content_block_start",
      ...Array(5).fill("content_block_delta"), // "Hello! You said: two words"
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(all[0]!.data.message).toMatchObject({ type: "message", role: "assistant", model: "qwen3:8b", content: [], stop_reason: null });
    expect(all[1]!.data).toStrictEqual({ type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } });
    const deltas = (index: number, type: string, field: string) =>
      all
        .filter((frame) => frame.event === "content_block_delta" && frame.data.index === index && frame.data.delta.type === type)
        .map((frame) => frame.data.delta[field])
        .join("");
    expect(deltas(0, "thinking_delta", "thinking")).toBe("Let me think about that.");
    expect(deltas(0, "signature_delta", "signature")).toBe("ollama-edge:unsigned");
    expect(deltas(1, "text_delta", "text")).toBe("Hello! You said: two words");
    expect(all.at(-2)!.data).toStrictEqual({
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { input_tokens: 3, output_tokens: 10 },
    });
    expect((await chats())[0]!.think).toBe(true);
  });

  it("a tool use round trip: tool_use with its id and parsed input, then the tool_result answered", async () => {
    const first = (await (
      await postJson("/v1/messages", { model: "llama3.2", max_tokens: 100, tools: [weather], messages: [user("weather in Paris?")] })
    ).json()) as any;
    expect(first.stop_reason).toBe("tool_use");
    expect(first.content).toStrictEqual([{ type: "tool_use", id: expect.stringMatching(/^call_[a-z0-9]{8}$/), name: "get_weather", input: { city: "text" } }]);
    const call = first.content[0];
    const second = await postJson("/v1/messages", {
      model: "llama3.2",
      max_tokens: 100,
      tools: [weather],
      messages: [
        user("weather in Paris?"),
        { role: "assistant", content: first.content },
        user([{ type: "tool_result", tool_use_id: call.id, content: "sunny" }]),
      ],
    });
    const answer = (await second.json()) as any;
    expect(answer).toMatchObject({ stop_reason: "end_turn", content: [{ type: "text", text: "The tool said: sunny" }] });
    const [, native] = await chats();
    expect(native.messages.slice(1)).toStrictEqual([
      { role: "assistant", content: "", tool_calls: [{ id: call.id, function: { name: "get_weather", arguments: { city: "text" } } }] },
      { role: "tool", content: "sunny", tool_name: "get_weather", tool_call_id: call.id },
    ]);
    expect(native.tools).toStrictEqual([
      { type: "function", function: { name: "get_weather", description: weather.description, parameters: weather.input_schema } },
    ]);
  });

  it("images: a base64 source and a URL (fetched by the gateway) reach the model as base64", async () => {
    const res = await postJson("/v1/messages", {
      model: "llama3.2",
      max_tokens: 100,
      messages: [
        user([
          { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
          { type: "image", source: { type: "url", url: `${IMAGE_SERVER_URL}/tiny.png` } },
          { type: "text", text: "what are these" },
        ]),
      ],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).content[0].text).toBe("Hello! You said: what are these (I see 2 image(s))");
    expect((await chats())[0]!.messages).toStrictEqual([{ role: "user", content: "what are these", images: [PNG, PNG] }]);
  });

  it("thinking asked of a model that cannot think is dropped, not an error", async () => {
    const res = await postJson("/v1/messages", {
      model: "llama3.2",
      max_tokens: 100,
      thinking: { type: "adaptive" },
      output_config: { effort: "high" },
      messages: [user("x")],
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).content).toStrictEqual([{ type: "text", text: "Hello! You said: x" }]);
    expect((await chats())[0]!.think).toBeUndefined();
  });

  it("max_tokens is a ceiling, not a demand: held to DEFAULT_MAX_TOKENS or MODEL_LIMITS, and only lowers them", async () => {
    const predict = async (vars: Record<string, string>, max_tokens: number) => {
      await emulator.reset();
      const res = await postJsonWith(vars, "/v1/messages", { model: "llama3.2", max_tokens, messages: [user("x")] });
      expect(res.status).toBe(200);
      await res.text();
      return (await chats())[0]!.options.num_predict;
    };
    expect(await predict({}, 128000)).toBe(8192);
    expect(await predict({ DEFAULT_MAX_TOKENS: "1000" }, 32000)).toBe(1000);
    expect(await predict({ MODEL_LIMITS: JSON.stringify({ "*": { max_num_predict: 2048 } }) }, 32000)).toBe(2048);
    expect(await predict({}, 50)).toBe(50);
    // What admission reserves is that ceiling, not the 128000 asked for: a key with a small tpm still gets in.
    const { key } = await createKey({ name: "small tpm", tpm: 20000 });
    const res = await postJson("/v1/messages", { model: "llama3.2", max_tokens: 128000, messages: [user("x")] }, { authorization: `Bearer ${key}` });
    expect(res.status).toBe(200);
  });

  it("stop_sequences: the answer ends where one starts, and says which; Ollama is not sent them", async () => {
    const res = await postJson("/v1/messages", { model: "llama3.2", max_tokens: 100, stop_sequences: ["nothing", "said"], messages: [user("hi")] });
    expect(await res.json()).toMatchObject({ content: [{ type: "text", text: "Hello! You " }], stop_reason: "stop_sequence", stop_sequence: "said" });
    expect((await chats())[0]!.options).toStrictEqual({ num_predict: 100 });
    const streamed = await frames(
      await postJson("/v1/messages", { model: "llama3.2", max_tokens: 100, stream: true, stop_sequences: ["said"], messages: [user("hi")] }),
    );
    expect(streamed.at(-2)!.data.delta).toStrictEqual({ stop_reason: "stop_sequence", stop_sequence: "said" });
    expect(streamed.at(-1)!.event).toBe("message_stop");
    // A short answer cap ends the answer with max_tokens.
    const capped = await postJson("/v1/messages", { model: "llama3.2", max_tokens: 2, messages: [user("hi")] });
    expect(await capped.json()).toMatchObject({ content: [{ type: "text", text: "Hello! You" }], stop_reason: "max_tokens" });
  });
});

describe("POST /v1/messages/count_tokens", () => {
  const body = { model: "llama3.2", system: "Be brief.", messages: [user("hello there"), { role: "assistant", content: "hi" }, user("how are you")] };

  it("on Ollama: the gateway's estimate (characters ÷ 4), one request counted, no tokens, nothing sent to the backend", async () => {
    const { key } = await createKey({ name: "counter", rpm: 10, tpm: 1000 });
    const res = await postJson("/v1/messages/count_tokens?beta=true", body, { authorization: "", "x-api-key": key, ...ANTHROPIC_HEADERS });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const text = "Be brief.\nhello there\nhi\nhow are you";
    expect(await res.json()).toStrictEqual({ input_tokens: Math.ceil(text.length / 4) });
    expect(res.headers.get("x-ratelimit-remaining-requests")).toBe("9");
    expect(res.headers.get("x-ratelimit-remaining-tokens")).toBe("1000");
    expect((await emulator.requests()).filter((request) => request.path !== "/api/tags")).toEqual([]);
    // An image counts 768.
    const withImage = { ...body, messages: [user([{ type: "image", source: { type: "base64", media_type: "image/png", data: PNG } }])] };
    expect(await (await postJson("/v1/messages/count_tokens", withImage)).json()).toStrictEqual({ input_tokens: Math.ceil("Be brief.".length / 4) + 768 });

    // It takes no slot at the backend's gate: with the only slot held by a stalled stream, it still answers at once.
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 } });
    const gated = { BACKEND_MAX_CONCURRENCY: "1", QUEUE_MAX_WAIT: "2s" };
    const holder = await postJsonWith(gated, "/v1/messages", { model: "llama3.2", max_tokens: 50, stream: true, messages: [user("hold")] });
    expect(holder.status).toBe(200);
    const counted = await postJsonWith(gated, "/v1/messages/count_tokens", body);
    expect(counted.status).toBe(200);
    await counted.text();
    await holder.body!.cancel();
  });

  it("on llama-server: exact, by the model's own tokenizer (/tokenize); the same scope as /v1/messages", async () => {
    const llama = inject("llamaEmulatorUrl");
    const vars = {
      BACKENDS: JSON.stringify([
        { name: "desk", kind: "ollama", url: EMULATOR_URL },
        { name: "box", kind: "llamacpp", url: llama, api_key: "$BOX_KEY" },
      ]),
      BOX_KEY: "llama-secret",
    };
    const prompt = "Zürich?";
    const res = await postJsonWith(vars, "/v1/messages/count_tokens", { model: "qwen2.5-7b-instruct", messages: [user(prompt)] });
    // The emulated tokenizer is byte-level: one token per UTF-8 byte.
    expect(await res.json()).toStrictEqual({ input_tokens: new TextEncoder().encode(prompt).length });
    const recorded = (await (await fetch(`${llama}/__emulator/requests`)).json()) as { path: string; body: unknown }[];
    expect(recorded.filter((request) => request.path === "/tokenize").at(-1)!.body).toStrictEqual({ content: prompt });
    const { key } = await createKey({ name: "scoped", models: ["llama3.2"] });
    const outside = await postJsonWith(
      vars,
      "/v1/messages/count_tokens",
      { model: "qwen2.5-7b-instruct", messages: [user("x")] },
      { authorization: `Bearer ${key}` },
    );
    expect(outside.status).toBe(404);
    expect(((await outside.json()) as any).error.type).toBe("not_found_error");
  });
});
