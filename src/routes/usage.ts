import { ApiError } from "../core/errors.ts";
import { json } from "../http/respond.ts";
import { keyObject } from "../keys/key-object.ts";
import { keyRegistry } from "../keys/registry.ts";
import { mergeUsage, type UsageTuple, withinRetention } from "../keys/usage.ts";
import type { AppContext } from "../pipeline/context.ts";
import { parseUsageQuery } from "./usage-query.ts";

/**
 * GET /admin/usage: the keys' usage over time, gathered from each key's own object in parallel (the registry lists
 * them), each answering with its buckets already summed. Keys revoked meanwhile are left out.
 */
export async function usageReport(request: Request, app: AppContext): Promise<Response> {
  const now = Date.now();
  const query = parseUsageQuery(new URL(request.url), now);
  const range = withinRetention(query, now, app.config.usageRetentionMs);
  const entries = await keyRegistry(app.env).list();
  const chosen = query.key === null ? entries : entries.filter((entry) => entry.id === query.key);
  if (!chosen.length && query.key !== null) {
    throw new ApiError(404, `No API key with id '${query.key}'.`, "invalid_request_error", "key_not_found", "key");
  }
  const { fromHour, toHour, granularity, byModel } = range;
  const answers = await Promise.all(chosen.map((entry) => keyObject(app.env, entry.hash).usage({ fromHour, toHour, granularity, byModel })));
  // RPC's types widen the objects' tuples to arrays; they arrive exactly as the object built them.
  const perKey = answers.filter((answer) => answer !== null) as { id: string; buckets: UsageTuple[] }[];
  return json({ data: mergeUsage(perKey, range) }, 200, { "cache-control": "no-store" });
}
