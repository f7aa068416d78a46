/**
 * The soak's processes: the emulator as a child in its own process group, and the memory (RSS) of a process
 * group read from /proc (Linux).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { PROJECT_ROOT, stopGroup, type WranglerDev } from "./wrangler-dev.ts";

export interface EmulatorProcess {
  url: string;
  child: ChildProcess;
}

export function startEmulator(tokenDelayMs: number): Promise<EmulatorProcess> {
  const child = spawn(process.execPath, ["tools/emulator-main.ts", "--port", "0", "--host", "127.0.0.1", "--token-delay-ms", String(tokenDelayMs)], {
    cwd: PROJECT_ROOT,
    detached: true, // own process group, stopped with it
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`the emulator did not start within 20 s: ${out}`)), 20_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      stopGroup(child).finally(() => reject(error));
    };
    child.once("exit", (code) => fail(new Error(`the emulator exited (${code}): ${out}`)));
    child.stderr!.on("data", (data: Buffer) => (out += data.toString()));
    child.stdout!.on("data", (data: Buffer) => {
      out += data.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        resolve({ url: match[1]!, child });
      }
    });
  });
}

/** Processes of a process group: pid and command name, from /proc/<pid>/stat. */
function groupProcesses(pgid: number): { pid: number; comm: string }[] {
  const found: { pid: number; comm: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const fields = stat.slice(close + 2).split(" "); // state ppid pgrp …
      if (Number(fields[2]) === pgid) found.push({ pid: Number(entry), comm: stat.slice(stat.indexOf("(") + 1, close) });
    } catch {
      // the process ended meanwhile
    }
  }
  return found;
}

/** VmRSS in bytes (0 when the process is gone). */
function rssOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface MemorySample {
  t: number;
  /** The workerd processes of wrangler dev's process group. */
  workerd: number;
  /** The whole group (npx, wrangler's node, workerd, esbuild). */
  group: number;
  emulator: number;
}

export function sampleMemory(dev: WranglerDev, emulator: EmulatorProcess, t0: number): MemorySample {
  const group = dev.child.pid === undefined ? [] : groupProcesses(dev.child.pid);
  const workerd = group.filter((p) => p.comm.startsWith("workerd")).reduce((sum, p) => sum + rssOf(p.pid), 0);
  return {
    t: (performance.now() - t0) / 1000,
    workerd,
    group: group.reduce((sum, p) => sum + rssOf(p.pid), 0),
    emulator: emulator.child.pid === undefined ? 0 : rssOf(emulator.child.pid),
  };
}
