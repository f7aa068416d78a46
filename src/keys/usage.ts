/**
 * A key's usage records, as pure functions: which hour a moment falls in, where a bucket of a query starts, which
 * hours the retention keeps, and how the keys' buckets merge into one time-ordered answer. Hours are counted from
 * the Unix epoch (UTC), so a day is 24 whole hours and days are UTC days.
 */

export const HOUR_MS = 3_600_000;
const HOURS_PER_DAY = 24;

export interface UsageCounts {
  requests: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** Admitted requests that ended in an error (an error status, or a stream ended by an error event). */
  errors: number;
}

export type Granularity = "hour" | "day";

/** The hours a query covers, `fromHour` included and `toHour` excluded, and how they are summed. */
export interface UsageRange {
  fromHour: number;
  toHour: number;
  granularity: Granularity;
  /** One bucket per model instead of one for all of them. */
  byModel: boolean;
}

/**
 * One bucket as a key's object sends it: its first hour, its sums, and its model when the query asked per model.
 * A tuple, not an object: a query by hour over 90 days sends 2,160 of them per key.
 */
export type UsageTuple = [start: number, requests: number, prompt_tokens: number, completion_tokens: number, errors: number, model?: string];

export const hourOf = (ms: number): number => Math.floor(ms / HOUR_MS);

export const hoursPerBucket = (granularity: Granularity): number => (granularity === "day" ? HOURS_PER_DAY : 1);

/** The first hour of the bucket `hour` falls in. */
export function bucketStart(hour: number, granularity: Granularity): number {
  const size = hoursPerBucket(granularity);
  return hour - (((hour % size) + size) % size);
}

/** The oldest hour a retention of `retentionMs` keeps at `nowMs` (the current hour is one of those kept). */
export function firstKeptHour(nowMs: number, retentionMs: number): number {
  return hourOf(nowMs) - Math.max(1, Math.floor(retentionMs / HOUR_MS)) + 1;
}

/** A query's range held to what the retention keeps (empty when none of it is kept). */
export function withinRetention<R extends UsageRange>(range: R, nowMs: number, retentionMs: number): R {
  const fromHour = Math.max(range.fromHour, firstKeptHour(nowMs, retentionMs));
  return { ...range, fromHour, toHour: Math.max(fromHour, range.toHour) };
}

/** A row of GET /admin/usage. */
export interface UsageRow extends UsageCounts {
  key_id: string;
  start: string;
  model?: string;
}

/**
 * Each key's buckets (each list in time order, as the key's object sends it) → the answer's rows, in time order
 * and, at each time, in the order the keys are given. Linear: buckets are placed by their hour, not sorted.
 */
export function mergeUsage(perKey: readonly { id: string; buckets: readonly UsageTuple[] }[], range: UsageRange): UsageRow[] {
  const slots: UsageRow[][] = [];
  const size = hoursPerBucket(range.granularity);
  const first = bucketStart(range.fromHour, range.granularity);
  // Every key has the same few thousand bucket starts at most: each is formatted once.
  const starts = new Map<number, string>();
  const iso = (start: number) => starts.get(start) ?? starts.set(start, new Date(start * HOUR_MS).toISOString()).get(start)!;
  for (const { id, buckets } of perKey) {
    for (const [start, requests, prompt_tokens, completion_tokens, errors, model] of buckets) {
      const head = { key_id: id, start: iso(start) };
      const row: UsageRow =
        model === undefined
          ? { ...head, requests, prompt_tokens, completion_tokens, errors }
          : { ...head, model, requests, prompt_tokens, completion_tokens, errors };
      (slots[(start - first) / size] ??= []).push(row);
    }
  }
  return slots.flat();
}
