/**
 * Sliding-window accounting, pure and exact: every admitted request (or token charge) is an entry with a time;
 * what counts against a limit is the sum of entries younger than the window.
 */

export interface Charge {
  /** When the charge counts from: for a bucket, its latest charge (so it never expires early). */
  at: number;
  amount: number;
  /** For a bucket: when its first charge was made. */
  from?: number;
}

export const MINUTE_MS = 60_000;

export function prune(entries: Charge[], now: number, windowMs = MINUTE_MS): Charge[] {
  const cutoff = now - windowMs;
  let first = 0;
  while (first < entries.length && entries[first]!.at <= cutoff) first++;
  return first === 0 ? entries : entries.slice(first);
}

const BUCKET_MS = 1000;

/**
 * Add a charge made at `at`, merged into the bucket of the same second when there is one: the list stays at about
 * one entry per second of the window. Entries stay in time order (a late settlement is placed where it belongs).
 */
export function addToBucket(entries: readonly Charge[], at: number, amount: number): Charge[] {
  const out = [...entries];
  for (let i = out.length - 1; i >= 0; i--) {
    const bucket = out[i]!;
    const from = bucket.from ?? bucket.at;
    if (at >= from && at - from < BUCKET_MS) {
      out[i] = { from, at: Math.max(bucket.at, at), amount: bucket.amount + amount };
      return out;
    }
    if (bucket.at < at) {
      out.splice(i + 1, 0, { from: at, at, amount });
      return out;
    }
  }
  out.unshift({ from: at, at, amount });
  return out;
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
