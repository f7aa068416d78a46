import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/core/errors.ts";
import type { NativeChatChunk } from "../../src/core/native.ts";
import { ChatAggregator } from "../../src/dialects/openai/chat/aggregate.ts";
import { ChatSseEncoder } from "../../src/dialects/openai/chat/stream.ts";
import type { CompletionMeta } from "../../src/dialects/openai/common.ts";
import { sseFrames } from "./helpers.ts";

const meta: CompletionMeta = { id: "chatcmpl-abc", created: 1700000000, model: "gpt-4o-mini", systemFingerprint: "fp_test" };
const envelope = { id: "chatcmpl-abc", object: "chat.completion.chunk", created: 1700000000, model: "gpt-4o-mini", system_fingerprint: "fp_test" };

/** The chunk we expect for one delta (usage:null only with include_usage). */
function chunk(delta: Record<string, unknown>, finish: string | null = null, usage = false, logprobs: unknown = null) {
  return { ...envelope, choices: [{ index: 0, delta, logprobs, finish_reason: finish }], ...(usage && { usage: null }) };
}
const usageChunk = (prompt: number, completion: number) => ({
  ...envelope,
  choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
});

const frames = sseFrames;

function run(lines: NativeChatChunk[], includeUsage = false): unknown[] {
  const encoder = new ChatSseEncoder(meta, includeUsage);
  return frames(lines.map((line) => encoder.line(line)).join(""));
}

const msg = (content: string, extra: Record<string, unknown> = {}) => ({ role: "assistant", content, ...extra });
const done = (reason = "stop", extra: Partial<NativeChatChunk> = {}): NativeChatChunk => ({ message: msg(""), done: true, done_reason: reason, ...extra });

describe("ChatSseEncoder (§6 vectors 15–21 adapted)", () => {
  it("15: thinking and content in one done line with include_usage → five frames, reasoning first", () => {
    const out = run([{ message: msg("final answer", { thinking: "reasoning" }), done: true, done_reason: "stop", prompt_eval_count: 3, eval_count: 2 }], true);
    expect(out).toStrictEqual([
      chunk({ role: "assistant", reasoning_content: "reasoning", reasoning: "reasoning" }, null, true),
      chunk({ content: "final answer" }, null, true),
      chunk({}, "stop", true),
      usageChunk(3, 2),
      "[DONE]",
    ]);
  });

  it("16: role only in the first frame; every chunk shares id and created", () => {
    const lines: NativeChatChunk[] = [
      { created_at: "2023-11-14T22:13:20Z", message: msg("Hello"), done: false },
      { created_at: "2023-11-14T22:13:30Z", message: msg(" world"), done: false },
      { created_at: "2023-11-14T22:13:40Z", message: msg("!"), done: true, done_reason: "stop" },
    ];
    expect(run(lines)).toStrictEqual([
      chunk({ role: "assistant", content: "Hello" }),
      chunk({ content: " world" }),
      chunk({ content: "!" }),
      chunk({}, "stop"),
      "[DONE]",
    ]);
  });

  it("16: the exact bytes of a frame", () => {
    const encoder = new ChatSseEncoder(meta, false);
    expect(encoder.line({ message: msg('say "hi"\n') })).toBe(
      'data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","system_fingerprint":"fp_test",' +
        '"choices":[{"index":0,"delta":{"role":"assistant","content":"say \\"hi\\"\\n"},"logprobs":null,"finish_reason":null}]}\n\n',
    );
  });

  it("17: a metrics-only trailer gives no empty-content frame; usage comes from it", () => {
    const lines: NativeChatChunk[] = [{ message: msg("Hi"), done: false }, done("stop", { prompt_eval_count: 10, eval_count: 20, total_duration: 5 })];
    expect(run(lines, true)).toStrictEqual([chunk({ role: "assistant", content: "Hi" }, null, true), chunk({}, "stop", true), usageChunk(10, 20), "[DONE]"]);
  });

  it("17: logprobs on the trailer come in a chunk before the finish chunk", () => {
    const logprobs = [
      {
        token: "é",
        logprob: -0.5,
        top_logprobs: [
          { token: "é", logprob: -0.5, bytes: [195, 169] },
          { token: "e", logprob: -1 },
        ],
      },
    ];
    const out = run([{ message: msg("Hi"), done: false }, done("stop", { logprobs })]);
    expect(out).toStrictEqual([
      chunk({ role: "assistant", content: "Hi" }),
      chunk({ content: "" }, null, false, {
        content: [
          {
            token: "é",
            logprob: -0.5,
            bytes: [195, 169],
            top_logprobs: [
              { token: "é", logprob: -0.5, bytes: [195, 169] },
              { token: "e", logprob: -1, bytes: [101] },
            ],
          },
        ],
        refusal: null,
      }),
      chunk({}, "stop"),
      "[DONE]",
    ]);
  });

  it("18: a done line first → role with empty content, then finish", () => {
    expect(run([done("stop")])).toStrictEqual([chunk({ role: "assistant", content: "" }), chunk({}, "stop"), "[DONE]"]);
    expect(run([done("load")], true)).toStrictEqual([
      chunk({ role: "assistant", content: "" }, null, true),
      chunk({}, "stop", true),
      usageChunk(0, 0),
      "[DONE]",
    ]);
  });

  it("19 + 21: tool calls carry a running index, id, type and string arguments; role merges into the first", () => {
    const lines: NativeChatChunk[] = [
      {
        message: msg("", { tool_calls: [{ id: "call_abc123", function: { index: 2, name: "get_weather", arguments: { location: "Seattle" } } }] }),
        done: false,
      },
      {
        message: msg("", {
          tool_calls: [
            { id: "call_def", function: { index: 0, name: "get_time", arguments: { tz: "PST" } } },
            { function: { index: 0, name: "noop", arguments: {} } },
          ],
        }),
        done: false,
      },
      done("stop"),
    ];
    const out = run(lines) as ReturnType<typeof chunk>[];
    expect(out[0]).toStrictEqual(
      chunk({
        role: "assistant",
        tool_calls: [{ index: 0, id: "call_abc123", type: "function", function: { name: "get_weather", arguments: '{"location":"Seattle"}' } }],
      }),
    );
    const second = out[1]!.choices[0]!.delta as { tool_calls: { id: string }[] };
    expect(second.tool_calls[1]!.id).toMatch(/^call_[a-z0-9]{8}$/);
    expect(out[1]).toStrictEqual(
      chunk({
        tool_calls: [
          { index: 1, id: "call_def", type: "function", function: { name: "get_time", arguments: '{"tz":"PST"}' } },
          { index: 2, id: second.tool_calls[1]!.id, type: "function", function: { name: "noop", arguments: "{}" } },
        ],
      }),
    );
    expect(out.slice(2)).toStrictEqual([chunk({}, "tool_calls"), "[DONE]"]);
  });

  it("20: finish_reason table", () => {
    const call = { message: msg("", { tool_calls: [{ id: "c", function: { name: "f", arguments: {} } }] }), done: false };
    const finish = (reason: string | undefined, withTool: boolean) => {
      const out = run([...(withTool ? [call] : [{ message: msg("x") }]), { message: msg(""), done: true, done_reason: reason }]) as ReturnType<typeof chunk>[];
      return out[out.length - 2]!.choices[0]!.finish_reason;
    };
    expect(finish("stop", false)).toBe("stop");
    expect(finish("length", false)).toBe("length");
    expect(finish("stop", true)).toBe("tool_calls");
    expect(finish("length", true)).toBe("length");
    expect(finish("", false)).toBe("stop");
    expect(finish(undefined, false)).toBe("stop");
    expect(finish("unload", false)).toBe("stop");
    expect(finish("unload", true)).toBe("tool_calls");
  });

  it("a thinking line, then content, then tool call in one line: reasoning, content, tool_calls frames", () => {
    const out = run([
      { message: msg("", { thinking: "a" }) },
      { message: msg("b", { thinking: "c", tool_calls: [{ id: "x", function: { name: "f", arguments: { k: 1 } } }] }) },
      done("stop"),
    ]);
    expect(out).toStrictEqual([
      chunk({ role: "assistant", reasoning_content: "a", reasoning: "a" }),
      chunk({ reasoning_content: "c", reasoning: "c" }),
      chunk({ content: "b" }),
      chunk({ tool_calls: [{ index: 0, id: "x", type: "function", function: { name: "f", arguments: '{"k":1}' } }] }),
      chunk({}, "tool_calls"),
      "[DONE]",
    ]);
  });

  it("an {error} line becomes the last event, without [DONE]; later input is ignored", () => {
    const encoder = new ChatSseEncoder(meta, true);
    const out = encoder.line({ message: msg("Hi") }) + encoder.line({ error: "CUDA error: out of memory" });
    expect(
      out.endsWith(
        'data: {"error":{"message":"The backend failed during generation: CUDA error: out of memory","type":"server_error","param":null,"code":"backend_error"}}\n\n',
      ),
    ).toBe(true);
    expect(frames(out)).toHaveLength(2);
    expect(encoder.finished).toBe(true);
    expect(encoder.line(done("stop")) + encoder.end() + encoder.error("again")).toBe("");
  });

  it("end() without a done line is an error event; after [DONE] it adds nothing", () => {
    const encoder = new ChatSseEncoder(meta, false);
    encoder.line({ message: msg("partial") });
    expect(frames(encoder.end())).toStrictEqual([
      { error: { message: "The backend closed the stream before the answer was complete.", type: "server_error", param: null, code: "backend_error" } },
    ]);
    const finished = new ChatSseEncoder(meta, false);
    finished.line(done());
    expect(finished.finished).toBe(true);
    expect(finished.end()).toBe("");
  });

  it("error() takes a custom code", () => {
    expect(frames(new ChatSseEncoder(meta, false).error("stalled", "backend_timeout"))).toStrictEqual([
      { error: { message: "stalled", type: "server_error", param: null, code: "backend_timeout" } },
    ]);
  });
});

describe("ChatAggregator", () => {
  const completion = (message: Record<string, unknown>, finish: string, usage: [number, number], logprobs: unknown = null) => ({
    id: "chatcmpl-abc",
    object: "chat.completion",
    created: 1700000000,
    model: "gpt-4o-mini",
    system_fingerprint: "fp_test",
    choices: [{ index: 0, message: { role: "assistant", refusal: null, ...message }, logprobs, finish_reason: finish }],
    usage: { prompt_tokens: usage[0], completion_tokens: usage[1], total_tokens: usage[0] + usage[1] },
  });

  function aggregate(lines: NativeChatChunk[], wantLogprobs = false) {
    const aggregator = new ChatAggregator(meta, wantLogprobs);
    for (const line of lines) aggregator.line(line);
    return aggregator.result();
  }

  it("concatenates content and thinking; usage from the done line", () => {
    const result = aggregate([
      { message: msg("", { thinking: "Let me " }) },
      { message: msg("", { thinking: "think." }) },
      { message: msg("Hé") },
      { message: msg("llo 🌍") },
      done("stop", { prompt_eval_count: 26, eval_count: 298 }),
    ]);
    expect(result).toStrictEqual(completion({ content: "Héllo 🌍", reasoning_content: "Let me think.", reasoning: "Let me think." }, "stop", [26, 298]));
  });

  it("content is null with only tool calls; finish_reason tool_calls (length stays length)", () => {
    const call = { id: "call_1", function: { index: 0, name: "get_weather", arguments: { city: "Tokyo" } } };
    const result = aggregate([
      { message: msg("", { tool_calls: [call] }) },
      { message: msg("", { tool_calls: [{ function: { name: "g", arguments: {} } }] }) },
      done("stop"),
    ]);
    const generated = result.choices[0].message.tool_calls![1]!.id;
    expect(generated).toMatch(/^call_[a-z0-9]{8}$/);
    expect(result).toStrictEqual(
      completion(
        {
          content: null,
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Tokyo"}' } },
            { id: generated, type: "function", function: { name: "g", arguments: "{}" } },
          ],
        },
        "tool_calls",
        [0, 0],
      ),
    );
    expect(aggregate([{ message: msg("I'll check", { tool_calls: [call] }) }, done("length")]).choices[0]).toMatchObject({
      message: { content: "I'll check" },
      finish_reason: "length",
    });
  });

  it("logprobs are null unless requested, then collected", () => {
    const lines: NativeChatChunk[] = [
      { message: msg("A"), logprobs: [{ token: "A", logprob: -0.1 }] },
      { message: msg("B"), logprobs: [{ token: "B", logprob: -0.2, bytes: [66], top_logprobs: [{ token: "B", logprob: -0.2 }] }] },
      done("stop"),
    ];
    expect(aggregate(lines).choices[0].logprobs).toBeNull();
    expect(aggregate(lines, true).choices[0].logprobs).toStrictEqual({
      content: [
        { token: "A", logprob: -0.1, bytes: [65], top_logprobs: [] },
        { token: "B", logprob: -0.2, bytes: [66], top_logprobs: [{ token: "B", logprob: -0.2, bytes: [66] }] },
      ],
      refusal: null,
    });
    expect(aggregate([done()], true)).toStrictEqual(completion({ content: "" }, "stop", [0, 0], { content: [], refusal: null }));
  });

  it("an error line throws a 502 backend_error; a missing done line too; lines after done are ignored", () => {
    const aggregator = new ChatAggregator(meta, false);
    aggregator.line({ message: msg("Hi") });
    expect(() => aggregator.result()).toThrow(ApiError);
    let thrown: unknown;
    try {
      aggregator.line({ error: "model runner crashed" });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).status).toBe(502);
    expect((thrown as ApiError).toBody()).toStrictEqual({
      error: { message: "The backend failed during generation: model runner crashed", type: "server_error", param: null, code: "backend_error" },
    });
    const finished = new ChatAggregator(meta, false);
    finished.line({ message: msg("ok") });
    finished.line(done("stop", { eval_count: 1 }));
    expect(finished.done).toBe(true);
    finished.line({ message: msg(" more") });
    finished.line({ error: "ignored" });
    expect(finished.result()).toStrictEqual(completion({ content: "ok" }, "stop", [0, 1]));
  });
});

describe("the plain-token fast path (no JSON.parse per token)", () => {
  const line = (content: string, extra = "") =>
    `{"model":"llama3.2","created_at":"2026-11-28T12:00:00.123456789Z","message":{"role":"assistant","content":${JSON.stringify(content)}${extra}},"done":false}`;

  it("gives byte-identical frames to the parsing path, role on the first only", () => {
    const contents = ["Hello", " wörld", " 🌍", ' "quoted"', " back\\slash", "\ttab\nnewline", " \u0001ctl", "日本語", " </script>"];
    const fast = new ChatSseEncoder(meta, true);
    const slow = new ChatSseEncoder(meta, true);
    for (const content of contents) {
      const raw = fast.rawLine(line(content));
      expect(raw).not.toBeNull();
      expect(raw).toBe(slow.line(JSON.parse(line(content)) as NativeChatChunk));
    }
    expect(fast.usage()).toEqual(slow.usage());
  });

  it("leaves everything else to the parsing path", () => {
    const encoder = new ChatSseEncoder(meta, false);
    expect(encoder.rawLine(line("x", ',"thinking":"hm"'))).toBeNull();
    expect(encoder.rawLine(line("x", ',"tool_calls":[]'))).toBeNull();
    expect(encoder.rawLine(line("x").replace('"done":false', '"done":true'))).toBeNull();
    expect(encoder.rawLine(`${line("x")}\r`)).toBeNull();
    expect(encoder.rawLine(line("x").replace('"x"', '"bad \\q escape"'))).toBeNull();
    expect(encoder.rawLine(line("x").replace('"x"', '"raw \u0001 control"'))).toBeNull();
    expect(encoder.rawLine('{"model":"m","created_at":"t","message":{"role":"assistant","content":"a"},"done":false,"logprobs":[]}')).toBeNull();
    expect(encoder.rawLine(line(""))).toBe("");
  });
});
