import type { Backend } from "../backends/backend.ts";
import type { ModelCatalog } from "../backends/catalog.ts";
import type { OllamaClient } from "../backends/ollama/client.ts";
import type { BackendConfig } from "../config/backends.ts";
import type { Config } from "../config/index.ts";
import type { Env } from "../env.ts";

/** What every route handler receives besides the request. */
export interface AppContext {
  env: Env;
  config: Config;
  /** Keep work going after the response (settling usage); falls back to fire-and-forget outside a request. */
  waitUntil(promise: Promise<unknown>): void;
  catalog: ModelCatalog;
  /** The upstream client of one backend (its URL, Access headers, API key). */
  clientFor(backend: BackendConfig): OllamaClient;
  /** The same backend behind the interface every kind implements (listing, probe, model facts, embeddings). */
  backend(backend: BackendConfig): Backend;
  requestId: string;
}
