import type { Config, ModelDefaults } from "../config.ts";
import type { ModelCatalog } from "../models/catalog.ts";
import type { OllamaClient } from "../ollama/client.ts";

/** What every route handler receives besides the request. */
export interface AppContext {
  config: Config;
  ollama: OllamaClient;
  catalog: ModelCatalog;
  requestId: string;
}

/** MODEL_DEFAULTS may be keyed by the name the client sent (an alias) or by the installed name. */
export function modelDefaultsFor(config: Config, requested: string, resolved: string): ModelDefaults | undefined {
  return config.modelDefaults[requested] ?? config.modelDefaults[resolved];
}
