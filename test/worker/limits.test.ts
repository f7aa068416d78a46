import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import { ADMIN_AUTH, createKey, emulator, gateway, gatewayWith, postJson, postJsonWith, readSse, user } from "./helpers.ts";

const bindings = env as Env;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

beforeEach(() => emulator.reset());

async function keyStub(key: string) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  const hash = [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return bindings.KEYS.get(bindings.KEYS.idFromName(hash));
}

async function usageOf(id: string): Promise<{ requests: number; prompt_tokens: number; completion_tokens: number }> {
  const res = await gateway("/admin/keys", { headers: { authorization: ADMIN_AUTH } });
  return ((await res.json()) as any).data.find((key: any) => key.id === id).usage;
}

const RATE_HEADERS = [
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
];

describe("requests per minute", () => {
  it("is exact: 64 parallel requests against rpm 10 admit exactly 10", async () => {
    const created = await createKey({ name: "rpm", rpm: 10, max_concurrency: 100 });
    const responses = await Promise.all(Array.from({ length: 64 }, () => gateway("/v1/models", { headers: bearer(created.key) })));
    const statuses = responses.map((res) => res.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(10);
    expect(statuses.filter((status) => status === 429)).toHaveLength(54);
    const limited = responses.find((res) => res.status === 429)!;
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(((await limited.json()) as any).error).toEqual({
      message: "Rate limit reached: 10 requests per minute for this key.",
      type: "rate_limit_exceeded",
      param: null,
      code: "rate_limit_exceeded",
    });
    expect(limited.headers.get("x-ratelimit-remaining-requests")).toBe("0");
  });

  it("every authenticated /v1 response carries the six x-ratelimit headers with true values", async () => {
    const created = await createKey({ name: "headers", rpm: 10, tpm: 10000 });
    const first = await postJson("/v1/chat/completions", { model: "llama3.2", max_tokens: 100, messages: [user("hi")] }, bearer(created.key));
    expect(first.status).toBe(200);
    for (const name of RATE_HEADERS) expect(first.headers.get(name), name).not.toBeNull();
    expect(first.headers.get("x-ratelimit-limit-requests")).toBe("10");
    expect(first.headers.get("x-ratelimit-remaining-requests")).toBe("9");
    expect(first.headers.get("x-ratelimit-reset-requests")).toBe("1m0s");
    expect(first.headers.get("x-ratelimit-limit-tokens")).toBe("10000");
    const reserved = 10000 - Number(first.headers.get("x-ratelimit-remaining-tokens"));
    expect(reserved).toBeGreaterThanOrEqual(100); // the answer's cap is reserved up front
    const second = await gateway("/v1/models", { headers: bearer(created.key) });
    expect(second.headers.get("x-ratelimit-remaining-requests")).toBe("8");
    // The first request settled to its real usage (2 + 4 tokens), so far less is held now.
    await expect.poll(async () => Number((await gateway("/v1/models", { headers: bearer(created.key) })).headers.get("x-ratelimit-remaining-tokens"))).toBe(10000 - 6);
    const stream = await postJson("/v1/chat/completions", { model: "llama3.2", stream: true, messages: [user("hi")] }, bearer(created.key));
    expect(stream.headers.get("x-ratelimit-limit-requests")).toBe("10");
    await readSse(stream);
    // Errors after admission carry them too: the request was counted.
    const missing = await postJson("/v1/chat/completions", { model: "nope", messages: [user("hi")] }, bearer(created.key));
    expect(missing.status).toBe(404);
    for (const name of RATE_HEADERS) expect(missing.headers.get(name), name).not.toBeNull();
    expect(Number(missing.headers.get("x-ratelimit-remaining-requests"))).toBeLessThan(8);
    for (const path of ["/v1/embeddings", "/v1/completions"]) {
      const body = path === "/v1/embeddings" ? { model: "nomic-embed-text", input: "x" } : { model: "llama3.2", prompt: "x" };
      const res = await postJson(path, body, bearer(created.key));
      expect(res.status, path).toBe(200);
      for (const name of RATE_HEADERS) expect(res.headers.get(name), `${path} ${name}`).not.toBeNull();
    }
  });
});

describe("tokens per minute: reserved at admission, settled with real usage", () => {
  it("refuses a request whose reservation does not fit, then admits once usage settles", async () => {
    const created = await createKey({ name: "tpm", tpm: 300, rpm: 100 });
    const big = await postJson("/v1/chat/completions", { model: "llama3.2", max_tokens: 280, messages: [user("hi")] }, bearer(created.key));
    expect(big.status).toBe(200);
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: 2, completion_tokens: 4 });
    // 6 tokens used; a 290-token reservation still fits (296 ≤ 300); a 300-token one does not.
    const tooBig = await postJson("/v1/chat/completions", { model: "llama3.2", max_tokens: 298, messages: [user("hi")] }, bearer(created.key));
    expect(tooBig.status).toBe(429);
    expect(((await tooBig.json()) as any).error.message).toMatch(/^Token limit reached: 300 tokens per minute/);
  });

  it("settles a non-stream request, a stream, and a stream the client aborted", async () => {
    const created = await createKey({ name: "settle", tpm: 100000 });
    await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("one two")] }, bearer(created.key));
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: 3, completion_tokens: 5 });

    await readSse(await postJson("/v1/chat/completions", { model: "llama3.2", stream: true, messages: [user("one two")] }, bearer(created.key)));
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 2, prompt_tokens: 6, completion_tokens: 10 });

    await emulator.fault({ fault: { kind: "stall", afterLines: 3 }, times: 1 });
    const aborted = await postJson("/v1/chat/completions", { model: "llama3.2", stream: true, messages: [user("one two")] }, bearer(created.key));
    const reader = aborted.body!.getReader();
    let text = "";
    while (!text.includes('" said:"')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    // Three answer tokens were generated before the abort; the prompt is charged at its estimate.
    await expect.poll(async () => (await usageOf(created.id)).completion_tokens).toBe(13);
    expect((await usageOf(created.id)).prompt_tokens).toBeGreaterThan(6);
  });
});

describe("concurrency", () => {
  it("caps requests in flight per key and frees every slot on completion, error and abort", async () => {
    const created = await createKey({ name: "conc", max_concurrency: 3, rpm: 1000 });
    const stub = await keyStub(created.key);
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 } });
    const open = await Promise.all(
      Array.from({ length: 3 }, () => postJson("/v1/chat/completions", { model: "llama3.2", stream: true, messages: [user("x")] }, bearer(created.key))),
    );
    expect(open.map((res) => res.status)).toEqual([200, 200, 200]);
    const fourth = await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("x")] }, bearer(created.key));
    expect(fourth.status).toBe(429);
    expect(((await fourth.json()) as any).error.message).toMatch(/^Concurrency limit reached: this key may have 3 requests in flight/);
    expect(await stub.inFlight()).toBe(3);
    for (const res of open) await res.body!.cancel();
    await expect.poll(() => stub.inFlight()).toBe(0);

    // Many aborted streams, an upstream error and a validation error later: still nothing leaked.
    for (let round = 0; round < 4; round++) {
      const batch = await Promise.all(
        Array.from({ length: 3 }, () => postJson("/v1/chat/completions", { model: "llama3.2", stream: true, messages: [user("x")] }, bearer(created.key))),
      );
      for (const res of batch) await res.body!.cancel();
      await expect.poll(() => stub.inFlight()).toBe(0);
    }
    await emulator.fault({ fault: { kind: "busy" } });
    expect((await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("x")] }, bearer(created.key))).status).toBe(503);
    expect((await postJson("/v1/chat/completions", { model: "nope", messages: [user("x")] }, bearer(created.key))).status).toBe(404);
    await expect.poll(() => stub.inFlight()).toBe(0);
    await expect.poll(async () => (await emulator.stats()).open).toBe(0);
  });
});

describe("gateway-wide backend gate", () => {
  const gated = { BACKEND_MAX_CONCURRENCY: "1", QUEUE_MAX_WAIT: "10s" };
  const streamFor = (key: string) =>
    gatewayWith(gated, "/v1/chat/completions", {
      method: "POST",
      headers: { ...bearer(key), "content-type": "application/json" },
      body: JSON.stringify({ model: "llama3.2", stream: true, messages: [user("x")] }),
    });

  it("queues fairly across keys: one greedy key cannot starve another", async () => {
    const greedy = await createKey({ name: "greedy", max_concurrency: 10 });
    const polite = await createKey({ name: "polite" });
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 } });
    const order: string[] = [];
    const track = (label: string, pending: Promise<Response>) => pending.then((res) => (order.push(label), res));
    const a1 = await track("A1", streamFor(greedy.key));
    const queued: Promise<Response>[] = [];
    for (const label of ["A2", "A3", "A4"]) {
      queued.push(track(label, streamFor(greedy.key)));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const b1 = track("B1", streamFor(polite.key));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(order).toEqual(["A1"]);

    const release = async (pending: Promise<Response>) => (await pending).body!.cancel();
    await release(Promise.resolve(a1));
    await expect.poll(() => order.length).toBe(2);
    await release(queued[0]!);
    await expect.poll(() => order.length).toBe(3);
    expect(order).toEqual(["A1", "A2", "B1"]);
    await release(b1);
    await release(queued[1]!);
    await release(queued[2]!);
    expect(order).toEqual(["A1", "A2", "B1", "A3", "A4"]);
    await expect.poll(async () => (await bindings.BACKEND_GATE.get(bindings.BACKEND_GATE.idFromName("ollama")).stats())).toEqual({ inFlight: 0, queued: 0 });
    const gate = await gatewayWith(gated, "/admin/gate", { headers: { authorization: ADMIN_AUTH } });
    expect(await gate.json()).toEqual({ max_concurrency: 1, in_flight: 0, queued: 0, backends: [{ backend: "ollama", max_concurrency: 1, in_flight: 0, queued: 0 }] });
  });

  it("answers 429 with Retry-After when the queue is full or the wait runs out", async () => {
    const created = await createKey({ name: "queue", max_concurrency: 10 });
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 } });
    const vars = { BACKEND_MAX_CONCURRENCY: "1", QUEUE_MAX_LENGTH: "1", QUEUE_MAX_WAIT: "400ms" };
    const body = { model: "llama3.2", stream: true, messages: [user("x")] };
    const holder = await postJsonWith(vars, "/v1/chat/completions", body, bearer(created.key));
    expect(holder.status).toBe(200);
    const waiting = postJsonWith(vars, "/v1/chat/completions", body, bearer(created.key));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const overflow = await postJsonWith(vars, "/v1/chat/completions", body, bearer(created.key));
    expect(overflow.status).toBe(429);
    expect(overflow.headers.get("retry-after")).toBe("1");
    expect(((await overflow.json()) as any).error.message).toBe("The backend is saturated: 1 requests are already waiting.");
    const timedOut = await waiting;
    expect(timedOut.status).toBe(429);
    expect(((await timedOut.json()) as any).error.message).toBe("The backend is busy: no slot became free within 400 ms.");
    await holder.body!.cancel();
    const stub = await keyStub(created.key);
    await expect.poll(() => stub.inFlight()).toBe(0);
  });
});

describe("slots of a Worker that died", () => {
  const gated = (extra: Record<string, string>) => ({ BACKEND_MAX_CONCURRENCY: "1", QUEUE_MAX_WAIT: "5s", ...extra });
  const policy = { leaseTtlMs: 1500, gate: { name: "ollama", maxConcurrency: 1, maxWaitMs: 5000, maxQueue: 64, leaseTtlMs: 1500 } };

  it("are reclaimed after LEASE_TTL, and a waiter then gets the slot without retrying", async () => {
    const created = await createKey({ name: "orphan", max_concurrency: 10 });
    const stub = await keyStub(created.key);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(created.key)));
    const hash = [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    // A request admitted by a Worker that then died: never renewed, never settled.
    expect((await stub.admit({ hash, estimatedTokens: 1, promptEstimate: 1, policy })).ok).toBe(true);
    const started = Date.now();
    const res = await postJsonWith(gated({ LEASE_TTL: "1500ms" }), "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] }, bearer(created.key));
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    await expect.poll(() => stub.inFlight()).toBe(0);
  });

  it("a live request keeps its slot past LEASE_TTL, because it renews", async () => {
    const created = await createKey({ name: "alive", max_concurrency: 10 });
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 }, times: 1 });
    // Renewals every second; a slot not renewed would be reclaimed after 3 s; the waiter gives up after 4.5 s.
    const vars = gated({ LEASE_TTL: "3s", QUEUE_MAX_WAIT: "4500ms" });
    const body = { model: "llama3.2", stream: true, messages: [user("x")] };
    const holder = await postJsonWith(vars, "/v1/chat/completions", body, bearer(created.key));
    expect(holder.status).toBe(200);
    const waiter = await postJsonWith(vars, "/v1/chat/completions", { ...body, stream: false }, bearer(created.key));
    expect(waiter.status).toBe(429); // 4.5 s of waiting, well past the 3 s TTL: the holder was renewed
    await holder.body!.cancel();
  });
});

