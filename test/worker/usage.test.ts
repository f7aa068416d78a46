import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import type { KeyObject } from "../../src/keys/key-object.ts";
import { ADMIN_AUTH, createKey, emulator, gatewayWith, postJson, postJsonWith, readSse, user } from "./helpers.ts";

const bindings = env as Env;
const HOUR = 3_600_000;
const ROW_FIELDS = ["key_id", "start", "requests", "prompt_tokens", "completion_tokens", "errors"];

beforeEach(() => emulator.reset());

function admin(path: string, authorization = ADMIN_AUTH): Promise<Response> {
  return exports.default.fetch(new Request(`https://gateway.test${path}`, { headers: { authorization } }));
}

async function usage(query: string): Promise<any[]> {
  const res = await admin(`/admin/usage${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as any).data;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const chat = (key: string, extra: Record<string, unknown> = {}) =>
  postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("hi")], ...extra }, bearer(key));
const hourStart = (ms: number) => new Date(Math.floor(ms / HOUR) * HOUR).toISOString();

async function keyStub(key: string) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  const hash = [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return bindings.KEYS.get(bindings.KEYS.idFromName(hash));
}

/** Generated usage rows, straight into a key's table: one per hour from `fromHour` to `toHour` (excluded). */
async function insertHours(key: string, fromHour: number, toHour: number, model = "llama3.2:latest"): Promise<void> {
  await runInDurableObject(await keyStub(key), async (_instance: KeyObject, state) => {
    state.storage.sql.exec(
      `WITH RECURSIVE h(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM h WHERE x + 1 < ?)
       INSERT INTO usage (hour, model, requests, prompt_tokens, completion_tokens, errors) SELECT x, ?, 2, 30, 50, x % 2 FROM h`,
      fromHour,
      toHour,
      model,
    );
  });
}

describe("GET /admin/usage: authentication first", () => {
  it("401 without the token or with a wrong one or an API key, before the query is read; 404 without ADMIN_TOKEN", async () => {
    for (const authorization of ["", "Bearer wrong-admin-token-0123456789abcdef0"]) {
      const res = await admin("/admin/usage?granularity=week&from=yesterday", authorization);
      expect(res.status).toBe(401);
    }
    const created = await createKey({ name: "not admin" });
    expect((await admin("/admin/usage", `Bearer ${created.key}`)).status).toBe(401);
    const absent = await gatewayWith({ ADMIN_TOKEN: "" }, "/admin/usage?granularity=week", { headers: { authorization: ADMIN_AUTH } });
    expect(absent.status).toBe(404);
    expect(((await absent.json()) as any).error.type).toBe("invalid_request_error");
  });
});

describe("GET /admin/usage: what is recorded", () => {
  it("answers the exact shape: one row per key and hour, with requests, tokens and errors, matching the key's totals", async () => {
    const created = await createKey({ name: "usage shape" });
    const before = Date.now();
    expect((await chat(created.key)).status).toBe(200);
    const stream = await chat(created.key, { stream: true });
    expect(stream.status).toBe(200);
    await stream.text();
    await expect.poll(async () => (await usage(`?key=${created.id}`))[0]?.completion_tokens).toBe(8);
    const rows = await usage(`?key=${created.id}`);
    expect(rows).toStrictEqual([{ key_id: created.id, start: hourStart(before), requests: 2, prompt_tokens: 4, completion_tokens: 8, errors: 0 }]);
    expect(Object.keys(rows[0])).toEqual(ROW_FIELDS);
    const listed = ((await (await admin("/admin/keys")).json()) as any).data.find((key: any) => key.id === created.id);
    expect(listed.usage).toEqual({ requests: 2, prompt_tokens: 4, completion_tokens: 8 });
  });

  it("counts as errors: a backend error status, an error line in a stream, an error in a whole answer; not a refusal before admission", async () => {
    const created = await createKey({ name: "usage errors" });
    await emulator.fault({ fault: { kind: "html", status: 502 }, times: 1 });
    expect((await chat(created.key)).status).toBe(502);
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 1, message: "runner crashed" }, times: 1 });
    const stream = await chat(created.key, { stream: true });
    expect(stream.status).toBe(200);
    expect((await readSse(stream)).data.some((data) => data.includes("runner crashed"))).toBe(true);
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 1, message: "runner crashed" }, times: 1 });
    expect((await chat(created.key)).status).toBeGreaterThanOrEqual(500);
    expect((await chat(created.key)).status).toBe(200);
    // Refused before admission: a bad body, a model that does not exist. Neither reached the key's limits.
    expect((await chat(created.key, { temperature: "hot" })).status).toBe(400);
    expect((await chat(created.key, { model: "no-such-model" })).status).toBe(404);
    await expect.poll(async () => (await usage(`?key=${created.id}`))[0]?.errors).toBe(3);
    expect((await usage(`?key=${created.id}`))[0]).toMatchObject({ requests: 4, errors: 3 });
  });

  it("a client that hangs up is not an error", async () => {
    const created = await createKey({ name: "usage hangup" });
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 }, times: 1 });
    const stream = await chat(created.key, { stream: true });
    const reader = stream.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect((await chat(created.key)).status).toBe(200);
    const stub = await keyStub(created.key);
    await expect.poll(() => stub.inFlight()).toBe(0);
    expect((await usage(`?key=${created.id}`))[0]).toMatchObject({ requests: 2, errors: 0 });
  });

  it("by=model splits the rows by the model that served them", async () => {
    const created = await createKey({ name: "usage models" });
    expect((await chat(created.key)).status).toBe(200);
    expect((await chat(created.key, { model: "qwen3:8b" })).status).toBe(200);
    await expect.poll(async () => (await usage(`?key=${created.id}&by=model`)).filter((row) => row.completion_tokens > 0).length).toBe(2);
    const rows = await usage(`?key=${created.id}&by=model`);
    expect(rows.map((row) => [row.model, row.requests])).toEqual([
      ["llama3.2:latest", 1],
      ["qwen3:8b", 1],
    ]);
    expect(Object.keys(rows[0])).toEqual(["key_id", "start", "model", ...ROW_FIELDS.slice(2)]);
  });
});

describe("GET /admin/usage: filters", () => {
  it("from, to, granularity and key select and sum the hours", async () => {
    const created = await createKey({ name: "usage filters" });
    const other = await createKey({ name: "usage filters 2" });
    const now = Math.floor(Date.now() / HOUR);
    await insertHours(created.key, now - 72, now); // three whole days of hours before this one, 2 requests each
    await insertHours(other.key, now - 2, now);
    const hourly = await usage(`?key=${created.id}&granularity=hour&from=${new Date((now - 5) * HOUR).toISOString()}`);
    expect(hourly.map((row) => row.start)).toEqual([5, 4, 3, 2, 1].map((ago) => new Date((now - ago) * HOUR).toISOString()));
    expect(hourly.every((row) => row.requests === 2 && row.prompt_tokens === 30 && row.completion_tokens === 50)).toBe(true);
    // `to` is excluded; a `from` inside an hour includes that hour.
    const window = await usage(`?key=${created.id}&from=${new Date((now - 3) * HOUR + 1).toISOString()}&to=${new Date((now - 1) * HOUR).toISOString()}`);
    expect(window.map((row) => row.start)).toEqual([new Date((now - 3) * HOUR).toISOString(), new Date((now - 2) * HOUR).toISOString()]);

    const daily = await usage(`?key=${created.id}&granularity=day&from=${new Date((now - 72) * HOUR).toISOString()}`);
    expect(daily.reduce((sum, row) => sum + row.requests, 0)).toBe(144);
    for (const row of daily) expect(Date.parse(row.start) % (24 * HOUR)).toBe(0);
    expect(daily.reduce((sum, row) => sum + row.errors, 0)).toBe(36);

    const both = await usage(`?from=${new Date((now - 2) * HOUR).toISOString()}`);
    const ids = new Set(both.map((row) => row.key_id));
    expect(ids.has(created.id) && ids.has(other.id)).toBe(true);
    for (let i = 1; i < both.length; i++) expect(Date.parse(both[i].start)).toBeGreaterThanOrEqual(Date.parse(both[i - 1].start));
    // Default: the week before now.
    expect((await usage(`?key=${created.id}`)).length).toBe(72);
  });

  it("rejects a bad query with the parameter named, and an unknown key with 404", async () => {
    const cases: [string, string][] = [
      ["granularity=week", "granularity"],
      ["from=yesterday", "from"],
      ["to=2026-13-45T99:00:00Z", "to"],
      ["from=2026-05-02&to=2026-05-01", "from"],
      ["by=backend", "by"],
    ];
    for (const [query, param] of cases) {
      const res = await admin(`/admin/usage?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as any).error).toMatchObject({ type: "invalid_request_error", param });
    }
    const unknown = await admin("/admin/usage?key=key_doesnotexist0000");
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).error.code).toBe("key_not_found");
  });

  it("keeps USAGE_RETENTION: older hours are never answered, and are deleted as the key is used", async () => {
    const created = await createKey({ name: "usage retention" });
    const now = Math.floor(Date.now() / HOUR);
    await insertHours(created.key, now - 100 * 24, now - 89 * 24);
    const kept = await usage(`?key=${created.id}&granularity=day&from=${new Date((now - 120 * 24) * HOUR).toISOString()}`);
    // 90 days are kept, this hour included, so the oldest kept hour is 90 × 24 − 1 hours ago: of the generated hours
    // (up to 89 days ago, excluded), 23 are kept.
    expect(kept.reduce((sum, row) => sum + row.requests, 0)).toBe(2 * 23);
    const short = { USAGE_RETENTION: "24h" };
    const shortly = await gatewayWith(short, `/admin/usage?key=${created.id}&from=2000-01-01`, { headers: { authorization: ADMIN_AUTH } });
    expect(((await shortly.json()) as any).data).toEqual([]);
    // The next admission prunes what the retention no longer keeps.
    expect((await postJsonWith(short, "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] }, bearer(created.key))).status).toBe(200);
    // A query writes the counts the object still holds (see UsageTable): then the table has this hour's row only.
    const flushed = await gatewayWith(short, `/admin/usage?key=${created.id}`, { headers: { authorization: ADMIN_AUTH } });
    expect(((await flushed.json()) as any).data).toMatchObject([{ requests: 1 }]);
    const stored = await runInDurableObject(
      await keyStub(created.key),
      async (_instance: KeyObject, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM usage").one().n,
    );
    expect(stored).toBe(1);
  });
});

describe("GET /admin/usage: 100 keys × 90 days", () => {
  it("answers in well under a second, by day and by hour", { timeout: 120_000 }, async () => {
    const keys = [];
    for (let i = 0; i < 100; i += 10) keys.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => createKey({ name: `bulk ${i + j}` })))));
    const now = Math.floor(Date.now() / HOUR);
    await Promise.all(keys.map((created) => insertHours(created.key, now - 90 * 24 + 1, now + 1)));
    const from = new Date((now - 90 * 24 + 1) * HOUR).toISOString();
    const timed = async (query: string) => {
      const started = performance.now();
      const res = await admin(`/admin/usage?${query}`);
      const text = await res.text();
      const ms = performance.now() - started; // the whole answer received; parsing it is the client's time
      return { ms, rows: (JSON.parse(text) as any).data.length as number, status: res.status, bytes: text.length };
    };
    await timed(`granularity=day&from=${from}`); // wakes the 100 objects, as a console's first load would
    const day = await timed(`granularity=day&from=${from}`);
    const week = await timed(`granularity=hour&from=${new Date((now - 7 * 24 + 1) * HOUR).toISOString()}`);
    const hour = await timed(`granularity=hour&from=${from}`);
    const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
    const line = (label: string, t: { rows: number; bytes: number; ms: number }) => `${label}: ${t.rows} rows (${mb(t.bytes)} MB) in ${t.ms.toFixed(0)} ms`;
    console.log(
      `/admin/usage, 100 keys × 90 days (2,160 hourly rows each) — ${line("90 days by day", day)}; ${line("7 days by hour", week)}; ${line("90 days by hour", hour)}`,
    );
    expect([day.status, week.status, hour.status]).toEqual([200, 200, 200]);
    expect(day.rows).toBeGreaterThanOrEqual(100 * 90);
    expect(week.rows).toBeGreaterThanOrEqual(100 * 7 * 24);
    expect(hour.rows).toBeGreaterThanOrEqual(100 * 90 * 24);
    // The console's views (by day for 30 and 90 days, by hour for a week): well under a second, even on a small
    // shared machine. All 216,000 hours in one answer is 29 MB of JSON; it must still come within a second or two.
    expect(day.ms).toBeLessThan(500);
    expect(week.ms).toBeLessThan(500);
    expect(hour.ms).toBeLessThan(2000);
  });
});
