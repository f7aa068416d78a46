import { invalidRequest } from "../core/errors.ts";
import { bucketStart, type Granularity, HOUR_MS, hourOf, hoursPerBucket, type UsageRange } from "../keys/usage.ts";

/** Without `from`, a query covers the week before `to`. */
const DEFAULT_SPAN_MS = 7 * 24 * HOUR_MS;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

export interface UsageQuery extends UsageRange {
  /** One key's id, or null for every key. */
  key: string | null;
}

function instant(params: URLSearchParams, name: "from" | "to", fallback: number): number {
  const raw = params.get(name);
  if (raw === null || raw === "") return fallback;
  const ms = ISO_DATE.test(raw) ? Date.parse(raw) : Number.NaN;
  if (Number.isNaN(ms)) throw invalidRequest(`${name} must be an ISO-8601 date or time, such as 2026-05-01 or 2026-05-01T12:00:00Z.`, name);
  return ms;
}

/**
 * The query of GET /admin/usage: `key` (an id), `from` and `to` (ISO-8601; default the week before now),
 * `granularity` (`hour`, the default, or `day`: UTC days), and `by=model` for one bucket per model. The buckets
 * answered are the whole hours (or days) from the one `from` falls in up to the one `to` falls in, excluded unless
 * `to` is inside it: so every bucket is whole, and the one now running is included while it runs.
 */
export function parseUsageQuery(url: URL, nowMs: number): UsageQuery {
  const params = url.searchParams;
  const granularity = params.get("granularity") ?? "hour";
  if (granularity !== "hour" && granularity !== "day") throw invalidRequest("granularity must be 'hour' or 'day'.", "granularity");
  const by = params.get("by");
  if (by !== null && by !== "model") throw invalidRequest("by must be 'model' (or absent).", "by");
  const to = instant(params, "to", nowMs);
  const from = instant(params, "from", to - DEFAULT_SPAN_MS);
  if (from >= to) throw invalidRequest("from must be before to.", "from");
  const unit = granularity as Granularity;
  const lastHour = Math.ceil(to / HOUR_MS) - 1;
  return {
    key: params.get("key") || null,
    fromHour: bucketStart(hourOf(from), unit),
    toHour: bucketStart(lastHour, unit) + hoursPerBucket(unit),
    granularity: unit,
    byModel: by === "model",
  };
}
