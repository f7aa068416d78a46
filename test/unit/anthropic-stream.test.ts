import Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { ApiError, backendUnavailable } from "../../src/core/errors.ts";
import type { NativeChatChunk } from "../../src/core/native.ts";
import { AnthropicAggregator } from "../../src/dialects/anthropic/aggregate.ts";
import { type AnthropicMeta, THINKING_SIGNATURE } from "../../src/dialects/anthropic/answer.ts";
import { anthropicErrorResponse, anthropicStatus } from "../../src/dialects/anthropic/errors.ts";
import { StopWatch } from "../../src/dialects/anthropic/stop.ts";
import { AnthropicSseEncoder } from "../../src/dialects/anthropic/stream.ts";
import { finalLine as final, textLine as text, thinkLine as think, toolCallsLine } from "./helpers.ts";

const meta: AnthropicMeta = { id: "msg_1", model: "claude-sonnet-4-5", inputEstimate: 40 };

const call = (id: string, name: string, args: Record<string, unknown>): NativeChatChunk => toolCallsLine({ id, function: { index: 0, name, arguments: args } });

interface Frame {
  event: string;
  data: Record<string, any>;
}

/** Every frame must be exactly `event: <type>\ndata: <json whose type is the event's>\n\n`. */
function parse(sse: string): Frame[] {
  expect(sse.endsWith("\n\n")).toBe(true);
  return sse
    .slice(0, -2)
    .split("\n\n")
    .map((frame) => {
      const match = /^event: ([a-z_]+)\ndata: ([^\n]+)$/.exec(frame);
      expect(match, frame).not.toBeNull();
      const data = JSON.parse(match![2]!);
      expect(data.type).toBe(match![1]);
      return { event: match![1]!, data };
    });
}

function stream(lines: NativeChatChunk[], at: AnthropicMeta = meta) {
  const encoder = new AnthropicSseEncoder(at);
  let sse = "";
  for (const line of lines) sse += encoder.line(line);
  if (!encoder.finished) sse += encoder.end();
  return { encoder, sse, frames: parse(sse) };
}

function aggregate(lines: NativeChatChunk[], at: AnthropicMeta = meta) {
  const aggregator = new AnthropicAggregator(at);
  for (const line of lines) aggregator.line(line);
  return aggregator;
}

/** What Anthropic's own SDK makes of our SSE: `messages.stream(...).finalMessage()`, its MessageStream accumulation. */
async function sdkFinalMessage(sse: string) {
  const client = new Anthropic({
    apiKey: "unused",
    maxRetries: 0,
    fetch: async () => new Response(sse, { headers: { "content-type": "text/event-stream" } }),
  });
  const message = await client.messages.stream({ model: "claude-sonnet-4-5", max_tokens: 100, messages: [{ role: "user", content: "x" }] }).finalMessage();
  // `parsed_output` is the SDK's own (its structured-output helper), never on the wire.
  const { parsed_output: _parsed, ...wire } = JSON.parse(JSON.stringify(message));
  return wire;
}

describe("native lines → Anthropic's SSE events", () => {
  it("thinking, then text, then a tool call: each block opened, filled and closed in Anthropic's order", () => {
    const lines = [
      think("Let me"),
      think(" see."),
      text("Calling"),
      text(" it."),
      call("call_abc12345", "get_weather", { city: "Paris" }),
      final("stop", 30, 9),
    ];
    const { frames } = stream(lines);
    expect(frames.map((frame) => frame.data)).toStrictEqual([
      {
        type: "message_start",
        message: {
          id: "msg_1",
          type: "message",
          role: "assistant",
          model: "claude-sonnet-4-5",
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 40, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        },
      },
      { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } },
      { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Let me" } },
      { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: " see." } },
      { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: THINKING_SIGNATURE } },
      { type: "content_block_stop", index: 0 },
      { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } },
      { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "Calling" } },
      { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: " it." } },
      { type: "content_block_stop", index: 1 },
      { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "call_abc12345", name: "get_weather", input: {} } },
      { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: '{"city":"Paris"}' } },
      { type: "content_block_stop", index: 2 },
      { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { input_tokens: 30, output_tokens: 9 } },
      { type: "message_stop" },
    ]);
  });

  it("the SDK's own accumulation of the stream is the aggregator's whole Message", async () => {
    const lines = [think("Hmm."), text("Two"), text(" calls."), call("call_1", "a", { x: 1 }), call("call_2", "b", {}), final("stop", 7, 11)];
    const whole = aggregate(lines).result();
    expect(whole).toStrictEqual({
      id: "msg_1",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [
        { type: "thinking", thinking: "Hmm.", signature: THINKING_SIGNATURE },
        { type: "text", text: "Two calls." },
        { type: "tool_use", id: "call_1", name: "a", input: { x: 1 } },
        { type: "tool_use", id: "call_2", name: "b", input: {} },
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: { input_tokens: 7, output_tokens: 11, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    const fromSdk = await sdkFinalMessage(stream(lines).sse);
    expect(fromSdk).toStrictEqual(whole);
  });

  it("max_tokens, end_turn, and a tool id Anthropic's clients could not send back is replaced", () => {
    expect(aggregate([text("cut"), final("length")]).result().stop_reason).toBe("max_tokens");
    expect(aggregate([text("done"), final("stop")]).result().stop_reason).toBe("end_turn");
    // An answer with nothing in it is an empty message, not an error.
    expect(aggregate([final("stop", 3, 0)]).result().content).toStrictEqual([]);
    const [block] = aggregate([call("call.with.dots", "f", {}), final()]).result().content;
    expect(block).toMatchObject({ type: "tool_use", id: expect.stringMatching(/^toolu_[0-9a-f]{24}$/) });
  });

  it("a stop sequence ends the answer where it starts, split across lines or not, and says which one", async () => {
    const at = { ...meta, stopSequences: ["</answer>", "STOP"] };
    const lines = [text("Yes"), text(" </ans"), text("wer> and more"), text(" never sent"), final()];
    const { frames, encoder } = stream(lines, at);
    const deltas = frames.filter((frame) => frame.data.delta?.type === "text_delta").map((frame) => frame.data.delta.text);
    expect(deltas).toStrictEqual(["Yes", " "]);
    expect(frames.slice(-2).map((frame) => frame.data)).toStrictEqual([
      // The backend never finished: the usage is the prompt's estimate and the lines generated.
      { type: "message_delta", delta: { stop_reason: "stop_sequence", stop_sequence: "</answer>" }, usage: { input_tokens: 40, output_tokens: 3 } },
      { type: "message_stop" },
    ]);
    expect(encoder.finished).toBe(true);
    expect(encoder.usage()).toStrictEqual({ prompt_tokens: 0, completion_tokens: 3, total_tokens: 3 });
    const whole = aggregate(lines, at);
    expect(whole.done).toBe(true);
    expect(whole.result()).toMatchObject({ content: [{ type: "text", text: "Yes " }], stop_reason: "stop_sequence", stop_sequence: "</answer>" });
    expect(await sdkFinalMessage(stream(lines, at).sse)).toStrictEqual(whole.result());
    // Text held back as a possible start is sent once the answer shows it was not one.
    const held = stream([text("ST"), text("ART"), final()], at).frames.filter((frame) => frame.data.delta?.type === "text_delta");
    expect(held.map((frame) => frame.data.delta.text)).toStrictEqual(["START"]);
    const atEnd = aggregate([text("a ST"), final()], at).result();
    expect(atEnd).toMatchObject({ content: [{ type: "text", text: "a ST" }], stop_reason: "end_turn", stop_sequence: null });
  });

  it("a failure midway is a final `event: error` with Anthropic's error object, which the SDK throws", async () => {
    const encoder = new AnthropicSseEncoder(meta);
    let sse = encoder.line(text("Hel"));
    sse += encoder.line({ error: "model runner has unexpectedly stopped" });
    expect(encoder.finished).toBe(true);
    expect(encoder.line(text("lo"))).toBe("");
    const frames = parse(sse);
    expect(frames.map((frame) => frame.event)).toStrictEqual(["message_start", "content_block_start", "content_block_delta", "error"]);
    expect(frames.at(-1)!.data).toStrictEqual({
      type: "error",
      error: { type: "api_error", message: "The backend failed during generation: model runner has unexpectedly stopped" },
    });
    expect(encoder.usage()).toStrictEqual({ prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 });
    await expect(sdkFinalMessage(sse)).rejects.toMatchObject({ type: "api_error" });
    // A stream that ends without its final line is truncated: the client hears so.
    const cut = stream([text("partial")]);
    expect(cut.frames.at(-1)!.data.error.message).toBe("The backend closed the stream before the answer was complete.");
    expect(() => aggregate([text("partial")]).result()).toThrow(ApiError);
    expect(() => aggregate([{ error: "boom" }])).toThrow("The backend failed during generation: boom");
  });

  it("pings while the backend is silent, as Anthropic's keep-alive", () => {
    expect(new AnthropicSseEncoder(meta).heartbeat).toBe('event: ping\ndata: {"type":"ping"}\n\n');
  });
});

describe("StopWatch", () => {
  it("holds back only what could start a sequence, finds the earliest match", () => {
    const watch = new StopWatch(["abc", "b"]);
    expect(watch.push("xa")).toBe("x");
    expect(watch.push("bz")).toBe("a");
    expect(watch.matched).toBe("b");
    expect(watch.push("more")).toBe("");
    expect(watch.flush()).toBe("");
    const none = new StopWatch(["", "END"]);
    expect(none.push("the EN")).toBe("the ");
    expect(none.flush()).toBe("EN");
    expect(new StopWatch(undefined).push("anything")).toBe("anything");
  });
});

describe("errors in Anthropic's shape", () => {
  it("maps every status to Anthropic's types; overloaded backends and full queues are 529 with retry-after", async () => {
    const cases: [ApiError, number, string][] = [
      [new ApiError(400, "bad", "invalid_request_error"), 400, "invalid_request_error"],
      [new ApiError(401, "no key", "invalid_request_error", "invalid_api_key"), 401, "authentication_error"],
      [new ApiError(403, "no", "permission_error"), 403, "permission_error"],
      [new ApiError(404, "none", "invalid_request_error", "model_not_found"), 404, "not_found_error"],
      [new ApiError(413, "big", "invalid_request_error", "request_too_large"), 413, "invalid_request_error"],
      [new ApiError(429, "slow down", "rate_limit_exceeded", "rate_limit_exceeded", null, { "retry-after": "3" }), 429, "rate_limit_error"],
      [new ApiError(429, "queue full", "rate_limit_exceeded", "rate_limit_exceeded", null, { "retry-after": "2" }, null, true), 529, "overloaded_error"],
      [backendUnavailable(503, "loading", 5), 529, "overloaded_error"],
      [backendUnavailable(502, "unreachable"), 502, "api_error"],
      [new ApiError(504, "slow", "server_error", "backend_timeout"), 504, "api_error"],
      [new ApiError(500, "bug", "server_error", "internal_error"), 500, "api_error"],
    ];
    for (const [error, status, type] of cases) expect(anthropicStatus(error), error.message).toStrictEqual({ status, type });
    const res = anthropicErrorResponse(backendUnavailable(503, "The backend is busy or loading a model.", 5));
    expect(res.status).toBe(529);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.json()).toStrictEqual({ type: "error", error: { type: "overloaded_error", message: "The backend is busy or loading a model." } });
  });
});
