import type { BackendConfig } from "../config/backends.ts";
import type { OllamaClient } from "./ollama/client.ts";

/** How long a listing may take: it is cheap, and other backends can answer (one try, no connection retries). */
export const LISTING_TIMEOUT_MS = 10_000;

/** What every kind of backend holds: its configuration, and the upstream client that reaches it. */
export abstract class HttpBackend {
  readonly config: BackendConfig;
  protected readonly client: OllamaClient;

  constructor(config: BackendConfig, client: OllamaClient) {
    this.config = config;
    this.client = client;
  }
}
