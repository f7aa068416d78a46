import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/core/errors.ts";
import { bucketStart, firstKeptHour, HOUR_MS, hourOf, mergeUsage, type UsageTuple, withinRetention } from "../../src/keys/usage.ts";
import { Outcome, reportStreamEnd, streamEndedInError } from "../../src/pipeline/outcome.ts";
import { parseUsageQuery } from "../../src/routes/usage-query.ts";

const DAY = 24 * HOUR_MS;
const at = (iso: string) => Date.parse(iso);
const hour = (iso: string) => hourOf(at(iso));
const query = (search: string, now = at("2026-05-10T12:34:56Z")) => parseUsageQuery(new URL(`https://gateway.test/admin/usage?${search}`), now);

describe("usage buckets", () => {
  it("an instant falls in its UTC hour; a day bucket starts at UTC midnight", () => {
    expect(hourOf(at("2026-05-10T12:34:56Z")) * HOUR_MS).toBe(at("2026-05-10T12:00:00Z"));
    expect(hourOf(at("2026-05-10T12:00:00Z"))).toBe(hourOf(at("2026-05-10T12:59:59.999Z")));
    expect(bucketStart(hour("2026-05-10T12:34:56Z"), "hour")).toBe(hour("2026-05-10T12:00:00Z"));
    expect(bucketStart(hour("2026-05-10T23:59:00Z"), "day")).toBe(hour("2026-05-10T00:00:00Z"));
    expect(bucketStart(hour("2026-05-11T00:00:00Z"), "day")).toBe(hour("2026-05-11T00:00:00Z"));
  });

  it("retention keeps the current hour and the ones before it, up to the retention's length", () => {
    const now = at("2026-05-10T12:34:56Z");
    expect(firstKeptHour(now, 90 * DAY)).toBe(hourOf(now) - 90 * 24 + 1);
    expect(firstKeptHour(now, HOUR_MS)).toBe(hourOf(now));
    // Less than an hour still keeps the current one (configuration refuses it anyway).
    expect(firstKeptHour(now, 1000)).toBe(hourOf(now));
    const range = { fromHour: 0, toHour: hourOf(now) + 1, granularity: "hour" as const, byModel: false };
    expect(withinRetention(range, now, 2 * HOUR_MS)).toEqual({ ...range, fromHour: hourOf(now) - 1 });
    // A range entirely older than what is kept becomes empty, never inverted.
    const old = { ...range, toHour: 100 };
    const held = withinRetention(old, now, 2 * HOUR_MS);
    expect(held.toHour - held.fromHour).toBe(0);
  });

  it("merges the keys' buckets in time order, keys in the order given at each time, with ISO starts", () => {
    const h = hour("2026-05-10T10:00:00Z");
    const a: UsageTuple[] = [
      [h, 1, 10, 20, 0],
      [h + 2, 3, 30, 60, 1],
    ];
    const b: UsageTuple[] = [
      [h + 1, 2, 5, 5, 0],
      [h + 2, 1, 1, 1, 1],
    ];
    const rows = mergeUsage(
      [
        { id: "key_a", buckets: a },
        { id: "key_b", buckets: b },
      ],
      { fromHour: h, toHour: h + 3, granularity: "hour", byModel: false },
    );
    expect(rows).toStrictEqual([
      { key_id: "key_a", start: "2026-05-10T10:00:00.000Z", requests: 1, prompt_tokens: 10, completion_tokens: 20, errors: 0 },
      { key_id: "key_b", start: "2026-05-10T11:00:00.000Z", requests: 2, prompt_tokens: 5, completion_tokens: 5, errors: 0 },
      { key_id: "key_a", start: "2026-05-10T12:00:00.000Z", requests: 3, prompt_tokens: 30, completion_tokens: 60, errors: 1 },
      { key_id: "key_b", start: "2026-05-10T12:00:00.000Z", requests: 1, prompt_tokens: 1, completion_tokens: 1, errors: 1 },
    ]);
    expect(Object.keys(rows[0]!)).toEqual(["key_id", "start", "requests", "prompt_tokens", "completion_tokens", "errors"]);
  });

  it("day buckets (a range not starting at midnight) and per-model buckets merge the same way", () => {
    const midnight = hour("2026-05-09T00:00:00Z");
    const rows = mergeUsage(
      [
        {
          id: "key_a",
          buckets: [
            [midnight, 5, 1, 1, 0, "llama3.2:latest"],
            [midnight, 2, 1, 1, 0, "qwen3:8b"],
            [midnight + 24, 1, 1, 1, 0, "qwen3:8b"],
          ],
        },
      ],
      { fromHour: midnight + 7, toHour: midnight + 48, granularity: "day", byModel: true },
    );
    expect(rows.map((row) => [row.start.slice(0, 10), row.model, row.requests])).toEqual([
      ["2026-05-09", "llama3.2:latest", 5],
      ["2026-05-09", "qwen3:8b", 2],
      ["2026-05-10", "qwen3:8b", 1],
    ]);
    expect(Object.keys(rows[0]!)).toEqual(["key_id", "start", "model", "requests", "prompt_tokens", "completion_tokens", "errors"]);
  });
});

describe("the query of GET /admin/usage", () => {
  const now = at("2026-05-10T12:34:56Z");

  it("defaults: every key, by hour, the week before now, the running hour included", () => {
    expect(query("")).toEqual({ key: null, fromHour: hourOf(now - 7 * DAY), toHour: hourOf(now) + 1, granularity: "hour", byModel: false });
  });

  it("from and to select whole hours: from's own hour on, to's excluded unless to is inside it", () => {
    expect(query("from=2026-05-10T09:30:00Z&to=2026-05-10T11:00:00Z")).toMatchObject({
      fromHour: hour("2026-05-10T09:00:00Z"),
      toHour: hour("2026-05-10T11:00:00Z"),
    });
    expect(query("from=2026-05-10T09:00:00Z&to=2026-05-10T11:00:01Z")).toMatchObject({
      fromHour: hour("2026-05-10T09:00:00Z"),
      toHour: hour("2026-05-10T12:00:00Z"),
    });
    expect(query("from=2026-05-10T11:00:00%2B02:00")).toMatchObject({ fromHour: hour("2026-05-10T09:00:00Z") });
  });

  it("by day, the range widens to whole UTC days", () => {
    expect(query("granularity=day&from=2026-05-01T15:00:00Z&to=2026-05-03T01:00:00Z")).toMatchObject({
      fromHour: hour("2026-05-01T00:00:00Z"),
      toHour: hour("2026-05-04T00:00:00Z"),
      granularity: "day",
    });
    expect(query("granularity=day&from=2026-05-01&to=2026-05-03")).toMatchObject({
      fromHour: hour("2026-05-01T00:00:00Z"),
      toHour: hour("2026-05-03T00:00:00Z"),
    });
  });

  it("key and by=model", () => {
    expect(query("key=key_abc&by=model")).toMatchObject({ key: "key_abc", byModel: true });
  });

  it("refuses what it cannot read, naming the parameter", () => {
    const refusal = (search: string) => {
      try {
        query(search);
      } catch (error) {
        return error instanceof ApiError ? [error.status, error.param] : error;
      }
      return "accepted";
    };
    expect(refusal("granularity=week")).toEqual([400, "granularity"]);
    expect(refusal("granularity=")).toEqual([400, "granularity"]);
    expect(refusal("from=last%20tuesday")).toEqual([400, "from"]);
    expect(refusal("to=1715000000")).toEqual([400, "to"]);
    expect(refusal("from=2026-05-10T12:00:00Z&to=2026-05-10T12:00:00Z")).toEqual([400, "from"]);
    expect(refusal("by=backend")).toEqual([400, "by"]);
  });
});

describe("how a request ended, for the usage records", () => {
  it("a settlement waits for the answer's outcome, and only the first decision counts", () => {
    const outcome = new Outcome();
    const seen: boolean[] = [];
    outcome.whenDecided((failed) => seen.push(failed));
    expect(seen).toEqual([]);
    outcome.decide(true);
    outcome.decide(false);
    outcome.whenDecided((failed) => seen.push(failed));
    expect(seen).toEqual([true, true]);
  });

  it("a stream's end says whether it ended with an error event, only while its end is reported", () => {
    const during: boolean[] = [];
    reportStreamEnd(true, () => during.push(streamEndedInError()));
    reportStreamEnd(false, () => during.push(streamEndedInError()));
    expect(during).toEqual([true, false]);
    expect(streamEndedInError()).toBe(false);
    expect(() =>
      reportStreamEnd(true, () => {
        throw new Error("a callback that fails");
      }),
    ).toThrow();
    expect(streamEndedInError()).toBe(false);
  });
});
