import * as z from "zod/mini";
import { keepAliveCeilingNs, type ModelDefaults, type ModelLimits } from "../core/model-settings.ts";
import { DEFAULT_LEASE_TTL_MS } from "../core/timing.ts";
import { type BackendConfig, parseBackends } from "./backends.ts";
import type { EnvVars } from "./env-vars.ts";
import { ConfigError, parseCount, parseDuration, parseJson, parseSize, parseUrl } from "./parse.ts";

export type { ModelDefaults, ModelLimits };
export { ConfigError, parseCount, parseDuration, parseSize };

export interface Config {
  ollamaUrl: string;
  accessHeaders: Record<string, string>;
  /** The home machines: BACKENDS, or one Ollama at OLLAMA_URL. */
  backends: BackendConfig[];
  /** BACKENDS was set (model lists then name the backend as owner). */
  backendsConfigured: boolean;
  /** How long a backend that failed is passed over before it is tried again. */
  backendCooldownMs: number;
  modelAliases: Record<string, string>;
  modelDefaults: Record<string, ModelDefaults>;
  /** MODEL_LIMITS: per-model ceilings no client can exceed, keyed like MODEL_DEFAULTS. */
  modelLimits: Record<string, ModelLimits>;
  corsOrigins: "*" | string[];
  maxBodyBytes: number;
  /** Cap on each image: a download, or a data URI's decoded content. */
  maxImageBytes: number;
  /** Most images (inline and remote together) in one request. */
  maxImages: number;
  /** Most bytes of all the images of one request together. */
  maxImageTotalBytes: number;
  imageFetchTimeoutMs: number;
  heartbeatIntervalMs: number;
  upstreamHeadersTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
  modelsCacheTtlMs: number;
  /** Retries of an upstream request whose connection failed before any answer (0 = none). */
  upstreamRetries: number;
  /** First retry delay; each further retry doubles it (with jitter), capped at 8× this. */
  upstreamRetryBackoffMs: number;
  /** The answer cap of a request that sets none (and what its admission reserves). */
  defaultMaxTokens: number;
  /** Most inputs one /v1/embeddings request may carry. */
  maxEmbeddingInputs: number;
  /** Most UTF-8 bytes of input text one /v1/embeddings request may carry. */
  maxEmbeddingBytes: number;
  /** Limits for keys created without their own. */
  keyDefaults: { rpm: number; tpm: number; max_concurrency: number };
  /** Requests in flight to the backend at most (0 = no gateway-wide gate). */
  backendMaxConcurrency: number;
  queueMaxWaitMs: number;
  queueMaxLength: number;
  /** A slot not renewed for this long (its Worker died) is freed; running requests renew every third of it. */
  leaseTtlMs: number;
  /** Stored Responses: how long each is kept, the most bytes one may hold, the most all of a key's may hold. */
  responses: { ttlMs: number; maxBytes: number; maxKeyBytes: number };
  /** OLLAMA_CONTEXT_LENGTH: the `num_ctx` an Ollama server uses when a request sets none (its own setting's name). */
  ollamaContextLength: number;
  /** How long each key's hourly usage records are kept (USAGE_RETENTION). */
  usageRetentionMs: number;
  /** ADMIN_TOKEN, or null when unset (the admin API then answers 404). Compared only through hashes. */
  adminToken: string | null;
}

/** A day in milliseconds (RESPONSES_TTL is counted in days). */
const DAY_MS = 86_400_000;

const modelName = z.string().check(z.minLength(1));
const aliasesSchema = z.record(modelName, modelName);
const defaultsSchema = z.record(
  modelName,
  z.strictObject({
    options: z.optional(z.record(z.string(), z.unknown())),
    keep_alive: z.optional(z.union([z.string(), z.number()])),
    think: z.optional(z.union([z.boolean(), z.enum(["low", "medium", "high", "max"])])),
    // What to do with a prompt longer than the model's window: refuse it (default), or drop the oldest turns.
    truncate: z.optional(z.enum(["oldest", "none"])),
  }),
);

const keepAliveCeiling = z.union(
  [
    z.string().check(
      z.refine((value: string) => keepAliveCeilingNs(value) !== null, {
        message: 'expected a Go duration that is not negative, such as "30m", "1h" or "90s"',
      }),
    ),
    z.int().check(z.nonnegative(), z.maximum(9_223_372_036, "longer than Ollama can hold (about 292 years)")),
  ],
  { error: (issue) => (issue.code === "invalid_union" ? 'expected a duration such as "30m" or a whole number of seconds' : undefined) },
);
const positiveInt = z.int().check(z.minimum(1));
const limitsSchema = z.record(
  modelName,
  z.strictObject({
    max_num_ctx: z.optional(positiveInt),
    max_num_predict: z.optional(positiveInt),
    max_keep_alive: z.optional(keepAliveCeiling),
  }),
);

function parseOrigins(raw: string | undefined): "*" | string[] {
  const value = raw?.trim() ?? "";
  if (value === "" || value === "*") return "*";
  return value
    .split(",")
    .map((origin) => origin.trim())
    .filter(Boolean);
}

function accessHeaders(env: EnvVars): Record<string, string> {
  const id = env.CF_ACCESS_CLIENT_ID?.trim();
  const secret = env.CF_ACCESS_CLIENT_SECRET?.trim();
  if (!id && !secret) return {};
  if (!id || !secret) {
    throw new ConfigError(id ? "CF_ACCESS_CLIENT_SECRET" : "CF_ACCESS_CLIENT_ID", "set both CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET, or neither");
  }
  return { "CF-Access-Client-Id": id, "CF-Access-Client-Secret": secret };
}

export function parseConfig(env: EnvVars): Config {
  const ollamaUrl = parseUrl("OLLAMA_URL", env.OLLAMA_URL, "http://127.0.0.1:11434");
  const access = accessHeaders(env);
  return {
    ollamaUrl,
    accessHeaders: access,
    // $NAME references in BACKENDS are looked up among all vars and secrets, not only the known settings.
    backends: parseBackends(env.BACKENDS, ollamaUrl, access, env as Readonly<Record<string, unknown>>),
    backendsConfigured: Boolean(env.BACKENDS?.trim()),
    backendCooldownMs: parseDuration("BACKEND_COOLDOWN", env.BACKEND_COOLDOWN, 30_000),
    modelAliases: parseJson("MODEL_ALIASES", env.MODEL_ALIASES, aliasesSchema, {}),
    modelDefaults: parseJson("MODEL_DEFAULTS", env.MODEL_DEFAULTS, defaultsSchema, {}),
    modelLimits: parseJson("MODEL_LIMITS", env.MODEL_LIMITS, limitsSchema, {}),
    corsOrigins: parseOrigins(env.CORS_ORIGINS),
    maxBodyBytes: parseSize("MAX_BODY_BYTES", env.MAX_BODY_BYTES, 20 * 1024 ** 2),
    maxImageBytes: parseSize("MAX_IMAGE_BYTES", env.MAX_IMAGE_BYTES, 10 * 1024 ** 2),
    maxImages: parseCount("MAX_IMAGES", env.MAX_IMAGES, 16, 0),
    maxImageTotalBytes: parseSize("MAX_IMAGE_TOTAL_BYTES", env.MAX_IMAGE_TOTAL_BYTES, 32 * 1024 ** 2),
    imageFetchTimeoutMs: parseDuration("IMAGE_FETCH_TIMEOUT", env.IMAGE_FETCH_TIMEOUT, 10_000),
    heartbeatIntervalMs: parseDuration("HEARTBEAT_INTERVAL", env.HEARTBEAT_INTERVAL, 10_000),
    upstreamHeadersTimeoutMs: parseDuration("UPSTREAM_HEADERS_TIMEOUT", env.UPSTREAM_HEADERS_TIMEOUT, 300_000),
    upstreamIdleTimeoutMs: parseDuration("UPSTREAM_IDLE_TIMEOUT", env.UPSTREAM_IDLE_TIMEOUT, 120_000),
    modelsCacheTtlMs: parseDuration("MODELS_CACHE_TTL", env.MODELS_CACHE_TTL, 10_000),
    upstreamRetries: parseCount("UPSTREAM_RETRIES", env.UPSTREAM_RETRIES, 2, 0, 10),
    upstreamRetryBackoffMs: parseDuration("UPSTREAM_RETRY_BACKOFF", env.UPSTREAM_RETRY_BACKOFF, 250),
    defaultMaxTokens: parseCount("DEFAULT_MAX_TOKENS", env.DEFAULT_MAX_TOKENS, 8192),
    maxEmbeddingInputs: parseCount("MAX_EMBEDDING_INPUTS", env.MAX_EMBEDDING_INPUTS, 256),
    maxEmbeddingBytes: parseSize("MAX_EMBEDDING_BYTES", env.MAX_EMBEDDING_BYTES, 1024 ** 2),
    // A guessable admin token would open the key store (and Ollama's management routes) to anyone.
    adminToken: ((token) => {
      if (token && token.length < 32) throw new ConfigError("ADMIN_TOKEN", `must be at least 32 characters; generate one with \`openssl rand -hex 32\``);
      return token || null;
    })(env.ADMIN_TOKEN?.trim()),
    keyDefaults: {
      rpm: parseCount("DEFAULT_KEY_RPM", env.DEFAULT_KEY_RPM, 60),
      tpm: parseCount("DEFAULT_KEY_TPM", env.DEFAULT_KEY_TPM, 200_000),
      max_concurrency: parseCount("DEFAULT_KEY_MAX_CONCURRENCY", env.DEFAULT_KEY_MAX_CONCURRENCY, 4),
    },
    backendMaxConcurrency: parseCount("BACKEND_MAX_CONCURRENCY", env.BACKEND_MAX_CONCURRENCY, 4, 0),
    queueMaxWaitMs: parseDuration("QUEUE_MAX_WAIT", env.QUEUE_MAX_WAIT, 30_000),
    queueMaxLength: parseCount("QUEUE_MAX_LENGTH", env.QUEUE_MAX_LENGTH, 64),
    leaseTtlMs: parseDuration("LEASE_TTL", env.LEASE_TTL, DEFAULT_LEASE_TTL_MS),
    ollamaContextLength: parseCount("OLLAMA_CONTEXT_LENGTH", env.OLLAMA_CONTEXT_LENGTH, 4096, 256),
    responses: {
      ttlMs: parseDuration("RESPONSES_TTL", env.RESPONSES_TTL, 30 * DAY_MS, 3650 * DAY_MS),
      maxBytes: parseSize("RESPONSES_MAX_BYTES", env.RESPONSES_MAX_BYTES, 8 * 1024 ** 2),
      maxKeyBytes: parseSize("RESPONSES_MAX_KEY_BYTES", env.RESPONSES_MAX_KEY_BYTES, 256 * 1024 ** 2),
    },
    usageRetentionMs: ((ms) => {
      // Usage is kept in hourly buckets: less than one would keep nothing.
      if (ms < 3_600_000) throw new ConfigError("USAGE_RETENTION", "must be at least 1h (usage is kept by the hour)");
      return ms;
    })(parseDuration("USAGE_RETENTION", env.USAGE_RETENTION, 90 * DAY_MS, 3650 * DAY_MS)),
  };
}

const cache = new WeakMap<EnvVars, Config>();

/** Parse once per env object (one per isolate in production), so the hot path does no re-validation. */
export function getConfig(env: EnvVars): Config {
  let config = cache.get(env);
  if (!config) {
    config = parseConfig(env);
    cache.set(env, config);
  }
  return config;
}
