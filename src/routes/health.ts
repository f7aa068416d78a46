import type { AppContext } from "./context.ts";
import { json } from "../http/respond.ts";

const HEALTH_TIMEOUT_MS = 3000;

/** GET /health (no auth): does the backend answer? 503 with status "down" when it does not. */
export async function health(_request: Request, app: AppContext): Promise<Response> {
  const started = Date.now();
  let up = true;
  try {
    await app.ollama.json("GET", "/api/version", undefined, HEALTH_TIMEOUT_MS);
  } catch {
    up = false;
  }
  const backend = { name: "ollama", kind: "ollama", status: up ? "ok" : "down", latency_ms: Date.now() - started };
  return json({ status: up ? "ok" : "down", backends: [backend] }, up ? 200 : 503, { "cache-control": "no-store" });
}
