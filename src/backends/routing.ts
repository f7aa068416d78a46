import type { BackendConfig } from "../config/backends.ts";
import { resolveModel } from "../core/names.ts";

/** A backend that can serve the requested model, and the model's name there. */
export interface Candidate {
  backend: BackendConfig;
  model: string;
}

/** What each backend serves now: its own list, narrowed by its `models` setting. */
export function servedModels(backend: BackendConfig, listed: readonly string[]): string[] {
  if (!backend.models) return [...listed];
  const allowed = backend.models;
  return listed.filter((name) => allowed.some((entry) => entry === name || (!entry.includes(":") && name.startsWith(`${entry}:`))));
}

/**
 * Every backend that has the model (aliases and untagged names resolve on each backend by its own list), in
 * configuration order. Empty when none has it.
 */
export function candidatesFor(
  requested: string,
  backends: readonly BackendConfig[],
  served: ReadonlyMap<string, readonly string[]>,
  aliases: Readonly<Record<string, string>>,
): Candidate[] {
  const found: Candidate[] = [];
  for (const backend of backends) {
    const names = served.get(backend.name);
    if (!names?.length) continue;
    const resolved = resolveModel(requested, names, aliases);
    if (resolved.ok) found.push({ backend, model: resolved.name });
  }
  return found;
}

/**
 * The order to try candidates in: healthy ones first, most free capacity first, then those in cooldown as a last
 * resort (one may have come back). Ties rotate with `turn`, so equal machines share the load.
 */
export function rankCandidates(
  candidates: readonly Candidate[],
  freeCapacity: (backend: BackendConfig) => number,
  isDown: (backend: BackendConfig) => boolean,
  turn = 0,
): Candidate[] {
  const n = candidates.length;
  const scored = candidates.map((candidate, index) => ({
    candidate,
    order: (index - (turn % n) + n) % n,
    down: isDown(candidate.backend),
    free: freeCapacity(candidate.backend),
  }));
  scored.sort((a, b) => Number(a.down) - Number(b.down) || b.free - a.free || a.order - b.order);
  return scored.map((entry) => entry.candidate);
}
