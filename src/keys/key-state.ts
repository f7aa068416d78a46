import { RETRY_SOON_MS } from "../core/timing.ts";
import { addToBucket, type Charge, msUntilReset, msUntilRoom, prune, used } from "../limits/window.ts";
import type { AdmitResult, KeyRecord, LimitSnapshot, SettleUsage } from "./types.ts";

/** A request in flight: its reservation and, for its lifetime, when it was last heard of. */
export interface Lease {
  /** Admission time: the reservation and the final charge count from here. */
  at: number;
  /** Last admission or renewal; a lease not renewed for LEASE_TTL belonged to a Worker that died. */
  seen: number;
  /** Tokens reserved at admission, replaced by the real count at settlement. */
  reserved: number;
  promptEstimate: number;
  gate: string | null;
  /** The model its usage is recorded under ("" for none; absent in leases opened before usage records). */
  model?: string;
}

/**
 * One key's limiter state. Requests and settled tokens are kept in per-second buckets (at most about 60 of each,
 * whatever the rate), each bucket dated by its latest charge so a bucket never expires early: limits stay exact or
 * err on the strict side by under a second, and every decision costs the same at 10 or 10,000 requests a minute.
 */
export interface KeyState {
  requests: Charge[];
  tokens: Charge[];
  leases: Record<string, Lease>;
}

export const emptyState = (): KeyState => ({ requests: [], tokens: [], leases: {} });

/** Drop charges older than a minute and leases not heard of for `leaseTtlMs` (their Worker died). */
export function tidy(state: KeyState, now: number, leaseTtlMs: number): KeyState {
  const leases: KeyState["leases"] = {};
  for (const [id, lease] of Object.entries(state.leases)) if (now - lease.seen < leaseTtlMs) leases[id] = lease;
  return { requests: prune(state.requests, now), tokens: prune(state.tokens, now), leases };
}

/** Settled tokens plus the reservations still open, in time order. */
function tokenCharges(state: KeyState, now: number): Charge[] {
  const open = Object.values(state.leases).map((lease) => ({ at: lease.at, amount: lease.reserved }));
  return prune(
    [...state.tokens, ...open].sort((a, b) => a.at - b.at),
    now,
  );
}

export function snapshot(record: KeyRecord, state: KeyState, now: number): LimitSnapshot {
  const tokens = tokenCharges(state, now);
  return {
    rpm: record.rpm,
    remainingRequests: Math.max(0, record.rpm - used(state.requests)),
    resetRequestsMs: msUntilReset(state.requests, now),
    tpm: record.tpm,
    remainingTokens: Math.max(0, record.tpm - used(tokens)),
    resetTokensMs: msUntilReset(tokens, now),
  };
}

/**
 * Decide one request against a tidied state. On success the request is counted, its token estimate reserved
 * (capped at the whole limit, so one large request can still run in an empty window) and a lease opened.
 */
export function tryAdmit(
  record: KeyRecord,
  state: KeyState,
  now: number,
  input: { lease: string; estimatedTokens: number; promptEstimate: number; gate: string | null; model?: string },
): { state: KeyState; result: AdmitResult } {
  if (record.expires_at !== null && Date.parse(record.expires_at) <= now) return { state, result: { ok: false, reason: "expired" } };
  const limited = (limit: "requests" | "tokens" | "concurrency", retryAfterMs: number, message: string) => ({
    state,
    result: { ok: false as const, reason: "limited" as const, limit, retryAfterMs, message, limits: snapshot(record, state, now) },
  });
  if (Object.keys(state.leases).length >= record.max_concurrency) {
    return limited("concurrency", RETRY_SOON_MS, `Concurrency limit reached: this key may have ${record.max_concurrency} requests in flight.`);
  }
  if (used(state.requests) >= record.rpm) {
    return limited("requests", msUntilRoom(state.requests, now, record.rpm, 1), `Rate limit reached: ${record.rpm} requests per minute for this key.`);
  }
  const reserve = Math.min(Math.max(0, Math.ceil(input.estimatedTokens)), record.tpm);
  const tokens = tokenCharges(state, now);
  if (used(tokens) + reserve > record.tpm) {
    return limited(
      "tokens",
      msUntilRoom(tokens, now, record.tpm, reserve),
      `Token limit reached: ${record.tpm} tokens per minute for this key (this request needs up to ${reserve}).`,
    );
  }
  const next: KeyState = {
    requests: addToBucket(state.requests, now, 1),
    tokens: state.tokens,
    leases: {
      ...state.leases,
      [input.lease]: {
        at: now,
        seen: now,
        reserved: reserve,
        promptEstimate: input.promptEstimate,
        gate: input.gate,
        ...(input.model === undefined ? {} : { model: input.model }),
      },
    },
  };
  return { state: next, result: { ok: true, lease: input.lease, keyId: record.id, models: record.models, limits: snapshot(record, next, now) } };
}

/** A token count as reported: anything but a positive finite number counts as 0 (unknown). */
const tokenCount = (value: number): number => (Number.isFinite(value) && value > 0 ? Math.ceil(value) : 0);

/**
 * Replace a lease's reservation with what was really used and close the lease. `null` means the request never
 * reached a backend: nothing is charged. A usage object means it did: its completion tokens are charged as given
 * (the backend's count, or the gateway's estimate of what was generated), and a prompt of 0 means the backend's
 * count never came (a stream cut short, an answer abandoned, dropped before its first token), so the lease's
 * prompt estimate is charged instead — the backend evaluated the prompt whether or not anything followed.
 */
export function settle(state: KeyState, lease: string, usage: SettleUsage | null): { state: KeyState; charged: SettleUsage | null; gate: string | null } {
  const open = state.leases[lease];
  if (!open) return { state, charged: null, gate: null }; // settled already, or expired: never charge twice
  const leases = { ...state.leases };
  delete leases[lease];
  const charged = usage
    ? { prompt_tokens: tokenCount(usage.prompt_tokens) || tokenCount(open.promptEstimate), completion_tokens: tokenCount(usage.completion_tokens) }
    : null;
  const amount = charged ? charged.prompt_tokens + charged.completion_tokens : 0;
  const tokens = amount ? addToBucket(state.tokens, open.at, amount) : state.tokens;
  return { state: { requests: state.requests, tokens, leases }, charged, gate: open.gate };
}

/** The request is still running: its lease is not a dead Worker's. */
export function renewLease(state: KeyState, lease: string, now: number): KeyState {
  const open = state.leases[lease];
  if (!open) return state;
  return { ...state, leases: { ...state.leases, [lease]: { ...open, seen: now } } };
}

/** The lease now holds a slot at another backend's gate (failover). */
export function moveLease(state: KeyState, lease: string, gate: string | null): KeyState {
  const open = state.leases[lease];
  if (!open) return state;
  return { ...state, leases: { ...state.leases, [lease]: { ...open, gate } } };
}

/** Undo an admission that never reached the backend (the gateway queue turned it away): free its lease and tokens. */
export function rollback(state: KeyState, lease: string): KeyState {
  const leases = { ...state.leases };
  delete leases[lease];
  return { requests: state.requests, tokens: state.tokens, leases };
}
