/**
 * What the end-to-end benchmarks send load to, and how each answer is checked: the emulators (in a worker thread),
 * the built bundle served by Miniflare's API (the gateway, or the floor Worker), Portkey's Node gateway, and the
 * request each of them takes for a streamed and a whole answer.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from "miniflare";
import { PROJECT_ROOT, WRANGLER_ENV } from "../scripts/wrangler-dev.ts";
import { tokenize } from "../tools/emulator/answers.ts";
import { GREETING as LLAMA_GREETING } from "../tools/llama/plan.ts";
import { words } from "./fixtures.ts";
import type { RequestSpec, Target } from "./load.ts";

const here = fileURLToPath(new URL(".", import.meta.url));

/**
 * The modules each entry imports besides itself: the floors and the micro benchmark stand alone (the JS read floor
 * wraps the floor).
 */
const COMPANIONS: Record<string, string[]> = { "index.js": [], "floor-worker.js": [], "js-floor-worker.js": ["floor-worker.js"], "micro.js": [] };

/** The bundle exactly as deployed: `wrangler deploy --dry-run` (minified, as wrangler.toml says). */
export function buildBundle(outdir: string): number {
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir, "-c", "wrangler.toml"], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...WRANGLER_ENV, CI: "true" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  copyFileSync(join(here, "probe-entry.js"), join(outdir, "probe-entry.js"));
  for (const floor of ["floor-worker.js", "js-floor-worker.js"]) copyFileSync(join(here, floor), join(outdir, floor));
  return readFileSync(join(outdir, "index.js")).byteLength;
}

export interface Emulators {
  /** The Ollama emulator (native API). */
  url: string;
  /** The llama-server emulator (OpenAI's API under /v1). */
  llamaUrl: string;
  reset(): Promise<void>;
  close(): Promise<void>;
}

export function startEmulators(tokenDelayMs: number): Promise<Emulators> {
  const worker = new Worker(join(here, "emulator-thread.ts"), { workerData: { tokenDelayMs } });
  return new Promise((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", (message: { url: string; llamaUrl: string }) => {
      resolve({
        url: message.url,
        llamaUrl: message.llamaUrl,
        reset: () =>
          new Promise((done) => {
            worker.once("message", () => done());
            worker.postMessage("reset");
          }),
        close: async () => {
          worker.postMessage("close");
          await Promise.race([new Promise((done) => worker.once("exit", done)), new Promise((done) => setTimeout(done, 2000))]);
          await worker.terminate();
        },
      });
    });
  });
}

export const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";

export interface Compat {
  date: string;
  flags: string[];
}

export function serve(outdir: string, entry: string, bindings: Record<string, string>, withObjects: boolean, compat: Compat): Miniflare {
  // Other entries (the probe) wrap the gateway's bundle.
  const companions = COMPANIONS[entry] ?? ["index.js"];
  const modules = [entry, ...companions].map((name) => ({ type: "ESModule" as const, path: join(outdir, name) }));
  return new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      cf: false,
      log: new Log(LogLevel.WARN),
      workers: [
        {
          name: entry.replace(/\W/g, "-"),
          modules,
          modulesRoot: outdir,
          compatibilityDate: compat.date,
          compatibilityFlags: compat.flags,
          bindings,
          // As in wrangler.toml: SQLite-backed objects (Miniflare keeps them on local disk in its temp directory).
          durableObjects: withObjects
            ? {
                KEYS: { className: "KeyObject", useSQLite: true },
                KEY_REGISTRY: { className: "KeyRegistry", useSQLite: true },
                BACKEND_GATE: { className: "BackendGate", useSQLite: true },
              }
            : undefined,
        },
      ],
    }),
  );
}

/** The gateway's settings in every run: the backend gate opened wide, so the load never waits in its queue. */
export const gatewayVars = (upstream: string) => ({ OLLAMA_URL: upstream, ADMIN_TOKEN, BACKEND_MAX_CONCURRENCY: "1024", QUEUE_MAX_LENGTH: "1024" });

export async function createKey(base: string): Promise<string> {
  const response = await fetch(`${base}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    // Limits far above the load, so every request is admitted and the limiter still does all its work.
    body: JSON.stringify({ name: "bench", rpm: 1_000_000_000, tpm: 1_000_000_000, max_concurrency: 1_000_000_000 }),
  });
  if (response.status !== 201) throw new Error(`creating a key failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { key: string }).key;
}

/**
 * A chat request whose answer has exactly `tokens` tokens: each emulator says its greeting ("Hello! You said:",
 * 3 tokens; llama-server's "Hello from llama.cpp! You said:", 5) and then one token per word of the prompt.
 */
export function chatBody(tokens: number, stream: boolean, upstream: "ollama" | "llama"): string {
  const greeting = upstream === "ollama" ? 3 : tokenize(LLAMA_GREETING).length;
  return JSON.stringify({ model: "llama3.2", stream, messages: [{ role: "user", content: words(Math.max(1, tokens - greeting)) }] });
}

const sseEnd = (status: number, text: string) => (status === 200 && text.endsWith("data: [DONE]\n\n") ? null : `HTTP ${status}: …${text.slice(-120)}`);
const ndjsonEnd = (status: number, text: string) => (status === 200 && text.includes('"done":true') ? null : `HTTP ${status}: …${text.slice(-120)}`);
const openAiJson = (status: number, text: string) => {
  if (status !== 200) return `HTTP ${status}: ${text.slice(0, 200)}`;
  const body = JSON.parse(text) as { choices?: [{ message?: { content?: string } }] };
  return body.choices?.[0]?.message?.content ? null : `unexpected body ${text.slice(0, 200)}`;
};
const nativeJson = (status: number, text: string) => {
  if (status !== 200) return `HTTP ${status}: ${text.slice(0, 200)}`;
  const body = JSON.parse(text) as { done?: boolean; message?: { content?: string } };
  return body.done && body.message?.content ? null : `unexpected body ${text.slice(0, 200)}`;
};

/** A content delta with text (llama-server's first event opens with `"content":null`, which is not a token). */
const SSE_TOKEN = /"delta":\{("role":"assistant",)?"content":"/;

function countSseTokens(body: string): number {
  let n = 0;
  for (const frame of body.split("\n\n")) if (SSE_TOKEN.test(frame)) n++;
  return n;
}
function countNdjsonTokens(body: string): number {
  return body.split("\n").filter((line) => /"content":"[^"]/.test(line)).length;
}

export interface Served {
  target: Target;
  stream: RequestSpec;
  nonStream: RequestSpec;
  /** Counts the generated tokens of one full streamed answer (checks the claimed answer length). */
  countTokens(body: string): number;
}

export interface Sizes {
  streamTokens: number;
  nonStreamTokens: number;
}

/** The Ollama emulator's own API, or the floor Worker forwarding to it. */
export function native(name: string, url: string, path: string, sizes: Sizes): Served {
  return {
    target: { name, url },
    stream: { path, body: chatBody(sizes.streamTokens, true, "ollama"), check: ndjsonEnd },
    nonStream: { path, body: chatBody(sizes.nonStreamTokens, false, "ollama"), check: nativeJson },
    countTokens: countNdjsonTokens,
  };
}

/**
 * OpenAI's chat completions: the gateway (`headers` read per request, so a fresh key can be swapped in), the
 * llama-server emulator, or Portkey in front of it. `upstream` says whose greeting the answer starts with.
 */
export function openai(name: string, url: string, sizes: Sizes, upstream: "ollama" | "llama", headers: () => Record<string, string>): Served {
  const spec = (body: string, check: RequestSpec["check"]): RequestSpec => ({
    path: "/v1/chat/completions",
    body,
    get headers() {
      return headers();
    },
    check,
  });
  return {
    target: { name, url },
    stream: spec(chatBody(sizes.streamTokens, true, upstream), sseEnd),
    nonStream: spec(chatBody(sizes.nonStreamTokens, false, upstream), openAiJson),
    countTokens: countSseTokens,
  };
}
