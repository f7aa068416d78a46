/** Settings: all optional strings, parsed and validated by config.ts. */
export interface EnvVars {
  OLLAMA_URL?: string;
  ADMIN_TOKEN?: string;
  CF_ACCESS_CLIENT_ID?: string;
  CF_ACCESS_CLIENT_SECRET?: string;
  MODEL_ALIASES?: string;
  MODEL_DEFAULTS?: string;
  MODEL_LIMITS?: string;
  DEFAULT_MAX_TOKENS?: string;
  BACKENDS?: string;
  CORS_ORIGINS?: string;
  MAX_BODY_BYTES?: string;
  MAX_IMAGE_BYTES?: string;
  MAX_IMAGES?: string;
  MAX_IMAGE_TOTAL_BYTES?: string;
  IMAGE_FETCH_TIMEOUT?: string;
  HEARTBEAT_INTERVAL?: string;
  UPSTREAM_HEADERS_TIMEOUT?: string;
  UPSTREAM_IDLE_TIMEOUT?: string;
  MODELS_CACHE_TTL?: string;
  MAX_EMBEDDING_INPUTS?: string;
  MAX_EMBEDDING_BYTES?: string;
  DEFAULT_KEY_RPM?: string;
  DEFAULT_KEY_TPM?: string;
  DEFAULT_KEY_MAX_CONCURRENCY?: string;
  BACKEND_MAX_CONCURRENCY?: string;
  QUEUE_MAX_WAIT?: string;
  QUEUE_MAX_LENGTH?: string;
  LEASE_TTL?: string;
  UPSTREAM_RETRIES?: string;
  BACKEND_COOLDOWN?: string;
  UPSTREAM_RETRY_BACKOFF?: string;
  RESPONSES_TTL?: string;
  RESPONSES_MAX_BYTES?: string;
  RESPONSES_MAX_KEY_BYTES?: string;
  USAGE_RETENTION?: string;
}
