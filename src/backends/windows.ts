import type { BackendConfig } from "../config/backends.ts";

/**
 * Per isolate and backend: each model's trained context length (Ollama's /api/show, llama-server's /props), which
 * changes only when the model is replaced. Kept for WINDOW_TTL_MS, so a warm request asks nothing; an answer that
 * could not be had (the backend down, an old Ollama) is null, kept briefly, and means "no check".
 */
const WINDOW_TTL_MS = 10 * 60_000;
const UNKNOWN_TTL_MS = 10_000;

const cache = new WeakMap<BackendConfig, Map<string, { until: number; window: Promise<number | null> }>>();

export function cachedWindow(backend: BackendConfig, model: string, load: () => Promise<number | null>): Promise<number | null> {
  let models = cache.get(backend);
  if (!models) cache.set(backend, (models = new Map()));
  const now = Date.now();
  const hit = models.get(model);
  if (hit && hit.until > now) return hit.window;
  const entry = { until: now + WINDOW_TTL_MS, window: Promise.resolve<number | null>(null) };
  entry.window = load().then(
    (window) => {
      if (window === null) entry.until = Date.now() + UNKNOWN_TTL_MS;
      return window;
    },
    () => {
      entry.until = Date.now() + UNKNOWN_TTL_MS;
      return null;
    },
  );
  models.set(model, entry);
  return entry.window;
}

/** `<arch>.context_length` of /api/show's model_info (the architecture's own key), or null. */
export function trainedContextLength(modelInfo: Record<string, unknown> | undefined): number | null {
  if (!modelInfo) return null;
  const arch = modelInfo["general.architecture"];
  const value = typeof arch === "string" ? modelInfo[`${arch}.context_length`] : undefined;
  const found = value ?? Object.entries(modelInfo).find(([key]) => key.endsWith(".context_length"))?.[1];
  return typeof found === "number" && found > 0 ? found : null;
}
