/**
 * Micro benchmarks of the hot path, in Node, importing the Worker's modules directly (they use only web APIs).
 * Each case runs beside its floor in the same process, interleaved run by run, so drift hits both alike.
 *
 * Run by bench/run.ts in a child process started with `--expose-gc --min-semi-space-size=64
 * --max-semi-space-size=64` (see `microNodeFlags`): the large young generation lets an allocation pass finish
 * without a single garbage collection, so the growth of the used heap *is* the bytes it allocated.
 */
import { PerformanceObserver } from "node:perf_hooks";
import v8 from "node:v8";
import { microCases, type Runner, type SideName, selfCheck } from "./cases.ts";
import { median, round } from "./stats.ts";

export const microNodeFlags = ["--expose-gc", "--min-semi-space-size=64", "--max-semi-space-size=64"];

export interface MicroOptions {
  /** Measured runs per case (medians are reported). */
  runs: number;
  /** Wall time each run aims for. */
  runMs: number;
  /** Generated lines per simulated answer. */
  tokensPerStream: number;
}

/** One side of a comparison: ns and bytes per unit (a streamed token, or a request). */
export interface Side {
  label: string;
  /** Median wall time per unit over the runs. */
  ns: number;
  /** Median process CPU time (user + system, all threads) per unit over the runs. */
  cpuNs: number;
  /** Bytes allocated per unit: V8 heap growth plus new ArrayBuffer backing stores, in a pass without any GC. */
  heapBytes: number;
  externalBytes: number;
  /** False if a GC happened during every allocation attempt (then the byte figures are lower bounds). */
  allocClean: boolean;
  runsNs: number[];
}

export interface MicroCase {
  id: string;
  title: string;
  unit: "token" | "request";
  ours: Side;
  floor: Side;
  /** Our own synchronous work without the streams machinery, when measured. */
  core?: Side;
}

declare const gc: (() => void) | undefined;

/** Start times of garbage collections (entries arrive asynchronously, so passes check them by time). */
const gcTimes: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcTimes.push(entry.startTime);
});
observer.observe({ entryTypes: ["gc"] });

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function runCalls(runner: Runner, calls: number): Promise<void> {
  for (let i = 0; i < calls; i++) {
    const result = runner.call();
    if (result instanceof Promise) await result;
  }
}

/** How many calls make a run of about `runMs` (after a warm-up that also lets the JIT settle). */
async function calibrate(runner: Runner, runMs: number): Promise<number> {
  let calls = 1;
  const warmUntil = performance.now() + Math.max(50, runMs);
  while (performance.now() < warmUntil) await runCalls(runner, 1);
  for (;;) {
    const start = performance.now();
    await runCalls(runner, calls);
    const elapsed = performance.now() - start;
    if (elapsed >= runMs / 4 || calls >= 1 << 20) return Math.max(1, Math.round((calls * runMs) / Math.max(elapsed, 0.01)));
    calls *= 2;
  }
}

async function timedRun(runner: Runner, calls: number): Promise<{ ns: number; cpuNs: number }> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await runCalls(runner, calls);
  const ns = Number(process.hrtime.bigint() - start);
  const used = process.cpuUsage(cpu);
  const units = calls * runner.perCall;
  return { ns: ns / units, cpuNs: ((used.user + used.system) * 1000) / units };
}

/** Bytes allocated per unit, from a pass that must see no garbage collection at all (else retried smaller). */
async function allocation(runner: Runner, units: number): Promise<{ heapBytes: number; externalBytes: number; clean: boolean }> {
  if (typeof gc !== "function") return { heapBytes: Number.NaN, externalBytes: Number.NaN, clean: false };
  let calls = Math.max(1, Math.ceil(units / runner.perCall));
  let last = { heapBytes: Number.NaN, externalBytes: Number.NaN, clean: false };
  for (let attempt = 0; attempt < 4; attempt++) {
    gc();
    gc();
    await tick();
    const start = performance.now();
    const heap0 = v8.getHeapStatistics().used_heap_size;
    const ext0 = process.memoryUsage().arrayBuffers;
    await runCalls(runner, calls);
    const heap1 = v8.getHeapStatistics().used_heap_size;
    const ext1 = process.memoryUsage().arrayBuffers;
    const end = performance.now();
    // Let the observer deliver every entry of the pass.
    for (let i = 0; i < 5; i++) await tick();
    const n = calls * runner.perCall;
    const clean = !gcTimes.some((at) => at >= start && at <= end);
    last = { heapBytes: (heap1 - heap0) / n, externalBytes: (ext1 - ext0) / n, clean };
    if (last.clean) return last;
    calls = Math.max(1, Math.floor(calls / 4));
  }
  return last;
}

async function measure(runners: Runner[], options: MicroOptions): Promise<Side[]> {
  const calls = [];
  for (const runner of runners) calls.push(await calibrate(runner, options.runMs));
  const samples = runners.map(() => ({ ns: [] as number[], cpu: [] as number[] }));
  for (let r = 0; r < options.runs; r++) {
    // Interleaved: floor, ours, floor, ours… so drift and thermal effects hit both alike.
    for (let i = 0; i < runners.length; i++) {
      const result = await timedRun(runners[i]!, calls[i]!);
      samples[i]!.ns.push(result.ns);
      samples[i]!.cpu.push(result.cpuNs);
    }
  }
  const sides: Side[] = [];
  for (let i = 0; i < runners.length; i++) {
    const runner = runners[i]!;
    const allocs = [];
    for (let k = 0; k < 3; k++) allocs.push(await allocation(runner, Math.min(4000, options.tokensPerStream * 2)));
    sides.push({
      label: runner.label,
      ns: round(median(samples[i]!.ns), 1),
      cpuNs: round(median(samples[i]!.cpu), 1),
      heapBytes: round(median(allocs.map((a) => a.heapBytes)), 0),
      externalBytes: round(median(allocs.map((a) => a.externalBytes)), 0),
      allocClean: allocs.some((a) => a.clean),
      runsNs: samples[i]!.ns.map((ns) => round(ns, 1)),
    });
  }
  return sides;
}

export async function runMicro(options: MicroOptions, log: (line: string) => void = () => {}): Promise<MicroCase[]> {
  await selfCheck(options.tokensPerStream);
  const cases: MicroCase[] = [];
  for (const def of microCases(options.tokensPerStream)) {
    log(`micro: ${def.id}`);
    const names = (["floor", "ours", "core"] as const).filter((name) => def[name]);
    const sides = await measure(
      names.map((name) => def[name]!),
      def.unit === "request" ? { ...options, tokensPerStream: 200 } : options,
    );
    const by = Object.fromEntries(names.map((name, i) => [name, sides[i]!])) as Partial<Record<SideName, Side>>;
    cases.push({
      id: def.id,
      title: def.title,
      unit: def.unit,
      ours: by.ours!,
      floor: by.floor!,
      ...(by.core ? { core: by.core } : {}),
    });
  }
  return cases;
}

// Run directly (bench/run.ts starts this file in a child process): options as JSON in argv[2], results as JSON on stdout.
if (import.meta.url === `file://${process.argv[1]}`) {
  const options = JSON.parse(process.argv[2] ?? "{}") as MicroOptions;
  runMicro(options, (line) => process.stderr.write(`${line}\n`)).then(
    (cases) => {
      observer.disconnect();
      process.stdout.write(`${JSON.stringify(cases)}\n`);
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
