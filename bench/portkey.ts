/**
 * Portkey's open-source AI gateway (`@portkey-ai/gateway`, its Node build) as a peer in the end-to-end bench: a
 * child process on a free loopback port, offline, forwarding OpenAI chat requests to an OpenAI-compatible upstream
 * named per request (`x-portkey-provider: openai`, `x-portkey-custom-host`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort, PROJECT_ROOT } from "../scripts/wrangler-dev.ts";

export interface Portkey {
  url: string;
  pid: number | undefined;
  /** The headers that send a request through Portkey to `upstream` (an OpenAI base URL, …/v1). */
  headersFor(upstream: string): Record<string, string>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;

export async function startPortkey(): Promise<Portkey> {
  const port = await freePort();
  const server = fileURLToPath(import.meta.resolve("@portkey-ai/gateway/build/start-server.js"));
  const preload = fileURLToPath(new URL("./portkey-preload.ts", import.meta.url));
  // --headless: no log console UI. Its stdout is a spinner; stderr is kept for the error message.
  const child = spawn(process.execPath, ["--import", preload, server, `--port=${port}`, "--headless"], {
    cwd: PROJECT_ROOT,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString("utf8")).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilAnswering(url, child, () => stderr);
  } catch (error) {
    await stop(child);
    throw error;
  }
  return {
    url,
    pid: child.pid,
    headersFor: (upstream) => ({ "x-portkey-provider": "openai", "x-portkey-custom-host": upstream, authorization: "Bearer sk-bench-portkey" }),
    stop: () => stop(child),
  };
}

async function waitUntilAnswering(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Portkey exited with ${child.exitCode}: ${stderr()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`Portkey did not answer within ${READY_TIMEOUT_MS} ms: ${stderr()}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
}
