/** What the gateway keeps about an API key. Never the key itself: only its SHA-256. */
export interface KeyRecord {
  id: string;
  /** Hex SHA-256 of the key. */
  hash: string;
  name: string;
  /** `sk-` and the first characters, to tell keys apart in listings. */
  prefix: string;
  /** Allowed models (installed names, untagged names or aliases); empty = all. */
  models: string[];
  rpm: number;
  tpm: number;
  max_concurrency: number;
  /** ISO-8601, or null for never. */
  expires_at: string | null;
  created_at: string;
  last_used_at: string | null;
  usage: { requests: number; prompt_tokens: number; completion_tokens: number };
}

/** The public view of a key in the admin API: everything but the hash, plus the requests in flight now. */
export type KeyView = Omit<KeyRecord, "hash"> & { in_flight: number };

/** The caller's settings that govern admission (the Worker's configuration is the source of truth). */
export interface AdmissionPolicy {
  leaseTtlMs: number;
  /** How long hourly usage records are kept (USAGE_RETENTION); older ones are pruned as requests come. */
  usageRetentionMs: number;
  /** The chosen backend's gate, or null when its limit is 0 (no gate). */
  gate: GatePolicy | null;
}

export interface GatePolicy {
  /** The backend's name: each backend has its own gate. */
  name: string;
  maxConcurrency: number;
  maxWaitMs: number;
  maxQueue: number;
  leaseTtlMs: number;
}

export interface AdmitInput {
  /** Hex SHA-256 of the presented key (compared in constant time with the stored one). */
  hash: string;
  /** Tokens to reserve for token limits: prompt estimate plus the answer's cap. */
  estimatedTokens: number;
  /** The prompt part of that estimate, charged if a stream ends without real counts. */
  promptEstimate: number;
  /** The installed model the request is for (its usage is recorded per model); absent or null: none named. */
  model?: string | null;
  policy: AdmissionPolicy;
}

/** Numbers behind the six x-ratelimit-* headers. */
export interface LimitSnapshot {
  rpm: number;
  remainingRequests: number;
  resetRequestsMs: number;
  tpm: number;
  remainingTokens: number;
  resetTokensMs: number;
}

export type LimitName = "requests" | "tokens" | "concurrency" | "queue";

/** Who a key is, for the authentication step (no request counted). */
export type LookupResult = { ok: true; id: string; models: string[]; tpm: number; limits: LimitSnapshot } | { ok: false; reason: "unknown" | "expired" };

export type AdmitResult =
  | { ok: true; lease: string; keyId: string; models: string[]; limits: LimitSnapshot }
  | { ok: false; reason: "unknown" | "expired" }
  | { ok: false; reason: "limited"; limit: LimitName; retryAfterMs: number; message: string; limits: LimitSnapshot | null };

export interface SettleUsage {
  prompt_tokens: number;
  completion_tokens: number;
}
