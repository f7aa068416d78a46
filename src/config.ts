import * as z from "zod";
import type { EnvVars } from "./env-vars.ts";

/** Per-model defaults merged under every request for that model (the client's own values win). */
export interface ModelDefaults {
  options?: Record<string, unknown>;
  keep_alive?: string | number;
  think?: boolean | string;
}

export interface Config {
  ollamaUrl: string;
  accessHeaders: Record<string, string>;
  modelAliases: Record<string, string>;
  modelDefaults: Record<string, ModelDefaults>;
  corsOrigins: "*" | string[];
  maxBodyBytes: number;
  maxImageBytes: number;
  imageFetchTimeoutMs: number;
  heartbeatIntervalMs: number;
  upstreamHeadersTimeoutMs: number;
  upstreamIdleTimeoutMs: number;
  modelsCacheTtlMs: number;
  /** Retries of an upstream request whose connection failed before any answer (0 = none). */
  upstreamRetries: number;
  /** First retry delay; each further retry doubles it (with jitter), capped at 8× this. */
  upstreamRetryBackoffMs: number;
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
  /** A slot whose request never reported back (a Worker that died) is freed after this long. */
  leaseTtlMs: number;
  /** ADMIN_TOKEN, or null when unset (the admin API then answers 404). Compared only through hashes. */
  adminToken: string | null;
}

/** A bad setting: the message names the variable so the operator knows what to fix. */
export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, detail: string) {
    super(`Invalid configuration ${variable}: ${detail}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** setTimeout overflows above this and fires at once, which would turn every timer into a busy loop. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** "30s", "500ms", "2m" or a bare number of seconds → milliseconds. */
export function parseDuration(variable: string, raw: string | undefined, fallbackMs: number): number {
  if (raw === undefined || raw.trim() === "") return fallbackMs;
  const match = DURATION.exec(raw.trim());
  if (!match) throw new ConfigError(variable, `expected a duration such as "30s", "500ms" or "2m", got ${JSON.stringify(raw)}`);
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] ?? "s"]!);
  if (ms > MAX_TIMER_MS) throw new ConfigError(variable, `${JSON.stringify(raw)} is longer than a timer can hold (about 24 days)`);
  return ms;
}

const SIZE = /^(\d+)\s*(b|kib|kb|mib|mb|gib|gb)?$/i;
const UNIT_BYTES: Record<string, number> = { b: 1, kb: 1000, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };

/** "20MiB", "512KiB" or a bare number of bytes → bytes. */
export function parseSize(variable: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const match = SIZE.exec(raw.trim());
  if (!match) throw new ConfigError(variable, `expected a size such as "20MiB" or a number of bytes, got ${JSON.stringify(raw)}`);
  return Number(match[1]) * UNIT_BYTES[(match[2] ?? "b").toLowerCase()]!;
}

export function parseCount(variable: string, raw: string | undefined, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(variable, `expected a whole number ${range}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function parseJson<T>(variable: string, raw: string | undefined, schema: z.ZodType<T>, fallback: T): T {
  if (raw === undefined || raw.trim() === "") return fallback;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigError(variable, "not valid JSON");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? ` at ${issue.path.join(".")}` : "";
    throw new ConfigError(variable, `${issue.message}${where}`);
  }
  return parsed.data;
}

const aliasesSchema = z.record(z.string().min(1), z.string().min(1));
const defaultsSchema = z.record(
  z.string().min(1),
  z.strictObject({
    options: z.record(z.string(), z.unknown()).optional(),
    keep_alive: z.union([z.string(), z.number()]).optional(),
    think: z.union([z.boolean(), z.enum(["low", "medium", "high", "max"])]).optional(),
  }),
);

function parseUrl(variable: string, raw: string | undefined, fallback: string): string {
  const value = raw?.trim() || fallback;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, "not a valid URL"); // the value itself may hold credentials: never echo it
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(variable, "must be an http(s) URL");
  return value.replace(/\/+$/, "");
}

function parseOrigins(raw: string | undefined): "*" | string[] {
  const value = raw?.trim() ?? "";
  if (value === "" || value === "*") return "*";
  return value.split(",").map((origin) => origin.trim()).filter(Boolean);
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
  if (env.BACKENDS?.trim()) {
    // Several backends are planned, not built: refusing beats silently serving only OLLAMA_URL.
    throw new ConfigError("BACKENDS", "several backends are not supported yet; remove BACKENDS and set OLLAMA_URL");
  }
  return {
    ollamaUrl: parseUrl("OLLAMA_URL", env.OLLAMA_URL, "http://127.0.0.1:11434"),
    accessHeaders: accessHeaders(env),
    modelAliases: parseJson("MODEL_ALIASES", env.MODEL_ALIASES, aliasesSchema, {}),
    modelDefaults: parseJson("MODEL_DEFAULTS", env.MODEL_DEFAULTS, defaultsSchema, {}),
    corsOrigins: parseOrigins(env.CORS_ORIGINS),
    maxBodyBytes: parseSize("MAX_BODY_BYTES", env.MAX_BODY_BYTES, 20 * 1024 ** 2),
    maxImageBytes: parseSize("MAX_IMAGE_BYTES", env.MAX_IMAGE_BYTES, 10 * 1024 ** 2),
    imageFetchTimeoutMs: parseDuration("IMAGE_FETCH_TIMEOUT", env.IMAGE_FETCH_TIMEOUT, 10_000),
    heartbeatIntervalMs: parseDuration("HEARTBEAT_INTERVAL", env.HEARTBEAT_INTERVAL, 10_000),
    upstreamHeadersTimeoutMs: parseDuration("UPSTREAM_HEADERS_TIMEOUT", env.UPSTREAM_HEADERS_TIMEOUT, 300_000),
    upstreamIdleTimeoutMs: parseDuration("UPSTREAM_IDLE_TIMEOUT", env.UPSTREAM_IDLE_TIMEOUT, 120_000),
    modelsCacheTtlMs: parseDuration("MODELS_CACHE_TTL", env.MODELS_CACHE_TTL, 10_000),
    upstreamRetries: parseCount("UPSTREAM_RETRIES", env.UPSTREAM_RETRIES, 2, 0, 10),
    upstreamRetryBackoffMs: parseDuration("UPSTREAM_RETRY_BACKOFF", env.UPSTREAM_RETRY_BACKOFF, 250),
    maxEmbeddingInputs: parseCount("MAX_EMBEDDING_INPUTS", env.MAX_EMBEDDING_INPUTS, 256),
    maxEmbeddingBytes: parseSize("MAX_EMBEDDING_BYTES", env.MAX_EMBEDDING_BYTES, 1024 ** 2),
    adminToken: env.ADMIN_TOKEN?.trim() || null,
    keyDefaults: {
      rpm: parseCount("DEFAULT_KEY_RPM", env.DEFAULT_KEY_RPM, 60),
      tpm: parseCount("DEFAULT_KEY_TPM", env.DEFAULT_KEY_TPM, 200_000),
      max_concurrency: parseCount("DEFAULT_KEY_MAX_CONCURRENCY", env.DEFAULT_KEY_MAX_CONCURRENCY, 4),
    },
    backendMaxConcurrency: parseCount("BACKEND_MAX_CONCURRENCY", env.BACKEND_MAX_CONCURRENCY, 4, 0),
    queueMaxWaitMs: parseDuration("QUEUE_MAX_WAIT", env.QUEUE_MAX_WAIT, 30_000),
    queueMaxLength: parseCount("QUEUE_MAX_LENGTH", env.QUEUE_MAX_LENGTH, 64),
    leaseTtlMs: parseDuration("LEASE_TTL", env.LEASE_TTL, 15 * 60_000),
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
