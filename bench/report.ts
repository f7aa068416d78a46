/** The bench's markdown report: the micro table, the end-to-end tables, CPU at a realistic pace, and the targets. */
import type { SideName } from "./cases.ts";
import type { E2eResult, NonStreamFigures, StreamFigures, TargetId } from "./e2e.ts";
import type { MicroCase, MicroOptions, Side } from "./micro.ts";
import { LONG_ANSWER_TOKENS, type PaceResult, type PaceTarget } from "./pace.ts";
import type { WorkerdMicro } from "./workerd-micro-run.ts";

export const time = (ns: number) =>
  !Number.isFinite(ns) ? "n/a" : ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${Math.round(ns)} ns`;
const bytes = (b: number) => (!Number.isFinite(b) ? "n/a" : b >= 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${Math.round(b)} B`);
const ms = (v: number) => (!Number.isFinite(v) ? "n/a" : v >= 100 ? `${v.toFixed(0)} ms` : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`);
const cpuMs = (v: number) => (!Number.isFinite(v) ? "n/a" : v >= 10 ? `${v.toFixed(1)} ms` : `${v.toFixed(2)} ms`);
const signed = (v: number, format: (x: number) => string) => (!Number.isFinite(v) ? "n/a" : `${v < 0 ? "−" : "+"}${format(Math.abs(v))}`);
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : "n/a");
export const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n");

function allocation(side: Side): string {
  const total = side.heapBytes + Math.max(0, side.externalBytes);
  return `${bytes(total)}${side.allocClean ? "" : "*"}`;
}

export function microTable(cases: MicroCase[], options: MicroOptions, workerd: WorkerdMicro | null, workerdRuns: number): string {
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

type Figures = Omit<StreamFigures & NonStreamFigures, "rpsRuns">;
const figure = (e2e: E2eResult, scenario: string, target: TargetId, key: keyof Figures): number =>
  (e2e.scenarios.find((s) => s.id === scenario)?.byTarget[target] as Figures | undefined)?.[key] ?? Number.NaN;

const COLUMNS: TargetId[] = ["direct", "floor", "jsFloor", "edge", "edgeOff", "llamaDirect", "portkey"];

function e2eRows(e2e: E2eResult): string[][] {
  const rows: string[][] = [];
  const n = e2e.options.streamTokens;
  const row = (label: string, scenario: string, key: keyof Figures, format: (v: number) => string, cpu = false) => {
    const v = (target: TargetId) => figure(e2e, scenario, target, key);
    // The emulators' CPU is not measured; the read floor's latencies are those of an answer sent at its end.
    const shown = (target: TargetId) => (cpu ? target !== "direct" && target !== "llamaDirect" : target !== "jsFloor");
    const cells = COLUMNS.map((target) => (shown(target) ? format(v(target)) : "n/a"));
    rows.push([label, ...cells, ratio(v("edge"), v("floor")), cpu ? ratio(v("edge"), v("jsFloor")) : "", ratio(v("edge"), v("portkey"))]);
  };
  for (const c of [1, 32, 128]) {
    const id = `stream-c${c}`;
    row(`TTFT p50, c=${c}`, id, "ttftP50", ms);
    row(`TTFT p99, c=${c}`, id, "ttftP99", ms);
    row(`${n}-token stream p50, c=${c}`, id, "streamP50", ms);
    row(`${n}-token stream p99, c=${c}`, id, "streamP99", ms);
    row(`CPU per stream, c=${c}`, id, "cpuMsPerRequest", (v) => `${cpuMs(v)} (${time((v * 1e6) / n)}/token)`, true);
  }
  row("non-stream req/s, c=32 (higher is better)", "nonstream-c32", "rps", (v) => `${v}`);
  row("CPU per non-stream request, c=32", "nonstream-c32", "cpuMsPerRequest", cpuMs, true);
  return rows;
}

export function e2eTable(e2e: E2eResult): string {
  const samples = (id: string) => figure(e2e, id, "edge", "samples");
  return [
    `**End to end** (${e2e.server}; emulators in a worker thread, token delay ${e2e.options.tokenDelayMs} ms; ${e2e.options.rounds} round(s), targets in rotating order; ` +
      `percentiles over all streams of all rounds (${samples("stream-c1")}/${samples("stream-c32")}/${samples("stream-c128")} per target at c=1/32/128), req/s the median of the rounds. ` +
      "The JS read floor is the floor Worker with the upstream body read in JavaScript, chunk by chunk, and sent in one piece at its end (bench/js-floor-worker.js): " +
      "its CPU is what reading every HTTP chunk in JavaScript costs here, which the gateway does at a GPU's pace and avoids at full speed by piping the body (src/core/paced-reader.ts); " +
      "its latencies are not shown (the client gets everything at the end). " +
      "Portkey's gateway (Node, `@portkey-ai/gateway`) forwards to the llama-server emulator — the Ollama emulator has no `/v1` layer — measured directly in its own column. " +
      "CPU: the serving process, workerd (Durable Objects included) or Portkey's Node)",
    "",
    table(
      [
        "measurement",
        "Ollama emulator direct",
        "floor Worker",
        "JS read floor",
        "ollama-edge",
        "ollama-edge, keys+limits off",
        "llama-server emulator direct",
        "Portkey (Node)",
        "ollama-edge / floor",
        "CPU ollama-edge / JS read floor",
        "ollama-edge / Portkey",
      ],
      e2eRows(e2e),
    ),
  ].join("\n");
}

export function admissionTable(e2e: E2eResult): string {
  const n = e2e.options.streamTokens;
  const rows: string[][] = [];
  const compare = (label: string, scenario: string, key: keyof Figures, format: (v: number) => string, cost: (on: number, off: number) => string) => {
    const on = figure(e2e, scenario, "edge", key);
    const off = figure(e2e, scenario, "edgeOff", key);
    rows.push([label, format(on), format(off), ratio(on, off), cost(on, off)]);
  };
  const difference = (format: (v: number) => string) => (on: number, off: number) => signed(on - off, format);
  compare("TTFT p50, c=1", "stream-c1", "ttftP50", ms, difference(ms));
  compare(`${n}-token stream p50, c=1`, "stream-c1", "streamP50", ms, difference(ms));
  compare("TTFT p50, c=32", "stream-c32", "ttftP50", ms, difference(ms));
  compare(`${n}-token stream p50, c=32`, "stream-c32", "streamP50", ms, difference(ms));
  compare("non-stream req/s, c=32", "nonstream-c32", "rps", String, (on, off) => `${signed((100 * (on - off)) / off, (x) => x.toFixed(0))} %`);
  compare("workerd CPU per request, non-stream, c=32", "nonstream-c32", "cpuMsPerRequest", cpuMs, difference(cpuMs));
  compare(`workerd CPU per ${n}-token stream, c=32`, "stream-c32", "cpuMsPerRequest", cpuMs, difference(cpuMs));
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

export function paceTable(pace: PaceResult): string {
  const { options } = pace;
  const v = (target: PaceTarget, key: "perTokenUs" | "perRequestMs" | "cpuMs8k") => pace.byTarget[target]?.[key] ?? Number.NaN;
  const cells = (key: "perTokenUs" | "perRequestMs" | "cpuMs8k", format: (x: number) => string) => [
    format(v("floor", key)),
    format(v("jsFloor", key)),
    format(v("edge", key)),
    format(v("portkey", key)),
    format(v("edge", key) - v("floor", key)),
  ];
  return [
    `**CPU at a realistic pace** (tokens ${options.tokenDelayMs} ms apart; ${options.concurrency} streams of ${options.shortTokens} and of ${options.longTokens} tokens at once: ` +
      "per token = the difference between the two ÷ the tokens between them, per request = the rest. CPU of the serving process: HTTP, sockets and the runtime's own " +
      "stream pumping included, which a deployed Worker is not billed for; the floor Worker runs no JavaScript per token, so ollama-edge − floor is the closer estimate of billed CPU; " +
      "the JS read floor reads each token in JavaScript and does nothing else)",
    "",
    table(
      ["CPU", "floor Worker", "JS read floor", "ollama-edge", "Portkey (Node)", "ollama-edge − floor"],
      [
        ["per token", ...cells("perTokenUs", (x) => (Number.isFinite(x) ? `${x.toFixed(1)} µs` : "n/a"))],
        ["per request", ...cells("perRequestMs", cpuMs)],
        [`an ${LONG_ANSWER_TOKENS.toLocaleString("en-US")}-token answer (extrapolated)`, ...cells("cpuMs8k", cpuMs)],
      ],
    ),
  ].join("\n");
}

export interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

export function verdicts(micro: MicroCase[] | null, workerd: WorkerdMicro | null, e2e: E2eResult | null): Verdict[] {
  const out: Verdict[] = [];
  const chat = micro?.find((c) => c.id === "chat-stream");
  if (chat?.core) {
    const w = (side: SideName) => time(workerd?.["chat-stream"]?.[side]?.cpuNs ?? Number.NaN);
    out.push({
      target: "≤ 1 µs CPU per streamed token (micro, chat stream: our decoding + encoding; an earlier issue's target)",
      measured:
        `${time(chat.core.cpuNs)} in Node, ${w("core")} in workerd; through a TransformStream (\`ndjsonToSse\`) ${time(chat.ours.cpuNs)} in Node, ${w("ours")} in workerd ` +
        `(a pass-through TransformStream alone: ${time(chat.floor.cpuNs)}, ${w("floor")})`,
      met: chat.core.cpuNs <= 1000,
    });
  }
  if (e2e) out.push(...e2eVerdicts(e2e));
  return out;
}

function e2eVerdicts(e2e: E2eResult): Verdict[] {
  const out: Verdict[] = [];
  const n = e2e.options.streamTokens;
  const f = (scenario: string, target: TargetId, key: keyof Figures) => figure(e2e, scenario, target, key);
  for (const c of [1, 32]) {
    const [edge, floor] = [f(`stream-c${c}`, "edge", "streamP50"), f(`stream-c${c}`, "floor", "streamP50")];
    out.push({
      target: `${n}-token stream p50 at c=${c} ≤ 1.5× the floor`,
      measured: `${ms(edge)} vs ${ms(floor)}: ${ratio(edge, floor)}`,
      met: edge <= 1.5 * floor,
    });
  }
  const cpu = (c: number, target: TargetId) => f(`stream-c${c}`, target, "cpuMsPerRequest");
  out.push({
    target: `workerd CPU per ${n}-token stream ≤ 2× the floor (c=32)`,
    measured:
      `${cpuMs(cpu(32, "edge"))} vs ${cpuMs(cpu(32, "floor"))}: ${ratio(cpu(32, "edge"), cpu(32, "floor"))} (c=1: ${ratio(cpu(1, "edge"), cpu(1, "floor"))}; ` +
      `reading the answer in JavaScript alone, the JS read floor: ${ratio(cpu(32, "jsFloor"), cpu(32, "floor"))}, c=1: ${ratio(cpu(1, "jsFloor"), cpu(1, "floor"))})`,
    met: cpu(32, "edge") <= 2 * cpu(32, "floor"),
  });
  const rps = (target: TargetId) => f("nonstream-c32", target, "rps");
  // The row is CPU-bound: admission's CPU added to the floor's bounds the ratio any gateway with these limits can reach.
  const floorCpu = f("nonstream-c32", "floor", "cpuMsPerRequest");
  const admissionCpu = f("nonstream-c32", "edge", "cpuMsPerRequest") - f("nonstream-c32", "edgeOff", "cpuMsPerRequest");
  out.push({
    target: "non-stream req/s at c=32 ≥ 0.8× the floor, keys and limits on",
    measured:
      `${rps("edge")} vs ${rps("floor")}: ${ratio(rps("edge"), rps("floor"))} (keys and limits off: ${ratio(rps("edgeOff"), rps("floor"))}` +
      (admissionCpu > 0
        ? `; admission's CPU per request, on − off: ${cpuMs(admissionCpu)}, against the floor's whole request: ${cpuMs(floorCpu)}, ` +
          `so at most ${ratio(floorCpu, floorCpu + admissionCpu)} even if nothing else cost anything)`
        : ")"),
    met: rps("edge") >= 0.8 * rps("floor"),
  });
  const [ttft, ttftFloor] = [f("stream-c1", "edge", "ttftP50"), f("stream-c1", "floor", "ttftP50")];
  out.push({
    target: "TTFT p50 at c=1 ≤ the floor + 1 ms",
    measured: `${ms(ttft)} vs ${ms(ttftFloor)}: ${signed(ttft - ttftFloor, ms)}`,
    met: ttft - ttftFloor <= 1,
  });
  // Ahead of Portkey: lower latency on every latency row, more requests per second.
  const behind: string[] = [];
  // Rows where even the floor Worker, which runs no JavaScript per token, is not ahead: no Worker can be, here.
  const floorBehind: string[] = [];
  for (const c of [1, 32, 128]) {
    for (const [key, label] of [
      ["ttftP50", "TTFT p50"],
      ["streamP50", "stream p50"],
    ] as const) {
      const [edge, peer] = [f(`stream-c${c}`, "edge", key), f(`stream-c${c}`, "portkey", key)];
      if (!(edge < peer)) behind.push(`${label} c=${c} (${ms(edge)} vs ${ms(peer)})`);
      const floor = f(`stream-c${c}`, "floor", key);
      if (!(floor < peer)) floorBehind.push(`${label} c=${c} (${ms(floor)})`);
    }
  }
  if (!(rps("edge") > rps("portkey"))) behind.push(`non-stream req/s (${rps("edge")} vs ${rps("portkey")})`);
  out.push({
    target: "ahead of Portkey's gateway on every p50 row and on req/s",
    measured:
      (behind.length ? `behind on ${behind.join(", ")}` : "ahead on every row") +
      (floorBehind.length ? `; the floor Worker itself is not ahead on ${floorBehind.join(", ")}` : ""),
    met: behind.length === 0,
  });
  out.push(budgetVerdict(e2e.pace));
  return out;
}

/** The question the README left open: does an 8,000-token answer fit the free plan's 10 ms of CPU? */
function budgetVerdict(pace: PaceResult): Verdict {
  const edge = pace.byTarget.edge?.cpuMs8k ?? Number.NaN;
  const floor = pace.byTarget.floor?.cpuMs8k ?? Number.NaN;
  const jsFloor = pace.byTarget.jsFloor?.cpuMs8k ?? Number.NaN;
  const target = `an ${LONG_ANSWER_TOKENS.toLocaleString("en-US")}-token answer at a realistic pace within 10 ms of CPU`;
  // A few streams of a few tokens (a smoke run) are below the clock's 10 ms ticks: the slope means nothing then.
  if (!((pace.byTarget.edge?.perTokenUs ?? 0) > 0 && edge - floor > 0)) return { target, measured: "not measurable at these sizes", met: false };
  return {
    target,
    measured:
      `${cpuMs(edge)} of workerd CPU (${cpuMs(edge - floor)} above the floor Worker, the closer estimate of billed CPU` +
      (jsFloor - floor > 0 ? `; reading each token in JavaScript alone, the JS read floor: ${cpuMs(jsFloor - floor)} above it)` : ")"),
    met: edge - floor <= 10,
  };
}
