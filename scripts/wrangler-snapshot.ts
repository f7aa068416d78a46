/**
 * `wrangler dev` serving a snapshot of the Worker: the code is bundled once (`wrangler deploy --dry-run`) into a
 * temporary directory, and wrangler dev serves that bundle (`no_bundle`) with the project's own bindings and
 * migrations. Edits to src/ made while it runs (other people at work on the tree) do not reload it, so a long
 * run (the fault suite, the soak) measures one version of the code and is never cut by a reload, which kills the
 * requests in flight and strands their backend-gate slots until LEASE_TTL.
 *
 * Same interface and process handling as `startWranglerDev` (own process group; `stop()` stops the group).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, killGroup, PROJECT_ROOT, stopGroup, WRANGLER_ENV, type WranglerDev, type WranglerDevOptions, waitForReady } from "./wrangler-dev.ts";

const env = () => ({ ...process.env, ...WRANGLER_ENV, CI: process.env.CI ?? "true" });

/** Run a command to completion (bounded); reject with its output when it fails. */
function run(args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", args, { cwd: PROJECT_ROOT, env: env(), stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      killGroup(child, "SIGKILL");
      reject(new Error(`npx ${args.join(" ")} took more than ${timeoutMs} ms\n${out.slice(-2000)}`));
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`npx ${args.join(" ")} exited with ${code}\n${out.slice(-2000)}`));
    });
  });
}

/** The project's wrangler.toml, serving `bundle/index.js` as is. */
function snapshotConfig(): string {
  const source = readFileSync(join(PROJECT_ROOT, "wrangler.toml"), "utf8");
  const main = /^main\s*=.*$/m;
  if (!main.test(source)) throw new Error("wrangler.toml has no top-level main");
  return source.replace(main, 'main = "bundle/index.js"\nno_bundle = true');
}

export async function startSnapshotWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev & { snapshotDir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "ollama-edge-snapshot-"));
  const cleanDir = () => rmSync(dir, { recursive: true, force: true });
  try {
    await run(["wrangler", "deploy", "--dry-run", "--outdir", join(dir, "bundle"), "-c", "wrangler.toml"], 120_000);
    writeFileSync(join(dir, "wrangler.toml"), snapshotConfig());
  } catch (error) {
    cleanDir();
    throw error;
  }
  const port = options.port ?? (await freePort());
  const inspectorPort = await freePort();
  const args = [
    "wrangler",
    "dev",
    "-c",
    join(dir, "wrangler.toml"),
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--inspector-port",
    String(inspectorPort),
    "--show-interactive-dev-session=false",
  ];
  args.push("--persist-to", options.persistTo ?? join(dir, "state"));
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push("--var", `${name}:${value}`);
  const child = spawn("npx", args, {
    cwd: PROJECT_ROOT,
    detached: true, // its own process group: stopping the group also stops workerd
    env: env(),
    stdio: options.inheritOutput ? ["ignore", "inherit", "inherit"] : ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout?.on("data", (data: Buffer) => (log += data.toString()));
  child.stderr?.on("data", (data: Buffer) => (log += data.toString()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopGroup(child);
    cleanDir();
  };
  try {
    await waitForReady(`${url}/__ready_probe`, child, options.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await stop();
    throw new Error(`wrangler dev (snapshot) did not start: ${(error as Error).message}\n${log.slice(-4000)}`);
  }
  return { url, port, child, output: () => log, stop, snapshotDir: dir };
}
