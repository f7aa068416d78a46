import { hoursPerBucket, type UsageCounts, type UsageRange, type UsageTuple } from "./usage.ts";

/**
 * A key's hourly usage, one SQLite row per hour and model, in the key's own object: counted by the calls every
 * request already makes (admission counts the request, settlement its tokens and outcome), so recording usage adds
 * no round trip. Counts gather in memory and reach SQLite with the object's other deferred writes (`flush`): a
 * statement per admission and per settlement was an SQLite commit each, which the object's reply waited for.
 * Rows older than the retention are deleted once an hour; the table is therefore bounded by the retention's hours
 * times the models the key used in each (models come from the backends' lists, not from clients).
 */
export class UsageTable {
  readonly #sql: SqlStorage;
  /** The hour rows were last pruned in, so pruning costs one statement per hour, not per request. */
  #prunedHour = Number.NaN;
  /** Counts not written yet, by hour and model. */
  #pending = new Map<string, { hour: number; model: string; counts: UsageCounts }>();

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    sql.exec(
      `CREATE TABLE IF NOT EXISTS usage (
        hour INTEGER NOT NULL, model TEXT NOT NULL,
        requests INTEGER NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, errors INTEGER NOT NULL,
        PRIMARY KEY (hour, model)) WITHOUT ROWID`,
    );
  }

  add(hour: number, model: string, counts: UsageCounts): void {
    const at = `${hour} ${model}`;
    const held = this.#pending.get(at);
    if (!held) {
      this.#pending.set(at, { hour, model, counts: { ...counts } });
      return;
    }
    held.counts.requests += counts.requests;
    held.counts.prompt_tokens += counts.prompt_tokens;
    held.counts.completion_tokens += counts.completion_tokens;
    held.counts.errors += counts.errors;
  }

  /** Write the gathered counts (the caller's deferred write, or before a query reads the table). */
  flush(): void {
    for (const { hour, model, counts } of this.#pending.values()) this.#write(hour, model, counts);
    this.#pending.clear();
  }

  /** Forget the gathered counts (the key is gone). */
  discard(): void {
    this.#pending.clear();
  }

  #write(hour: number, model: string, counts: UsageCounts): void {
    this.#sql.exec(
      `INSERT INTO usage (hour, model, requests, prompt_tokens, completion_tokens, errors) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (hour, model) DO UPDATE SET requests = requests + excluded.requests, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
         completion_tokens = completion_tokens + excluded.completion_tokens, errors = errors + excluded.errors`,
      hour,
      model,
      counts.requests,
      counts.prompt_tokens,
      counts.completion_tokens,
      counts.errors,
    );
  }

  /** Delete the rows before `firstKept`, at most once per `currentHour`. */
  prune(currentHour: number, firstKept: number): void {
    if (this.#prunedHour === currentHour) return;
    this.#prunedHour = currentHour;
    this.#sql.exec("DELETE FROM usage WHERE hour < ?", firstKept);
  }

  /**
   * The range's buckets, summed by SQLite (a day of 24 rows in one step): measured in workerd, a query by day over
   * 90 days takes 0.7 ms per key this way, against 3.4 ms to read the 2,160 rows and sum them in JavaScript.
   */
  buckets(range: UsageRange): UsageTuple[] {
    this.flush();
    const size = hoursPerBucket(range.granularity);
    const model = range.byModel ? ", model" : "";
    const cursor = this.#sql.exec<Record<string, number | string>>(
      `SELECT hour - hour % ?1 AS start, SUM(requests), SUM(prompt_tokens), SUM(completion_tokens), SUM(errors)${model}
       FROM usage WHERE hour >= ?2 AND hour < ?3 GROUP BY start${model} ORDER BY start${model}`,
      size,
      range.fromHour,
      range.toHour,
    );
    return [...cursor.raw()] as UsageTuple[];
  }
}
