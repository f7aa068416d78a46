import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it, vi } from "vitest";
import type { Env } from "../../src/env.ts";
import { BackendGate } from "../../src/limits/backend-gate.ts";
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
    await expect
      .poll(async () => Number((await gateway("/v1/models", { headers: bearer(created.key) })).headers.get("x-ratelimit-remaining-tokens")))
      .toBe(10000 - 6);
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
    const track = (label: string, pending: Promise<Response>) =>
      pending.then((res) => {
        order.push(label);
        return res;
      });
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
    await expect.poll(async () => await bindings.BACKEND_GATE.get(bindings.BACKEND_GATE.idFromName("ollama")).stats()).toEqual({ inFlight: 0, queued: 0 });
    const gate = await gatewayWith(gated, "/admin/gate", { headers: { authorization: ADMIN_AUTH } });
    expect(await gate.json()).toEqual({
      max_concurrency: 1,
      in_flight: 0,
      queued: 0,
      backends: [{ backend: "ollama", max_concurrency: 1, in_flight: 0, queued: 0 }],
    });
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

describe("the backend gate and revocation", () => {
  const gated = { BACKEND_MAX_CONCURRENCY: "1", QUEUE_MAX_WAIT: "10s" };
  const body = { model: "llama3.2", stream: true, messages: [user("x")] };
  const gateStats = () => bindings.BACKEND_GATE.get(bindings.BACKEND_GATE.idFromName("ollama")).stats();

  it("a request waiting in the queue whose key is revoked meanwhile gets 401 and never reaches the backend", async () => {
    const holder = await createKey({ name: "holder" });
    const victim = await createKey({ name: "victim" });
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 }, times: 1 });
    const holding = await postJsonWith(gated, "/v1/chat/completions", body, bearer(holder.key));
    expect(holding.status).toBe(200);
    const waiting = postJsonWith(gated, "/v1/chat/completions", body, bearer(victim.key));
    await expect.poll(gateStats).toEqual({ inFlight: 1, queued: 1 });

    const revoked = await gateway(`/admin/keys/${victim.id}`, { method: "DELETE", headers: { authorization: ADMIN_AUTH } });
    expect(revoked.status).toBe(200);
    await holding.body!.cancel();

    const res = await waiting;
    expect(res.status).toBe(401);
    expect(((await res.json()) as any).error).toMatchObject({ code: "invalid_api_key" });
    expect(await emulator.requests("/api/chat")).toHaveLength(1);
    // The slot the gate granted to the revoked request went back at once.
    await expect.poll(gateStats).toEqual({ inFlight: 0, queued: 0 });
    expect((await postJsonWith(gated, "/v1/chat/completions", { ...body, stream: false }, bearer(holder.key))).status).toBe(200);
  });

  it("a gate that cannot be reached refuses with 429 and gives the key's slot back", async () => {
    const created = await createKey({ name: "gate-down", max_concurrency: 1 });
    const acquire = vi.spyOn(BackendGate.prototype, "acquire").mockRejectedValueOnce(new Error("gate unreachable"));
    try {
      const res = await postJsonWith(gated, "/v1/chat/completions", { ...body, stream: false }, bearer(created.key));
      expect(res.status).toBe(429);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(((await res.json()) as any).error.message).toMatch(/backend gate is unavailable/);
      expect(acquire).toHaveBeenCalledTimes(1);
    } finally {
      acquire.mockRestore();
    }
    expect(await emulator.requests("/api/chat")).toHaveLength(0);
    // Its only concurrency slot is free again: the next request is served at once.
    const next = await postJsonWith(gated, "/v1/chat/completions", { ...body, stream: false }, bearer(created.key));
    expect(next.status).toBe(200);
  });
});

describe("slots of a Worker that died", () => {
  const gated = (extra: Record<string, string>) => ({ BACKEND_MAX_CONCURRENCY: "1", QUEUE_MAX_WAIT: "5s", ...extra });
  const policy = {
    leaseTtlMs: 1500,
    usageRetentionMs: 86_400_000,
    gate: { name: "ollama", maxConcurrency: 1, maxWaitMs: 5000, maxQueue: 64, leaseTtlMs: 1500 },
  };

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

describe("tokens go uncharged no more: what was generated is charged, and estimated when the counts never come", () => {
  // 400 words: the /v1 prompt estimate is ⌈1999 / 4⌉ = 500 tokens; the native one (the messages' JSON) ⌈2029 / 4⌉ = 508.
  const LONG = Array.from({ length: 400 }, () => "word").join(" ");
  const V1_PROMPT = 500;
  const NATIVE_PROMPT = 508;
  const chatBody = (extra: Record<string, unknown> = {}) => ({ model: "llama3.2", messages: [user(LONG)], ...extra });
  const newKey = async (name: string) => createKey({ name, tpm: 1_000_000_000, rpm: 1000 });

  /** Read a native NDJSON stream until `count` lines have arrived, then hang up. */
  async function cancelAfterLines(res: Response, count: number): Promise<string[]> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (text.split("\n").length - 1 < count) {
      const { done, value } = await reader.read();
      if (done) throw new Error(`the stream ended after ${text}`);
      text += decoder.decode(value, { stream: true });
    }
    await reader.cancel();
    return text.split("\n").filter(Boolean);
  }

  it("(a) a native /api/chat stream cancelled before its final line: the lines received, and the prompt at its estimate", async () => {
    const created = await newKey("native-cancel");
    await emulator.fault({ fault: { kind: "stall", afterLines: 5 }, times: 1 });
    const res = await postJson("/api/chat", chatBody(), bearer(created.key));
    expect(res.status).toBe(200);
    const lines = await cancelAfterLines(res, 5);
    expect(lines.map((line) => JSON.parse(line).message.content)).toEqual(["Hello!", " You", " said:", " word", " word"]);
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: NATIVE_PROMPT, completion_tokens: 5 });
  });

  it("(a) a native /api/generate stream whose upstream connection breaks midway", async () => {
    const created = await newKey("native-drop");
    await emulator.fault({ fault: { kind: "drop", afterLines: 4 }, times: 1 });
    const res = await postJson("/api/generate", { model: "llama3.2", prompt: LONG }, bearer(created.key));
    const lines = (await res.text())
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.response ?? line.error)).toEqual([
      "Hello!",
      " You",
      " said:",
      " word",
      "The connection to the backend broke during the answer.",
    ]);
    // The prompt estimate of /api/generate is its text: ⌈1999 / 4⌉.
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: 500, completion_tokens: 4 });
  });

  it("(d) a native answer whose decoding fails on a malformed line: the lines before it still count", async () => {
    const created = await newKey("native-malformed");
    await emulator.fault({ fault: { kind: "malformed", afterLines: 3 }, times: 1 });
    const res = await postJson("/api/chat", chatBody(), bearer(created.key));
    expect((await res.text()).endsWith('{"model":"x","mess\n')).toBe(true);
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: NATIVE_PROMPT, completion_tokens: 3 });
  });

  it("(d) a native answer over the NDJSON size limit: its text at four characters a token", async () => {
    const created = await newKey("native-huge");
    // The emulator says back 9 MiB of "x" (a prompt that long would not fit the window).
    const messages = [user(`repeat:x:${9 * 1024 * 1024}`)];
    const res = await postJson("/api/chat", { model: "llama3.2", stream: false, messages }, bearer(created.key));
    expect(res.status).toBe(200);
    const text = await res.text(); // passed on unchanged: one line of about 9 MiB
    const opening = text.indexOf('"content":"') + '"content":"'.length;
    expect(text.slice(opening, opening + 17)).toBe("Hello! You said: ");
    const answer = Math.ceil((text.length - opening) / 4);
    expect(answer).toBeGreaterThan((9 * 1024 * 1024) / 4);
    await expect
      .poll(() => usageOf(created.id))
      .toEqual({
        requests: 1,
        prompt_tokens: Math.ceil(JSON.stringify(messages).length / 4),
        completion_tokens: answer,
      });
  });

  it("(c) a native stream dropped before its first token: the prompt at its estimate", async () => {
    const created = await newKey("native-first");
    await emulator.fault({ fault: { kind: "stall", afterLines: 0 }, times: 1 });
    const res = await postJson("/api/chat", chatBody(), bearer(created.key));
    expect(res.status).toBe(200);
    await res.body!.cancel();
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: NATIVE_PROMPT, completion_tokens: 0 });
  });

  it("a request Ollama refuses (its own JSON error) is charged nothing", async () => {
    const created = await newKey("native-refused");
    await emulator.fault({ fault: { kind: "busy" }, times: 1 });
    const res = await postJson("/api/chat", chatBody(), bearer(created.key));
    expect(res.status).toBe(503);
    await res.text();
    await expect.poll(async () => (await keyStub(created.key)).inFlight()).toBe(0);
    expect(await usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: 0, completion_tokens: 0 });
  });

  it("(c) a /v1 stream dropped before its first token, with the backend's headers in or still awaited", async () => {
    const created = await newKey("v1-first");
    await emulator.fault({ fault: { kind: "stall", afterLines: 0 }, times: 1 });
    const answered = await postJson("/v1/chat/completions", chatBody({ stream: true }), bearer(created.key));
    expect(answered.status).toBe(200);
    await answered.body!.cancel();
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: V1_PROMPT, completion_tokens: 0 });
    // Ollama sends its headers with the first token: a long prompt means a long wait with nothing received.
    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 10_000 }, times: 1 });
    const waiting = await postJson("/v1/chat/completions", chatBody({ stream: true }), bearer(created.key));
    expect(waiting.status).toBe(200); // committed after one heartbeat interval
    const reader = waiting.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(": keep-alive\n\n");
    await reader.cancel();
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 2, prompt_tokens: 2 * V1_PROMPT, completion_tokens: 0 });
    await expect.poll(async () => (await emulator.stats()).open).toBe(0);
  });

  it("(b) a non-stream /v1 request the client abandons while the answer is assembled: the lines generated so far", async () => {
    const created = await newKey("v1-abandon");
    await emulator.fault({ fault: { kind: "stall", afterLines: 3 }, times: 1 });
    const controller = new AbortController();
    const pending = gatewayWith({}, "/v1/chat/completions", {
      method: "POST",
      headers: { ...bearer(created.key), "content-type": "application/json" },
      body: JSON.stringify(chatBody()),
      signal: controller.signal,
    }).catch((error: unknown) => error);
    await expect.poll(async () => (await emulator.stats()).open).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the three lines are read into the answer
    controller.abort();
    await pending;
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: V1_PROMPT, completion_tokens: 3 });
    await expect.poll(async () => (await emulator.stats()).open).toBe(0);
  });

  it("(b) a non-stream /v1 request abandoned before the backend's first byte: the prompt at its estimate", async () => {
    const created = await newKey("v1-abandon-early");
    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 10_000 }, times: 1 });
    const controller = new AbortController();
    const pending = gatewayWith({}, "/v1/completions", {
      method: "POST",
      headers: { ...bearer(created.key), "content-type": "application/json" },
      body: JSON.stringify({ model: "llama3.2", prompt: LONG }),
      signal: controller.signal,
    }).catch((error: unknown) => error);
    await expect.poll(async () => (await emulator.stats()).open).toBe(1);
    controller.abort();
    await pending;
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: V1_PROMPT, completion_tokens: 0 });
  });

  it("a non-stream /v1 answer whose upstream connection breaks midway: 502, and the lines generated are charged", async () => {
    const created = await newKey("v1-drop");
    await emulator.fault({ fault: { kind: "drop", afterLines: 4 }, times: 1 });
    const res = await postJson("/v1/chat/completions", chatBody(), bearer(created.key));
    expect(res.status).toBe(502);
    await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: V1_PROMPT, completion_tokens: 4 });
  });

  describe("on llama-server", () => {
    const LLAMA_URL = inject("llamaEmulatorUrl");
    const llama = (rule: unknown) => fetch(`${LLAMA_URL}/__emulator/fault`, { method: "POST", body: JSON.stringify(rule) });
    const vars = {
      BACKENDS: JSON.stringify([{ name: "box", kind: "llamacpp", url: LLAMA_URL, api_key: "$BOX_KEY" }]),
      BOX_KEY: "llama-secret",
    };
    const post = (key: string, body: unknown) => postJsonWith(vars, "/v1/chat/completions", body, bearer(key));
    const llamaBody = (extra: Record<string, unknown> = {}) => ({ model: "qwen2.5-7b-instruct", messages: [user(LONG)], ...extra });

    beforeEach(async () => {
      await fetch(`${LLAMA_URL}/__emulator/reset`, { method: "POST" });
    });

    it("a stream dropped before its first token, and a non-stream answer cut midway", async () => {
      const created = await newKey("llama-cut");
      await llama({ fault: { kind: "stall", afterLines: 0 }, times: 1 });
      const stream = await post(created.key, llamaBody({ stream: true }));
      expect(stream.status).toBe(200);
      await stream.body!.cancel();
      await expect.poll(() => usageOf(created.id)).toEqual({ requests: 1, prompt_tokens: V1_PROMPT, completion_tokens: 0 });
      // The opening delta, then three tokens, then the connection breaks.
      await llama({ fault: { kind: "drop", afterLines: 4 }, times: 1 });
      const cut = await post(created.key, llamaBody());
      expect(cut.status).toBe(502);
      await expect.poll(() => usageOf(created.id)).toEqual({ requests: 2, prompt_tokens: 2 * V1_PROMPT, completion_tokens: 3 });
    });
  });
});
