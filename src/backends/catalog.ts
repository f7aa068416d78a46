import type { BackendConfig } from "../config/backends.ts";
import type { Config } from "../config/index.ts";
import { modelNotFound, toApiError } from "../core/errors.ts";
import { aliasTarget, closestNames } from "../core/names.ts";
import type { NativeModel } from "../core/native.ts";
import type { Backend } from "./backend.ts";
import { type Candidate, candidatesFor, rankCandidates, servedModels } from "./routing.ts";
import { freeCapacity, isDown, markDown, markUp, nextTurn } from "./state.ts";

interface Snapshot {
  at: number;
  models: NativeModel[];
}

/** One backend's models as it lists them (narrowed by its `models` setting). */
export interface Listing {
  backend: BackendConfig;
  models: NativeModel[];
}

/** A model in the merged list, with the backend that lists it (the first, when several do). */
export type ListedModel = NativeModel & { backend: string };

/** What a request for a model resolves to: the backends that have it, best first, and its name on the first. */
export interface Route {
  name: string;
  candidates: Candidate[];
}

/**
 * Per isolate and backend (kept by the backend's parsed configuration, which lives as long as the isolate's
 * environment): model lists cached briefly so most requests skip the listing call. A backend whose listing fails is
 * marked down for the cooldown; its last list is kept, so a blip does not hide its models.
 */
const snapshots = new WeakMap<BackendConfig, Snapshot>();

export class ModelCatalog {
  readonly #config: Config;
  readonly #backendOf: (backend: BackendConfig) => Backend;

  constructor(config: Config, backendOf: (backend: BackendConfig) => Backend) {
    this.#config = config;
    this.#backendOf = backendOf;
  }

  /** Every backend's list, fetched in parallel where the cache is stale. */
  async listings(forceRefresh = false): Promise<Listing[]> {
    const results = await Promise.allSettled(this.#config.backends.map((backend) => this.#listing(backend, forceRefresh)));
    const listings: Listing[] = [];
    let firstError: unknown = null;
    results.forEach((result, i) => {
      const backend = this.#config.backends[i]!;
      if (result.status === "fulfilled") {
        listings.push({ backend, models: result.value });
        return;
      }
      firstError ??= result.reason;
      const stale = snapshots.get(backend);
      if (stale) listings.push({ backend, models: stale.models });
    });
    if (!listings.length && firstError) throw toApiError(firstError);
    return listings;
  }

  async #listing(backend: BackendConfig, forceRefresh: boolean): Promise<NativeModel[]> {
    const cached = snapshots.get(backend);
    if (!forceRefresh && cached && Date.now() - cached.at < this.#config.modelsCacheTtlMs) return cached.models;
    let listed: NativeModel[];
    try {
      listed = await this.#backendOf(backend).listModels();
    } catch (error) {
      markDown(backend, this.#config.backendCooldownMs);
      throw error;
    }
    markUp(backend);
    const names = new Set(servedModels(backend, listed.map(nameOf)));
    const models = listed.filter((model) => names.has(nameOf(model)));
    snapshots.set(backend, { at: Date.now(), models });
    return models;
  }

  /**
   * What a backend says the model can do (`capabilities` in its listing: Ollama's /api/tags since it reports them),
   * from the cached listing; undefined when it does not say.
   */
  capabilities(backend: BackendConfig, name: string): readonly string[] | undefined {
    return snapshots.get(backend)?.models.find((model) => nameOf(model) === name)?.capabilities;
  }

  /** All models, each once (the first backend that lists it owns it in the merged list). */
  async list(forceRefresh = false): Promise<ListedModel[]> {
    const seen = new Set<string>();
    const merged: ListedModel[] = [];
    for (const { backend, models } of await this.listings(forceRefresh)) {
      for (const model of models) {
        if (seen.has(nameOf(model))) continue;
        seen.add(nameOf(model));
        merged.push({ ...model, backend: backend.name });
      }
    }
    return merged;
  }

  /**
   * The backends that have the requested model, best first (healthy, most free capacity, load spread across
   * equals). `allows` is the caller's scope: models outside it are treated as not installed, in the resolution and
   * in the 404's hints alike, so a scoped key learns nothing about them. Refreshes the lists once on a miss (a model
   * just pulled); otherwise 404 naming the closest models the caller may use.
   */
  async route(requested: string, allows: (name: string) => boolean = () => true): Promise<Route> {
    let found = await this.#candidates(requested, false, allows);
    if (!found.candidates.length) found = await this.#candidates(requested, true, allows);
    if (!found.candidates.length) {
      // Own keys only: a plain lookup turned "valueOf" or "__proto__" into Object.prototype's members (a 500).
      const target = aliasTarget(this.#config.modelAliases, requested);
      // The alias's target is named only to a key that may use it: it is an installed name.
      const via = target === requested || !allows(target) ? "" : ` (alias of '${target}')`;
      const closest = closestNames(target, found.names, 3);
      const hint = closest.length ? ` Closest available models: ${closest.join(", ")}.` : "";
      throw modelNotFound(`The model '${requested}'${via} does not exist or this key may not use it.${hint}`);
    }
    const ranked = rankCandidates(
      found.candidates,
      (backend) => freeCapacity(backend, this.#config.backendMaxConcurrency),
      (backend) => isDown(backend),
      nextTurn(this.#config),
    );
    return { name: ranked[0]!.model, candidates: ranked };
  }

  async #candidates(requested: string, forceRefresh: boolean, allows: (name: string) => boolean): Promise<{ candidates: Candidate[]; names: string[] }> {
    const listings = await this.listings(forceRefresh);
    const served = new Map(listings.map(({ backend, models }) => [backend.name, models.map(nameOf).filter(allows)]));
    const candidates = candidatesFor(
      requested,
      listings.map((l) => l.backend),
      served,
      this.#config.modelAliases,
    );
    return { candidates, names: [...new Set([...served.values()].flat())] };
  }
}

export function nameOf(model: NativeModel): string {
  return model.model ?? model.name;
}
