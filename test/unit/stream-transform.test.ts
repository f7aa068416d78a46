import { describe, expect, it } from "vitest";
import type { NativeChatChunk } from "../../src/core/native.ts";
import { MalformedLineError, NdjsonDecoder } from "../../src/core/ndjson.ts";
import { ChatSseEncoder } from "../../src/dialects/openai/chat/stream.ts";
import type { CompletionMeta } from "../../src/dialects/openai/common.ts";
import { ndjsonToSse, type TransformHooks } from "../../tools/ndjson-to-sse.ts";

const utf8 = new TextEncoder();
const meta: CompletionMeta = { id: "chatcmpl-split", created: 1700000000, model: "llama3.2", systemFingerprint: "fp_test" };
const envelope = { id: "chatcmpl-split", object: "chat.completion.chunk", created: 1700000000, model: "llama3.2", system_fingerprint: "fp_test" };
const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  ...envelope,
  choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  usage: null,
});
const at = (second: number) => `2024-06-04T14:38:${String(second).padStart(2, "0")}.6104529Z`;
const line = (second: number, message: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "llama3.2", created_at: at(second), message: { role: "assistant", content: "", ...message }, done: false, ...extra });

/** A realistic Ollama /api/chat stream: thinking, multi-byte content, a tool call, and the metrics trailer. */
const NDJSON = `${[
  line(1, { thinking: "Hmm, ça " }),
  line(2, { thinking: "va…" }),
  line(3, { content: "héllo " }),
  line(4, { content: "🌍 日本" }),
  line(5, { tool_calls: [{ id: "call_k3j4h5g6", function: { index: 0, name: "lookup", arguments: { q: "日本 🌍" } } }] }),
  line(6, {}, { done: true, done_reason: "stop", total_duration: 1234, prompt_eval_count: 7, eval_count: 5 }),
].join("\n")}\n`;
const BYTES = utf8.encode(NDJSON);

const EXPECTED_FRAMES = [
  chunk({ role: "assistant", reasoning_content: "Hmm, ça ", reasoning: "Hmm, ça " }),
  chunk({ reasoning_content: "va…", reasoning: "va…" }),
  chunk({ content: "héllo " }),
  chunk({ content: "🌍 日本" }),
  chunk({ tool_calls: [{ index: 0, id: "call_k3j4h5g6", type: "function", function: { name: "lookup", arguments: '{"q":"日本 🌍"}' } }] }),
  chunk({}, "tool_calls"),
  { ...envelope, choices: [], usage: { prompt_tokens: 7, completion_tokens: 5, total_tokens: 12 } },
  "[DONE]",
];

/** Run byte pieces through ndjsonToSse; returns the output pieces, decoded (each must be valid UTF-8 on its own). */
async function transform(pieces: Uint8Array[], hooks: TransformHooks = {}, includeUsage = true): Promise<string[]> {
  const strict = new TextDecoder("utf-8", { fatal: true });
  let next = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < pieces.length) controller.enqueue(pieces[next++]!);
      else controller.close();
    },
  });
  return (await readAll(source.pipeThrough(ndjsonToSse<NativeChatChunk>(new ChatSseEncoder(meta, includeUsage), hooks)))).map((piece) => strict.decode(piece));
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const reader = stream.getReader();
  const out: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

/** Parse SSE text frame by frame; a piece must never end inside a frame. */
function frames(pieces: string[]): unknown[] {
  const result: unknown[] = [];
  for (const piece of pieces) {
    expect(piece.endsWith("\n\n")).toBe(true);
    for (const frame of piece.slice(0, -2).split("\n\n")) {
      expect(frame.startsWith("data: ")).toBe(true);
      const data = frame.slice("data: ".length);
      result.push(data === "[DONE]" ? "[DONE]" : JSON.parse(data));
    }
  }
  return result;
}

const splitAt = (bytes: Uint8Array, cuts: number[]) => {
  const bounds = [0, ...cuts, bytes.length];
  return bounds.slice(1).map((end, i) => bytes.slice(bounds[i], end));
};

describe("ndjsonToSse", () => {
  it("turns the whole stream into the expected frames", async () => {
    const pieces = await transform([BYTES]);
    expect(pieces).toHaveLength(1);
    expect(frames(pieces)).toStrictEqual(EXPECTED_FRAMES);
  });

  it("gives identical output when the input is split at every byte boundary", async () => {
    const whole = (await transform([BYTES])).join("");
    for (let cut = 1; cut < BYTES.length; cut++) {
      const pieces = await transform(splitAt(BYTES, [cut]));
      expect(pieces.join(""), `cut at byte ${cut}`).toBe(whole);
      expect(frames(pieces)).toStrictEqual(EXPECTED_FRAMES);
    }
  });

  it("gives identical output fed one byte at a time, and for uneven multi-way splits", async () => {
    const whole = (await transform([BYTES])).join("");
    const oneByOne = await transform(
      splitAt(
        BYTES,
        Array.from({ length: BYTES.length - 1 }, (_, i) => i + 1),
      ),
    );
    expect(oneByOne.join("")).toBe(whole);
    expect(frames(oneByOne)).toStrictEqual(EXPECTED_FRAMES);
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 50; round++) {
      const cuts = [...new Set(Array.from({ length: 1 + Math.floor(random() * 20) }, () => 1 + Math.floor(random() * (BYTES.length - 1))))].sort(
        (a, b) => a - b,
      );
      const pieces = await transform(splitAt(BYTES, cuts));
      expect(pieces.join(""), `cuts ${cuts.join(",")}`).toBe(whole);
      expect(frames(pieces)).toStrictEqual(EXPECTED_FRAMES);
    }
  });

  it("every multi-byte character split inside itself still arrives intact", async () => {
    const text = `${line(1, { content: "é🌍日" })}\n${line(2, {}, { done: true, done_reason: "stop" })}\n`;
    const bytes = utf8.encode(text);
    for (let cut = 1; cut < bytes.length; cut++) {
      expect(frames(await transform(splitAt(bytes, [cut]), {}, false))[0]).toStrictEqual({
        ...envelope,
        choices: [{ index: 0, delta: { role: "assistant", content: "é🌍日" }, logprobs: null, finish_reason: null }],
      });
    }
  });

  it("a last line without a newline and CRLF line ends still count", async () => {
    const text = `${line(1, { content: "a" })}\r\n\r\n${line(2, {}, { done: true, done_reason: "length" })}`;
    expect(frames(await transform([utf8.encode(text)], {}, false)).map((f) => (f as ReturnType<typeof chunk>).choices?.[0])).toStrictEqual([
      { index: 0, delta: { role: "assistant", content: "a" }, logprobs: null, finish_reason: null },
      { index: 0, delta: {}, logprobs: null, finish_reason: "length" },
      undefined,
    ]);
  });

  it("a malformed line becomes an error event after the frames before it, and the stream ends", async () => {
    const text = `${line(1, { content: "ok" })}\n{"model":"llama3.2","mess\n${line(2, { content: "never" })}\n`;
    const errorFrame = { error: { message: "The backend sent a malformed NDJSON line.", type: "server_error", param: null, code: "backend_error" } };
    const bytes = utf8.encode(text);
    expect(frames(await transform([bytes]))).toStrictEqual([chunk({ role: "assistant", content: "ok" }), errorFrame]);
    for (let cut = 1; cut < bytes.length; cut += 7) {
      expect(frames(await transform(splitAt(bytes, [cut])))).toStrictEqual([chunk({ role: "assistant", content: "ok" }), errorFrame]);
    }
  });

  it("a line that is JSON but not an object (null) is also an error event, not a crashed stream", async () => {
    const pieces = await transform([utf8.encode(`${line(1, { content: "ok" })}\nnull\n${line(2, { content: "never" })}\n`)], {}, false);
    const out = frames(pieces);
    expect(out).toHaveLength(2);
    expect(out[1]).toMatchObject({ error: { type: "server_error", param: null, code: "backend_error" } });
  });

  it("a truncated last line (no newline, cut JSON) is an error event", async () => {
    const pieces = await transform([utf8.encode(`${line(1, { content: "ok" })}\n{"message":{"con`)], {}, false);
    expect(frames(pieces)[1]).toStrictEqual({
      error: { message: "The backend sent a malformed NDJSON line.", type: "server_error", param: null, code: "backend_error" },
    });
    expect(frames(pieces)).toHaveLength(2);
  });

  it("an {error} line ends the stream with the error event and no [DONE]", async () => {
    const text = `${line(1, { content: "ok" })}\n{"error":"an error was encountered while running the model: unexpected EOF"}\n`;
    expect(frames(await transform([utf8.encode(text)]))).toStrictEqual([
      chunk({ role: "assistant", content: "ok" }),
      {
        error: {
          message: "The backend failed during generation: an error was encountered while running the model: unexpected EOF",
          type: "server_error",
          param: null,
          code: "backend_error",
        },
      },
    ]);
  });

  it("input that ends without a done line gets an error event instead of [DONE]", async () => {
    expect(frames(await transform([utf8.encode(`${line(1, { content: "cut" })}\n`)]))).toStrictEqual([
      chunk({ role: "assistant", content: "cut" }),
      { error: { message: "The backend closed the stream before the answer was complete.", type: "server_error", param: null, code: "backend_error" } },
    ]);
    expect(frames(await transform([]))).toStrictEqual([
      { error: { message: "The backend closed the stream before the answer was complete.", type: "server_error", param: null, code: "backend_error" } },
    ]);
  });

  it("a failure hook replaces the generic end-of-stream error; it is not consulted once [DONE] was sent", async () => {
    const failure = () => ({ message: "The backend sent nothing for 120000 ms; the request was stopped.", code: "backend_timeout" });
    expect(frames(await transform([utf8.encode(`${line(1, { content: "cut" })}\n`)], { failure }))).toStrictEqual([
      chunk({ role: "assistant", content: "cut" }),
      { error: { message: "The backend sent nothing for 120000 ms; the request was stopped.", type: "server_error", param: null, code: "backend_timeout" } },
    ]);
    expect(frames(await transform([utf8.encode(`${line(1, { content: "cut" })}\n`)], { failure: () => ({ message: "reset", code: null }) }))[1]).toStrictEqual({
      error: { message: "reset", type: "server_error", param: null, code: "backend_error" },
    });
    expect(frames(await transform([utf8.encode(`${line(1, {}, { done: true, done_reason: "stop" })}`)], { failure: () => null }, false)).at(-1)).toBe("[DONE]");
    expect(frames(await transform([BYTES], { failure: () => null }))).toStrictEqual(EXPECTED_FRAMES);
  });

  it("stops at [DONE]: later lines are ignored and the upstream body is cancelled", async () => {
    const pulls: string[] = [
      `${line(1, { content: "a" })}\n`,
      `${line(2, {}, { done: true, done_reason: "stop" })}\n${line(3, { content: "after" })}\n`,
      `${line(4, { content: "later" })}\n`,
    ];
    let cancelled = false;
    let sent = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent < pulls.length) controller.enqueue(utf8.encode(pulls[sent++]!));
      },
      cancel() {
        cancelled = true;
      },
    });
    let activity = 0;
    const decoder = new TextDecoder();
    const piped = source.pipeThrough(ndjsonToSse<NativeChatChunk>(new ChatSseEncoder(meta, false), { onActivity: () => activity++ }));
    const out = (await readAll(piped)).map((piece) => decoder.decode(piece));
    expect(frames(out).map((f) => (f === "[DONE]" ? f : (f as { choices: { delta: unknown }[] }).choices[0]!.delta))).toStrictEqual([
      { role: "assistant", content: "a" },
      {},
      "[DONE]",
    ]);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(cancelled).toBe(true);
    expect(activity).toBe(2);
  });
});

describe("NdjsonDecoder", () => {
  it("reassembles lines and characters split across pushes, skips blank lines", () => {
    const values: unknown[] = [];
    const decoder = new NdjsonDecoder<unknown>();
    const bytes = utf8.encode('{"a":"日本"}\n\n  \n{"b":[1,');
    for (const byte of bytes) decoder.push(new Uint8Array([byte]), (v) => values.push(v));
    expect(values).toStrictEqual([{ a: "日本" }]);
    decoder.push(utf8.encode('2]}\n{"c":3}'), (v) => values.push(v));
    expect(values).toStrictEqual([{ a: "日本" }, { b: [1, 2] }]);
    decoder.flush((v) => values.push(v));
    expect(values).toStrictEqual([{ a: "日本" }, { b: [1, 2] }, { c: 3 }]);
  });

  it("flush completes a character whose last bytes arrived and emits nothing for an empty tail", () => {
    const values: unknown[] = [];
    const decoder = new NdjsonDecoder<unknown>();
    const bytes = utf8.encode('{"e":"🌍"}');
    decoder.push(bytes.slice(0, 8), (v) => values.push(v));
    decoder.push(bytes.slice(8), (v) => values.push(v));
    decoder.flush((v) => values.push(v));
    expect(values).toStrictEqual([{ e: "🌍" }]);
    const empty = new NdjsonDecoder<unknown>();
    empty.push(utf8.encode("\n\n"), (v) => values.push(v));
    empty.flush((v) => values.push(v));
    expect(values).toStrictEqual([{ e: "🌍" }]);
  });

  it("refuses JSON lines that are not objects", () => {
    for (const line of ["null\n", "42\n", "[1]\n", '"text"\n']) {
      expect(() => new NdjsonDecoder<unknown>().push(utf8.encode(line), () => {}), line).toThrow(MalformedLineError);
    }
  });

  it("throws MalformedLineError on a line that is not JSON, after emitting the lines before it", () => {
    const values: unknown[] = [];
    const decoder = new NdjsonDecoder<unknown>();
    expect(() => decoder.push(utf8.encode('{"ok":1}\n<html>\n{"ok":2}\n'), (v) => values.push(v))).toThrow(MalformedLineError);
    expect(values).toStrictEqual([{ ok: 1 }]);
    const tail = new NdjsonDecoder<unknown>();
    tail.push(utf8.encode('{"cut":'), () => {});
    expect(() => tail.flush(() => {})).toThrow(MalformedLineError);
  });
});
