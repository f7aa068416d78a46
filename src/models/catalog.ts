import type { Config } from "../config.ts";
import { modelNotFound } from "../http/errors.ts";
import type { OllamaClient } from "../ollama/client.ts";
import type { NativeModel, NativeTags } from "../ollama/types.ts";
import { resolveModel } from "./resolve.ts";

interface Snapshot {
  at: number;
  models: NativeModel[];
}

/** Per isolate and backend URL: the installed-model list is cached briefly so most requests skip /api/tags. */
const snapshots = new Map<string, Snapshot>();

export class ModelCatalog {
  readonly #client: OllamaClient;
  readonly #config: Config;

  constructor(client: OllamaClient, config: Config) {
    this.#client = client;
    this.#config = config;
  }

  async list(forceRefresh = false): Promise<NativeModel[]> {
    const cached = snapshots.get(this.#config.ollamaUrl);
    if (!forceRefresh && cached && Date.now() - cached.at < this.#config.modelsCacheTtlMs) return cached.models;
    const tags = await this.#client.json<NativeTags>("GET", "/api/tags");
    const models = Array.isArray(tags.models) ? tags.models : [];
    snapshots.set(this.#config.ollamaUrl, { at: Date.now(), models });
    return models;
  }

  /** The native name for what the client asked for; refreshes the list once on a miss (a model just pulled). */
  async resolve(requested: string): Promise<{ name: string; model: NativeModel }> {
    let models = await this.list();
    let result = resolveModel(requested, namesOf(models), this.#config.modelAliases);
    if (!result.ok) {
      models = await this.list(true);
      result = resolveModel(requested, namesOf(models), this.#config.modelAliases);
    }
    if (!result.ok) throw modelNotFound(result.message);
    const name = result.name;
    return { name, model: models.find((model) => (model.model ?? model.name) === name || model.name === name)! };
  }
}

function namesOf(models: readonly NativeModel[]): string[] {
  return models.map((model) => model.model ?? model.name);
}

/** For tests: forget cached lists. */
export function clearCatalogCache(): void {
  snapshots.clear();
}
