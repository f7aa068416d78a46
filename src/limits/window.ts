/**
 * Sliding-window accounting, pure and exact: every admitted request (or token charge) is an entry with a time;
 * what counts against a limit is the sum of entries younger than the window.
 */

export interface Charge {
  at: number;
  amount: number;
  /** Set while the charge is a reservation that settlement will replace. */
  lease?: string;
}

export const MINUTE_MS = 60_000;

export function prune(entries: Charge[], now: number, windowMs = MINUTE_MS): Charge[] {
  const cutoff = now - windowMs;
  let first = 0;
  while (first < entries.length && entries[first]!.at <= cutoff) first++;
  return first === 0 ? entries : entries.slice(first);
}

export function used(entries: readonly Charge[]): number {
  let sum = 0;
  for (const entry of entries) sum += entry.amount;
  return sum;
}

/** Milliseconds until `amount` more fits under `limit` as old entries expire (0 if it fits now). */
export function msUntilRoom(entries: readonly Charge[], now: number, limit: number, amount: number, windowMs = MINUTE_MS): number {
  let total = used(entries);
  if (total + amount <= limit) return 0;
  for (const entry of entries) {
    total -= entry.amount;
    if (total + amount <= limit) return Math.max(0, entry.at + windowMs - now);
  }
  return windowMs;
}

/** Milliseconds until the window is fully clear of today's charges (OpenAI's "reset" meaning). */
export function msUntilReset(entries: readonly Charge[], now: number, windowMs = MINUTE_MS): number {
  const last = entries.at(-1);
  return last ? Math.max(0, last.at + windowMs - now) : 0;
}

/** OpenAI's reset header format: "1s", "6m0s", "250ms". */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}
