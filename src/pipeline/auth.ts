import type { BackendConfig } from "../config/backends.ts";
import type { Config } from "../config/index.ts";
import { ApiError, unauthorized } from "../core/errors.ts";
import { aliasTarget } from "../core/names.ts";
import { sha256, toHex } from "../core/secrets.ts";
import type { Usage } from "../core/usage.ts";
import { bearerToken } from "../http/bearer.ts";
import { isWellFormedKey } from "../keys/key-format.ts";
import { keyObject } from "../keys/key-object.ts";
import type { AdmissionPolicy, AdmitResult, GatePolicy, LimitSnapshot } from "../keys/types.ts";
import { formatReset } from "../limits/window.ts";
import type { AppContext } from "./context.ts";
import { Outcome, streamEndedInError } from "./outcome.ts";

/**
 * Two steps of the pipeline (authenticate → read → validate → scope → admit → route → call → relay → settle).
 * `authenticate` looks the key up before anything else is done; `admit` then decides every per-key limit and waits
 * for a backend slot in one call to the key's Durable Object, which checks the key again (a revocation in between
 * wins).
 */
export interface Admission {
  /** The six x-ratelimit-* headers, with this request counted. */
  readonly headers: Record<string, string>;
  /** Whether this key may use the installed model `name` (its allow-list). */
  allowsModel(name: string): boolean;
  /**
   * Report the real token counts (null if none were used) and free the slot. Only the first call counts. The key's
   * usage records learn whether the request failed from the caller's `outcome` (see pipeline/outcome.ts).
   */
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
  /**
   * The backend the request will go to first (its gate is waited for); default the first configured; null: no slot
   * yet (taken later with `moveTo`).
   */
  backend?: BackendConfig | null;
}

type KeyStub = ReturnType<typeof keyObject>;

/** The key a request was authenticated with: what it may use, before anything else about the request is read. */
export interface Caller {
  readonly hash: string;
  /** The key's object, as authentication reached it: admission and settlement call the same stub. */
  readonly key: KeyStub;
  readonly id: string;
  /** The key's allow-list (empty: every model). */
  readonly models: readonly string[];
  readonly tpm: number;
  /** The six x-ratelimit-* headers as they stand (this request not counted yet): for answers before admission. */
  readonly headers: Record<string, string>;
  /** Whether this key may use the installed model `name`. */
  allowsModel(name: string): boolean;
  /** How the request ends (an error or not), decided by its first stage, for the usage records. */
  readonly outcome: Outcome;
}

/**
 * Hashes of keys that are known not to work (never issued, revoked or expired): none of them can become valid
 * again, so later requests with them are turned away without a Durable Object call. Bounded per isolate.
 */
const refused = new Map<string, "unknown" | "expired">();
const REFUSED_MAX = 10_000;

const refusedKey = (reason: "unknown" | "expired") => unauthorized(reason === "expired" ? "This API key has expired." : "Incorrect API key provided.");

/** Where a route reads the key from, and what its 401 says to a caller that sent none. */
export interface KeySource {
  read(request: Request): string | null;
  missing: string;
}

/** Every OpenAI-shaped and native route: `Authorization: Bearer <key>`. */
export const BEARER_KEY: KeySource = { read: bearerToken, missing: "Missing API key: send it as 'Authorization: Bearer <key>'." };

/**
 * The first step of every key route: the key is checked (its format, then its object) before the body is read or
 * any backend is asked anything. A missing, malformed, unknown, revoked or expired key is a 401 here.
 */
export async function authenticate(request: Request, app: AppContext, source: KeySource = BEARER_KEY): Promise<Caller> {
  const token = source.read(request);
  if (!token) throw unauthorized(source.missing);
  // The checksum turns away mistyped and invented keys without touching storage.
  if (!isWellFormedKey(token)) throw refusedKey("unknown");
  const hash = toHex(await sha256(token));
  const known = refused.get(hash);
  if (known) throw refusedKey(known);
  const key = keyObject(app.env, hash);
  const found = await key.lookup(hash);
  if (!found.ok) {
    if (refused.size >= REFUSED_MAX) refused.clear();
    refused.set(hash, found.reason);
    throw refusedKey(found.reason);
  }
  const aliases = app.config.modelAliases;
  return {
    hash,
    key,
    id: found.id,
    models: found.models,
    tpm: found.tpm,
    headers: rateLimitHeaders(found.limits),
    allowsModel: (name) => modelAllowed(found.models, name, aliases),
    outcome: new Outcome(),
  };
}

export async function admit(request: Request, app: AppContext, caller: Caller, want: AdmissionRequest): Promise<Admission> {
  const { hash, key } = caller;
  const result = await key.admit({
    hash,
    estimatedTokens: want.estimatedTokens,
    promptEstimate: want.promptTokens ?? want.estimatedTokens,
    model: want.model,
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
    allowsModel: caller.allowsModel,
    settle(usage) {
      if (settled) return;
      settled = true;
      clearInterval(renewal);
      const counts = usage ? { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens } : null;
      // Read now: it is true only while a stream that ended with an error event reports its end.
      const streamFailed = streamEndedInError();
      caller.outcome.whenDecided((failed) => app.waitUntil(key.settle(result.lease, counts, failed || streamFailed)));
    },
    async moveTo(backend) {
      const granted = await key.moveGate(result.lease, gatePolicy(app.config, backend));
      if (!granted.ok && "reason" in granted) throw refusedKey(granted.reason);
      if (!granted.ok)
        throw refusal({ ok: false, reason: "limited", limit: "queue", retryAfterMs: granted.retryAfterMs, message: granted.message, limits: null });
    },
  };
}

/** The gate of the backend a request goes to: its own limit, or the gateway-wide one; none when that is 0. */
export function gatePolicy(config: Config, backend: BackendConfig): GatePolicy | null {
  const max = backend.maxConcurrency ?? config.backendMaxConcurrency;
  if (!max) return null;
  return { name: backend.name, maxConcurrency: max, maxWaitMs: config.queueMaxWaitMs, maxQueue: config.queueMaxLength, leaseTtlMs: config.leaseTtlMs };
}

function admissionPolicy(config: Config, backend: BackendConfig | null | undefined): AdmissionPolicy {
  return {
    leaseTtlMs: config.leaseTtlMs,
    usageRetentionMs: config.usageRetentionMs,
    gate: backend === null ? null : gatePolicy(config, backend ?? config.backends[0]!),
  };
}

function refusal(result: Exclude<AdmitResult, { ok: true }>): ApiError {
  if (result.reason !== "limited") return refusedKey(result.reason);
  const retryAfter = String(Math.max(1, Math.ceil(result.retryAfterMs / 1000)));
  const headers = { ...(result.limits ? rateLimitHeaders(result.limits) : {}), "retry-after": retryAfter };
  // A full queue at the backend's gate is the machine being busy, not this key's limits (see ApiError.overloaded).
  return new ApiError(429, result.message, "rate_limit_exceeded", "rate_limit_exceeded", null, headers, null, result.limit === "queue");
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
    const target = aliasTarget(aliases, entry);
    if (target === name) return true;
    const untagged = !target.slice(target.lastIndexOf("/") + 1).includes(":");
    return untagged && name.startsWith(`${target}:`);
  });
}
