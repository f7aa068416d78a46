/** The bindings the Worker receives: wrangler.toml [vars], secrets and .dev.vars. All optional strings. */
export interface Env {
  OLLAMA_URL?: string;
  ADMIN_TOKEN?: string;
  CF_ACCESS_CLIENT_ID?: string;
  CF_ACCESS_CLIENT_SECRET?: string;
  MODEL_ALIASES?: string;
  MODEL_DEFAULTS?: string;
  BACKENDS?: string;
  CORS_ORIGINS?: string;
  MAX_BODY_BYTES?: string;
  MAX_IMAGE_BYTES?: string;
  IMAGE_FETCH_TIMEOUT?: string;
  HEARTBEAT_INTERVAL?: string;
  UPSTREAM_HEADERS_TIMEOUT?: string;
  UPSTREAM_IDLE_TIMEOUT?: string;
  MODELS_CACHE_TTL?: string;
  MAX_EMBEDDING_INPUTS?: string;
  MAX_EMBEDDING_BYTES?: string;
}
