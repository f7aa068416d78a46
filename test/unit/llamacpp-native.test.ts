import { describe, expect, it } from "vitest";
import { toLlamaChat } from "../../src/backends/llamacpp/native-request.ts";
import { nativeChatStream } from "../../src/backends/llamacpp/native-stream.ts";
import type { NativeChatRequest } from "../../src/core/native.ts";

const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const JPEG = "/9j/4AAQSkZJRgABAQAAAQABAAD";
const WEATHER = {
  type: "function" as const,
  function: { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } } } },
};

describe("internal form → llama-server chat request", () => {
  it("maps a whole conversation: images, thinking, tool calls and their results, tools, format, options", () => {
    const request: NativeChatRequest = {
      model: "qwen3-8b",
      stream: true,
      keep_alive: "30m",
      think: true,
      format: { type: "object", properties: { answer: { type: "string" } } },
      tools: [WEATHER],
      options: {
        temperature: 0.2,
        top_p: 0.9,
        top_k: 20,
        min_p: 0.05,
        seed: 7,
        stop: ["</s>"],
        num_predict: 300,
        presence_penalty: 0.1,
        frequency_penalty: 0.2,
        repeat_penalty: 1.1,
        num_ctx: 32768,
        num_gpu: 99,
      },
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "what is in these?", images: [PNG, JPEG] },
        {
          role: "assistant",
          content: "",
          thinking: "I need the weather twice.",
          tool_calls: [
            { id: "call_a", function: { name: "get_weather", arguments: { city: "Paris" } } },
            { function: { name: "get_time", arguments: {} } },
            { function: { name: "get_weather", arguments: { city: "Oslo" } } },
          ],
        },
        // Matched by the native id; by the tool's name (call_a is answered: the other get_weather); by order (what is left).
        { role: "tool", content: "sunny", tool_call_id: "call_a", tool_name: "get_weather" },
        { role: "tool", content: "rain", tool_name: "get_weather" },
        { role: "tool", content: "noon" },
        { role: "assistant", content: "Sunny in Paris, rain in Oslo, at noon." },
        { role: "user", content: "thanks" },
      ],
    };
    expect(toLlamaChat(request)).toStrictEqual({
      model: "qwen3-8b",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [
            { type: "text", text: "what is in these?" },
            { type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } },
            { type: "image_url", image_url: { url: `data:image/jpeg;base64,${JPEG}` } },
          ],
        },
        {
          role: "assistant",
          content: null,
          reasoning_content: "I need the weather twice.",
          tool_calls: [
            { id: "call_a", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
            { id: "call_2_1", type: "function", function: { name: "get_time", arguments: "{}" } },
            { id: "call_2_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } },
          ],
        },
        { role: "tool", content: "sunny", tool_call_id: "call_a" },
        { role: "tool", content: "rain", tool_call_id: "call_2_2" },
        { role: "tool", content: "noon", tool_call_id: "call_2_1" },
        { role: "assistant", content: "Sunny in Paris, rain in Oslo, at noon." },
        { role: "user", content: "thanks" },
      ],
      stream: true,
      stream_options: { include_usage: true },
      reasoning_format: "deepseek",
      tools: [WEATHER],
      response_format: { type: "json_schema", json_schema: { name: "response", schema: { type: "object", properties: { answer: { type: "string" } } } } },
      temperature: 0.2,
      top_p: 0.9,
      top_k: 20,
      min_p: 0.05,
      seed: 7,
      stop: ["</s>"],
      max_tokens: 300,
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      repeat_penalty: 1.1,
      chat_template_kwargs: { enable_thinking: true },
    });
  });

  it("maps think (off, effort levels, unset), format json, an image without text, a tool result with nothing to answer", () => {
    const base: NativeChatRequest = { model: "m", stream: true, messages: [{ role: "user", content: "hi" }] };
    const fields = (request: Partial<NativeChatRequest>) => {
      const { model: _m, messages: _x, stream: _s, stream_options: _o, reasoning_format: _r, ...rest } = toLlamaChat({ ...base, ...request });
      return rest;
    };
    expect(fields({})).toStrictEqual({});
    expect(fields({ think: false })).toStrictEqual({ chat_template_kwargs: { enable_thinking: false }, reasoning_effort: "none" });
    expect(fields({ think: "low" })).toStrictEqual({ chat_template_kwargs: { enable_thinking: true }, reasoning_effort: "low" });
    expect(fields({ think: "max" })).toStrictEqual({ chat_template_kwargs: { enable_thinking: true }, reasoning_effort: "high" });
    expect(fields({ format: "json", options: { num_ctx: 4096 } })).toStrictEqual({ response_format: { type: "json_object" } });
    const messages = toLlamaChat({
      ...base,
      messages: [
        { role: "user", content: "", images: ["R0lGODlhAQABAAAAACw="] },
        { role: "tool", content: "orphan", tool_name: "x" },
      ],
    }).messages;
    expect(messages).toStrictEqual([
      { role: "user", content: [{ type: "image_url", image_url: { url: "data:image/gif;base64,R0lGODlhAQABAAAAACw=" } }] },
      { role: "tool", content: "orphan" },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// llama-server's stream → native lines

const utf8 = new TextEncoder();
const CREATED = 1700000000;
const AT = new Date(CREATED * 1000).toISOString();

const event = (data: unknown) => `data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`;
const chunk = (delta: object, finish: string | null = null) =>
  event({ choices: [{ finish_reason: finish, index: 0, delta }], created: CREATED, id: "chatcmpl-x", model: "qwen3-8b", object: "chat.completion.chunk" });
const usage = (prompt: number, completion: number) =>
  event({
    choices: [],
    created: CREATED,
    id: "chatcmpl-x",
    usage: { completion_tokens: completion, prompt_tokens: prompt, total_tokens: prompt + completion },
    timings: {},
  });

/** Runs `input` through the translation, split into reads of `size` bytes (0: one read); the raw output. */
async function translate(input: string, size = 0): Promise<string> {
  const bytes = utf8.encode(input);
  const reads = size ? Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.slice(i * size, (i + 1) * size)) : [bytes];
  const source = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const read of reads) controller.enqueue(read);
      controller.close();
    },
  });
  return new Response(source.pipeThrough(nativeChatStream("qwen3-8b"))).text();
}

/** The native lines, parsed (the blank lines that keep the relay's watchdog fed are skipped, as decoders do). */
const linesOf = (out: string) =>
  out
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));

const line = (message: object) => ({ model: "qwen3-8b", created_at: AT, message: { role: "assistant", ...message }, done: false });
const final = (reason: string, counts: object) => ({
  model: "qwen3-8b",
  created_at: AT,
  message: { role: "assistant", content: "" },
  done: true,
  done_reason: reason,
  ...counts,
});

const THINKING_STREAM =
  chunk({ role: "assistant", content: null }) +
  chunk({ reasoning_content: "Hmm, " }) +
  chunk({ reasoning_content: "größer 🌍?" }) +
  ": ping\n\n" +
  chunk({ content: "Héllo" }) +
  chunk({ content: " wörld 🌍" }) +
  chunk({}, "stop") +
  usage(12, 4) +
  event("[DONE]");

describe("llama-server stream → native lines", () => {
  it("reasoning → thinking, content → content, the usage on the final line", async () => {
    expect(linesOf(await translate(THINKING_STREAM))).toStrictEqual([
      line({ content: "", thinking: "Hmm, " }),
      line({ content: "", thinking: "größer 🌍?" }),
      line({ content: "Héllo" }),
      line({ content: " wörld 🌍" }),
      final("stop", { prompt_eval_count: 12, eval_count: 4 }),
    ]);
  });

  it("gives the same lines however the bytes are split (inside events, UTF-8 characters and CRLFs)", async () => {
    const crlf = THINKING_STREAM.replaceAll("\n", "\r\n");
    const whole = linesOf(await translate(THINKING_STREAM));
    for (const size of [1, 2, 3, 5, 7, 13, 64]) {
      expect(linesOf(await translate(THINKING_STREAM, size)), `split every ${size}`).toStrictEqual(whole);
      expect(linesOf(await translate(crlf, size)), `CRLF split every ${size}`).toStrictEqual(whole);
    }
    // Every read gives bytes out, a blank line when it completed no event: the relay's idle watchdog sees each one.
    const out = await translate(THINKING_STREAM, 5);
    expect(out.split("\n").filter((piece) => piece === "").length).toBeGreaterThan(THINKING_STREAM.length / 5 / 2);
  });

  it("accumulates tool-call fragments by index and sends the calls whole at finish; tool_calls finishes as stop", async () => {
    const stream =
      chunk({ role: "assistant", content: null }) +
      chunk({ reasoning_content: "Two calls." }) +
      chunk({ tool_calls: [{ index: 0, id: "abc", type: "function", function: { name: "get_weather", arguments: "" } }] }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Zürich"}' } }] }) +
      chunk({ tool_calls: [{ index: 1, id: "def", type: "function", function: { name: "get_time", arguments: "" } }] }) +
      chunk({ tool_calls: [{ index: 1, function: { arguments: "{not json" } }] }) +
      chunk({}, "tool_calls") +
      usage(30, 9) +
      event("[DONE]");
    for (const size of [0, 3]) {
      expect(linesOf(await translate(stream, size))).toStrictEqual([
        line({ content: "", thinking: "Two calls." }),
        line({
          content: "",
          tool_calls: [
            { id: "abc", function: { index: 0, name: "get_weather", arguments: { city: "Zürich" } } },
            // Arguments that are not a JSON object become {} rather than failing the whole answer.
            { id: "def", function: { index: 1, name: "get_time", arguments: {} } },
          ],
        }),
        final("stop", { prompt_eval_count: 30, eval_count: 9 }),
      ]);
    }
  });

  it("length stays length; without usage the final line counts the chunks generated and no prompt", async () => {
    const stream = chunk({ content: "a" }) + chunk({ content: " b" }) + chunk({}, "length") + event("[DONE]");
    expect(linesOf(await translate(stream)).at(-1)).toStrictEqual(final("length", { eval_count: 2 }));
  });

  it("llama-server's error event becomes Ollama's error line, and nothing follows it", async () => {
    const stream =
      chunk({ content: "Hel" }) +
      event({ error: { code: 500, message: "Internal error: model runner stopped", type: "server_error" } }) +
      chunk({ content: "lo" }) +
      event("[DONE]");
    expect(linesOf(await translate(stream))).toStrictEqual([line({ content: "Hel" }), { error: "Internal error: model runner stopped" }]);
    expect(linesOf(await translate(chunk({ content: "x" }) + event("{oops")))).toStrictEqual([
      line({ content: "x" }),
      { error: "The backend sent a malformed event." },
    ]);
  });

  it("a stream cut before the answer finished just ends (each dialect reports it as Ollama's); after finish it is whole", async () => {
    expect(linesOf(await translate(chunk({ content: "Hel" }) + chunk({ content: "lo" })))).toStrictEqual([line({ content: "Hel" }), line({ content: "lo" })]);
    // A cut inside an event: the partial event is not an answer.
    expect(linesOf(await translate(`${chunk({ content: "Hel" })}data: {"choices":[{"delta":{"content":"lo`))).toStrictEqual([line({ content: "Hel" })]);
    // Finished, usage sent, [DONE] lost: still a whole answer.
    expect(linesOf(await translate(chunk({ content: "Hi" }) + chunk({}, "stop") + usage(3, 1)))).toStrictEqual([
      line({ content: "Hi" }),
      final("stop", { prompt_eval_count: 3, eval_count: 1 }),
    ]);
  });

  it("stops at [DONE]: what comes after is not read", async () => {
    const out = await translate(THINKING_STREAM + chunk({ content: "late" }) + event("[DONE]"));
    expect(linesOf(out).at(-1)).toStrictEqual(final("stop", { prompt_eval_count: 12, eval_count: 4 }));
    expect(out).not.toContain("late");
  });
});
