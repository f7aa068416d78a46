/**
 * The soak's traffic: one streamed chat or one non-stream request at a time, each checked to the letter (every SSE
 * frame, `[DONE]` or an error event, the exact answer), and the tally of outcomes the report is made from.
 */
import { SseReader } from "./sse-check.ts";

export type Outcome = "ok" | "rate_limited" | "error" | "invalid" | "lost";

export interface Tally {
  started: number;
  finished: number;
  streams: number;
  nonStream: number;
  skipped: number;
  outcomes: Record<Outcome, number>;
  frames: number;
  comments: number;
  badFrames: number;
  ttft: number[];
  streamLatency: number[];
  nonStreamLatency: number[];
  /** The first few problems, for the report. */
  problems: string[];
}

export const tally: Tally = {
  started: 0,
  finished: 0,
  streams: 0,
  nonStream: 0,
  skipped: 0,
  outcomes: { ok: 0, rate_limited: 0, error: 0, invalid: 0, lost: 0 },
  frames: 0,
  comments: 0,
  badFrames: 0,
  ttft: [],
  streamLatency: [],
  nonStreamLatency: [],
  problems: [],
};

function record(outcome: Outcome, problem?: string): void {
  tally.finished++;
  tally.outcomes[outcome]++;
  if (problem && tally.problems.length < 20) tally.problems.push(`${outcome}: ${problem}`);
}

const words = (n: number, seed: number): string => Array.from({ length: n }, (_, i) => `w${(seed + i) % 1000}`).join(" ");

/** A clear error: an HTTP error with OpenAI's envelope. */
async function classifyHttpError(res: Response): Promise<void> {
  const text = await res.text().catch(() => "");
  let message: unknown;
  try {
    message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
  } catch {
    message = undefined;
  }
  if (typeof message !== "string") return record("invalid", `HTTP ${res.status} without the OpenAI error envelope: ${text.slice(0, 120)}`);
  if (res.status === 429) return record("rate_limited");
  record("error", `HTTP ${res.status}: ${message}`);
}

export interface Gateway {
  url: string;
  key: string;
  timeoutMs: number;
  stop: AbortSignal;
}

export async function streamOnce(gw: Gateway, n: number): Promise<void> {
  const count = 4 + (n % 21);
  const prompt = words(count, n);
  const includeUsage = n % 2 === 0;
  const start = performance.now();
  tally.started++;
  tally.streams++;
  const reader = new SseReader(start);
  try {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${gw.key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "llama3.2",
        messages: [{ role: "user", content: prompt }],
        stream: true,
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      }),
      signal: AbortSignal.any([AbortSignal.timeout(gw.timeoutMs), gw.stop]),
    });
    if (res.status !== 200) return await classifyHttpError(res);
    if (!(res.headers.get("content-type") ?? "").startsWith("text/event-stream"))
      return record("invalid", `stream answered ${res.headers.get("content-type")}`);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) reader.push(chunk);
    const s = reader.finish();
    tally.frames += s.chunks.length + (s.done ? 1 : 0) + (s.error ? 1 : 0);
    tally.comments += s.comments;
    tally.badFrames += s.violations.length;
    tally.streamLatency.push(performance.now() - start);
    if (s.firstTokenMs !== null) tally.ttft.push(s.firstTokenMs);
    if (s.violations.length) return record("invalid", s.violations.join("; "));
    if (s.error) return record("error", `error event: ${s.error.message}`);
    if (!s.done) return record("lost", "stream ended without [DONE] or an error event");
    const expected = `Hello! You said: ${prompt}`;
    if (s.text !== expected) return record("invalid", `text ${JSON.stringify(s.text.slice(0, 80))} ≠ ${JSON.stringify(expected.slice(0, 80))}`);
    const finishes = s.chunks.map((c) => c.choices?.[0]?.finish_reason).filter(Boolean);
    if (finishes.length !== 1 || finishes[0] !== "stop") return record("invalid", `finish reasons ${JSON.stringify(finishes)}`);
    if (includeUsage) {
      const usage = s.chunks.at(-1)?.usage;
      if (!usage || usage.total_tokens !== usage.prompt_tokens + usage.completion_tokens) return record("invalid", `usage chunk ${JSON.stringify(usage)}`);
    }
    record("ok");
  } catch (error) {
    const s = reader.finish();
    tally.frames += s.chunks.length;
    const why = gw.stop.aborted
      ? "stopped by the soak's hard deadline"
      : (error as Error).name === "TimeoutError"
        ? `no complete answer within ${gw.timeoutMs} ms`
        : String(error);
    record("lost", `stream after ${s.bytes} bytes: ${why}`);
  }
}

export async function nonStreamOnce(gw: Gateway, n: number): Promise<void> {
  const prompt = words(3 + (n % 9), n);
  const legacy = n % 3 === 2;
  const start = performance.now();
  tally.started++;
  tally.nonStream++;
  try {
    const res = await fetch(`${gw.url}/v1/${legacy ? "completions" : "chat/completions"}`, {
      method: "POST",
      headers: { authorization: `Bearer ${gw.key}`, "content-type": "application/json" },
      body: JSON.stringify(legacy ? { model: "llama3.2", prompt } : { model: "llama3.2", messages: [{ role: "user", content: prompt }] }),
      signal: AbortSignal.any([AbortSignal.timeout(gw.timeoutMs), gw.stop]),
    });
    if (res.status !== 200) return await classifyHttpError(res);
    const text = await res.text();
    tally.nonStreamLatency.push(performance.now() - start);
    let body: { choices?: { text?: string; message?: { content?: string } }[] };
    try {
      body = JSON.parse(text);
    } catch {
      return record("invalid", `non-stream body is not JSON: ${text.slice(0, 120)}`);
    }
    const got = legacy ? body.choices?.[0]?.text : body.choices?.[0]?.message?.content;
    if (got !== `Hello! You said: ${prompt}`) return record("invalid", `non-stream answer ${JSON.stringify(got)}`);
    record("ok");
  } catch (error) {
    const why = gw.stop.aborted
      ? "stopped by the soak's hard deadline"
      : (error as Error).name === "TimeoutError"
        ? `no answer within ${gw.timeoutMs} ms`
        : String(error);
    record("lost", `non-stream: ${why}`);
  }
}
