/**
 * CPU at a realistic pace: tokens ~20 ms apart, a GPU generating ~50 tokens per second — what every deployed stream
 * looks like. At that pace each token is its own upstream read and its own chunk to the client (nothing to
 * coalesce), so this is what a token really costs. Each target gets one wave of short answers and one of long ones;
 * the difference gives the CPU per token, the rest the CPU per request, and from both the CPU of an 8,000-token
 * answer. Its own emulators (with the delay) and its own Miniflare instances, since a Worker's upstream is fixed.
 */
import type { Miniflare } from "miniflare";
import { mustRun } from "./load.ts";
import type { Portkey } from "./portkey.ts";
import { round } from "./stats.ts";
import { type Compat, createKey, gatewayVars, native, openai, type Served, serve, startEmulators } from "./targets.ts";
import { cpuMsOf, startInstance } from "./workerd.ts";

export interface PaceOptions {
  tokenDelayMs: number;
  /** Streams in each wave (all at once). */
  concurrency: number;
  shortTokens: number;
  longTokens: number;
}

export type PaceTarget = "floor" | "jsFloor" | "edge" | "portkey";

export interface PaceFigures {
  /** CPU of the serving process per stream, short and long answers. */
  cpuMsShort: number;
  cpuMsLong: number;
  perTokenUs: number;
  perRequestMs: number;
  /** Extrapolated: one request plus 8,000 tokens. */
  cpuMs8k: number;
}

export interface PaceResult {
  options: PaceOptions;
  byTarget: Partial<Record<PaceTarget, PaceFigures>>;
  transportErrors: number;
}

export const LONG_ANSWER_TOKENS = 8000;

export async function runPace(outdir: string, compat: Compat, portkey: Portkey, options: PaceOptions, log: (line: string) => void): Promise<PaceResult> {
  const emulators = await startEmulators(options.tokenDelayMs);
  const instances: Miniflare[] = [];
  let transportErrors = 0;
  try {
    const edge = await startInstance(() => serve(outdir, "index.js", gatewayVars(emulators.url), true, compat));
    instances.push(edge.mf);
    const floor = await startInstance(() => serve(outdir, "floor-worker.js", { OLLAMA_URL: emulators.url }, false, compat));
    instances.push(floor.mf);
    const jsFloor = await startInstance(() => serve(outdir, "js-floor-worker.js", { OLLAMA_URL: emulators.url }, false, compat));
    instances.push(jsFloor.mf);
    const key = await createKey(edge.url);
    const targets: Record<PaceTarget, { pid: number | undefined; served: (tokens: number) => Served }> = {
      floor: { pid: floor.pid, served: (tokens) => native("floor", floor.url, "/v1/chat/completions", { streamTokens: tokens, nonStreamTokens: 1 }) },
      jsFloor: { pid: jsFloor.pid, served: (tokens) => native("jsFloor", jsFloor.url, "/v1/chat/completions", { streamTokens: tokens, nonStreamTokens: 1 }) },
      edge: {
        pid: edge.pid,
        served: (tokens) => openai("edge", edge.url, { streamTokens: tokens, nonStreamTokens: 1 }, "ollama", () => ({ authorization: `Bearer ${key}` })),
      },
      portkey: {
        pid: portkey.pid,
        served: (tokens) =>
          openai("portkey", portkey.url, { streamTokens: tokens, nonStreamTokens: 1 }, "llama", () => portkey.headersFor(`${emulators.llamaUrl}/v1`)),
      },
    };
    const byTarget: PaceResult["byTarget"] = {};
    for (const [id, { pid, served }] of Object.entries(targets) as Array<[PaceTarget, (typeof targets)[PaceTarget]]>) {
      log(`pace: ${id}, ${options.concurrency} streams of ${options.shortTokens} then ${options.longTokens} tokens, ${options.tokenDelayMs} ms apart`);
      const wave = async (tokens: number) => {
        const { target, stream } = served(tokens);
        const before = cpuMsOf(pid);
        const result = await mustRun(target, stream, { concurrency: options.concurrency, requests: options.concurrency });
        transportErrors += result.transportErrors.length;
        return (cpuMsOf(pid) - before) / Math.max(1, result.samples.length);
      };
      // Warm (the gateway's model list and the connections), not measured.
      await mustRun(served(5).target, served(5).stream, { concurrency: 2, requests: 4 });
      const cpuMsShort = await wave(options.shortTokens);
      const cpuMsLong = await wave(options.longTokens);
      const perTokenMs = (cpuMsLong - cpuMsShort) / (options.longTokens - options.shortTokens);
      const perRequestMs = cpuMsShort - perTokenMs * options.shortTokens;
      byTarget[id] = {
        cpuMsShort: round(cpuMsShort, 3),
        cpuMsLong: round(cpuMsLong, 3),
        perTokenUs: round(perTokenMs * 1000, 2),
        perRequestMs: round(perRequestMs, 3),
        cpuMs8k: round(perRequestMs + perTokenMs * LONG_ANSWER_TOKENS, 1),
      };
      await emulators.reset();
    }
    return { options, byTarget, transportErrors };
  } finally {
    for (const mf of instances) await mf.dispose().catch(() => {});
    await emulators.close();
  }
}
