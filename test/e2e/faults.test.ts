/**
 * The fault matrix of issue 5, end to end: its own `wrangler dev` (short timeouts) in front of its own Ollama
 * emulator, reached through a TCP switch that plays the tunnel (so "backend down" is a real connection refused).
 * The Worker is served from a bundle snapshot (scripts/wrangler-snapshot.ts), so edits elsewhere in the tree do
 * not reload it mid-run. FAULTS_DUMP=<file> writes wrangler's output there at the end, for debugging.
 * One test per row; each row runs several cases and records figures (cases, failures, leaked slots, p50/p99
 * latency), printed as a markdown table when the file ends.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { markdownTable, ms, percentile, readSse, SseReader, type SseSummary } from "../../scripts/sse-check.ts";
import type { WranglerDev } from "../../scripts/wrangler-dev.ts";
import { startSnapshotWranglerDev } from "../../scripts/wrangler-snapshot.ts";
import { type Emulator, type FaultRule, startOllamaEmulator } from "../../tools/ollama-emulator.ts";
import { startTcpSwitch, type TcpSwitch } from "./tcp-switch.ts";

const ADMIN = "faults-admin-token-0123456789abcdef";
const HEADERS_TIMEOUT_MS = 1000;
const IDLE_TIMEOUT_MS = 1000;
const UPSTREAM_RETRIES = 2;
/** Generous bound for "quick": the machine is small and shared, so no tight timing asserts. */
const QUICK_MS = 5000;
const ABORT_STREAMS = 1000;
const ABORT_WAVE = 50;
const GATE_SIZE = 25;
const MIDSTREAM_MESSAGE = "model runner has unexpectedly stopped";

let emulator: Emulator;
let tunnel: TcpSwitch;
let dev: WranglerDev;
let apiKey: string;
let client: OpenAI;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

// ---------------------------------------------------------------------------------------------------------------
// Figures

interface Row {
  name: string;
  cases: number;
  failures: string[];
  leaked: number;
  latencies: number[];
  notes: string[];
}
const rows: Row[] = [];

function row(name: string): Row {
  const r: Row = { name, cases: 0, failures: [], leaked: 0, latencies: [], notes: [] };
  rows.push(r);
  return r;
}

/** Run one case: time it, record a failure instead of throwing so every case of a row is counted. */
async function runCase(r: Row, label: string, body: () => Promise<void>): Promise<void> {
  const start = performance.now();
  r.cases++;
  try {
    await body();
  } catch (error) {
    r.failures.push(`${label}: ${(error as Error).message}`);
  } finally {
    r.latencies.push(performance.now() - start);
  }
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** The row must have no failed case and leave no slot or upstream connection behind. */
async function closeRow(r: Row): Promise<void> {
  const leaks = await settle();
  r.leaked = leaks.total;
  if (leaks.total) r.notes.push(`leaked: ${JSON.stringify(leaks)}`);
  expect(r.failures).toEqual([]);
  expect(leaks).toMatchObject({ total: 0 });
}

// ---------------------------------------------------------------------------------------------------------------
// Gateway, emulator and admin helpers

function chatBody(stream: boolean, words = 3, extra: Record<string, unknown> = {}): string {
  const content = Array.from({ length: words }, (_, i) => `w${i}`).join(" ");
  return JSON.stringify({ model: "llama3.2", messages: [{ role: "user", content }], stream, ...extra });
}

function chat(stream: boolean, init: { words?: number; signal?: AbortSignal } = {}): Promise<Response> {
  return fetch(`${dev.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: chatBody(stream, init.words),
    signal: init.signal ?? AbortSignal.timeout(20_000),
  });
}

async function setFault(rule: FaultRule | null): Promise<void> {
  emulator.setFault(rule);
}

async function admin<T>(path: string): Promise<T> {
  const res = await fetch(`${dev.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface Leaks {
  emulatorOpen: number;
  keyInFlight: number;
  gateInFlight: number;
  gateQueued: number;
  total: number;
}

async function leaks(): Promise<Leaks> {
  const keys = await admin<{ data: { in_flight: number }[] }>("/admin/keys");
  const gate = await admin<{ in_flight: number; queued: number }>("/admin/gate");
  const l = {
    emulatorOpen: emulator.stats().open,
    keyInFlight: keys.data.reduce((sum, key) => sum + key.in_flight, 0),
    gateInFlight: gate.in_flight,
    gateQueued: gate.queued,
  };
  return { ...l, total: l.emulatorOpen + l.keyInFlight + l.gateInFlight + l.gateQueued };
}

/** Wait (bounded) for every counter to come back to 0; settlement runs after the response, so it may lag. */
async function settle(timeoutMs = 15_000): Promise<Leaks> {
  const deadline = Date.now() + timeoutMs;
  let last = await leaks();
  while (last.total > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await leaks();
  }
  return last;
}

const chatCalls = () => emulator.requests.filter((r) => r.path === "/api/chat").length;

interface ErrorOutcome {
  status: number;
  /** True when the stream had already committed to a 200 and the error came as an SSE error event. */
  committed: boolean;
  code: string | null | undefined;
  message: string;
  headers: Headers;
  sse?: SseSummary;
}

/** An error answer, as an HTTP error or (for a committed stream) as the final error event. */
async function errorOf(res: Response, start: number): Promise<ErrorOutcome> {
  if (res.status === 200 && (res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    const sse = await readSse(res, start);
    check(sse.violations.length === 0, `SSE violations: ${sse.violations.join("; ")}`);
    check(sse.error && !sse.done, `expected an error event and no [DONE], got done=${sse.done} text=${JSON.stringify(sse.text)}`);
    return { status: 200, committed: true, code: sse.error.code, message: sse.error.message, headers: res.headers, sse };
  }
  const text = await res.text();
  let body: { error?: { message?: unknown; type?: unknown; code?: string | null } };
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`error body is not JSON (status ${res.status}): ${text.slice(0, 200)}`);
  }
  check(body.error && typeof body.error.message === "string" && typeof body.error.type === "string", `not the OpenAI error envelope: ${text.slice(0, 200)}`);
  return { status: res.status, committed: false, code: body.error.code, message: body.error.message as string, headers: res.headers };
}

/** Expect an HTTP error `status` (or, if the stream committed first, an error event) with `code`. */
async function expectError(res: Response, start: number, status: number, code: string, r?: Row): Promise<ErrorOutcome> {
  const out = await errorOf(res, start);
  if (out.committed) {
    r?.notes.push("committed-before-error");
  } else {
    check(out.status === status, `status ${out.status}, expected ${status} (${out.message})`);
  }
  check(out.code === code, `code ${String(out.code)}, expected ${code} (${out.message})`);
  return out;
}

/** A streamed answer that must end with an error event (and no [DONE]) after some content. */
async function expectStreamError(res: Response, start: number, code: string): Promise<SseSummary> {
  check(res.status === 200, `status ${res.status}, expected a committed 200 stream`);
  const sse = await readSse(res, start);
  check(sse.violations.length === 0, `SSE violations: ${sse.violations.join("; ")}`);
  check(!sse.done, "stream ended with [DONE] despite the fault");
  check(sse.error, `no error event (text ${JSON.stringify(sse.text)})`);
  check(sse.error.code === code, `error event code ${String(sse.error.code)}, expected ${code}: ${sse.error.message}`);
  return sse;
}

async function expectSdkError(run: () => Promise<unknown>, status: number, code: string): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await run();
  } catch (error) {
    check(error instanceof OpenAI.APIError, `not an APIError: ${String(error)}`);
    check(error.status === status, `SDK status ${String(error.status)}, expected ${status}: ${error.message}`);
    check(error.code === code, `SDK code ${String(error.code)}, expected ${code}: ${error.message}`);
    return error;
  }
  throw new Error("the SDK call succeeded despite the fault");
}

/** Consume an SDK stream; it must yield some chunks, then throw an APIError carrying `code`. */
async function expectSdkStreamError(code: string): Promise<void> {
  const stream = await client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "w0 w1 w2 w3" }], stream: true });
  let chunks = 0;
  try {
    for await (const _chunk of stream) chunks++;
  } catch (error) {
    check(error instanceof OpenAI.APIError, `stream threw a non-APIError: ${String(error)}`);
    const got = error.code ?? (error.error as { code?: string } | undefined)?.code;
    check(got === code, `stream APIError code ${String(got)}, expected ${code}: ${error.message}`);
    check(chunks > 0, "no chunk before the error");
    return;
  }
  throw new Error(`the SDK stream ended normally after ${chunks} chunks despite the fault`);
}

// ---------------------------------------------------------------------------------------------------------------

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  emulator = await startOllamaEmulator({ host: "127.0.0.1", port: 0, tokenDelayMs: 8 });
  tunnel = await startTcpSwitch(emulator.port);
  try {
    // A snapshot of the Worker (bundled once, state in a fresh temporary directory): edits to src/ while the
    // suite runs do not reload it, and no state is shared with other wrangler dev instances.
    dev = await startSnapshotWranglerDev({
      vars: {
        OLLAMA_URL: tunnel.url,
        ADMIN_TOKEN: ADMIN,
        UPSTREAM_HEADERS_TIMEOUT: `${HEADERS_TIMEOUT_MS}ms`,
        UPSTREAM_IDLE_TIMEOUT: `${IDLE_TIMEOUT_MS}ms`,
        HEARTBEAT_INTERVAL: "250ms",
        UPSTREAM_RETRIES: String(UPSTREAM_RETRIES),
        UPSTREAM_RETRY_BACKOFF: "50ms",
        // Smaller than an abort wave, so aborts also hit requests waiting in the gate's queue.
        BACKEND_MAX_CONCURRENCY: String(GATE_SIZE),
        QUEUE_MAX_WAIT: "30s",
        MODELS_CACHE_TTL: "1h",
      },
    });
  } catch (error) {
    await tunnel.close();
    await emulator.close();
    throw error;
  }
  const res = await fetch(`${dev.url}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "faults", rpm: 1_000_000, tpm: 1_000_000_000, max_concurrency: 1000 }),
  });
  expect(res.status).toBe(201);
  apiKey = ((await res.json()) as { key: string }).key;
  client = new OpenAI({ baseURL: `${dev.url}/v1`, apiKey, maxRetries: 0, timeout: 20_000 });
  // Warm the isolate and the model list (cached for an hour here), so later rows measure the fault, not a cold start.
  const warm = await chat(false);
  expect(warm.status).toBe(200);
  await warm.text();
}, 120_000);

afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  const table = markdownTable(
    ["fault", "cases", "failures", "leaked slots", "p50", "p99", "notes"],
    rows.map((r) => [
      r.name,
      r.cases,
      r.failures.length,
      r.leaked,
      ms(percentile(r.latencies, 50)),
      ms(percentile(r.latencies, 99)),
      [...new Set(r.notes)].map((n) => `${n}${r.notes.filter((x) => x === n).length > 1 ? ` ×${r.notes.filter((x) => x === n).length}` : ""}`).join("; "),
    ]),
  );
  console.log(
    `\nFault matrix (wrangler dev + emulator; UPSTREAM_HEADERS_TIMEOUT ${HEADERS_TIMEOUT_MS} ms, UPSTREAM_IDLE_TIMEOUT ${IDLE_TIMEOUT_MS} ms, HEARTBEAT_INTERVAL 250 ms, UPSTREAM_RETRIES ${UPSTREAM_RETRIES}, UPSTREAM_RETRY_BACKOFF 50 ms)\n\n${table}\n`,
  );
  for (const r of rows.filter((x) => x.failures.length))
    console.log(
      `${r.name}: first failures:\n${r.failures
        .slice(0, 8)
        .map((f) => `  - ${f}`)
        .join("\n")}`,
    );
  if (process.env.FAULTS_DUMP) (await import("node:fs")).writeFileSync(process.env.FAULTS_DUMP, dev?.output() ?? "");
  await dev?.stop();
  await tunnel?.close();
  await emulator?.close();
}, 60_000);

beforeEach(async () => {
  await tunnel.up();
  emulator.reset();
});

describe("fault matrix, end to end (wrangler dev + emulator)", () => {
  it("backend down (connection refused) → 502 backend_unavailable, quickly; recovers when it is back", async () => {
    const r = row("backend down (connection refused)");
    await tunnel.down();
    try {
      for (let i = 0; i < 8; i++) {
        await runCase(r, `sdk non-stream #${i}`, async () => {
          const start = performance.now();
          await expectSdkError(
            () => client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "hi" }] }),
            502,
            "backend_unavailable",
          );
          check(performance.now() - start < QUICK_MS, `took ${Math.round(performance.now() - start)} ms`);
        });
        await runCase(r, `fetch stream #${i}`, async () => {
          const start = performance.now();
          const out = await expectError(await chat(true), start, 502, "backend_unavailable", r);
          check(/connect/i.test(out.message), `message does not say what failed: ${out.message}`);
          check(performance.now() - start < QUICK_MS, `took ${Math.round(performance.now() - start)} ms`);
        });
      }
    } finally {
      await tunnel.up();
    }
    check(emulator.requests.length === 0, "the emulator was reached while the tunnel was down");
    await runCase(r, "recovery", async () => {
      const completion = await client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "back" }] });
      check(completion.choices[0]?.message.content === "Hello! You said: back", "wrong answer after recovery");
    });
    await closeRow(r);
  }, 60_000);

  it("the tunnel answers with an HTML error page (502/521/530 → 1033 style) → 502 with a readable message", async () => {
    const r = row("tunnel HTML error page");
    for (const status of [530, 502, 521]) {
      await setFault({ fault: { kind: "html", status } });
      for (let i = 0; i < 3; i++) {
        await runCase(r, `${status} sdk non-stream #${i}`, async () => {
          const error = await expectSdkError(
            () => client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "hi" }] }),
            502,
            "backend_unavailable",
          );
          check(error.message.includes(`HTTP ${status}`) && !/<[a-z!]/i.test(error.message), `unreadable message: ${error.message}`);
          // The page's title names the tunnel's hostname: it goes to the Worker's log, never to the client.
          check(!error.message.includes("Origin is unreachable") && !error.message.includes("example.com"), `page title leaked in: ${error.message}`);
        });
        await runCase(r, `${status} fetch stream #${i}`, async () => {
          const start = performance.now();
          const out = await expectError(await chat(true), start, 502, "backend_unavailable", r);
          check(out.message.includes(`HTTP ${status}`) && !/<[a-z!]/i.test(out.message), `unreadable message: ${out.message}`);
        });
      }
    }
    await closeRow(r);
  }, 60_000);

  it("no response headers within UPSTREAM_HEADERS_TIMEOUT → 504 (non-stream); heartbeats then an error event (stream)", async () => {
    const r = row("no headers within UPSTREAM_HEADERS_TIMEOUT");
    await setFault({ fault: { kind: "slow-first-byte", delayMs: 8000 } });
    const cases = [
      ...Array.from({ length: 4 }, (_, i) =>
        runCase(r, `non-stream #${i}`, async () => {
          const start = performance.now();
          await expectError(await chat(false), start, 504, "backend_timeout");
          const took = performance.now() - start;
          check(took >= HEADERS_TIMEOUT_MS * 0.9 && took < HEADERS_TIMEOUT_MS + QUICK_MS, `took ${Math.round(took)} ms`);
        }),
      ),
      ...Array.from({ length: 4 }, (_, i) =>
        runCase(r, `stream #${i}`, async () => {
          const start = performance.now();
          const sse = await expectStreamError(await chat(true), start, "backend_timeout");
          check(sse.comments >= 2, `only ${sse.comments} heartbeats before the error`);
          check(sse.chunks.length === 0, "content arrived although the backend sent nothing");
        }),
      ),
    ];
    await Promise.all(cases);
    await closeRow(r);
  }, 60_000);

  it("a stream stalling past UPSTREAM_IDLE_TIMEOUT → error event, upstream aborted, slots freed", async () => {
    const r = row("stall past UPSTREAM_IDLE_TIMEOUT");
    await setFault({ fault: { kind: "stall", afterLines: 2 } });
    const cases = [
      ...Array.from({ length: 6 }, (_, i) =>
        runCase(r, `stream #${i}`, async () => {
          const start = performance.now();
          const sse = await expectStreamError(await chat(true, { words: 6 }), start, "backend_timeout");
          check(sse.text.length > 0, "the lines sent before the stall were not delivered");
          const took = performance.now() - start;
          check(took >= IDLE_TIMEOUT_MS * 0.9, `error after ${Math.round(took)} ms, before the idle timeout`);
        }),
      ),
      ...Array.from({ length: 2 }, (_, i) =>
        runCase(r, `non-stream #${i}`, async () => {
          const start = performance.now();
          await expectError(await chat(false, { words: 6 }), start, 504, "backend_timeout");
        }),
      ),
    ];
    // While the streams hang, the slots are really held (so "back to 0" below means something).
    await new Promise((resolve) => setTimeout(resolve, IDLE_TIMEOUT_MS / 2));
    const during = await leaks();
    r.notes.push(`held during the stall: key ${during.keyInFlight}, gate ${during.gateInFlight}, emulator ${during.emulatorOpen}`);
    check(during.keyInFlight > 0 && during.gateInFlight > 0 && during.emulatorOpen > 0, `nothing in flight during the stall: ${JSON.stringify(during)}`);
    await Promise.all(cases);
    // "upstream aborted": the emulator saw every stalled request go away (not complete).
    const stats = emulator.stats();
    r.notes.push(`emulator aborted ${stats.aborted}/${stats.total}`);
    await closeRow(r);
    expect(emulator.stats()).toMatchObject({ open: 0, aborted: 8, completed: 0 });
  }, 60_000);

  for (const [kind, label, code, messagePart] of [
    ["error-midstream", '`{"error"}` line mid-stream', "backend_error", MIDSTREAM_MESSAGE],
    ["malformed", "malformed NDJSON line mid-stream", "backend_error", ""],
    ["drop", "connection reset mid-stream", "backend_error", ""],
  ] as const) {
    it(`${label} → error event, then the end (stream); 502 (non-stream); never retried`, async () => {
      const r = row(label);
      await setFault({ fault: { kind, afterLines: 2 } });
      const cases = [
        ...Array.from({ length: 6 }, (_, i) =>
          runCase(r, `fetch stream #${i}`, async () => {
            const start = performance.now();
            const sse = await expectStreamError(await chat(true, { words: 6 }), start, code);
            check(sse.text.startsWith("Hello!"), `the lines before the fault were not delivered: ${JSON.stringify(sse.text)}`);
            check(sse.error!.message.includes(messagePart), `message ${sse.error!.message}`);
          }),
        ),
        ...Array.from({ length: 2 }, (_, i) => runCase(r, `sdk stream #${i}`, () => expectSdkStreamError(code))),
        ...Array.from({ length: 3 }, (_, i) =>
          runCase(r, `non-stream #${i}`, async () => {
            const start = performance.now();
            const out = await expectError(await chat(false, { words: 6 }), start, 502, code);
            check(out.message.includes(messagePart), `message ${out.message}`);
          }),
        ),
      ];
      await Promise.all(cases);
      check(chatCalls() === r.cases, `${chatCalls()} upstream calls for ${r.cases} requests: something was retried`);
      await closeRow(r);
    }, 60_000);
  }

  it("Ollama busy (503) → 503 with Retry-After", async () => {
    const r = row("503 busy");
    await setFault({ fault: { kind: "busy" } });
    for (let i = 0; i < 5; i++) {
      await runCase(r, `sdk non-stream #${i}`, async () => {
        const error = await expectSdkError(
          () => client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "hi" }] }),
          503,
          "backend_unavailable",
        );
        check(Number(error.headers?.get("retry-after")) > 0, `Retry-After ${String(error.headers?.get("retry-after"))}`);
      });
      await runCase(r, `fetch stream #${i}`, async () => {
        const start = performance.now();
        const out = await expectError(await chat(true), start, 503, "backend_unavailable", r);
        if (!out.committed) check(Number(out.headers.get("retry-after")) > 0, `Retry-After ${String(out.headers.get("retry-after"))}`);
        check(/busy/i.test(out.message), `message ${out.message}`);
      });
    }
    check(chatCalls() === r.cases, "an HTTP error from Ollama was retried");
    await closeRow(r);
  }, 60_000);

  it("retries: drops before the headers are retried (bounded); nothing is retried after bytes", async () => {
    const r = row("retries (drop before headers / after bytes)");
    for (let round = 0; round < 3; round++) {
      for (const drops of [1, UPSTREAM_RETRIES]) {
        for (const stream of [false, true]) {
          await runCase(r, `${drops} drop(s) before headers, stream=${stream}`, async () => {
            emulator.reset();
            await setFault({ fault: { kind: "drop", afterLines: 0 }, times: drops });
            const res = await chat(stream, { words: 2 });
            if (res.status !== 200) throw new Error(`status ${res.status}: ${(await res.text()).slice(0, 200)}`);
            if (stream) {
              const sse = await readSse(res);
              check(sse.done && !sse.error && sse.text === "Hello! You said: w0 w1", `stream ${JSON.stringify(sse.text)} done=${sse.done}`);
            } else {
              const body = (await res.json()) as { choices: { message: { content: string } }[] };
              check(body.choices[0]?.message.content === "Hello! You said: w0 w1", "wrong answer");
            }
            check(chatCalls() === 1 + drops, `${chatCalls()} upstream calls, expected ${1 + drops}`);
          });
        }
      }
      await runCase(r, "more drops than UPSTREAM_RETRIES → 502, bounded", async () => {
        emulator.reset();
        await setFault({ fault: { kind: "drop", afterLines: 0 }, times: UPSTREAM_RETRIES + 5 });
        const start = performance.now();
        await expectError(await chat(false), start, 502, "backend_unavailable");
        check(chatCalls() === 1 + UPSTREAM_RETRIES, `${chatCalls()} upstream calls, expected ${1 + UPSTREAM_RETRIES}`);
      });
      for (const stream of [false, true]) {
        await runCase(r, `drop after bytes, stream=${stream} → not retried`, async () => {
          emulator.reset();
          await setFault({ fault: { kind: "drop", afterLines: 2 }, times: 1 });
          const start = performance.now();
          const res = await chat(stream, { words: 6 });
          if (stream) await expectStreamError(res, start, "backend_error");
          else await expectError(res, start, 502, "backend_error");
          check(chatCalls() === 1, `${chatCalls()} upstream calls after bytes, expected 1`);
        });
      }
    }
    await setFault(null);
    await closeRow(r);
  }, 90_000);

  it(`client aborts: ${ABORT_STREAMS} streams aborted at random points → upstream sees every abort, counters back to 0, no unhandled rejection`, async () => {
    const r = row(`client aborts (${ABORT_STREAMS} streams, waves of ${ABORT_WAVE})`);
    let seed = 0x5eed5;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32; // fixed seed: reproducible
    const outcomes = { beforeResponse: 0, midStream: 0, completed: 0 };
    const one = (i: number) =>
      runCase(r, `abort #${i}`, async () => {
        const controller = new AbortController();
        const mode = random();
        // 20 %: abort within 40 ms of the request (admission, model resolution, before the upstream headers);
        // 40 %: after a random delay of up to 400 ms; 40 %: after a random number of bytes (up to 4,000).
        const delayMs = Math.floor(random() * 400);
        const bytes = Math.floor(random() * 4000);
        const early = mode < 0.2 ? setTimeout(() => controller.abort(), Math.floor(delayMs / 10)) : undefined;
        const reader = new SseReader();
        let responded = false;
        try {
          const res = await chat(true, { words: 30, signal: controller.signal });
          responded = true;
          check(res.status === 200, `status ${res.status}`);
          const late = mode >= 0.2 && mode < 0.6 ? setTimeout(() => controller.abort(), delayMs) : undefined;
          try {
            for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
              reader.push(chunk);
              if (mode >= 0.6 && reader.summary.bytes >= bytes) {
                controller.abort();
                break;
              }
            }
          } finally {
            clearTimeout(late);
          }
        } catch (error) {
          if (!controller.signal.aborted) throw error;
        } finally {
          clearTimeout(early);
        }
        const s = reader.summary;
        // A cut stream may end mid-event; what was read must still be well formed.
        check(s.violations.length === 0, `SSE violations: ${s.violations.join("; ")}`);
        check(!s.error, `error event: ${s.error?.message}`);
        if (!controller.signal.aborted) {
          check(s.done, "stream ended without [DONE] although it was not aborted");
          outcomes.completed++;
        } else if (!responded) outcomes.beforeResponse++;
        else outcomes.midStream++;
      });
    const started = performance.now();
    let peakQueued = 0;
    let peakInFlight = 0;
    for (let wave = 0; wave < ABORT_STREAMS / ABORT_WAVE; wave++) {
      // Look at the gate once per wave, while it is busy: the queue really is in play.
      const look = new Promise((resolve) => setTimeout(resolve, 20 + (wave % 5) * 20))
        .then(() => admin<{ in_flight: number; queued: number }>("/admin/gate"))
        .then((gate) => {
          peakQueued = Math.max(peakQueued, gate.queued);
          peakInFlight = Math.max(peakInFlight, gate.in_flight);
        });
      await Promise.all([look, ...Array.from({ length: ABORT_WAVE }, (_, i) => one(wave * ABORT_WAVE + i))]);
    }
    const drainStart = performance.now();
    const left = await settle(30_000);
    const drainMs = performance.now() - drainStart;
    const stats = emulator.stats();
    r.notes.push(
      `${Math.round((drainStart - started) / 1000)} s; aborted before the response ${outcomes.beforeResponse}, mid-stream ${outcomes.midStream}; completed before the abort point ${outcomes.completed}`,
      `gate (${GATE_SIZE} slots) seen busy: ${peakInFlight} in flight, ${peakQueued} queued`,
      `emulator: ${stats.aborted} aborted + ${stats.completed} completed of ${stats.total}; drained in ${Math.round(drainMs)} ms`,
    );
    // Every upstream request either completed or was seen to go away; none is still open.
    expect(stats.open).toBe(0);
    expect(stats.aborted + stats.completed).toBe(stats.total);
    expect(left).toMatchObject({ emulatorOpen: 0, keyInFlight: 0, gateInFlight: 0, gateQueued: 0 });
    expect(peakQueued).toBeGreaterThan(0);
    // No unhandled rejection here, nor in the Worker (wrangler prints those).
    const logged = dev
      .output()
      .split("\n")
      .filter((line) => /unhandled|uncaught/i.test(line));
    r.notes.push(`unhandled rejections: test ${unhandled.length}, wrangler ${logged.length}`);
    expect(unhandled).toEqual([]);
    expect(logged).toEqual([]);
    await closeRow(r);
  }, 120_000);
});
