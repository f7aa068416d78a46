/**
 * A CPU profile of the Worker under load, from workerd's own V8 (through Miniflare's inspector): where the
 * gateway's time goes, function by function. A tool for finding hot spots, not part of `npm run bench`.
 *
 *   node bench/profile.ts [stream|nonstream] [on|off] [--concurrency N] [--requests N] [--tokens N] [--token-delay-ms N] [--out FILE]
 *
 * Builds an unminified bundle (so function names are readable), serves it like the bench does, sends the load,
 * prints the top functions by self time and writes a .cpuprofile (open it in Chrome DevTools).
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { freePort, PROJECT_ROOT, WRANGLER_ENV } from "../scripts/wrangler-dev.ts";
import { generateKey } from "../src/keys/key-format.ts";
import { startOllamaEmulator } from "../tools/ollama-emulator.ts";
import { words } from "./fixtures.ts";
import { runLoad } from "./load.ts";
import { compatFromToml } from "./workerd.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(name);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const kind = args.includes("nonstream") ? "nonstream" : "stream";
const admission = args.includes("off") ? "off" : "on";
const concurrency = option("--concurrency", 32);
const requests = option("--requests", kind === "stream" ? 256 : 3000);
const tokens = option("--tokens", kind === "stream" ? 500 : 20);
// 0: the emulator at full speed; 20: a GPU's pace, where every token is its own read and its own chunk.
const tokenDelayMs = option("--token-delay-ms", 0);
const outAt = args.indexOf("--out");
const out = outAt === -1 ? join(tmpdir(), `ollama-edge-${kind}-${admission}.cpuprofile`) : args[outAt + 1]!;

const here = fileURLToPath(new URL(".", import.meta.url));
const outdir = mkdtempSync(join(tmpdir(), "ollama-edge-profile-"));
const emulator = await startOllamaEmulator({ tokenDelayMs });
let mf: Miniflare | undefined;
try {
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--minify=false", "--outdir", outdir, "-c", "wrangler.toml"], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...WRANGLER_ENV, CI: "true" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  copyFileSync(join(here, "probe-entry.js"), join(outdir, "probe-entry.js"));
  const inspectorPort = await freePort();
  const compat = compatFromToml();
  const entry = admission === "off" ? "probe-entry.js" : "index.js";
  const modules = [{ type: "ESModule" as const, path: join(outdir, entry) }];
  if (entry !== "index.js") modules.push({ type: "ESModule", path: join(outdir, "index.js") });
  const admin = "profile-admin-token-0123456789abcdef";
  mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      cf: false,
      inspectorPort,
      log: new Log(LogLevel.WARN),
      workers: [
        {
          name: "gateway",
          modules,
          modulesRoot: outdir,
          compatibilityDate: compat.date,
          compatibilityFlags: compat.flags,
          bindings: {
            OLLAMA_URL: emulator.url,
            ADMIN_TOKEN: admin,
            BACKEND_MAX_CONCURRENCY: "1024",
            QUEUE_MAX_LENGTH: "1024",
            ...(admission === "off" ? { BENCH_PROBE: "off" } : {}),
          },
          durableObjects: {
            KEYS: { className: "KeyObject", useSQLite: true },
            KEY_REGISTRY: { className: "KeyRegistry", useSQLite: true },
            BACKEND_GATE: { className: "BackendGate", useSQLite: true },
          },
        },
      ],
    }),
  );
  const base = (await mf.ready).origin;
  // With keys off there is no key store behind the stand-in: any well-formed key passes.
  let key = generateKey();
  if (admission === "on") {
    const created = await fetch(`${base}/admin/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "profile", rpm: 1e9, tpm: 1e9, max_concurrency: 1e9 }),
    });
    key = ((await created.json()) as { key: string }).key;
  }
  const body = JSON.stringify({ model: "llama3.2", stream: kind === "stream", messages: [{ role: "user", content: words(tokens - 3) }] });
  const spec = {
    path: "/v1/chat/completions",
    body,
    headers: { authorization: `Bearer ${key}` },
    check: (status: number) => (status === 200 ? null : `HTTP ${status}`),
  };
  // At a paced emulator every request takes its tokens × the delay: a shorter warm-up.
  await runLoad({ name: "warm", url: base }, spec, { concurrency: 8, requests: tokenDelayMs > 0 ? 16 : 200 });

  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as Array<{ webSocketDebuggerUrl: string; title?: string }>;
  const socket = new WebSocket(targets.find((t) => t.title?.includes("gateway"))?.webSocketDebuggerUrl ?? targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: 100 });
  await send("Profiler.start");
  const started = performance.now();
  const result = await runLoad({ name: "gateway", url: base }, spec, { concurrency, requests });
  const wall = performance.now() - started;
  const { profile } = (await send("Profiler.stop")) as { profile: { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] } };
  socket.close();
  writeFileSync(out, JSON.stringify(profile));

  const self = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const file = node.callFrame.url.split("/").pop() ?? "";
    const key = `${node.callFrame.functionName || "(anonymous)"} ${file}:${node.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  const idle = [...self].filter(([k]) => k.startsWith("(idle)")).reduce((n, [, v]) => n + v, 0);
  console.log(
    `${kind}, keys+limits ${admission}, c=${concurrency}: ${result.samples.length} ok, ${result.errors.length} errors, ${(wall / 1000).toFixed(2)} s; ${total} samples, ${((100 * idle) / total).toFixed(0)} % idle`,
  );
  for (const [name, hits] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    console.log(`${((100 * hits) / total).toFixed(1).padStart(5)} %  ${name}`);
  }
  console.log(`profile: ${out}`);
} finally {
  await mf?.dispose();
  await emulator.close();
  rmSync(outdir, { recursive: true, force: true });
}
