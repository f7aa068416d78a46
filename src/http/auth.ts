import { keyObject } from "../keys/admin.ts";
import { isWellFormedKey } from "../keys/key-format.ts";
import type { Config } from "../config.ts";
import type { BackendConfig } from "../backends/config.ts";
import type { AdmissionPolicy, AdmitResult, GatePolicy, LimitSnapshot } from "../keys/types.ts";
import { formatReset } from "../limits/window.ts";
import type { AppContext } from "../routes/context.ts";
import type { Usage } from "../translate/chat-common.ts";
import { ApiError, unauthorized } from "./errors.ts";
import { sha256, toHex } from "./secrets.ts";

/**
 * The admission step of the pipeline (validate → admit → resolve → translate → upstream → answer). Authentication,
 * every per-key limit and the wait for a backend slot are one call to the key's Durable Object: one round trip
 * before the upstream request starts.
 */
export interface Admission {
  /** The six x-ratelimit-* headers, with this request counted. */
  readonly headers: Record<string, string>;
  /** Whether this key may use the installed model `name` (its allow-list). */
  allowsModel(name: string): boolean;
  /** Report the real token counts (null if none were used) and free the slot. Only the first call counts. */
  settle(usage: Usage | null): void;
  /** Failover: take a slot at another backend's gate instead (429 if its queue turns the request away). */
  moveTo(backend: BackendConfig): Promise<void>;
}

export interface AdmissionRequest {
  /** The model name the client sent, or null for routes without one. */
  model: string | null;
  /** Prompt plus the most the answer may use, reserved against the key's tokens-per-minute. */
  estimatedTokens: number;
  /** The prompt part of the estimate (charged if a stream ends before the backend reports counts). */
  promptTokens?: number;
  /** The backend the request will go to first (its gate is waited for); default the first configured. */
  backend?: BackendConfig;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function bearerToken(request: Request): string | null {
  const match = BEARER.exec(request.headers.get("authorization") ?? "");
  return match ? match[1]! : null;
}

export async function admit(request: Request, app: AppContext, want: AdmissionRequest): Promise<Admission> {
  const token = bearerToken(request);
  if (!token) throw unauthorized("Missing API key: send it as 'Authorization: Bearer <key>'.");
  // The checksum turns away mistyped and invented keys without touching storage.
  if (!isWellFormedKey(token)) throw unauthorized("Incorrect API key provided.");
  const hash = toHex(await sha256(token));
  const key = keyObject(app.env, hash);
  const result = await key.admit({
    hash,
    estimatedTokens: want.estimatedTokens,
    promptEstimate: want.promptTokens ?? want.estimatedTokens,
    policy: admissionPolicy(app.config, want.backend),
  });
  if (!result.ok) throw refusal(result);
  if (request.signal.aborted) {
    // The client left while we waited for a slot: give it back at once.
    app.waitUntil(key.settle(result.lease, null));
    throw new ApiError(499, "The client closed the connection.", "invalid_request_error", "client_closed");
  }
  let settled = false;
  // While the request runs, tell the key (and its backend gate) it is alive: if this Worker dies, its slots are
  // reclaimed after LEASE_TTL instead of being held.
  const renewal = setInterval(() => app.waitUntil(key.renew(result.lease)), Math.max(1000, Math.floor(app.config.leaseTtlMs / 3)));
  return {
    headers: rateLimitHeaders(result.limits),
    allowsModel: (name) => modelAllowed(result.models, name, app.config.modelAliases),
    settle(usage) {
      if (settled) return;
      settled = true;
      clearInterval(renewal);
      const counts = usage ? { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens } : null;
      app.waitUntil(key.settle(result.lease, counts));
    },
    async moveTo(backend) {
      const granted = await key.moveGate(result.lease, gatePolicy(app.config, backend));
      if (!granted.ok) throw refusal({ ok: false, reason: "limited", limit: "queue", retryAfterMs: granted.retryAfterMs, message: granted.message, limits: null });
    },
  };
}

/** The gate of the backend a request goes to: its own limit, or the gateway-wide one; none when that is 0. */
export function gatePolicy(config: Config, backend: BackendConfig): GatePolicy | null {
  const max = backend.maxConcurrency ?? config.backendMaxConcurrency;
  if (!max) return null;
  return { name: backend.name, maxConcurrency: max, maxWaitMs: config.queueMaxWaitMs, maxQueue: config.queueMaxLength, leaseTtlMs: config.leaseTtlMs };
}

function admissionPolicy(config: Config, backend: BackendConfig | undefined): AdmissionPolicy {
  return { leaseTtlMs: config.leaseTtlMs, gate: gatePolicy(config, backend ?? config.backends[0]!) };
}

function refusal(result: Exclude<AdmitResult, { ok: true }>): ApiError {
  if (result.reason !== "limited") return unauthorized(result.reason === "expired" ? "This API key has expired." : "Incorrect API key provided.");
  const retryAfter = String(Math.max(1, Math.ceil(result.retryAfterMs / 1000)));
  const headers = { ...(result.limits ? rateLimitHeaders(result.limits) : {}), "retry-after": retryAfter };
  return new ApiError(429, result.message, "rate_limit_exceeded", "rate_limit_exceeded", null, headers);
}

export function rateLimitHeaders(limits: LimitSnapshot): Record<string, string> {
  return {
    "x-ratelimit-limit-requests": String(limits.rpm),
    "x-ratelimit-remaining-requests": String(limits.remainingRequests),
    "x-ratelimit-reset-requests": formatReset(limits.resetRequestsMs),
    "x-ratelimit-limit-tokens": String(limits.tpm),
    "x-ratelimit-remaining-tokens": String(limits.remainingTokens),
    "x-ratelimit-reset-tokens": formatReset(limits.resetTokensMs),
  };
}

/**
 * A key's allow-list entries may be installed names, aliases, or untagged names that allow every tag of that
 * model ("llama3.2" allows "llama3.2:latest" and "llama3.2:1b"). An empty list allows everything.
 */
export function modelAllowed(allowed: readonly string[], name: string, aliases: Readonly<Record<string, string>>): boolean {
  if (allowed.length === 0) return true;
  return allowed.some((entry) => {
    const target = Object.hasOwn(aliases, entry) ? aliases[entry]! : entry;
    if (target === name) return true;
    const untagged = !target.slice(target.lastIndexOf("/") + 1).includes(":");
    return untagged && name.startsWith(`${target}:`);
  });
}

export const modelNotAllowed = (model: string) =>
  new ApiError(403, `This API key is not allowed to use the model '${model}'.`, "permission_error", "model_not_allowed", "model");
