/**
 * End-to-end benchmarks: the built Worker bundle served by Miniflare's API (workerd, no wrangler dev proxy), the
 * project's Ollama emulator in a worker thread, and a closed-loop HTTP client. Every scenario is sent, in the same
 * round, to the emulator directly, to the floor Worker (bytes only) served the same way, to the gateway with keys
 * and limits on, and to the gateway with keys and limits off (see probe-entry.js). The order of targets rotates
 * from round to round.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { PROJECT_ROOT, WRANGLER_ENV } from "../scripts/wrangler-dev.ts";
import { words } from "./fixtures.ts";
import { type LoadResult, type RequestSpec, runLoad, type Target } from "./load.ts";
import { median, percentile, round } from "./stats.ts";
import { compatFromToml, cpuMsOf, startInstance } from "./workerd.ts";

export interface E2eOptions {
  rounds: number;
  tokenDelayMs: number;
  /** Tokens in each streamed answer (the emulator answers `Hello! You said: <text>`: 3 + words). */
  streamTokens: number;
  /** Tokens in each non-stream answer. */
  nonStreamTokens: number;
  /** Streams per round and target at concurrency 1, 32 and 128. */
  streams: { c1: number; c32: number; c128: number };
  /** How long each round and target sends non-stream requests at concurrency 32. */
  nonStreamMs: number;
  /** Sequential requests through the counting probe. */
  probeRequests: number;
}

/** The emulator itself, the floor Worker, the gateway with keys and limits on, and off. */
export type TargetId = "direct" | "floor" | "edge" | "edgeOff";

export interface StreamFigures {
  ttftP50: number;
  ttftP99: number;
  /** The full stream, from sending the request to its last byte. */
  streamP50: number;
  streamP99: number;
  /** Streams completed per second over the runs (wall time). */
  streamsPerS: number;
  /** CPU time of the serving workerd process per request (NaN for the emulator, or off Linux). */
  cpuMsPerRequest: number;
  samples: number;
}

export interface NonStreamFigures {
  /** Median over the rounds. */
  rps: number;
  rpsRuns: number[];
  latencyP50: number;
  latencyP99: number;
  cpuMsPerRequest: number;
  samples: number;
}

export interface ScenarioResult {
  id: string;
  title: string;
  kind: "stream" | "nonstream";
  concurrency: number;
  byTarget: Partial<Record<TargetId, StreamFigures | NonStreamFigures>>;
}

export interface ProbeResult {
  requests: number;
  /** Durable Object calls made by the Worker before the generation request went upstream (max over requests). */
  workerDoCallsBeforeUpstream: number;
  /** Calls between Durable Objects (the key object asking the backend gate), within that one round trip. */
  nestedDoCalls: number;
  /** Other upstream requests before it (the model list, only when its cache is cold). */
  upstreamBefore: string[];
  traces: string[][];
  /** Whether the nested calls could be observed (the objects share the Worker's isolate under Miniflare). */
  nestedObserved: boolean;
}

export interface E2eResult {
  server: string;
  options: E2eOptions;
  bundleBytes: number;
  scenarios: ScenarioResult[];
  probe: ProbeResult;
  /** Client connections that failed and were not counted (at most 1 % of any run). */
  transportErrors: number;
}

const here = fileURLToPath(new URL(".", import.meta.url));

/** The bundle exactly as deployed: `wrangler deploy --dry-run` (minified, as wrangler.toml says). */
function buildBundle(outdir: string): number {
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir, "-c", "wrangler.toml"], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...WRANGLER_ENV, CI: "true" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  copyFileSync(join(here, "probe-entry.js"), join(outdir, "probe-entry.js"));
  copyFileSync(join(here, "floor-worker.js"), join(outdir, "floor-worker.js"));
  return readFileSync(join(outdir, "index.js")).byteLength;
}

interface Emulator {
  url: string;
  reset(): Promise<void>;
  close(): Promise<void>;
}

function startEmulator(tokenDelayMs: number): Promise<Emulator> {
  const worker = new Worker(join(here, "emulator-thread.ts"), { workerData: { tokenDelayMs } });
  return new Promise((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", (message: { url: string }) => {
      resolve({
        url: message.url,
        reset: () =>
          new Promise((done) => {
            worker.once("message", () => done());
            worker.postMessage("reset");
          }),
        close: async () => {
          worker.postMessage("close");
          await Promise.race([new Promise((done) => worker.once("exit", done)), new Promise((done) => setTimeout(done, 2000))]);
          await worker.terminate();
        },
      });
    });
  });
}

const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";

function serve(outdir: string, entry: string, bindings: Record<string, string>, withObjects: boolean, compat: { date: string; flags: string[] }): Miniflare {
  const modules = [{ type: "ESModule" as const, path: join(outdir, entry) }];
  if (entry !== "index.js" && entry !== "floor-worker.js") modules.push({ type: "ESModule", path: join(outdir, "index.js") });
  return new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      cf: false,
      log: new Log(LogLevel.WARN),
      workers: [
        {
          name: entry.replace(/\W/g, "-"),
          modules,
          modulesRoot: outdir,
          compatibilityDate: compat.date,
          compatibilityFlags: compat.flags,
          bindings,
          // As in wrangler.toml: SQLite-backed objects (Miniflare keeps them on local disk in its temp directory).
          durableObjects: withObjects
            ? {
                KEYS: { className: "KeyObject", useSQLite: true },
                KEY_REGISTRY: { className: "KeyRegistry", useSQLite: true },
                BACKEND_GATE: { className: "BackendGate", useSQLite: true },
              }
            : undefined,
        },
      ],
    }),
  );
}

async function createKey(base: string): Promise<string> {
  const response = await fetch(`${base}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    // Limits far above the load, so every request is admitted and the limiter still does all its work.
    body: JSON.stringify({ name: "bench", rpm: 1_000_000_000, tpm: 1_000_000_000, max_concurrency: 1_000_000_000 }),
  });
  if (response.status !== 201) throw new Error(`creating a key failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { key: string }).key;
}

function chatBody(tokens: number, stream: boolean): string {
  // "Hello!", " You", " said:" and then one token per word.
  return JSON.stringify({ model: "llama3.2", stream, messages: [{ role: "user", content: words(Math.max(1, tokens - 3)) }] });
}

const sseEnd = (status: number, text: string) => (status === 200 && text.endsWith("data: [DONE]\n\n") ? null : `HTTP ${status}: …${text.slice(-120)}`);
const ndjsonEnd = (status: number, text: string) => (status === 200 && text.includes('"done":true') ? null : `HTTP ${status}: …${text.slice(-120)}`);
const openAiJson = (status: number, text: string) => {
  if (status !== 200) return `HTTP ${status}: ${text.slice(0, 200)}`;
  const body = JSON.parse(text) as { choices?: [{ message?: { content?: string } }] };
  return body.choices?.[0]?.message?.content ? null : `unexpected body ${text.slice(0, 200)}`;
};
const nativeJson = (status: number, text: string) => {
  if (status !== 200) return `HTTP ${status}: ${text.slice(0, 200)}`;
  const body = JSON.parse(text) as { done?: boolean; message?: { content?: string } };
  return body.done && body.message?.content ? null : `unexpected body ${text.slice(0, 200)}`;
};

interface Served {
  target: Target;
  stream: RequestSpec;
  nonStream: RequestSpec;
  /** Counts the generated tokens of one full streamed answer (checks the claimed answer length). */
  countTokens(body: string): number;
}

function countSseTokens(body: string): number {
  let n = 0;
  for (const frame of body.split("\n\n")) if (frame.includes('"delta":{') && /"delta":\{("role":"assistant",)?"content"/.test(frame)) n++;
  return n;
}
function countNdjsonTokens(body: string): number {
  return body.split("\n").filter((line) => /"content":"[^"]/.test(line)).length;
}

export async function runE2e(options: E2eOptions, log: (line: string) => void): Promise<E2eResult> {
  const outdir = mkdtempSync(join(tmpdir(), "ollama-edge-bench-"));
  const instances: Miniflare[] = [];
  let emulator: Emulator | undefined;
  try {
    log("e2e: building the bundle (wrangler deploy --dry-run)");
    const bundleBytes = buildBundle(outdir);
    const compat = compatFromToml();
    emulator = await startEmulator(options.tokenDelayMs);
    const upstream = emulator.url;
    const gatewayVars = { OLLAMA_URL: upstream, ADMIN_TOKEN, BACKEND_MAX_CONCURRENCY: "1024", QUEUE_MAX_LENGTH: "1024" };
    log("e2e: starting Miniflare (gateway, gateway with keys+limits off, floor)");
    const edge = await startInstance(() => serve(outdir, "index.js", gatewayVars, true, compat));
    instances.push(edge.mf);
    const off = await startInstance(() => serve(outdir, "probe-entry.js", { ...gatewayVars, BENCH_PROBE: "off" }, true, compat));
    instances.push(off.mf);
    const floor = await startInstance(() => serve(outdir, "floor-worker.js", { OLLAMA_URL: upstream }, false, compat));
    instances.push(floor.mf);
    const [edgeUrl, offUrl, floorUrl] = [edge.url, off.url, floor.url];
    const pids: Record<TargetId, number | undefined> = { direct: undefined, floor: floor.pid, edge: edge.pid, edgeOff: off.pid };

    const streamBody = chatBody(options.streamTokens, true);
    const nonStreamBody = chatBody(options.nonStreamTokens, false);
    const native = (name: string, url: string, path: string): Served => ({
      target: { name, url },
      stream: { path, body: streamBody, check: ndjsonEnd },
      nonStream: { path, body: nonStreamBody, check: nativeJson },
      countTokens: countNdjsonTokens,
    });
    const gateway = (name: string, url: string, key: () => string): Served => ({
      target: { name, url },
      stream: {
        path: "/v1/chat/completions",
        body: streamBody,
        get headers() {
          return { authorization: `Bearer ${key()}` };
        },
        check: sseEnd,
      },
      nonStream: {
        path: "/v1/chat/completions",
        body: nonStreamBody,
        get headers() {
          return { authorization: `Bearer ${key()}` };
        },
        check: openAiJson,
      },
      countTokens: countSseTokens,
    });
    // A fresh key for every phase of the gateway, so one phase's minute of limiter history does not weigh on the next.
    let edgeKey = await createKey(edgeUrl!);
    // Keys off: the stand-in grants any well-formed key (the checksum and hash still run); one made by the real gateway.
    const offKey = await createKey(edgeUrl!);
    const served: Record<TargetId, Served> = {
      direct: native("direct", upstream, "/api/chat"),
      floor: native("floor", floorUrl!, "/v1/chat/completions"),
      edge: gateway("edge", edgeUrl!, () => edgeKey),
      edgeOff: gateway("edgeOff", offUrl!, () => offKey),
    };
    const ids = Object.keys(served) as TargetId[];

    // Every target answers, and a streamed answer really has the number of tokens we claim.
    for (const id of ids) {
      const { samples, errors } = await runLoad(
        served[id].target,
        {
          ...served[id].stream,
          check: (status, body) => {
            const n = served[id].countTokens(body);
            return n === options.streamTokens ? served[id].stream.check(status, body) : `${id}: expected ${options.streamTokens} tokens, counted ${n}`;
          },
        },
        { concurrency: 1, requests: 1, keepBody: true },
      );
      if (errors.length || samples.length !== 1) throw new Error(`preflight ${id}: ${errors.join("; ") || "no answer"}`);
    }
    log("e2e: warm-up");
    for (const id of ids) {
      await mustRun(served[id].target, served[id].stream, { concurrency: 4, requests: 16 });
      await mustRun(served[id].target, served[id].nonStream, { concurrency: 8, requests: 64, keepBody: true });
    }

    const scenarios: Array<{ id: string; title: string; kind: "stream" | "nonstream"; concurrency: number; requests?: number }> = [
      { id: "stream-c1", title: `${options.streamTokens}-token stream, concurrency 1`, kind: "stream", concurrency: 1, requests: options.streams.c1 },
      { id: "stream-c32", title: `${options.streamTokens}-token stream, concurrency 32`, kind: "stream", concurrency: 32, requests: options.streams.c32 },
      { id: "stream-c128", title: `${options.streamTokens}-token stream, concurrency 128`, kind: "stream", concurrency: 128, requests: options.streams.c128 },
      { id: "nonstream-c32", title: `non-stream (${options.nonStreamTokens}-token answers), concurrency 32`, kind: "nonstream", concurrency: 32 },
    ];
    const raw = new Map<string, Array<LoadResult & { cpuMs: number }>>();
    for (let roundNo = 0; roundNo < options.rounds; roundNo++) {
      const order = ids.map((_, i) => ids[(i + roundNo) % ids.length]!);
      for (const scenario of scenarios) {
        log(`e2e: round ${roundNo + 1}/${options.rounds}, ${scenario.title}`);
        for (const id of order) {
          if (id === "edge") edgeKey = await createKey(edgeUrl!);
          const spec = scenario.kind === "stream" ? served[id].stream : served[id].nonStream;
          const cpuBefore = cpuMsOf(pids[id]);
          const result = await mustRun(served[id].target, spec, {
            concurrency: scenario.concurrency,
            requests: scenario.requests,
            durationMs: scenario.kind === "nonstream" ? options.nonStreamMs : undefined,
            keepBody: scenario.kind === "nonstream",
          });
          const key = `${scenario.id}/${id}`;
          raw.set(key, [...(raw.get(key) ?? []), { ...result, cpuMs: cpuMsOf(pids[id]) - cpuBefore }]);
        }
        await emulator.reset();
      }
    }

    const results: ScenarioResult[] = scenarios.map((scenario) => {
      const byTarget: ScenarioResult["byTarget"] = {};
      for (const id of ids) {
        const runs = raw.get(`${scenario.id}/${id}`) ?? [];
        const samples = runs.flatMap((run) => run.samples);
        // workerd CPU (user + system, Durable Objects included: they run in the same process) per request.
        const cpuMsPerRequest = round(runs.reduce((n, run) => n + run.cpuMs, 0) / Math.max(1, samples.length), 3);
        if (scenario.kind === "stream") {
          const ttft = samples.map((s) => s.ttfbMs);
          const total = samples.map((s) => s.totalMs);
          const wall = runs.reduce((n, run) => n + run.wallMs, 0);
          byTarget[id] = {
            ttftP50: round(percentile(ttft, 50), 3),
            ttftP99: round(percentile(ttft, 99), 3),
            streamP50: round(percentile(total, 50), 3),
            streamP99: round(percentile(total, 99), 3),
            streamsPerS: round((samples.length * 1000) / wall, 1),
            cpuMsPerRequest,
            samples: samples.length,
          };
        } else {
          const rpsRuns = runs.map((run) => round((run.samples.length * 1000) / run.wallMs, 0));
          const latency = samples.map((s) => s.totalMs);
          byTarget[id] = {
            rps: median(rpsRuns),
            rpsRuns,
            latencyP50: round(percentile(latency, 50), 3),
            latencyP99: round(percentile(latency, 99), 3),
            cpuMsPerRequest,
            samples: samples.length,
          };
        }
      }
      return { id: scenario.id, title: scenario.title, kind: scenario.kind, concurrency: scenario.concurrency, byTarget };
    });

    for (const mf of instances.splice(0)) await mf.dispose();
    log("e2e: counting Durable Object round trips (probe)");
    const probe = await runProbe(outdir, compat, gatewayVars, options.probeRequests, streamBody, nonStreamBody);
    return { server: "Miniflare API (workerd), bundle from wrangler deploy --dry-run", options, bundleBytes, scenarios: results, probe, transportErrors };
  } finally {
    for (const mf of instances) await mf.dispose().catch(() => {});
    await emulator?.close();
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Connection failures tolerated so far (reported with the results). */
let transportErrors = 0;

async function mustRun(target: Target, spec: RequestSpec, options: Parameters<typeof runLoad>[2]): Promise<LoadResult> {
  const result = await runLoad(target, spec, options);
  if (result.errors.length) throw new Error(`${target.name}: ${result.errors.length} wrong answers, first: ${result.errors[0]}`);
  // A keep-alive socket closed by the server just as it was reused is the client's problem, not a measurement;
  // more than 1 % of them is not.
  const attempts = result.samples.length + result.transportErrors.length;
  if (result.transportErrors.length > Math.max(1, attempts / 100)) {
    throw new Error(`${target.name}: ${result.transportErrors.length} of ${attempts} connections failed, first: ${result.transportErrors[0]}`);
  }
  transportErrors += result.transportErrors.length;
  return result;
}

async function runProbe(
  outdir: string,
  compat: { date: string; flags: string[] },
  vars: Record<string, string>,
  requests: number,
  streamBody: string,
  nonStreamBody: string,
): Promise<ProbeResult> {
  const mf = serve(outdir, "probe-entry.js", { ...vars, BENCH_PROBE: "count" }, true, compat);
  try {
    const base = (await mf.ready).origin;
    const key = await createKey(base);
    const traces: string[][] = [];
    for (let i = 0; i < requests; i++) {
      const response = await fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: i % 2 === 0 ? streamBody : nonStreamBody,
      });
      const trace = JSON.parse(response.headers.get("x-bench-trace") ?? "null") as { before: string[]; upstreamSent: boolean } | null;
      await response.text();
      if (response.status !== 200 || !trace?.upstreamSent) throw new Error(`probe request failed: HTTP ${response.status}`);
      traces.push(trace.before);
    }
    const rpcs = (trace: string[]) => trace.filter((event) => event.startsWith("rpc "));
    const workerCalls = (trace: string[]) => rpcs(trace).filter((event) => event.startsWith("rpc worker->")).length;
    const nested = (trace: string[]) => rpcs(trace).filter((event) => !event.startsWith("rpc worker->")).length;
    return {
      requests,
      workerDoCallsBeforeUpstream: Math.max(...traces.map(workerCalls)),
      nestedDoCalls: Math.max(...traces.map(nested)),
      upstreamBefore: [...new Set(traces.flatMap((trace) => trace.filter((event) => event.startsWith("fetch "))))],
      traces,
      nestedObserved: traces.some((trace) => nested(trace) > 0),
    };
  } finally {
    await mf.dispose();
  }
}
