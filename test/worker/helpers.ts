import { env, exports } from "cloudflare:workers";
import { expect, inject } from "vitest";
import { handle } from "../../src/app.ts";
import type { Env, EnvVars } from "../../src/env.ts";

export const EMULATOR_URL = `http://127.0.0.1:${inject("emulatorPort")}`;
export const IMAGE_SERVER_URL = inject("imageServerUrl");

export const ADMIN_AUTH = "Bearer test-admin-token-0123456789abcdef";

/** Create an API key through the admin API; returns the 201 body (with the one-time `key`). */
export async function createKey(body: Record<string, unknown>): Promise<any> {
  const res = await exports.default.fetch(
    new Request("https://gateway.test/admin/keys", {
      method: "POST",
      headers: { authorization: ADMIN_AUTH, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  if (res.status !== 201) throw new Error(`creating a key failed: ${res.status} ${await res.text()}`);
  return res.json();
}

let sharedKey: Promise<string> | undefined;

/** A key with limits high enough never to get in the way, created once per test file. */
export function testKey(): Promise<string> {
  sharedKey ??= createKey({ name: "tests", rpm: 1_000_000, tpm: 1_000_000_000, max_concurrency: 10_000 }).then((created) => created.key);
  return sharedKey;
}

async function withAuth(init: RequestInit): Promise<Headers> {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) headers.set("authorization", `Bearer ${await testKey()}`);
  return headers;
}

/** A request to the Worker as deployed (wrangler.toml + the test bindings), with the test key unless told otherwise. */
export async function gateway(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`https://gateway.test${path}`, { ...init, headers: await withAuth(init) }));
}

export function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return gateway(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

/**
 * The gateway keeps per-isolate state (model lists, backend health marks, /health probes) for as long as its
 * environment lives, as an isolate does in production. Each test gets its own environment per set of settings, kept
 * across that test's requests; `freshState()` makes the next requests start from a cold isolate.
 */
const environments = new Map<string, Env>();
let generation = 0;

export function freshState(): void {
  generation++;
}

/** Settings by value, and bindings passed in them (objects, e.g. a stand-in service) by identity. */
const bindingIds = new WeakMap<object, number>();
let bindingCount = 0;
function settingsId(vars: EnvVars): string {
  const idOf = (value: object) => {
    if (!bindingIds.has(value)) bindingIds.set(value, ++bindingCount);
    return bindingIds.get(value);
  };
  return JSON.stringify(Object.entries(vars).map(([name, value]) => [name, typeof value === "object" && value !== null ? `binding ${idOf(value)}` : value]));
}

function environmentFor(vars: EnvVars): Env {
  const { currentTestName, testPath } = expect.getState();
  const id = `${generation} ${testPath ?? ""} ${currentTestName ?? ""} ${settingsId(vars)}`;
  let custom = environments.get(id);
  if (!custom) {
    custom = settingsEnv(vars);
    environments.set(id, custom);
  }
  return custom;
}

/** The same Worker with other settings (timeouts, limits, a dead backend), for one test. */
export async function gatewayWith(vars: EnvVars, path: string, init: RequestInit = {}): Promise<Response> {
  return handle(new Request(`https://gateway.test${path}`, { ...init, headers: await withAuth(init) }), environmentFor(vars));
}

function settingsEnv(vars: EnvVars): Env {
  const bindings = env as Env;
  const custom: Env = {
    KEYS: bindings.KEYS,
    KEY_REGISTRY: bindings.KEY_REGISTRY,
    BACKEND_GATE: bindings.BACKEND_GATE,
    RESPONSES: bindings.RESPONSES,
    ADMIN_TOKEN: bindings.ADMIN_TOKEN,
    OLLAMA_VPC: bindings.OLLAMA_VPC, // the Ollama emulator as a Workers VPC service (vitest.worker.config.ts)
    OLLAMA_URL: EMULATOR_URL,
    OLLAMA_CONTEXT_LENGTH: bindings.OLLAMA_CONTEXT_LENGTH,
    HEARTBEAT_INTERVAL: "300ms",
    MODELS_CACHE_TTL: "0ms",
    ...vars,
  };
  return custom;
}

export function postJsonWith(vars: EnvVars, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return gatewayWith(vars, path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

interface Recorded {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: any;
}

/** The control routes of the emulator at `base` (the Ollama and llama-server emulators share them). */
export const emulatorAt = (base: string) => ({
  async reset(): Promise<void> {
    await fetch(`${base}/__emulator/reset`, { method: "POST" });
  },
  async requests(path?: string): Promise<Recorded[]> {
    const all = (await (await fetch(`${base}/__emulator/requests`)).json()) as Recorded[];
    return path ? all.filter((r) => r.path === path) : all;
  },
  async fault(rule: unknown): Promise<void> {
    await fetch(`${base}/__emulator/fault`, { method: "POST", body: JSON.stringify(rule) });
  },
  async stats(): Promise<{ open: number; aborted: number; completed: number; total: number }> {
    return (await (await fetch(`${base}/__emulator/stats`)).json()) as never;
  },
});

/** The (first) Ollama emulator's control routes. */
export const emulator = emulatorAt(EMULATOR_URL);

/** Read an SSE body read by read, keeping each network read and each event (`data:` payload or comment). */
export async function readSse(response: Response): Promise<{ reads: string[]; events: string[]; data: string[] }> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const reads: string[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    reads.push(decoder.decode(value, { stream: true }));
  }
  const text = reads.join("");
  const events = text.split("\n\n").filter((event) => event !== "");
  const data = events.filter((event) => event.startsWith("data: ")).map((event) => event.slice("data: ".length));
  return { reads, events, data };
}

/** Each SSE frame of a named-event stream (Responses, Anthropic Messages): `event: <type>` and `data: <json>` (or a heartbeat comment). */
export async function namedFrames(res: Response): Promise<{ comments: number; events: { event: string; data: any }[] }> {
  const text = await res.text();
  const blocks = text.split("\n\n").filter((block) => block !== "");
  const comments = blocks.filter((block) => block.startsWith(":")).length;
  const events = blocks
    .filter((block) => !block.startsWith(":"))
    .map((block) => {
      const [eventLine, dataLine, ...rest] = block.split("\n");
      expect(rest, block).toEqual([]);
      expect(eventLine).toMatch(/^event: [a-z_.]+$/);
      expect(dataLine).toMatch(/^data: \{/);
      return { event: eventLine!.slice("event: ".length), data: JSON.parse(dataLine!.slice("data: ".length)) };
    });
  return { comments, events };
}

/** Parsed JSON of every data event except [DONE]. */
export function chunksOf(data: string[]): any[] {
  return data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d));
}

export const user = (content: unknown) => ({ role: "user", content });
