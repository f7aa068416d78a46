// A deterministic stand-in for Ollama's native HTTP API, with fault injection, for the gateway's tests.

import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer } from "node:http";
import { DEFAULT_NUM_CTX } from "./emulator/context.ts";
import type { FaultSwitch } from "./emulator/faults.ts";
import { BUSY_MESSAGE, cloudflareErrorPage, createFaultSwitch, isLineFault, parseFaultRule } from "./emulator/faults.ts";
import { flatHeaders, hostAllowed, originAllowed, pause, readBody, readBytes, rfc3339Nano, sendEmpty, sendError, sendJson, sendText } from "./emulator/http.ts";
import { DEFAULT_MODELS } from "./emulator/models.ts";
import type { EmulatorState, RouteContext } from "./emulator/routes.ts";
import { routeRequest } from "./emulator/routes.ts";
import { closeServer, createResponseTracker, listen } from "./emulator/server.ts";
import type { Emulator, EmulatorOptions, EmulatorStats, Fault, RecordedRequest } from "./emulator/types.ts";

export type { Emulator, EmulatorOptions, FaultRule } from "./emulator/types.ts";
export { DEFAULT_MODELS };

const CONTROL_PREFIX = "/__emulator/";

function parseJsonOrNull(raw: string): unknown {
  try {
    return raw.trim() ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

/**
 * Faults that replace or delay the whole answer. Returns true when the request was fully handled.
 * Line faults are left to the stream writer.
 */
async function applyGateFault(fault: Fault, ctx: RouteContext): Promise<boolean> {
  switch (fault.kind) {
    case "slow-first-byte":
      return !(await pause(fault.delayMs, ctx.signal));
    case "busy":
      sendError(ctx.res, 503, BUSY_MESSAGE);
      return true;
    case "html":
      ctx.res.setHeader("Server", "cloudflare");
      sendText(ctx.res, fault.status, cloudflareErrorPage(fault.status), "text/html; charset=UTF-8");
      return true;
    case "forbidden":
      sendEmpty(ctx.res, 403);
      return true;
    case "access-redirect":
      ctx.res.writeHead(302, { Location: "https://example.cloudflareaccess.com/cdn-cgi/access/login/ollama.example.com", "Content-Length": 0 });
      ctx.res.end();
      return true;
    case "drop":
      if (fault.afterLines > 0) return false;
      ctx.drop(); // before any header
      return true;
    default:
      return false;
  }
}

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

function handleControl(path: string, method: string, raw: string, res: ServerResponse, emulator: Emulator, faults: FaultSwitch, state: EmulatorState): void {
  const route = `${method} ${path.slice(CONTROL_PREFIX.length)}`;
  if (route === "POST clock") {
    // {"createdAt": "<RFC3339>"} fixes every line's created_at (so answers are byte-identical); null restores it.
    const body = parseJsonOrNull(raw) as { createdAt?: unknown } | null;
    const at = body?.createdAt ?? null;
    if (at !== null && (typeof at !== "string" || !RFC3339.test(at))) return sendError(res, 400, "createdAt must be an RFC3339 time or null");
    state.createdAt = at;
    return sendJson(res, 200, { ok: true, createdAt: at });
  }
  if (route === "GET requests") return sendJson(res, 200, emulator.requests);
  if (route === "GET stats") return sendJson(res, 200, emulator.stats());
  if (route === "POST reset") {
    emulator.reset();
    return sendJson(res, 200, { ok: true });
  }
  if (route === "POST fault") {
    const rule = parseFaultRule(raw.trim() ? parseJsonOrNull(raw) : null);
    if (typeof rule === "string") return sendError(res, 400, rule);
    faults.set(rule);
    return sendJson(res, 200, { ok: true, rule });
  }
  sendError(res, 404, `unknown control route ${method} ${path}`);
}

export function startOllamaEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const initialModels = options.models ?? DEFAULT_MODELS;
  const state: EmulatorState = {
    models: [...initialModels],
    version: options.version ?? "0.33.0",
    tokenDelayMs: options.tokenDelayMs ?? 0,
    legacyNotFound: options.legacyNotFound ?? false,
    contextLength: options.contextLength ?? DEFAULT_NUM_CTX,
    loaded: new Map(),
    blobs: new Set(),
    createdAt: null,
  };
  const faults = createFaultSwitch();
  const tracker = createResponseTracker();
  const requests: RecordedRequest[] = [];

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? "GET";
    const path = new URL(req.url ?? "/", "http://emulator").pathname;
    if (path.startsWith(CONTROL_PREFIX)) {
      return handleControl(path, method, await readBody(req), res, emulator, faults, state);
    }
    const { signal, drop } = tracker.track(res);
    const bytes = await readBytes(req);
    const raw = bytes.toString("utf8");
    requests.push({ method, path, headers: flatHeaders(req), body: parseJsonOrNull(raw) });
    // Ollama bound to loopback rejects foreign Host and Origin headers with an empty 403.
    if (!hostAllowed(req.headers.host) || !originAllowed(req.headers.origin, req.headers.host)) {
      return sendEmpty(res, 403);
    }
    const fault = faults.take(path);
    const ctx: RouteContext = {
      req,
      res,
      raw,
      bytes,
      state,
      signal,
      drop,
      now: () => state.createdAt ?? rfc3339Nano(),
      tokenDelayMs: state.tokenDelayMs,
      lineFault: fault && isLineFault(fault) && !(fault.kind === "drop" && fault.afterLines === 0) ? fault : null,
    };
    if (fault && (await applyGateFault(fault, ctx))) return;
    await routeRequest(ctx, method, path);
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((error: unknown) => {
      // A bug in the emulator should be loud but must not kill the test process.
      if (!res.headersSent) sendError(res, 500, `emulator error: ${String(error)}`);
      else res.destroy();
    });
  });

  const emulator: Emulator = {
    url: "",
    port: 0,
    requests,
    setFault: (rule) => faults.set(rule),
    stats: (): EmulatorStats => tracker.stats(),
    reset() {
      requests.length = 0; // keep the same array: callers may hold a reference
      faults.set(null);
      state.loaded.clear();
      // Pulls, creates, copies, deletes and uploads since start are forgotten too.
      state.models = [...initialModels];
      state.blobs.clear();
      state.createdAt = null;
      tracker.reset();
    },
    close: () => closeServer(server),
  };

  return listen(server, options.port ?? 0, options.host ?? "127.0.0.1").then(({ url, port }) => Object.assign(emulator, { url, port }));
}
