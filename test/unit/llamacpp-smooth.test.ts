import { describe, expect, it } from "vitest";
import { SmoothTranslator, StreamSmoother } from "../../src/backends/llamacpp/smooth.ts";

const utf8 = new TextEncoder();

/** The bytes through the translator as the stream relay drives it: one push per read, then the end. */
function run(
  input: string,
  options: { model: string; includeUsage: boolean },
  splitEvery = 0,
): { out: string; smoother: StreamSmoother; translator: SmoothTranslator } {
  const smoother = new StreamSmoother(options);
  const translator = new SmoothTranslator(smoother);
  const bytes = utf8.encode(input);
  const parts = splitEvery
    ? Array.from({ length: Math.ceil(bytes.length / splitEvery) }, (_, i) => bytes.slice(i * splitEvery, (i + 1) * splitEvery))
    : [bytes];
  let out = "";
  for (const part of parts) {
    out += translator.push(part);
    if (translator.finished) return { out, smoother, translator };
  }
  return { out: out + translator.end(null), smoother, translator };
}

const chunk = (delta: object, extra: object = {}) =>
  `data: ${JSON.stringify({ id: "chatcmpl-x", object: "chat.completion.chunk", created: 1, model: "qwen.gguf", choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`;
const LLAMA_STREAM =
  chunk({ role: "assistant", content: null }) +
  ": ping\n\n" +
  chunk({ content: "Héllo 🌍" }) +
  chunk({}, { choices: [{ index: 0, delta: {}, finish_reason: "stop" }], timings: { predicted_n: 2 } }) +
  `data: ${JSON.stringify({ id: "chatcmpl-x", object: "chat.completion.chunk", created: 1, model: "qwen.gguf", choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }, timings: {} })}\n\n` +
  "data: [DONE]\n\n";

const frames = (out: string) => out.split("\n\n").filter(Boolean);

describe("llama-server SSE smoothing", () => {
  it("renames the model, drops timings and pings, and drops the usage chunk the client did not ask for", async () => {
    const { out, smoother } = run(LLAMA_STREAM, { model: "my-alias", includeUsage: false });
    const events = frames(out);
    expect(events.at(-1)).toBe("data: [DONE]");
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.slice(6)));
    expect(chunks).toHaveLength(3);
    expect(chunks.every((c) => c.model === "my-alias" && !("timings" in c) && !("usage" in c))).toBe(true);
    expect(chunks[1].choices[0].delta.content).toBe("Héllo 🌍");
    expect(smoother.usage()).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
  });

  it("keeps the usage chunk with include_usage and puts usage:null on the others", async () => {
    const { out } = run(LLAMA_STREAM, { model: "m", includeUsage: true });
    const chunks = frames(out)
      .slice(0, -1)
      .map((event) => JSON.parse(event.slice(6)));
    expect(chunks.map((c) => c.usage)).toEqual([null, null, null, { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }]);
  });

  it("gives the same output however the bytes are split", async () => {
    const whole = run(LLAMA_STREAM, { model: "m", includeUsage: true }).out;
    for (const size of [1, 2, 3, 7, 64]) expect(run(LLAMA_STREAM, { model: "m", includeUsage: true }, size).out).toBe(whole);
  });

  it("turns llama.cpp's error event into OpenAI's envelope and ends; a cut stream ends with an error", async () => {
    const failed = run(`${chunk({ content: "a" })}data: {"error":{"code":500,"message":"slot crashed","type":"server_error"}}\n\n${chunk({ content: "b" })}`, {
      model: "m",
      includeUsage: false,
    });
    const events = frames(failed.out);
    expect(events).toHaveLength(2);
    expect(JSON.parse(events[1]!.slice(6))).toEqual({
      error: { message: "The backend failed during generation: slot crashed", type: "server_error", param: null, code: "backend_error" },
    });
    const cut = run(chunk({ content: "a" }) + chunk({ content: "b" }), { model: "m", includeUsage: false });
    expect(JSON.parse(frames(cut.out).at(-1)!.slice(6)).error.message).toBe("The backend closed the stream before the answer was complete.");
    expect(cut.smoother.usage()).toEqual({ prompt_tokens: 0, completion_tokens: 2, total_tokens: 2 });
    // For the key's usage records: an error the backend sent counts as a failed answer, as with Ollama's error lines.
    expect([failed.translator.failed, cut.translator.failed]).toEqual([true, false]);
  });

  it("a connection that breaks midway: the events so far, then an error event naming the failure; counted as failed", () => {
    const translator = new SmoothTranslator(new StreamSmoother({ model: "m", includeUsage: false }));
    const head = translator.push(utf8.encode(`${chunk({ content: "a" })}data: {"id":"chatcmpl-x","cho`));
    const tail = translator.end({ message: "The backend connection broke during the answer.", code: "backend_error" });
    expect(frames(head)).toHaveLength(1);
    expect(JSON.parse(frames(tail).at(-1)!.slice(6))).toEqual({
      error: { message: "The backend connection broke during the answer.", type: "server_error", param: null, code: "backend_error" },
    });
    expect([translator.finished, translator.failed]).toEqual([true, true]);
  });

  it("assembles a non-stream answer from the stream: content, tool calls pieced together, usage", async () => {
    const { OpenAIStreamAggregator } = await import("../../src/backends/llamacpp/aggregate.ts");
    const aggregator = new OpenAIStreamAggregator();
    const toolStream =
      chunk({ role: "assistant", content: null }) +
      chunk({ tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }] }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }) +
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }) +
      chunk({}, { choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] }) +
      `data: ${JSON.stringify({ id: "chatcmpl-x", choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } })}\n\n` +
      "data: [DONE]\n\n";
    const { SseEventDecoder } = await import("../../src/backends/llamacpp/smooth.ts");
    const events = new SseEventDecoder();
    for (const byte of utf8.encode(toolStream)) events.push(new Uint8Array([byte]), (data) => aggregator.event(data));
    events.flush((data) => aggregator.event(data));
    expect(aggregator.done).toBe(true);
    expect(aggregator.usage()).toEqual({ prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
    expect(aggregator.result("alias", "chat")).toEqual({
      id: "chatcmpl-x",
      created: 1,
      model: "alias",
      system_fingerprint: undefined,
      object: "chat.completion",
      choices: [
        {
          index: 0,
          message: {
            role: "assistant",
            content: null,
            refusal: null,
            tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }],
          },
          logprobs: null,
          finish_reason: "tool_calls",
        },
      ],
      usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 },
    });
    const failed = new OpenAIStreamAggregator();
    failed.event('{"error":{"code":500,"message":"oom"}}');
    expect([failed.done, failed.error]).toEqual([true, "oom"]);
  });
});
