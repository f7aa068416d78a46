import type { BackendConfig } from "../backends/config.ts";
import { markDown, markUp } from "../backends/state.ts";
import { json } from "../http/respond.ts";
import type { AppContext } from "./context.ts";

const HEALTH_TIMEOUT_MS = 3000;

type BackendStatus = "ok" | "loading" | "down";

/** One backend's probe: Ollama's /api/version, llama-server's /health (503 while it loads its model). */
async function probe(app: AppContext, backend: BackendConfig): Promise<{ name: string; kind: string; status: BackendStatus; latency_ms: number }> {
  const started = Date.now();
  let status: BackendStatus = "ok";
  try {
    await app.clientFor(backend).json("GET", backend.kind === "ollama" ? "/api/version" : "/health", undefined, HEALTH_TIMEOUT_MS, 0);
    markUp(backend);
  } catch (error) {
    const loading = (error as { status?: number }).status === 503;
    status = loading ? "loading" : "down";
    markDown(backend, app.config.backendCooldownMs);
  }
  return { name: backend.name, kind: backend.kind, status, latency_ms: Date.now() - started };
}

/**
 * GET /health (no auth): every backend probed in parallel. `ok` when all answer, `degraded` when some do, `down`
 * (503) when none does. Probing also brings a backend that recovered back into routing at once.
 */
export async function health(_request: Request, app: AppContext): Promise<Response> {
  const backends = await Promise.all(app.config.backends.map((backend) => probe(app, backend)));
  const up = backends.filter((backend) => backend.status === "ok").length;
  const status = up === backends.length ? "ok" : up > 0 ? "degraded" : "down";
  return json({ status, backends }, status === "down" ? 503 : 200, { "cache-control": "no-store" });
}
