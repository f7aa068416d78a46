/**
 * npm run bench [-- options]: the micro benchmarks (in a child Node with --expose-gc), then the end-to-end ones
 * (Miniflare + emulator), then a markdown report on stdout and everything measured in bench/results.json.
 *
 *   --smoke              a tiny run that only checks the bench works (npm test); no timing assertions
 *   --only micro|e2e     run one half
 *   --rounds N           end-to-end rounds (default 3); micro runs per case: --micro-runs N (default 5)
 *   --token-delay-ms N   emulator delay between tokens (default 0: as fast as the machine allows)
 *   --out FILE           where to write the JSON (default bench/results.json; a smoke run: the temp dir)
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type E2eOptions, type E2eResult, runE2e } from "./e2e.ts";
import { type MicroCase, type MicroOptions, microNodeFlags } from "./micro.ts";
import { admissionTable, e2eTable, microTable, paceTable, table, verdicts } from "./report.ts";
import { round } from "./stats.ts";
import { compatFromToml } from "./workerd.ts";
import { runWorkerdMicro, type WorkerdMicro, type WorkerdMicroOptions } from "./workerd-micro-run.ts";

const here = fileURLToPath(new URL(".", import.meta.url));

interface Flags {
  smoke: boolean;
  /** Whether --out was given (a smoke run otherwise writes to the temp dir, leaving bench/results.json alone). */
  outGiven: boolean;
  only: "micro" | "e2e" | null;
  rounds: number | null;
  microRuns: number | null;
  tokenDelayMs: number;
  out: string;
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { smoke: false, outGiven: false, only: null, rounds: null, microRuns: null, tokenDelayMs: 0, out: join(here, "results.json") };
  for (let i = 0; i < argv.length; i++) {
    const [flag = "", inline] = (argv[i] ?? "").split(/=(.*)/s);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`missing value for ${flag}`);
      return v;
    };
    const count = () => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer`);
      return n;
    };
    if (flag === "--smoke") flags.smoke = true;
    else if (flag === "--only") {
      const v = value();
      if (v !== "micro" && v !== "e2e") throw new Error("--only takes micro or e2e");
      flags.only = v;
    } else if (flag === "--rounds") flags.rounds = Math.max(1, count());
    else if (flag === "--micro-runs") flags.microRuns = Math.max(1, count());
    else if (flag === "--token-delay-ms") flags.tokenDelayMs = count();
    else if (flag === "--out") {
      flags.out = value();
      flags.outGiven = true;
    } else throw new Error(`unknown option ${flag} (see the top of bench/run.ts)`);
  }
  if (flags.smoke && !flags.outGiven) flags.out = join(tmpdir(), "ollama-edge-bench-smoke.json");
  return flags;
}

function machine() {
  const cpuinfo = (() => {
    try {
      return readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return "";
    }
  })();
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const nproc = (() => {
    try {
      return Number(execFileSync("nproc", { encoding: "utf8" }).trim());
    } catch {
      return cpus().length;
    }
  })();
  return { nproc, cpu: model.trim(), node: process.version, platform: `${process.platform} ${process.arch}` };
}

function runMicroChild(options: MicroOptions): MicroCase[] {
  const out = execFileSync(process.execPath, [...microNodeFlags, join(here, "micro.ts"), JSON.stringify(options)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out.trim().split("\n").at(-1)!) as MicroCase[];
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const started = performance.now();
  const log = (line: string) => process.stderr.write(`[bench +${((performance.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
  const info = machine();
  const microOptions: MicroOptions = flags.smoke
    ? { runs: flags.microRuns ?? 2, runMs: 10, tokensPerStream: 200 }
    : { runs: flags.microRuns ?? 5, runMs: 150, tokensPerStream: 1000 };
  const workerdOptions: WorkerdMicroOptions = flags.smoke
    ? { runs: 1, runCpuMs: 20, tokensPerStream: 200, compat: compatFromToml() }
    : { runs: flags.microRuns ?? 5, runCpuMs: 150, tokensPerStream: 1000, compat: compatFromToml() };
  const e2eOptions: E2eOptions = flags.smoke
    ? {
        rounds: flags.rounds ?? 1,
        tokenDelayMs: flags.tokenDelayMs,
        streamTokens: 50,
        nonStreamTokens: 20,
        streams: { c1: 4, c32: 32, c128: 128 },
        nonStreamMs: 250,
        probeRequests: 2,
        pace: { tokenDelayMs: 20, concurrency: 4, shortTokens: 6, longTokens: 12 },
      }
    : {
        rounds: flags.rounds ?? 3,
        tokenDelayMs: flags.tokenDelayMs,
        streamTokens: 500,
        nonStreamTokens: 20,
        streams: { c1: 30, c32: 64, c128: 128 },
        nonStreamMs: 1500,
        probeRequests: 6,
        pace: { tokenDelayMs: 20, concurrency: 64, shortTokens: 40, longTokens: 200 },
      };

  let micro: MicroCase[] | null = null;
  let workerd: WorkerdMicro | null = null;
  let e2e: E2eResult | null = null;
  if (flags.only !== "e2e") {
    log(`micro: ${microOptions.runs} runs per case, ~${microOptions.runMs} ms each`);
    micro = runMicroChild(microOptions);
    workerd = await runWorkerdMicro(workerdOptions, log);
  }
  if (flags.only !== "micro") e2e = await runE2e(e2eOptions, log);
  const seconds = round((performance.now() - started) / 1000, 1);

  const sections = [
    `## ollama-edge benchmark${flags.smoke ? " (smoke run: sizes too small to mean anything)" : ""}`,
    "",
    `Machine: ${info.nproc} × ${info.cpu}, ${info.platform}, Node ${info.node}; bench took ${seconds} s.`,
  ];
  if (micro) sections.push("", microTable(micro, microOptions, workerd, workerdOptions.runs));
  if (e2e) sections.push("", e2eTable(e2e), "", paceTable(e2e.pace), "", admissionTable(e2e));
  const verdictList = verdicts(micro, workerd, e2e);
  if (verdictList.length) {
    sections.push(
      "",
      "**Targets**",
      "",
      table(
        ["target", "measured", "met"],
        verdictList.map((v) => [v.target, v.measured, v.met ? "yes" : "**no**"]),
      ),
    );
  }
  if (e2e?.transportErrors)
    sections.push("", `${e2e.transportErrors} client connection(s) failed (reset keep-alive sockets) and were left out of the figures.`);
  if (micro?.some((c) => [c.ours, c.floor, c.core].some((side) => side && !side.allocClean)))
    sections.push("", "\\* a garbage collection ran during every allocation pass of this case: the figure is a lower bound.");
  console.log(sections.join("\n"));

  writeFileSync(
    flags.out,
    `${JSON.stringify({ date: new Date().toISOString(), machine: info, flags, seconds, micro: micro ? { options: microOptions, cases: micro, workerd: { options: { ...workerdOptions }, cases: workerd } } : null, e2e, targets: verdictList }, null, 2)}\n`,
  );
  log(`wrote ${flags.out}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
