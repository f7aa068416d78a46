/** Serving helpers shared by the end-to-end and workerd micro benchmarks: compatibility settings, process CPU. */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Miniflare } from "miniflare";
import { PROJECT_ROOT } from "../scripts/wrangler-dev.ts";

/** compatibility_date and compatibility_flags, as wrangler.toml sets them. */
export function compatFromToml(): { date: string; flags: string[] } {
  const toml = readFileSync(join(PROJECT_ROOT, "wrangler.toml"), "utf8");
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(toml)?.[1];
  if (!date) throw new Error("wrangler.toml has no compatibility_date");
  return { date, flags: flags ? [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]!) : [] };
}

/** workerd processes started by this process (Miniflare spawns one per instance). Linux only; empty elsewhere. */
export function workerdChildren(): Set<number> {
  const found = new Set<number>();
  let entries: string[] = [];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return found;
  }
  for (const name of entries) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && readFileSync(`/proc/${name}/cmdline`, "utf8").includes("workerd")) found.add(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const CLOCK_TICKS_PER_S = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, all threads) a process has used so far, in ms (to a clock tick, 10 ms); NaN if unknown. */
export function cpuMsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

/** Start an instance and learn which workerd process serves it (instances are started one at a time). */
export async function startInstance(make: () => Miniflare): Promise<{ mf: Miniflare; url: string; pid: number | undefined }> {
  const before = workerdChildren();
  const mf = make();
  const url = (await mf.ready).origin;
  const pid = [...workerdChildren()].find((p) => !before.has(p));
  return { mf, url, pid };
}
