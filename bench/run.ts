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
import type { SideName } from "./cases.ts";
import { type E2eOptions, type E2eResult, type NonStreamFigures, runE2e, type StreamFigures } from "./e2e.ts";
import { type MicroCase, type MicroOptions, microNodeFlags, type Side } from "./micro.ts";
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

// ---------- formatting ----------

const time = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${Math.round(ns)} ns`);
const bytes = (b: number) => (!Number.isFinite(b) ? "n/a" : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${Math.round(b)} B`);
const ms = (v: number) => (v >= 100 ? `${v.toFixed(0)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`);
const cpuMs = (v: number) => (!Number.isFinite(v) ? "n/a" : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`);
const signed = (v: number, format: (x: number) => string) => (!Number.isFinite(v) ? "n/a" : `${v < 0 ? "−" : "+"}${format(Math.abs(v))}`);
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : "n/a");
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n");

function allocation(side: Side): string {
  const total = side.heapBytes + Math.max(0, side.externalBytes);
  return `${bytes(total)}${side.allocClean ? "" : "*"}`;
}

function microTable(cases: MicroCase[], options: MicroOptions, workerd: WorkerdMicro | null, workerdRuns: number): string {
  const rows: string[][] = [];
  const inWorkerd = (id: string, side: SideName) => workerd?.[id]?.[side]?.cpuNs ?? Number.NaN;
  for (const c of cases) {
    const wFloor = inWorkerd(c.id, "floor");
    const row = (label: string, side: Side, name: SideName) => [
      label,
      c.unit,
      time(side.ns),
      time(c.floor.ns),
      time(side.ns - c.floor.ns),
      `${time(side.cpuNs)} / ${time(c.floor.cpuNs)}`,
      `${allocation(side)} / ${allocation(c.floor)}`,
      workerd ? `${time(inWorkerd(c.id, name))} / ${time(wFloor)}` : "n/a",
    ];
    rows.push(row(c.title, c.ours, "ours"));
    if (c.relay) rows.push(row("↳ the gateway's streaming path as served (`streamAnswer` relay)", c.relay, "relay"));
    if (c.core) {
      rows.push([
        "↳ the same decoding + encoding called directly, no streams",
        c.unit,
        time(c.core.ns),
        "",
        "",
        time(c.core.cpuNs),
        allocation(c.core),
        workerd ? time(inWorkerd(c.id, "core")) : "n/a",
      ]);
    }
  }
  return [
    `**Micro** (Node ${process.version} in process, median of ${options.runs} runs; and inside workerd, CPU of the workerd process, median of ${workerdRuns} runs. ` +
      "Floor: a pass-through `TransformStream` for streams, reading the body for aggregation, `JSON.parse` + `JSON.stringify` for requests. " +
      `Answers of ${options.tokensPerStream.toLocaleString("en-US")} generated lines cut at random byte boundaries, about one line per read)`,
    "",
    table(
      [
        "micro benchmark",
        "per",
        "ollama-edge",
        "floor",
        "ollama-edge − floor",
        "CPU ollama-edge / floor",
        "allocated ollama-edge / floor",
        "workerd CPU ollama-edge / floor",
      ],
      rows,
    ),
  ].join("\n");
}

function streamRows(e2e: E2eResult): string[][] {
  const rows: string[][] = [];
  const n = e2e.options.streamTokens;
  const figure = (id: string, target: string) => e2e.scenarios.find((s) => s.id === id)?.byTarget[target as "edge"] as StreamFigures | undefined;
  for (const c of [1, 32, 128]) {
    const id = `stream-c${c}`;
    const metrics: Array<[string, keyof StreamFigures]> = [
      [`TTFT p50, c=${c}`, "ttftP50"],
      [`TTFT p99, c=${c}`, "ttftP99"],
      [`${n}-token stream p50, c=${c}`, "streamP50"],
      [`${n}-token stream p99, c=${c}`, "streamP99"],
    ];
    for (const [label, key] of metrics) {
      const v = (target: string) => figure(id, target)?.[key] ?? Number.NaN;
      rows.push([label, ms(v("direct")), ms(v("floor")), ms(v("edge")), ms(v("edgeOff")), ratio(v("edge"), v("floor")), ratio(v("edge"), v("direct"))]);
    }
    const cpu = (target: string) => figure(id, target)?.cpuMsPerRequest ?? Number.NaN;
    const perToken = (target: string) => `${cpuMs(cpu(target))} (${time((cpu(target) * 1e6) / n)}/token)`;
    rows.push([`workerd CPU per stream, c=${c}`, "n/a", perToken("floor"), perToken("edge"), perToken("edgeOff"), ratio(cpu("edge"), cpu("floor")), ""]);
  }
  const ns = e2e.scenarios.find((s) => s.kind === "nonstream");
  if (ns) {
    const rps = (target: string) => (ns.byTarget[target as "edge"] as { rps: number } | undefined)?.rps ?? Number.NaN;
    rows.push([
      `non-stream req/s, c=32 (higher is better)`,
      `${rps("direct")}`,
      `${rps("floor")}`,
      `${rps("edge")}`,
      `${rps("edgeOff")}`,
      ratio(rps("edge"), rps("floor")),
      ratio(rps("edge"), rps("direct")),
    ]);
    const cpu = (target: string) => (ns.byTarget[target as "edge"] as NonStreamFigures | undefined)?.cpuMsPerRequest ?? Number.NaN;
    rows.push([
      `workerd CPU per non-stream request, c=32`,
      "n/a",
      cpuMs(cpu("floor")),
      cpuMs(cpu("edge")),
      cpuMs(cpu("edgeOff")),
      ratio(cpu("edge"), cpu("floor")),
      "",
    ]);
  }
  return rows;
}

function e2eTable(e2e: E2eResult): string {
  const samples = (id: string) => (e2e.scenarios.find((s) => s.id === id)?.byTarget.edge as StreamFigures | undefined)?.samples ?? 0;
  return [
    `**End to end** (${e2e.server}; emulator in a worker thread, token delay ${e2e.options.tokenDelayMs} ms; ${e2e.options.rounds} round(s), targets in rotating order; ` +
      `percentiles over all streams of all rounds (${samples("stream-c1")}/${samples("stream-c32")}/${samples("stream-c128")} per target at c=1/32/128), req/s the median of the rounds)`,
    "",
    table(
      ["measurement", "emulator direct", "floor Worker", "ollama-edge", "ollama-edge, keys+limits off", "ollama-edge / floor", "ollama-edge / direct"],
      streamRows(e2e),
    ),
  ].join("\n");
}

interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

function verdicts(micro: MicroCase[] | null, workerd: WorkerdMicro | null, e2e: E2eResult | null): Verdict[] {
  const out: Verdict[] = [];
  const chat = micro?.find((c) => c.id === "chat-stream");
  if (chat?.core) {
    const w = (side: SideName) => time(workerd?.["chat-stream"]?.[side]?.cpuNs ?? Number.NaN);
    const relay = chat.relay ?? chat.ours;
    out.push({
      target: "≤ 1 µs CPU per streamed token (micro, chat stream: our decoding + encoding)",
      measured:
        `${time(chat.core.cpuNs)} in Node, ${w("core")} in workerd; the whole streaming path as served ${time(relay.cpuNs)} in Node, ${w("relay")} in workerd ` +
        `(a pass-through TransformStream alone: ${time(chat.floor.cpuNs)}, ${w("floor")})`,
      met: chat.core.cpuNs <= 1000,
    });
  }
  if (e2e) {
    const s = (id: string, target: "edge" | "floor" | "edgeOff") => e2e.scenarios.find((x) => x.id === id)?.byTarget[target] as StreamFigures | undefined;
    const c1e = s("stream-c1", "edge")?.ttftP50 ?? Number.NaN;
    const c1f = s("stream-c1", "floor")?.ttftP50 ?? Number.NaN;
    out.push({ target: "TTFT ≤ 1 ms above the floor, p50, c=1", measured: `${ms(c1e)} vs ${ms(c1f)}: ${signed(c1e - c1f, ms)}`, met: c1e - c1f <= 1 });
    const c32e = s("stream-c32", "edge")?.streamP50 ?? Number.NaN;
    const c32f = s("stream-c32", "floor")?.streamP50 ?? Number.NaN;
    out.push({
      target: `${e2e.options.streamTokens}-token streams at c=32 within 10 % of the floor (p50 full stream)`,
      measured: `${ms(c32e)} vs ${ms(c32f)}: ${ratio(c32e, c32f)}`,
      met: c32e <= 1.1 * c32f,
    });
    const ns = e2e.scenarios.find((x) => x.kind === "nonstream");
    const rps = (target: "edge" | "floor") => (ns?.byTarget[target] as { rps: number } | undefined)?.rps ?? Number.NaN;
    out.push({
      target: "non-stream req/s at c=32 ≥ 80 % of the floor's, keys and limits on",
      measured: `${rps("edge")} vs ${rps("floor")}: ${Math.round((100 * rps("edge")) / rps("floor"))} %`,
      met: rps("edge") >= 0.8 * rps("floor"),
    });
    const p = e2e.probe;
    out.push({
      target: "≤ 1 Durable Object round trip before the upstream request",
      measured: `${p.workerDoCallsBeforeUpstream} from the Worker${p.nestedObserved ? ` (+${p.nestedDoCalls} object→object call inside it, to the backend gate)` : ""}`,
      met: p.workerDoCallsBeforeUpstream <= 1,
    });
  }
  return out;
}

function admissionTable(e2e: E2eResult): string {
  const n = e2e.options.streamTokens;
  const get = (id: string, target: "edge" | "edgeOff") => e2e.scenarios.find((x) => x.id === id)?.byTarget[target];
  const rows: string[][] = [];
  for (const [label, id, key] of [
    ["TTFT p50, c=1", "stream-c1", "ttftP50"],
    [`${n}-token stream p50, c=1`, "stream-c1", "streamP50"],
    ["TTFT p50, c=32", "stream-c32", "ttftP50"],
    [`${n}-token stream p50, c=32`, "stream-c32", "streamP50"],
  ] as const) {
    const on = (get(id, "edge") as StreamFigures | undefined)?.[key] ?? Number.NaN;
    const off = (get(id, "edgeOff") as StreamFigures | undefined)?.[key] ?? Number.NaN;
    rows.push([label, ms(on), ms(off), ratio(on, off), signed(on - off, ms)]);
  }
  const on = (get("nonstream-c32", "edge") as NonStreamFigures | undefined)?.rps ?? Number.NaN;
  const off = (get("nonstream-c32", "edgeOff") as NonStreamFigures | undefined)?.rps ?? Number.NaN;
  rows.push(["non-stream req/s, c=32", `${on}`, `${off}`, ratio(on, off), `${signed((100 * (on - off)) / off, (x) => x.toFixed(0))} %`]);
  for (const [label, id] of [
    ["workerd CPU per request, non-stream, c=32", "nonstream-c32"],
    [`workerd CPU per ${n}-token stream, c=32`, "stream-c32"],
  ] as const) {
    const cpuOn = (get(id, "edge") as NonStreamFigures | undefined)?.cpuMsPerRequest ?? Number.NaN;
    const cpuOff = (get(id, "edgeOff") as NonStreamFigures | undefined)?.cpuMsPerRequest ?? Number.NaN;
    rows.push([label, cpuMs(cpuOn), cpuMs(cpuOff), ratio(cpuOn, cpuOff), signed(cpuOn - cpuOff, cpuMs)]);
  }
  const p = e2e.probe;
  rows.push([
    `Durable Object calls before the upstream request (${p.requests} sequential requests)`,
    `${p.workerDoCallsBeforeUpstream}${p.nestedObserved ? ` (+${p.nestedDoCalls} nested)` : ""}`,
    "0",
    "",
    p.upstreamBefore.length ? `other upstream calls before it: ${p.upstreamBefore.map((f) => f.replace("fetch ", "")).join(", ")} (cold model cache only)` : "",
  ]);
  return [
    "**Admission** (keys and limits on: the real bundle, one key Durable Object + backend gate; off: the same bundle with `KEYS` replaced in-isolate by a stand-in that grants at once, see bench/probe-entry.js)",
    "",
    table(["measurement", "keys+limits on", "off", "on / off", "cost"], rows),
  ].join("\n");
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
      }
    : {
        rounds: flags.rounds ?? 3,
        tokenDelayMs: flags.tokenDelayMs,
        streamTokens: 500,
        nonStreamTokens: 20,
        streams: { c1: 30, c32: 64, c128: 128 },
        nonStreamMs: 1500,
        probeRequests: 6,
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
  if (e2e) sections.push("", e2eTable(e2e), "", admissionTable(e2e));
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
  if (micro?.some((c) => [c.ours, c.floor, c.relay, c.core].some((side) => side && !side.allocClean)))
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
