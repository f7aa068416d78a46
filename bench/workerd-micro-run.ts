/**
 * Runs bench/workerd-micro.js inside workerd (Miniflare) and measures the CPU time of the workerd process per
 * unit: the same cases as the Node micro benchmarks, in the runtime the gateway really runs on.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { Miniflare } from "miniflare";
import type { SideName } from "./cases.ts";
import { median, round } from "./stats.ts";
import { serve } from "./targets.ts";
import { cpuMsOf, startInstance } from "./workerd.ts";

export interface WorkerdMicroOptions {
  runs: number;
  /** CPU time each run aims for (the process clock ticks every 10 ms). */
  runCpuMs: number;
  tokensPerStream: number;
  compat: { date: string; flags: string[] };
}

export interface WorkerdSide {
  /** Median CPU ns per unit over the runs. */
  cpuNs: number;
  runsNs: number[];
}

export type WorkerdMicro = Record<string, Partial<Record<SideName, WorkerdSide>>>;

const here = fileURLToPath(new URL(".", import.meta.url));

export async function runWorkerdMicro(options: WorkerdMicroOptions, log: (line: string) => void): Promise<WorkerdMicro> {
  const outdir = mkdtempSync(join(tmpdir(), "ollama-edge-micro-"));
  let mf: Miniflare | undefined;
  try {
    await build({
      entryPoints: [join(here, "workerd-micro.js")],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2023",
      minify: true,
      outfile: join(outdir, "micro.js"),
      logLevel: "error",
    });
    const started = await startInstance(() => serve(outdir, "micro.js", {}, false, options.compat));
    mf = started.mf;
    const { url, pid } = started;
    if (pid === undefined) return {};
    const run = async (id: string, side: string, calls: number) => {
      const before = cpuMsOf(pid);
      const response = await fetch(`${url}/run?case=${id}&side=${side}&calls=${calls}&tokens=${options.tokensPerStream}`, { method: "POST" });
      if (!response.ok) throw new Error(`workerd micro ${id}/${side}: HTTP ${response.status} ${await response.text()}`);
      const { units } = (await response.json()) as { units: number };
      return { cpuMs: cpuMsOf(pid) - before, units };
    };
    const ids = ["chat-stream", "completions-stream", "aggregate", "request"];
    const out: WorkerdMicro = {};
    for (const id of ids) {
      log(`workerd micro: ${id}`);
      const sides = id.endsWith("stream") ? ["floor", "ours", "core"] : ["floor", "ours"];
      const calls: Record<string, number> = {};
      for (const side of sides) {
        // Warm up, then size a run to about runCpuMs of CPU.
        let n = 1;
        for (;;) {
          const { cpuMs } = await run(id, side, n);
          if (cpuMs >= 40 || n >= 1 << 20) {
            calls[side] = Math.max(1, Math.round((n * options.runCpuMs) / Math.max(cpuMs, 1)));
            break;
          }
          n *= 4;
        }
      }
      const samples: Record<string, number[]> = Object.fromEntries(sides.map((side) => [side, []]));
      for (let r = 0; r < options.runs; r++) {
        for (const side of sides) {
          const { cpuMs, units } = await run(id, side, calls[side]!);
          samples[side]!.push((cpuMs * 1e6) / units);
        }
      }
      out[id] = Object.fromEntries(sides.map((side) => [side, { cpuNs: round(median(samples[side]!), 0), runsNs: samples[side]!.map((v) => round(v, 0)) }]));
    }
    return out;
  } finally {
    await mf?.dispose();
    rmSync(outdir, { recursive: true, force: true });
  }
}
