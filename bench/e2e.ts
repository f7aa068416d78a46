/**
 * End-to-end benchmarks: the built Worker bundle served by Miniflare's API (workerd, no wrangler dev proxy), the
 * project's emulators in a worker thread, and a closed-loop HTTP client. Every scenario is sent, in the same round,
 * to the Ollama emulator directly, to the floor Worker (bytes only) and the JS read floor served the same way, to
 * the gateway with keys and limits on, and off (see probe-entry.js), and to Portkey's Node gateway in front of the
 * llama-server emulator (the Ollama emulator has no OpenAI layer), which is measured directly too. The order of
 * targets rotates from round to round.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Miniflare } from "miniflare";
import { type LoadResult, mustRun, runLoad } from "./load.ts";
import { type PaceOptions, type PaceResult, runPace } from "./pace.ts";
import { type Portkey, startPortkey } from "./portkey.ts";
import { type ProbeResult, runProbe } from "./probe.ts";
import { median, percentile, round } from "./stats.ts";
import { buildBundle, chatBody, createKey, type Emulators, gatewayVars, native, openai, type Served, serve, startEmulators } from "./targets.ts";
import { compatFromToml, cpuMsOf, startInstance } from "./workerd.ts";

export interface E2eOptions {
  rounds: number;
  tokenDelayMs: number;
  /** Tokens in each streamed answer. */
  streamTokens: number;
  /** Tokens in each non-stream answer. */
  nonStreamTokens: number;
  /** Streams per round and target at concurrency 1, 32 and 128. */
  streams: { c1: number; c32: number; c128: number };
  /** How long each round and target sends non-stream requests at concurrency 32. */
  nonStreamMs: number;
  /** Sequential requests through the counting probe. */
  probeRequests: number;
  /** The CPU-at-a-realistic-pace phase. */
  pace: PaceOptions;
}

/**
 * The Ollama emulator itself, the floor Worker, the same reading the body in JavaScript (js-floor-worker.js), the
 * gateway with keys and limits on, and off; the llama-server emulator itself, and Portkey in front of it.
 */
export const TARGETS = ["direct", "floor", "jsFloor", "edge", "edgeOff", "llamaDirect", "portkey"] as const;
export type TargetId = (typeof TARGETS)[number];

export interface StreamFigures {
  ttftP50: number;
  ttftP99: number;
  /** The full stream, from sending the request to its last byte. */
  streamP50: number;
  streamP99: number;
  /** Streams completed per second over the runs (wall time). */
  streamsPerS: number;
  /** CPU time of the serving process per request (workerd; Node for Portkey; NaN for the emulators, or off Linux). */
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

export interface E2eResult {
  server: string;
  options: E2eOptions;
  bundleBytes: number;
  scenarios: ScenarioResult[];
  probe: ProbeResult;
  pace: PaceResult;
  /** Client connections that failed and were not counted (at most 1 % of any run). */
  transportErrors: number;
}

interface Scenario {
  id: string;
  title: string;
  kind: "stream" | "nonstream";
  concurrency: number;
  requests?: number;
}

export async function runE2e(options: E2eOptions, log: (line: string) => void): Promise<E2eResult> {
  const outdir = mkdtempSync(join(tmpdir(), "ollama-edge-bench-"));
  const instances: Miniflare[] = [];
  let emulators: Emulators | undefined;
  let portkey: Portkey | undefined;
  try {
    log("e2e: building the bundle (wrangler deploy --dry-run)");
    const bundleBytes = buildBundle(outdir);
    const compat = compatFromToml();
    emulators = await startEmulators(options.tokenDelayMs);
    const upstream = emulators.url;
    log("e2e: starting Miniflare (gateway, gateway with keys+limits off, the two floors) and Portkey");
    const edge = await startInstance(() => serve(outdir, "index.js", gatewayVars(upstream), true, compat));
    instances.push(edge.mf);
    const off = await startInstance(() => serve(outdir, "probe-entry.js", { ...gatewayVars(upstream), BENCH_PROBE: "off" }, true, compat));
    instances.push(off.mf);
    const floor = await startInstance(() => serve(outdir, "floor-worker.js", { OLLAMA_URL: upstream }, false, compat));
    instances.push(floor.mf);
    const jsFloor = await startInstance(() => serve(outdir, "js-floor-worker.js", { OLLAMA_URL: upstream }, false, compat));
    instances.push(jsFloor.mf);
    portkey = await startPortkey();
    const pids: Record<TargetId, number | undefined> = {
      direct: undefined,
      floor: floor.pid,
      jsFloor: jsFloor.pid,
      edge: edge.pid,
      edgeOff: off.pid,
      llamaDirect: undefined,
      portkey: portkey.pid,
    };

    // A fresh key for every phase of the gateway, so one phase's minute of limiter history does not weigh on the next.
    let edgeKey = await createKey(edge.url);
    // Keys off: the stand-in grants any well-formed key (the checksum and hash still run); one made by the real gateway.
    const offKey = await createKey(edge.url);
    const llamaV1 = `${emulators.llamaUrl}/v1`;
    const portkeyHeaders = portkey.headersFor(llamaV1);
    const served: Record<TargetId, Served> = {
      direct: native("direct", upstream, "/api/chat", options),
      floor: native("floor", floor.url, "/v1/chat/completions", options),
      jsFloor: native("jsFloor", jsFloor.url, "/v1/chat/completions", options),
      edge: openai("edge", edge.url, options, "ollama", () => ({ authorization: `Bearer ${edgeKey}` })),
      edgeOff: openai("edgeOff", off.url, options, "ollama", () => ({ authorization: `Bearer ${offKey}` })),
      llamaDirect: openai("llamaDirect", emulators.llamaUrl, options, "llama", () => ({})),
      portkey: openai("portkey", portkey.url, options, "llama", () => portkeyHeaders),
    };
    await preflight(served, options);

    const scenarios: Scenario[] = [
      { id: "stream-c1", title: `${options.streamTokens}-token stream, concurrency 1`, kind: "stream", concurrency: 1, requests: options.streams.c1 },
      { id: "stream-c32", title: `${options.streamTokens}-token stream, concurrency 32`, kind: "stream", concurrency: 32, requests: options.streams.c32 },
      { id: "stream-c128", title: `${options.streamTokens}-token stream, concurrency 128`, kind: "stream", concurrency: 128, requests: options.streams.c128 },
      { id: "nonstream-c32", title: `non-stream (${options.nonStreamTokens}-token answers), concurrency 32`, kind: "nonstream", concurrency: 32 },
    ];
    const raw = new Map<string, Array<LoadResult & { cpuMs: number }>>();
    for (let roundNo = 0; roundNo < options.rounds; roundNo++) {
      const order = TARGETS.map((_, i) => TARGETS[(i + roundNo) % TARGETS.length]!);
      for (const scenario of scenarios) {
        log(`e2e: round ${roundNo + 1}/${options.rounds}, ${scenario.title}`);
        for (const id of order) {
          if (id === "edge") edgeKey = await createKey(edge.url);
          const spec = scenario.kind === "stream" ? served[id].stream : served[id].nonStream;
          const cpuBefore = cpuMsOf(pids[id]);
          const result = await mustRun(served[id].target, spec, {
            concurrency: scenario.concurrency,
            requests: scenario.requests,
            durationMs: scenario.kind === "nonstream" ? options.nonStreamMs : undefined,
            keepBody: scenario.kind === "nonstream",
          });
          transportErrors += result.transportErrors.length;
          const key = `${scenario.id}/${id}`;
          raw.set(key, [...(raw.get(key) ?? []), { ...result, cpuMs: cpuMsOf(pids[id]) - cpuBefore }]);
        }
        await emulators.reset();
      }
    }
    const results = scenarios.map((scenario) => summarize(scenario, raw));

    for (const mf of instances.splice(0)) await mf.dispose();
    const pace = await runPace(outdir, compat, portkey, options.pace, log);
    transportErrors += pace.transportErrors;
    log("e2e: counting Durable Object round trips (probe)");
    const probe = await runProbe(
      outdir,
      compat,
      gatewayVars(upstream),
      options.probeRequests,
      chatBody(options.streamTokens, true, "ollama"),
      chatBody(options.nonStreamTokens, false, "ollama"),
    );
    return { server: "Miniflare API (workerd), bundle from wrangler deploy --dry-run", options, bundleBytes, scenarios: results, probe, pace, transportErrors };
  } finally {
    for (const mf of instances) await mf.dispose().catch(() => {});
    await portkey?.stop();
    await emulators?.close();
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Connection failures tolerated so far (reported with the results). */
let transportErrors = 0;

/** Every target answers, a streamed answer really has the number of tokens we claim; then a warm-up. */
async function preflight(served: Record<TargetId, Served>, options: E2eOptions): Promise<void> {
  for (const id of TARGETS) {
    const { target, stream, countTokens } = served[id];
    const counted = {
      ...stream,
      check: (status: number, body: string) => {
        const n = countTokens(body);
        return n === options.streamTokens ? stream.check(status, body) : `${id}: expected ${options.streamTokens} tokens, counted ${n}`;
      },
    };
    const { samples, errors } = await runLoad(target, counted, { concurrency: 1, requests: 1, keepBody: true });
    if (errors.length || samples.length !== 1) throw new Error(`preflight ${id}: ${errors.join("; ") || "no answer"}`);
  }
  for (const id of TARGETS) {
    await mustRun(served[id].target, served[id].stream, { concurrency: 4, requests: 16 });
    await mustRun(served[id].target, served[id].nonStream, { concurrency: 8, requests: 64, keepBody: true });
  }
}

function summarize(scenario: Scenario, raw: Map<string, Array<LoadResult & { cpuMs: number }>>): ScenarioResult {
  const byTarget: ScenarioResult["byTarget"] = {};
  for (const id of TARGETS) {
    const runs = raw.get(`${scenario.id}/${id}`) ?? [];
    const samples = runs.flatMap((run) => run.samples);
    // CPU of the serving process (workerd: Durable Objects included, they run in the same process) per request.
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
}
