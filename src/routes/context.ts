import type { BackendConfig } from "../backends/config.ts";
import type { Config } from "../config.ts";
import type { Env } from "../env.ts";
import type { ModelCatalog } from "../models/catalog.ts";
import type { OllamaClient } from "../ollama/client.ts";

/** What every route handler receives besides the request. */
export interface AppContext {
  env: Env;
  config: Config;
  /** Keep work going after the response (settling usage); falls back to fire-and-forget outside a request. */
  waitUntil(promise: Promise<unknown>): void;
  ollama: OllamaClient;
  catalog: ModelCatalog;
  /** The upstream client of one backend (its URL, Access headers, API key). */
  clientFor(backend: BackendConfig): OllamaClient;
  requestId: string;
}
