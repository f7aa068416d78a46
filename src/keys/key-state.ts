import { type Charge, msUntilReset, msUntilRoom, prune, used } from "../limits/window.ts";
import type { AdmitResult, KeyRecord, LimitSnapshot, SettleUsage } from "./types.ts";

/** One key's limiter state: request and token charges in the last minute, and the leases in flight. */
export interface KeyState {
  requests: Charge[];
  tokens: Charge[];
  leases: Record<string, { at: number; promptEstimate: number; gate: string | null }>;
}

export const emptyState = (): KeyState => ({ requests: [], tokens: [], leases: {} });

/** Drop charges older than a minute and leases older than `leaseTtlMs` (a Worker that never settled). */
export function tidy(state: KeyState, now: number, leaseTtlMs: number): KeyState {
  const leases: KeyState["leases"] = {};
  for (const [id, lease] of Object.entries(state.leases)) if (now - lease.at < leaseTtlMs) leases[id] = lease;
  return { requests: prune(state.requests, now), tokens: prune(state.tokens, now), leases };
}

export function snapshot(record: KeyRecord, state: KeyState, now: number): LimitSnapshot {
  return {
    rpm: record.rpm,
    remainingRequests: Math.max(0, record.rpm - state.requests.length),
    resetRequestsMs: msUntilReset(state.requests, now),
    tpm: record.tpm,
    remainingTokens: Math.max(0, record.tpm - used(state.tokens)),
    resetTokensMs: msUntilReset(state.tokens, now),
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
  input: { lease: string; estimatedTokens: number; promptEstimate: number; gate: string | null },
): { state: KeyState; result: AdmitResult } {
  if (record.expires_at !== null && Date.parse(record.expires_at) <= now) return { state, result: { ok: false, reason: "expired" } };
  const limited = (limit: "requests" | "tokens" | "concurrency", retryAfterMs: number, message: string) => ({
    state,
    result: { ok: false as const, reason: "limited" as const, limit, retryAfterMs, message, limits: snapshot(record, state, now) },
  });
  if (Object.keys(state.leases).length >= record.max_concurrency) {
    return limited("concurrency", 1000, `Concurrency limit reached: this key may have ${record.max_concurrency} requests in flight.`);
  }
  if (state.requests.length >= record.rpm) {
    return limited("requests", msUntilRoom(state.requests, now, record.rpm, 1), `Rate limit reached: ${record.rpm} requests per minute for this key.`);
  }
  const reserve = Math.min(Math.max(0, Math.ceil(input.estimatedTokens)), record.tpm);
  if (used(state.tokens) + reserve > record.tpm) {
    return limited(
      "tokens",
      msUntilRoom(state.tokens, now, record.tpm, reserve),
      `Token limit reached: ${record.tpm} tokens per minute for this key (this request needs up to ${reserve}).`,
    );
  }
  const next: KeyState = {
    requests: [...state.requests, { at: now, amount: 1 }],
    tokens: [...state.tokens, { at: now, amount: reserve, lease: input.lease }],
    leases: { ...state.leases, [input.lease]: { at: now, promptEstimate: input.promptEstimate, gate: input.gate } },
  };
  return { state: next, result: { ok: true, lease: input.lease, keyId: record.id, models: record.models, limits: snapshot(record, next, now) } };
}

/**
 * Replace a lease's reservation with what was really used and close the lease. Unknown counts (null) charge
 * nothing; a stream cut short reports its prompt as 0, so the prompt estimate is charged instead.
 */
export function settle(
  state: KeyState,
  lease: string,
  usage: SettleUsage | null,
): { state: KeyState; charged: SettleUsage | null; gate: string | null } {
  const open = state.leases[lease];
  if (!open) return { state, charged: null, gate: null }; // settled already, or expired: never charge twice
  const leases = { ...state.leases };
  delete leases[lease];
  const charged = usage
    ? { prompt_tokens: usage.prompt_tokens || (usage.completion_tokens ? open.promptEstimate : 0), completion_tokens: usage.completion_tokens }
    : null;
  const amount = charged ? charged.prompt_tokens + charged.completion_tokens : 0;
  const tokens = state.tokens.map((entry) => (entry.lease === lease ? { at: entry.at, amount } : entry));
  return { state: { requests: state.requests, tokens, leases }, charged, gate: open.gate };
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
  return { requests: state.requests, tokens: state.tokens.filter((entry) => entry.lease !== lease), leases };
}
