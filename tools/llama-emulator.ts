// A deterministic stand-in for llama.cpp's llama-server (its OpenAI-compatible API and monitoring routes), with
// fault injection, for the gateway's tests. Same control routes as the Ollama emulator, under /__emulator/.

import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:http";
import { cloudflareErrorPage } from "./emulator/faults.ts";
import { flatHeaders, pause, readBytes } from "./emulator/http.ts";
import { closeServer, createResponseTracker, listen } from "./emulator/server.ts";
import type { FaultSwitch } from "./llama/faults.ts";
import { createFaultSwitch, isLineFault, parseFaultRule } from "./llama/faults.ts";
import { errorBody, INVALID_API_KEY, LOADING, NO_SLOT, sendJson, sendReply, sendText } from "./llama/http.ts";
import type { LlamaState, RouteContext } from "./llama/routes.ts";
import { routeRequest } from "./llama/routes.ts";
import { createSlotPool, emptyTotals } from "./llama/slots.ts";
import type { LlamaEmulator, LlamaEmulatorOptions, LlamaEmulatorStats, LlamaFault, RecordedRequest } from "./llama/types.ts";

export type { LlamaEmulator, LlamaEmulatorOptions, LlamaFaultRule } from "./llama/types.ts";

export const DEFAULT_ALIAS = "qwen2.5-7b-instruct";
const CONTROL_PREFIX = "/__emulator/";
/** Reachable without the API key (server-http.cpp's public endpoints). */
const PUBLIC_PATHS = new Set(["/", "/health", "/v1/health", "/models", "/v1/models"]);

function parseJsonOrNull(raw: string): unknown {
  try {
    return raw.trim() ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

const headerOf = (req: IncomingMessage, name: string): string => {
  const value = req.headers[name];
  return Array.isArray(value) ? (value[0] ?? "") : (value ?? "");
};

// Authorization, or X-Api-Key when Authorization is absent; a "Bearer " prefix is optional.
function keyAccepted(req: IncomingMessage, apiKey: string): boolean {
  let key = headerOf(req, "authorization") || headerOf(req, "x-api-key");
  if (key.startsWith("Bearer ")) key = key.slice("Bearer ".length);
  return key === apiKey;
}

/** Faults that replace or delay the whole answer. Returns true when the request was fully handled. */
async function applyGateFault(fault: LlamaFault, ctx: RouteContext): Promise<boolean> {
  switch (fault.kind) {
    case "slow-first-byte":
      return !(await pause(fault.delayMs, ctx.signal));
    case "busy":
      sendReply(ctx.res, NO_SLOT);
      return true;
    case "loading":
      sendReply(ctx.res, LOADING);
      return true;
    case "html":
      ctx.res.setHeader("Server", "cloudflare");
      sendText(ctx.res, fault.status, cloudflareErrorPage(fault.status), "text/html; charset=UTF-8");
      return true;
    case "drop":
      if (fault.afterLines > 0) return false;
      ctx.drop(); // before any header
      return true;
    default:
      return false;
  }
}

function handleControl(path: string, method: string, raw: string, res: ServerResponse, emulator: LlamaEmulator, faults: FaultSwitch, state: LlamaState): void {
  const route = `${method} ${path.slice(CONTROL_PREFIX.length)}`;
  const bad = (message: string) => sendReply(res, errorBody("invalid_request_error", message));
  if (route === "GET requests") return sendJson(res, 200, emulator.requests);
  if (route === "GET stats") return sendJson(res, 200, emulator.stats());
  if (route === "POST reset") {
    emulator.reset();
    return sendJson(res, 200, { ok: true });
  }
  if (route === "POST fault") {
    const rule = parseFaultRule(raw.trim() ? parseJsonOrNull(raw) : null);
    if (typeof rule === "string") return bad(rule);
    faults.set(rule);
    return sendJson(res, 200, { ok: true, rule });
  }
  if (route === "POST clock") {
    // {"created": <Unix seconds>} fixes every answer's `created` (byte-identical answers); null restores the clock.
    const body = parseJsonOrNull(raw) as { created?: unknown } | null;
    const created = body?.created ?? null;
    if (created !== null && !(typeof created === "number" && Number.isInteger(created) && created >= 0)) {
      return bad("created must be a non-negative integer (Unix seconds) or null");
    }
    state.clock = created;
    return sendJson(res, 200, { ok: true, created });
  }
  sendReply(res, errorBody("not_found_error", `unknown control route ${method} ${path}`));
}

export function startLlamaEmulator(options: LlamaEmulatorOptions = {}): Promise<LlamaEmulator> {
  const parallel = options.parallel ?? 4;
  if (!Number.isInteger(parallel) || parallel < 1) throw new Error(`parallel must be a positive integer, got ${parallel}`);
  const alias = options.alias ?? DEFAULT_ALIAS;
  const loadingMs = options.loadingMs ?? 0;
  const state: LlamaState = {
    alias,
    modelPath: `/models/${alias}-q4_k_m.gguf`,
    nCtx: Math.floor(32768 / parallel),
    startedAt: Math.floor(Date.now() / 1000),
    slotsEndpoint: options.slots ?? true,
    metricsEndpoint: options.metrics ?? false,
    tokenDelayMs: options.tokenDelayMs ?? 0,
    thinking: options.thinking ?? false,
    embeddings: options.embeddings ?? false,
    pool: createSlotPool(parallel),
    totals: emptyTotals(),
    nextTask: 0,
    clock: null,
  };
  const apiKey = options.apiKey ?? null;
  let readyAt = Date.now() + loadingMs;
  const faults = createFaultSwitch();
  const tracker = createResponseTracker();
  const requests: RecordedRequest[] = [];

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://emulator");
    const path = url.pathname;
    if (path.startsWith(CONTROL_PREFIX)) {
      const raw = (await readBytes(req)).toString("utf8");
      return handleControl(path, method, raw, res, emulator, faults, state);
    }
    const { signal, drop } = tracker.track(res);
    const raw = (await readBytes(req)).toString("utf8");
    requests.push({ method, path, headers: flatHeaders(req), body: parseJsonOrNull(raw) });
    res.setHeader("Server", "llama.cpp");
    if (req.headers.origin) res.setHeader("Access-Control-Allow-Origin", req.headers.origin);
    if (method === "OPTIONS") {
      // CORS preflight: answered before the loading and API key checks (browsers send no Authorization).
      res.setHeader("Access-Control-Allow-Credentials", "true");
      res.setHeader("Access-Control-Allow-Methods", "GET, POST");
      res.setHeader("Access-Control-Allow-Headers", "*");
      return sendText(res, 200, "", "text/html");
    }
    // While the model loads every route answers 503, /health included; then the API key is checked.
    if (Date.now() < readyAt) return sendReply(res, LOADING);
    if (apiKey !== null && !PUBLIC_PATHS.has(path) && !keyAccepted(req, apiKey)) return sendReply(res, INVALID_API_KEY);
    const fault = faults.take(path);
    const ctx: RouteContext = {
      req,
      res,
      url,
      raw,
      state,
      signal,
      drop,
      tokenDelayMs: state.tokenDelayMs,
      now: () => state.clock ?? Math.floor(Date.now() / 1000),
      lineFault: fault && isLineFault(fault) && !(fault.kind === "drop" && fault.afterLines === 0) ? fault : null,
    };
    if (fault && (await applyGateFault(fault, ctx))) return;
    await routeRequest(ctx, method);
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((error: unknown) => {
      // A bug in the emulator should be loud but must not kill the test process.
      if (!res.headersSent) sendReply(res, errorBody("server_error", `emulator error: ${String(error)}`));
      else res.destroy();
    });
  });

  const emulator: LlamaEmulator = {
    url: "",
    port: 0,
    requests,
    setFault: (rule) => faults.set(rule),
    stats: (): LlamaEmulatorStats => tracker.stats(),
    reset() {
      requests.length = 0; // keep the same array: callers may hold a reference
      faults.set(null);
      state.totals = emptyTotals();
      state.clock = null;
      tracker.reset();
    },
    close: () => closeServer(server),
  };

  return listen(server, options.port ?? 0, options.host ?? "127.0.0.1").then(({ url, port }) => {
    readyAt = Date.now() + loadingMs; // the model starts "loading" once the server listens
    return Object.assign(emulator, { url, port });
  });
}
