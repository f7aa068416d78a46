import { markDown, markUp } from "../backends/state.ts";
import type { BackendConfig } from "../config/backends.ts";
import { secretsEqual } from "../core/secrets.ts";
import { bearerToken } from "../http/bearer.ts";
import { json } from "../http/respond.ts";
import type { AppContext } from "../pipeline/context.ts";
import { contextCuts } from "../pipeline/context-fit.ts";

const HEALTH_TIMEOUT_MS = 3000;
/** How long one probe's answer is reused: anyone may call /health, but the home machine sees at most this rate. */
export const HEALTH_CACHE_MS = 5000;

type BackendStatus = "ok" | "loading" | "down";
interface Probe {
  name: string;
  kind: string;
  status: BackendStatus;
  latency_ms: number;
}

/**
 * This isolate's latest probe of each backend (kept by its parsed configuration, which lives as long as the
 * isolate's environment): reused for HEALTH_CACHE_MS after it finished, and shared while it runs, so concurrent
 * callers wait for the same probe instead of starting their own.
 */
const probes = new WeakMap<BackendConfig, { result: Promise<Probe>; expires: number }>();

/** One backend's probe: Ollama's /api/version, llama-server's /health (503 while it loads its model). */
async function probe(app: AppContext, backend: BackendConfig): Promise<Probe> {
  const started = Date.now();
  let status: BackendStatus = "ok";
  try {
    await app.backend(backend).probe(HEALTH_TIMEOUT_MS);
    markUp(backend);
  } catch (error) {
    const loading = (error as { status?: number }).status === 503;
    status = loading ? "loading" : "down";
    markDown(backend, app.config.backendCooldownMs);
  }
  return { name: backend.name, kind: backend.kind, status, latency_ms: Date.now() - started };
}

/** The cached probe of `backend`, or a new one when there is none or it is older than HEALTH_CACHE_MS. */
function cachedProbe(app: AppContext, backend: BackendConfig): Promise<Probe> {
  const now = Date.now();
  const cached = probes.get(backend);
  if (cached && cached.expires > now) return awaitShared(app, backend, cached.result);
  const entry = { result: probe(app, backend), expires: Number.POSITIVE_INFINITY };
  probes.set(backend, entry);
  // The probe finishes even if the caller that started it goes away, so the callers sharing it are answered.
  app.waitUntil(entry.result);
  void entry.result.then(() => {
    entry.expires = Date.now() + HEALTH_CACHE_MS;
  });
  return entry.result;
}

/**
 * Wait for a probe another request started. Should that request's work be cancelled before the probe ends, this
 * caller does not hang: past the probe's own timeout it drops the entry and probes again.
 */
async function awaitShared(app: AppContext, backend: BackendConfig, shared: Promise<Probe>): Promise<Probe> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), HEALTH_TIMEOUT_MS + 1000);
  });
  try {
    const result = await Promise.race([shared, late]);
    if (result) return result;
  } finally {
    clearTimeout(timer);
  }
  if (probes.get(backend)?.result === shared) probes.delete(backend);
  return cachedProbe(app, backend);
}

async function isAdmin(request: Request, app: AppContext): Promise<boolean> {
  const token = bearerToken(request);
  return Boolean(token && app.config.adminToken && (await secretsEqual(token, app.config.adminToken)));
}

/**
 * GET /health: `ok` when every backend answers, `degraded` when some do, `down` (503) when none does. Anyone gets
 * only that status; the admin token also shows each backend (name, kind, status, latency, and `context_cuts`: the
 * prompts per model it probably cut despite the context-window check, when there were any). Probes are cached (see
 * HEALTH_CACHE_MS); a probe also brings a backend that recovered back into routing at once.
 */
export async function health(request: Request, app: AppContext): Promise<Response> {
  const [backends, admin] = await Promise.all([Promise.all(app.config.backends.map((backend) => cachedProbe(app, backend))), isAdmin(request, app)]);
  const up = backends.filter((backend) => backend.status === "ok").length;
  const status = up === backends.length ? "ok" : up > 0 ? "degraded" : "down";
  if (!admin) return json({ status }, status === "down" ? 503 : 200, { "cache-control": "no-store" });
  const detail = backends.map((backend, i) => {
    const cuts = contextCuts(app.config.backends[i]!);
    return Object.keys(cuts).length ? { ...backend, context_cuts: cuts } : backend;
  });
  return json({ status, backends: detail }, status === "down" ? 503 : 200, { "cache-control": "no-store" });
}
