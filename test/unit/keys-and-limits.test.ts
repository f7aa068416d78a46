import { describe, expect, it } from "vitest";
import { generateKey, isWellFormedKey, keyPrefix, newKeyId } from "../../src/keys/key-format.ts";
import { emptyState, renewLease, rollback, settle, snapshot, tidy, tryAdmit } from "../../src/keys/key-state.ts";
import type { KeyRecord } from "../../src/keys/types.ts";
import { FairQueue } from "../../src/limits/fair-queue.ts";
import { formatReset, msUntilReset, msUntilRoom, prune, used } from "../../src/limits/window.ts";

const record = (overrides: Partial<KeyRecord> = {}): KeyRecord => ({
  id: "key_1",
  hash: "ab".repeat(32),
  name: "t",
  prefix: "sk-abcdef",
  models: [],
  rpm: 3,
  tpm: 100,
  max_concurrency: 2,
  expires_at: null,
  created_at: "2026-01-01T00:00:00.000Z",
  last_used_at: null,
  usage: { requests: 0, prompt_tokens: 0, completion_tokens: 0 },
  ...overrides,
});

describe("key format", () => {
  it("generates sk- keys with a checksum, distinct every time", () => {
    const keys = new Set(Array.from({ length: 200 }, generateKey));
    expect(keys.size).toBe(200);
    for (const key of keys) {
      expect(key).toMatch(/^sk-[0-9A-Za-z]{38}$/);
      expect(isWellFormedKey(key)).toBe(true);
    }
    expect(newKeyId()).toMatch(/^key_[0-9A-Za-z]{16}$/);
  });

  it("rejects a changed character, a wrong length and other shapes", () => {
    const key = generateKey();
    const flipped = key.slice(0, 5) + (key[5] === "a" ? "b" : "a") + key.slice(6);
    expect(isWellFormedKey(flipped)).toBe(false);
    expect(isWellFormedKey(key.slice(0, -1))).toBe(false);
    expect(isWellFormedKey(`${key}x`)).toBe(false);
    expect(isWellFormedKey("sk-test-key")).toBe(false);
    expect(isWellFormedKey(`pk-${key.slice(3)}`)).toBe(false);
    expect(keyPrefix(key)).toBe(key.slice(0, 9));
  });
});

describe("sliding window", () => {
  const entries = [
    { at: 1000, amount: 2 },
    { at: 20_000, amount: 3 },
    { at: 50_000, amount: 5 },
  ];

  it("prunes entries older than a minute and sums the rest", () => {
    expect(prune(entries, 61_000)).toEqual(entries.slice(1));
    expect(prune(entries, 60_999)).toBe(entries);
    expect(used(entries)).toBe(10);
  });

  it("says when room frees up and when the window clears", () => {
    expect(msUntilRoom(entries, 55_000, 10, 0)).toBe(0);
    expect(msUntilRoom(entries, 55_000, 10, 2)).toBe(6000); // the first entry expires at 61 s
    expect(msUntilRoom(entries, 55_000, 10, 4)).toBe(25_000); // the first two must expire
    expect(msUntilReset(entries, 55_000)).toBe(55_000);
    expect(msUntilReset([], 55_000)).toBe(0);
  });

  it("formats resets as OpenAI does", () => {
    expect([formatReset(250), formatReset(1000), formatReset(59_001), formatReset(60_000), formatReset(366_000)]).toEqual([
      "250ms",
      "1s",
      "1m0s",
      "1m0s",
      "6m6s",
    ]);
  });
});

describe("key limiter state", () => {
  const admitAt = (state = emptyState(), now = 0, lease = "l1", estimatedTokens = 10, rec = record()) =>
    tryAdmit(rec, state, now, { lease, estimatedTokens, promptEstimate: 4, gate: null });

  it("admits, counts the request, reserves the estimate and opens a lease", () => {
    const { state, result } = admitAt();
    expect(result).toEqual({ ok: true, lease: "l1", keyId: "key_1", models: [], limits: snapshot(record(), state, 0) });
    expect(state.requests).toEqual([{ from: 0, at: 0, amount: 1 }]);
    expect(state.tokens).toEqual([]);
    expect(state.leases).toEqual({ l1: { at: 0, seen: 0, reserved: 10, promptEstimate: 4, gate: null } });
    expect(snapshot(record(), state, 0)).toEqual({
      rpm: 3,
      remainingRequests: 2,
      resetRequestsMs: 60_000,
      tpm: 100,
      remainingTokens: 90,
      resetTokensMs: 60_000,
    });
  });

  it("refuses by concurrency, then requests, then tokens, saying when to retry", () => {
    let state = admitAt().state;
    state = admitAt(state, 1, "l2").state;
    const busy = admitAt(state, 2, "l3");
    expect(busy.result).toMatchObject({ ok: false, reason: "limited", limit: "concurrency" });
    state = settle(settle(state, "l1", null).state, "l2", null).state;
    state = admitAt(state, 3, "l3").state;
    state = settle(state, "l3", null).state;
    const rpm = admitAt(state, 10_000, "l4");
    // The three requests share one per-second bucket dated by the latest (t = 3 ms): room at 60,003 ms, never early.
    expect(rpm.result).toMatchObject({ ok: false, limit: "requests", retryAfterMs: 50_003 });
    const tpm = tryAdmit(record({ rpm: 100 }), emptyState(), 0, { lease: "x", estimatedTokens: 60, promptEstimate: 1, gate: null });
    const second = tryAdmit(record({ rpm: 100 }), tpm.state, 5, { lease: "y", estimatedTokens: 60, promptEstimate: 1, gate: null });
    expect(second.result).toMatchObject({ ok: false, limit: "tokens", retryAfterMs: 59_995 });
  });

  it("caps a reservation at the whole limit, so a large request can run in an empty window", () => {
    const { state, result } = admitAt(emptyState(), 0, "l1", 5000);
    expect(result.ok).toBe(true);
    expect(state.leases.l1!.reserved).toBe(100);
    expect(snapshot(record(), state, 0).remainingTokens).toBe(0);
  });

  it("settles with real usage once, charging the prompt estimate for a stream cut short", () => {
    const open = admitAt().state;
    const done = settle(open, "l1", { prompt_tokens: 7, completion_tokens: 5 });
    expect(done.charged).toEqual({ prompt_tokens: 7, completion_tokens: 5 });
    expect(done.state.tokens).toEqual([{ from: 0, at: 0, amount: 12 }]);
    expect(done.state.leases).toEqual({});
    expect(settle(done.state, "l1", { prompt_tokens: 7, completion_tokens: 5 }).charged).toBeNull();
    const cut = settle(open, "l1", { prompt_tokens: 0, completion_tokens: 3 });
    expect(cut.charged).toEqual({ prompt_tokens: 4, completion_tokens: 3 });
    expect(settle(open, "l1", null).state.tokens).toEqual([]);
  });

  it("charges the prompt estimate whenever a request reached its backend and the counts never came", () => {
    const open = admitAt().state; // promptEstimate 4
    // Dropped before its first token: the prompt was evaluated all the same.
    const dropped = settle(open, "l1", { prompt_tokens: 0, completion_tokens: 0 });
    expect(dropped.charged).toEqual({ prompt_tokens: 4, completion_tokens: 0 });
    expect(dropped.state.tokens).toEqual([{ from: 0, at: 0, amount: 4 }]);
    expect(dropped.state.leases).toEqual({});
    // Cut short after 7 tokens (an estimate): the prompt at its estimate plus what was generated.
    expect(settle(open, "l1", { prompt_tokens: 0, completion_tokens: 7 }).charged).toEqual({ prompt_tokens: 4, completion_tokens: 7 });
    // The backend's own prompt count wins over the estimate, even with nothing generated.
    expect(settle(open, "l1", { prompt_tokens: 9, completion_tokens: 0 }).charged).toEqual({ prompt_tokens: 9, completion_tokens: 0 });
    // Never reached a backend: nothing.
    const never = settle(open, "l1", null);
    expect([never.charged, never.state.tokens, never.state.leases]).toEqual([null, [], {}]);
    // Counts that are not counts are unknown, never negative or NaN in the window.
    const odd = settle(open, "l1", { prompt_tokens: Number.NaN, completion_tokens: -3 });
    expect(odd.charged).toEqual({ prompt_tokens: 4, completion_tokens: 0 });
    expect(settle(open, "l1", { prompt_tokens: 2.5, completion_tokens: Number.POSITIVE_INFINITY }).charged).toEqual({ prompt_tokens: 3, completion_tokens: 0 });
  });

  it("rolls back an admission the backend queue refused, keeping the request count", () => {
    const open = admitAt().state;
    expect(rollback(open, "l1")).toEqual({ requests: [{ from: 0, at: 0, amount: 1 }], tokens: [], leases: {} });
  });

  it("expired keys are refused; stale leases and charges are tidied away", () => {
    expect(admitAt(emptyState(), Date.parse("2026-02-01T00:00:00Z"), "l1", 1, record({ expires_at: "2026-01-15T00:00:00.000Z" })).result).toEqual({
      ok: false,
      reason: "expired",
    });
    const open = admitAt().state;
    expect(tidy(open, 1000, 500).leases).toEqual({});
    expect(tidy(open, 60_001, 3_600_000)).toEqual({ requests: [], tokens: [], leases: open.leases });
    // A renewed lease is alive however old its admission.
    const renewed = renewLease(open, "l1", 10_000);
    expect(tidy(renewed, 10_400, 500).leases).toEqual({ l1: { ...open.leases.l1!, seen: 10_000 } });
  });

  it("keeps one bucket per second however many requests, so each decision costs the same", () => {
    let state = emptyState();
    const busy = record({ rpm: 100_000, tpm: 10_000_000, max_concurrency: 100_000 });
    for (let i = 0; i < 5000; i++) {
      const now = i * 10; // 100 requests a second for 50 s
      const admitted = tryAdmit(busy, state, now, { lease: `l${i}`, estimatedTokens: 10, promptEstimate: 1, gate: null });
      expect(admitted.result.ok).toBe(true);
      state = settle(admitted.state, `l${i}`, { prompt_tokens: 2, completion_tokens: 3 }).state;
    }
    expect(state.requests.length).toBeLessThanOrEqual(51);
    expect(state.tokens.length).toBeLessThanOrEqual(51);
    expect(used(state.requests)).toBe(5000);
    expect(used(state.tokens)).toBe(25_000);
  });
});

describe("fair queue", () => {
  it("serves keys round-robin, oldest first within a key", () => {
    const queue = new FairQueue<string>();
    for (const item of ["a1", "a2", "a3"]) queue.push("a", item);
    queue.push("b", "b1");
    queue.push("c", "c1");
    queue.push("b", "b2");
    const served: string[] = [];
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) served.push(item);
    expect(served).toEqual(["a1", "b1", "c1", "a2", "b2", "a3"]);
    expect(queue.size).toBe(0);
  });

  it("removes a waiter that gave up", () => {
    const queue = new FairQueue<string>();
    queue.push("a", "a1");
    queue.push("b", "b1");
    expect(queue.remove("a", "a1")).toBe(true);
    expect(queue.remove("a", "a1")).toBe(false);
    expect(queue.size).toBe(1);
    expect(queue.shift()).toBe("b1");
    expect(queue.shift()).toBeUndefined();
  });
});

describe("retry backoff", () => {
  it("doubles from the base with ±25 % jitter, capped at 8× the base", async () => {
    const { retryDelay } = await import("../../src/backends/ollama/retry.ts");
    for (let i = 0; i < 200; i++) {
      const [first, second, fifth] = [retryDelay(100, 0), retryDelay(100, 1), retryDelay(100, 5)];
      expect(first).toBeGreaterThanOrEqual(75);
      expect(first).toBeLessThanOrEqual(125);
      expect(second).toBeGreaterThanOrEqual(150);
      expect(second).toBeLessThanOrEqual(250);
      expect(fifth).toBeGreaterThanOrEqual(600);
      expect(fifth).toBeLessThanOrEqual(1000);
    }
  });
});

describe("per-second buckets", () => {
  it("merge charges of the same second and keep late settlements in time order", async () => {
    const { addToBucket } = await import("../../src/limits/window.ts");
    const buckets = [
      { from: 0, at: 0, amount: 1 },
      { from: 2000, at: 2000, amount: 1 },
    ];
    expect(addToBucket(buckets, 500, 3)).toEqual([
      { from: 0, at: 500, amount: 4 },
      { from: 2000, at: 2000, amount: 1 },
    ]);
    expect(addToBucket(buckets, 1500, 1)).toEqual([
      { from: 0, at: 0, amount: 1 },
      { from: 1500, at: 1500, amount: 1 },
      { from: 2000, at: 2000, amount: 1 },
    ]);
    expect(addToBucket(buckets, 3500, 2).at(-1)).toEqual({ from: 3500, at: 3500, amount: 2 });
    expect(addToBucket([], 7, 1)).toEqual([{ from: 7, at: 7, amount: 1 }]);
  });
});

describe("usage of answers cut short: charge what was generated, estimate when the counts never come", () => {
  const utf8 = new TextEncoder();
  const head = { model: "llama3.2:latest", created_at: "2026-01-01T00:00:00.123456789Z" };
  /** Lines exactly as Ollama's Go encoder writes them. */
  const chatLine = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    `${JSON.stringify({ ...head, message: { role: "assistant", content: "", ...message }, done: false, ...extra })}\n`;
  const generateLine = (fields: Record<string, unknown>) => `${JSON.stringify({ ...head, response: "", ...fields, done: false })}\n`;
  const finalLine = `${JSON.stringify({ ...head, message: { role: "assistant", content: "" }, done_reason: "stop", done: true, prompt_eval_count: 12, eval_count: 30 })}\n`;
  const toolCalls = [{ function: { name: "get_weather", arguments: { city: "Oslo" } } }]; // 65 characters of JSON: 17 tokens
  const usage = (completion: number) => ({ prompt_tokens: 0, completion_tokens: completion, total_tokens: completion });

  async function meterOf(chunks: string[]) {
    const { NativeUsageMeter } = await import("../../src/backends/ollama/usage-meter.ts");
    const meter = new NativeUsageMeter();
    for (const chunk of chunks) meter.push(utf8.encode(chunk));
    return meter;
  }

  it("native passthrough: one token per line of text or thinking, plain lines counted without JSON.parse", async () => {
    const { vi } = await import("vitest");
    const plain = [
      chatLine({ content: "Hello" }),
      chatLine({ content: "" }), // no text: not a token
      chatLine({ content: "", thinking: "hmm" }),
      generateLine({ response: " there" }),
      generateLine({ thinking: "so" }),
    ];
    const parse = vi.spyOn(JSON, "parse");
    const meter = await meterOf([plain.join("").slice(0, 50), plain.join("").slice(50)]);
    expect(parse).not.toHaveBeenCalled();
    parse.mockRestore();
    expect(meter.usage()).toEqual(usage(4));
    // Lines that need parsing: logprobs, tool calls (counted by size), an error line, blank lines.
    meter.push(
      utf8.encode(`${chatLine({ content: "!" }, { logprobs: [{ token: "!", logprob: -0.1 }] }) + chatLine({ tool_calls: toolCalls })}{"error":"boom"}\n\n`),
    );
    expect(meter.usage()).toEqual(usage(4 + 1 + 17));
    // Ollama's final counts replace every estimate.
    meter.push(utf8.encode(finalLine));
    expect(meter.usage()).toEqual({ prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 });
  });

  it("native passthrough: a malformed line is skipped, decoding goes on, and a line cut short counts once", async () => {
    const meter = await meterOf([
      chatLine({ content: "a" }),
      '{"model":"x","mess\n',
      chatLine({ content: "b" }),
      `${JSON.stringify(head).slice(0, -1)},"message":{"role":"assistant","content":" wor`,
    ]);
    // "a", "b", and the line the body was cut in (it is an answer line: at least one token); the garbage is not text.
    expect(meter.usage()).toEqual(usage(3));
    const garbage = await meterOf(["<html><body>Bad gateway</body></html>"]);
    expect(garbage.usage()).toEqual(usage(0));
  });

  it("native passthrough: an answer line over the size limit is estimated at four characters a token, then decoding resumes", async () => {
    const text = "x".repeat(9 * 1024 * 1024);
    const line = chatLine({ content: text });
    const opening = line.indexOf(`"content":"`) + `"content":"`.length;
    const chunks: string[] = [];
    for (let at = 0; at < line.length; at += 65_536) chunks.push(line.slice(at, at + 65_536));
    const meter = await meterOf([chatLine({ content: "a" }), ...chunks, chatLine({ content: "b" })]);
    const estimate = Math.ceil((line.length - 1 - opening) / 4); // the line without its newline, from its text on
    expect(estimate).toBe(2_359_300); // 9 MiB of text and `"},"done":false}`
    expect(meter.usage()).toEqual(usage(1 + estimate + 1));
    // A non-stream answer over the limit (no newline, the body just ends), flushed: the same estimate.
    const single = await meterOf(chunks.map((chunk, i) => (i === chunks.length - 1 ? chunk.slice(0, -1) : chunk)));
    single.flush();
    expect(single.usage()).toEqual(usage(estimate));
    // Anything else that large (a verbose /api/show, a huge /api/embed answer) is not generated text.
    const show = await meterOf([`{"license":"${text}"}`, `{"model":"nomic-embed-text","embeddings":[[${"0.1,".repeat(10)}`]);
    show.flush();
    expect(show.usage()).toEqual(usage(0));
  });

  it("/v1 answers assembled or streamed from Ollama: text lines and tool calls so far, the backend's counts once done", async () => {
    const { ChatAggregator } = await import("../../src/dialects/openai/chat/aggregate.ts");
    const { CompletionsAggregator } = await import("../../src/dialects/openai/completions/aggregate.ts");
    const { ChatSseEncoder } = await import("../../src/dialects/openai/chat/stream.ts");
    const meta = { id: "x", created: 1, model: "m", systemFingerprint: "fp" };
    const lines = [
      { message: { role: "assistant", content: "Hi" }, done: false },
      { message: { role: "assistant", content: "", thinking: "hmm" }, done: false },
      { message: { role: "assistant", content: "" }, done: false },
      { message: { role: "assistant", content: "", tool_calls: toolCalls }, done: false },
    ];
    const chat = new ChatAggregator(meta, false);
    const encoder = new ChatSseEncoder(meta, false);
    for (const line of lines) {
      chat.line(line);
      encoder.line(line);
    }
    expect(chat.usage()).toEqual(usage(2 + 17));
    expect(encoder.usage()).toEqual(usage(2 + 17));
    chat.line({ message: { role: "assistant", content: "" }, done: true, prompt_eval_count: 5, eval_count: 24 });
    expect(chat.usage()).toEqual({ prompt_tokens: 5, completion_tokens: 24, total_tokens: 29 });
    const completion = new CompletionsAggregator(meta, "", false);
    for (const response of ["a", "", "b"]) completion.line({ response, done: false });
    completion.line({ response: "", thinking: "t", done: false });
    expect(completion.usage()).toEqual(usage(3));
  });

  it("llama-server answers: the chunks of text seen when its usage never came", async () => {
    const { OpenAIStreamAggregator } = await import("../../src/backends/llamacpp/aggregate.ts");
    const aggregator = new OpenAIStreamAggregator();
    expect(aggregator.usage()).toEqual(usage(0));
    aggregator.event(JSON.stringify({ id: "c", choices: [{ index: 0, delta: { role: "assistant", content: null } }] }));
    aggregator.event(JSON.stringify({ id: "c", choices: [{ index: 0, delta: { content: "Hi" } }] }));
    aggregator.event(JSON.stringify({ id: "c", choices: [{ index: 0, delta: { reasoning_content: "hmm" } }] }));
    aggregator.event(JSON.stringify({ id: "c", choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: "{" } }] } }] }));
    aggregator.event(JSON.stringify({ id: "c", choices: [{ index: 0, text: "x" }] }));
    expect(aggregator.usage()).toEqual(usage(4));
    aggregator.event(JSON.stringify({ id: "c", choices: [], usage: { prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 } }));
    expect(aggregator.usage()).toEqual({ prompt_tokens: 9, completion_tokens: 6, total_tokens: 15 });
  });
});
