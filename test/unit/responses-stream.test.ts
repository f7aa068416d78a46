import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../src/core/errors.ts";
import type { NativeChatChunk } from "../../src/core/native.ts";
import { ResponsesAggregator } from "../../src/dialects/openai-responses/answer.ts";
import { itemId, type ResponsesMeta, responseId } from "../../src/dialects/openai-responses/response-object.ts";
import { ResponsesSseEncoder } from "../../src/dialects/openai-responses/stream.ts";
import { toolCallsLine as calls, finalLine as final, textLine as text, thinkLine as think } from "./helpers.ts";

const meta: ResponsesMeta = {
  id: "resp_1",
  createdAt: 1700000000,
  model: "qwen3",
  echo: { instructions: null, tools: [], tool_choice: "auto", temperature: 1, parallel_tool_calls: true, store: false, metadata: {} },
  tools: {
    custom: new Set(["apply_patch"]),
    namespaced: new Map([["fs__read", { namespace: "fs", name: "read" }]]),
  },
};

interface Frame {
  event: string;
  data: Record<string, unknown> & { type: string; sequence_number: number };
}

function parse(sse: string): Frame[] {
  expect(sse.endsWith("\n\n") || sse === "").toBe(true);
  return sse
    .split("\n\n")
    .filter(Boolean)
    .map((frame) => {
      const match = /^event: ([^\n]+)\ndata: ([^\n]+)$/.exec(frame);
      expect(match, frame).not.toBeNull();
      const data = JSON.parse(match![2]!);
      expect(data.type).toBe(match![1]);
      return { event: match![1]!, data };
    });
}

/** Deterministic ids: the same sequence for the encoder's run and the aggregator's. */
let counter = 0;
beforeEach(() => {
  counter = 0;
  vi.spyOn(crypto, "randomUUID").mockImplementation(() => `00000000-0000-0000-0000-${String(++counter).padStart(12, "0")}` as never);
});
afterEach(() => vi.restoreAllMocks());

function stream(lines: NativeChatChunk[], tail: "end" | null = null) {
  counter = 0;
  const encoder = new ResponsesSseEncoder(meta);
  let sse = "";
  for (const line of lines) sse += encoder.line(line);
  if (tail === "end" && !encoder.finished) sse += encoder.end();
  const frames = parse(sse);
  const sequence = frames.map((frame) => frame.data.sequence_number);
  expect(sequence).toStrictEqual(sequence.map((_, i) => i));
  return { encoder, frames, types: frames.map((frame) => frame.event), sse };
}

function aggregate(lines: NativeChatChunk[]) {
  counter = 0;
  const aggregator = new ResponsesAggregator(meta);
  for (const line of lines) aggregator.line(line);
  return aggregator;
}

const ECHO = meta.echo;
const msgId = (n: number) => `msg_0000000000000000000${String(n).padStart(13, "0")}`;

describe("ids", () => {
  it("have OpenAI-like prefixes", () => {
    vi.restoreAllMocks();
    expect(responseId()).toMatch(/^resp_[0-9a-f]{32}$/);
    for (const prefix of ["msg", "fc", "ctc", "rs"] as const) expect(itemId(prefix)).toMatch(new RegExp(`^${prefix}_[0-9a-f]{32}$`));
  });
});

describe("ResponsesSseEncoder", () => {
  it("frames a short text answer exactly", () => {
    const lines = [text("Hi"), text(" there"), final()];
    const { frames, encoder } = stream(lines);
    const id = msgId(1);
    const inProgress = {
      id: "resp_1",
      object: "response",
      created_at: 1700000000,
      status: "in_progress",
      error: null,
      incomplete_details: null,
      model: "qwen3",
      output: [],
      usage: null,
      ...ECHO,
    };
    const message = {
      type: "message",
      id,
      status: "completed",
      role: "assistant",
      content: [{ type: "output_text", text: "Hi there", annotations: [], logprobs: [] }],
    };
    expect(frames.map((frame) => frame.data)).toStrictEqual([
      { type: "response.created", response: inProgress, sequence_number: 0 },
      { type: "response.in_progress", response: inProgress, sequence_number: 1 },
      {
        type: "response.output_item.added",
        output_index: 0,
        item: { type: "message", id, status: "in_progress", role: "assistant", content: [] },
        sequence_number: 2,
      },
      {
        type: "response.content_part.added",
        item_id: id,
        output_index: 0,
        content_index: 0,
        part: { type: "output_text", text: "", annotations: [], logprobs: [] },
        sequence_number: 3,
      },
      { type: "response.output_text.delta", item_id: id, output_index: 0, content_index: 0, delta: "Hi", logprobs: [], sequence_number: 4 },
      { type: "response.output_text.delta", item_id: id, output_index: 0, content_index: 0, delta: " there", logprobs: [], sequence_number: 5 },
      { type: "response.output_text.done", item_id: id, output_index: 0, content_index: 0, text: "Hi there", logprobs: [], sequence_number: 6 },
      { type: "response.content_part.done", item_id: id, output_index: 0, content_index: 0, part: message.content[0], sequence_number: 7 },
      { type: "response.output_item.done", output_index: 0, item: message, sequence_number: 8 },
      {
        type: "response.completed",
        response: {
          ...inProgress,
          status: "completed",
          output: [message],
          usage: {
            input_tokens: 12,
            input_tokens_details: { cached_tokens: 0 },
            output_tokens: 8,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: 20,
          },
        },
        sequence_number: 9,
      },
    ]);
    expect(encoder.finished).toBe(true);
    expect(encoder.usage()).toStrictEqual({ prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 });
    expect(encoder.line(text("late"))).toBe("");
    expect(encoder.end()).toBe("");
    expect(aggregate(lines).result()).toStrictEqual(frames.at(-1)!.data.response);
  });

  it("sends created and in_progress on the first line, before anything else", () => {
    const encoder = new ResponsesSseEncoder(meta);
    expect(parse(encoder.line(text("A"))).map((frame) => frame.event)).toStrictEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
    ]);
    expect(encoder.usage()).toStrictEqual({ prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 });
  });

  it("streams thinking as a reasoning item, then the text as a message", () => {
    const lines = [think("Let me"), think(" think about this."), text("Answer"), final("stop", 5, 12)];
    const { frames, types } = stream(lines);
    expect(types).toStrictEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const thought = "Let me think about this.";
    const rs = "rs_00000000000000000000000000000001";
    expect(frames[2]!.data).toMatchObject({ output_index: 0, item: { type: "reasoning", id: rs, summary: [] } });
    expect(frames[4]!.data).toStrictEqual({
      type: "response.reasoning_summary_text.delta",
      item_id: rs,
      output_index: 0,
      summary_index: 0,
      delta: "Let me",
      sequence_number: 4,
    });
    expect(frames[7]!.data).toMatchObject({ summary_index: 0, part: { type: "summary_text", text: thought } });
    expect(frames[10]!.data).toMatchObject({ output_index: 1, item_id: msgId(2) });
    const response = frames.at(-1)!.data.response as Record<string, unknown>;
    expect(response.output).toStrictEqual([
      {
        type: "reasoning",
        id: rs,
        summary: [{ type: "summary_text", text: thought }],
        content: [{ type: "reasoning_text", text: thought }],
      },
      {
        type: "message",
        id: msgId(2),
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: "Answer", annotations: [], logprobs: [] }],
      },
    ]);
    // 24 characters of thinking ≈ 6 tokens.
    expect(response.usage).toMatchObject({ output_tokens: 12, output_tokens_details: { reasoning_tokens: 6 } });
    expect(aggregate(lines).result()).toStrictEqual(response);
  });

  it("caps the reasoning estimate at the output tokens", () => {
    const result = aggregate([think("x".repeat(400)), final("stop", 1, 3)]).result();
    expect(result.usage).toMatchObject({ output_tokens: 3, output_tokens_details: { reasoning_tokens: 3 } });
  });

  it("closes the text before a tool call, which arrives whole", () => {
    const call = { id: "call_abc", function: { name: "get_weather", arguments: { city: "Paris" } } };
    const lines = [text("Checking."), calls(call), final("stop", 30, 20)];
    const { frames, types } = stream(lines);
    expect(types).toStrictEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const fc = "fc_00000000000000000000000000000002";
    const args = '{"city":"Paris"}';
    const item = { type: "function_call", id: fc, call_id: "call_abc", name: "get_weather", arguments: args, status: "completed" };
    expect(frames.slice(8, 12).map((frame) => frame.data)).toStrictEqual([
      { type: "response.output_item.added", output_index: 1, item: { ...item, arguments: "", status: "in_progress" }, sequence_number: 8 },
      { type: "response.function_call_arguments.delta", item_id: fc, output_index: 1, delta: args, sequence_number: 9 },
      {
        type: "response.function_call_arguments.done",
        item_id: fc,
        output_index: 1,
        name: "get_weather",
        arguments: args,
        sequence_number: 10,
      },
      { type: "response.output_item.done", output_index: 1, item, sequence_number: 11 },
    ]);
    const response = frames.at(-1)!.data.response as Record<string, unknown>;
    expect((response.output as unknown[])[1]).toStrictEqual(item);
    expect(aggregate(lines).result()).toStrictEqual(response);
  });

  it("gives a call without an id a call_ id", () => {
    const result = aggregate([calls({ function: { name: "get_weather", arguments: {} } }), final()]).result();
    expect(result.output[0]).toMatchObject({ type: "function_call", call_id: expect.stringMatching(/^call_[a-z0-9]{8}$/), arguments: "{}" });
  });

  it("returns a custom tool's call as a custom_tool_call with its input", () => {
    const patch = "*** Begin Patch\n*** End Patch";
    const lines = [calls({ id: "call_p", function: { name: "apply_patch", arguments: { input: patch } } }), final()];
    const { frames, types } = stream(lines);
    expect(types).toStrictEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.custom_tool_call_input.delta",
      "response.custom_tool_call_input.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const ctc = "ctc_00000000000000000000000000000001";
    const item = { type: "custom_tool_call", id: ctc, call_id: "call_p", name: "apply_patch", input: patch };
    expect(frames.slice(2, 6).map((frame) => frame.data)).toStrictEqual([
      { type: "response.output_item.added", output_index: 0, item: { ...item, input: "" }, sequence_number: 2 },
      { type: "response.custom_tool_call_input.delta", item_id: ctc, output_index: 0, delta: patch, sequence_number: 3 },
      { type: "response.custom_tool_call_input.done", item_id: ctc, output_index: 0, input: patch, sequence_number: 4 },
      { type: "response.output_item.done", output_index: 0, item, sequence_number: 5 },
    ]);
    expect(aggregate(lines).result()).toStrictEqual(frames.at(-1)!.data.response);
  });

  it("returns a namespaced call with its own name and its namespace", () => {
    const lines = [
      calls({ id: "call_1", function: { name: "fs__read", arguments: { path: "a.txt" } } }, { id: "call_2", function: { name: "other", arguments: {} } }),
      final(),
    ];
    const { frames } = stream(lines);
    const response = frames.at(-1)!.data.response as { output: unknown[] };
    expect(response.output).toStrictEqual([
      {
        type: "function_call",
        id: "fc_00000000000000000000000000000001",
        call_id: "call_1",
        name: "read",
        namespace: "fs",
        arguments: '{"path":"a.txt"}',
        status: "completed",
      },
      {
        type: "function_call",
        id: "fc_00000000000000000000000000000002",
        call_id: "call_2",
        name: "other",
        arguments: "{}",
        status: "completed",
      },
    ]);
    expect(frames[4]!.data).toMatchObject({ type: "response.function_call_arguments.done", name: "read" });
    expect(frames.filter((frame) => frame.event === "response.output_item.added").map((frame) => frame.data.output_index)).toStrictEqual([0, 1]);
    expect(aggregate(lines).result()).toStrictEqual(response);
  });

  it("ends an answer cut at its cap with response.incomplete", () => {
    const lines = [text("Once upon a"), final("length", 4, 3)];
    const { frames, types } = stream(lines);
    expect(types.at(-1)).toBe("response.incomplete");
    expect(types.filter((type) => type.startsWith("response.completed"))).toStrictEqual([]);
    const response = frames.at(-1)!.data.response as Record<string, unknown>;
    expect(response).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
      output: [{ type: "message", status: "incomplete" }],
    });
    expect(frames.find((frame) => frame.event === "response.output_item.done")!.data.item).toMatchObject({ status: "incomplete" });
    expect(aggregate(lines).result()).toStrictEqual(response);
  });

  it("turns an error line midway into response.failed, then stops", () => {
    const lines: NativeChatChunk[] = [text("Partial"), { error: "model runner crashed" }];
    const { encoder, frames, types } = stream(lines);
    expect(types).toStrictEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.failed",
    ]);
    expect(frames.at(-1)!.data.response).toMatchObject({
      status: "failed",
      error: { code: "server_error", message: "The backend failed during generation: model runner crashed" },
      incomplete_details: null,
      output: [],
    });
    expect(encoder.finished).toBe(true);
    expect(encoder.line(final())).toBe("");
    expect(encoder.end()).toBe("");
    expect(encoder.usage()).toStrictEqual({ prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 });
  });

  it("ends a stream without its final line with response.failed", () => {
    const { types, frames } = stream([think("hmm"), text("Par")], "end");
    expect(types.slice(-2)).toStrictEqual(["response.output_text.delta", "response.failed"]);
    expect(frames.at(-1)!.data.response).toMatchObject({
      status: "failed",
      error: { code: "server_error", message: "The backend closed the stream before the answer was complete." },
      output: [{ type: "reasoning", summary: [{ type: "summary_text", text: "hmm" }] }],
    });
  });

  it("still opens the stream when no line came before the end or an error", () => {
    expect(parse(new ResponsesSseEncoder(meta).end()).map((frame) => frame.event)).toStrictEqual([
      "response.created",
      "response.in_progress",
      "response.failed",
    ]);
    const failed = parse(new ResponsesSseEncoder(meta).error("The backend sent nothing", "backend_timeout"));
    expect(failed.map((frame) => frame.data.sequence_number)).toStrictEqual([0, 1, 2]);
    expect(failed[2]!.data.response).toMatchObject({ error: { code: "backend_timeout", message: "The backend sent nothing" } });
    expect(new ResponsesSseEncoder(meta).usage()).toBeNull();
  });
});

describe("ResponsesAggregator", () => {
  it("is done after the final line and counts usage so far", () => {
    const aggregator = new ResponsesAggregator(meta);
    aggregator.line(text("a"));
    expect(aggregator.done).toBe(false);
    expect(aggregator.usage()).toStrictEqual({ prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 });
    aggregator.line(final("stop", 2, 3));
    expect(aggregator.done).toBe(true);
    expect(aggregator.usage()).toStrictEqual({ prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  });

  it("throws on an error line, and closedEarly without the final line", () => {
    const aggregator = new ResponsesAggregator(meta);
    aggregator.line(text("a"));
    expect(() => aggregator.result()).toThrow("The backend closed the stream before the answer was complete.");
    let thrown: unknown;
    try {
      aggregator.line({ error: "boom" });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).message).toBe("The backend failed during generation: boom");
    expect((thrown as ApiError).status).toBe(502);
  });

  it("never lets an echoed field replace a computed one", () => {
    const result = new ResponsesAggregator({ ...meta, echo: { model: "other", status: "x", top_p: 1 } });
    result.line(final());
    expect(result.result()).toMatchObject({ model: "qwen3", status: "completed", top_p: 1, output: [] });
  });
});
