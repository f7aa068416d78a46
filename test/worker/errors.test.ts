import { beforeEach, describe, expect, it, vi } from "vitest";
import { chunksOf, emulator, gateway, postJson, postJsonWith, readSse, user } from "./helpers.ts";

beforeEach(() => emulator.reset());

async function errorOf(res: Response) {
  expect(res.headers.get("content-type")).toBe("application/json");
  return ((await res.json()) as any).error;
}

describe("request errors use OpenAI's envelope", () => {
  it("400 for malformed JSON", async () => {
    const res = await gateway("/v1/chat/completions", { method: "POST", body: "{nope" });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error).toMatchObject({ type: "invalid_request_error", param: null, code: null });
    expect(error.message).toMatch(/^We could not parse the JSON body of your request/);
  });

  it("400 naming the field path for schema violations", async () => {
    const cases: [unknown, string][] = [
      [{ messages: [user("x")] }, "model"],
      [{ model: "llama3.2", messages: [] }, "messages"],
      [{ model: "llama3.2", messages: [user(2)] }, "messages[0].content"],
      [{ model: "llama3.2", messages: [user([{ type: "text", text: "a" }, { type: "input_audio" }])] }, "messages[0].content[1].type"],
      [{ model: "llama3.2", messages: [user("x")], temperature: "warm" }, "temperature"],
      [{ model: "llama3.2", messages: [user("x")], n: 2 }, "n"],
      [
        { model: "llama3.2", messages: [{ role: "assistant", tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{bad" } }] }] },
        "messages[0].tool_calls[0].function.arguments",
      ],
    ];
    for (const [body, param] of cases) {
      const res = await postJson("/v1/chat/completions", body);
      expect(res.status, param).toBe(400);
      expect((await errorOf(res)).param).toBe(param);
    }
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("accepts and ignores unknown OpenAI fields", async () => {
    const res = await postJson("/v1/chat/completions", {
      model: "llama3.2",
      messages: [user("x")],
      user: "u1",
      store: true,
      metadata: { a: "b" },
      service_tier: "auto",
    });
    expect(res.status).toBe(200);
  });

  it("401 without a bearer token", async () => {
    const res = await gateway("/v1/models", { headers: { authorization: "" } });
    expect(res.status).toBe(401);
    expect(await errorOf(res)).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key" });
  });

  it("404 for unknown routes", async () => {
    const res = await gateway("/v1/nothing");
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ type: "invalid_request_error", code: "unknown_url" });
  });

  it("404 model_not_found listing the closest installed names", async () => {
    const res = await postJson("/v1/chat/completions", { model: "llama3.1", messages: [user("x")] });
    expect(res.status).toBe(404);
    const error = await errorOf(res);
    expect(error).toMatchObject({ type: "invalid_request_error", code: "model_not_found", param: "model" });
    expect(error.message).toBe(
      "The model 'llama3.1' does not exist or this key may not use it. Closest available models: llama3.2:latest, llama3.3:70b-instruct-q4_K_M, llava:7b.",
    );
  });

  it("413 for a body over MAX_BODY_BYTES, without reading it whole", async () => {
    const big = JSON.stringify({ model: "llama3.2", messages: [user("x".repeat(5000))] });
    const res = await postJsonWith({ MAX_BODY_BYTES: "1KiB" }, "/v1/chat/completions", JSON.parse(big));
    expect(res.status).toBe(413);
    expect(await errorOf(res)).toMatchObject({ code: "request_too_large" });
  });

  it("500 when configuration is invalid: the caller is told which variable; its problem goes to the log", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await postJsonWith({ MODEL_ALIASES: "{not json" }, "/v1/chat/completions", { model: "m", messages: [user("x")] }, { "x-request-id": "cfg-1" });
    expect(res.status).toBe(500);
    expect(await errorOf(res)).toStrictEqual({
      message: "The gateway is misconfigured (MODEL_ALIASES); the operator can find the details in the Worker's log. (request id: cfg-1)",
      type: "server_error",
      param: null,
      code: "invalid_configuration",
    });
    expect(logged.mock.calls.map((call) => call.join(" "))).toContain("[cfg-1] 500 invalid_configuration: Invalid configuration MODEL_ALIASES: not valid JSON");
    logged.mockRestore();
  });
});

describe("backend failures before the answer get a real status", () => {
  it("502 backend_unavailable when the backend refuses connections", async () => {
    const res = await postJsonWith({ OLLAMA_URL: "http://127.0.0.1:9" }, "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
    expect(res.status).toBe(502);
    expect(await errorOf(res)).toMatchObject({ type: "server_error", code: "backend_unavailable" });
  });

  it("503 with Retry-After when Ollama is busy", async () => {
    await emulator.fault({ fault: { kind: "busy" } });
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect((await errorOf(res)).message).toContain("server busy, please try again.");
  });

  it("503 for a streaming request too, when the failure comes before the first heartbeat", async () => {
    await emulator.fault({ fault: { kind: "busy" } });
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", stream: true, messages: [user("x")] });
    expect(res.status).toBe(503);
  });

  it("502 with a readable message for a tunnel's HTML error page", async () => {
    await emulator.fault({ fault: { kind: "html", status: 530 } });
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
    expect(res.status).toBe(502);
    expect((await errorOf(res)).message).toMatch(/^The tunnel or backend answered HTTP 530 with an HTML page/);
  });

  it("504 backend_timeout when no headers arrive within UPSTREAM_HEADERS_TIMEOUT (non-stream)", async () => {
    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 2000 } });
    const res = await postJsonWith({ UPSTREAM_HEADERS_TIMEOUT: "300ms" }, "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
    expect(res.status).toBe(504);
    expect(await errorOf(res)).toMatchObject({ type: "server_error", code: "backend_timeout" });
  });

  it("502 when the backend errors mid-answer on a non-stream request", async () => {
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 2, message: "model runner crashed" } });
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
    expect(res.status).toBe(502);
    expect((await errorOf(res)).message).toMatch(/^The backend failed during generation: model runner crashed \(request id: req_[0-9a-f]+\)$/);
  });
});

describe("retries of connections that fail before any answer", () => {
  const body = { model: "llama3.2", messages: [user("x")] };
  const fast = { UPSTREAM_RETRY_BACKOFF: "20ms" };

  it("a connection dropped before the headers is retried, and the client never notices", async () => {
    await emulator.fault({ fault: { kind: "drop", afterLines: 0 }, times: 2 });
    const res = await postJsonWith(fast, "/v1/chat/completions", body);
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).choices[0].message.content).toBe("Hello! You said: x");
    expect(await emulator.requests("/api/chat")).toHaveLength(3);
  });

  it("gives up after UPSTREAM_RETRIES with 502 backend_unavailable", async () => {
    await emulator.fault({ fault: { kind: "drop", afterLines: 0 }, times: 10 });
    const res = await postJsonWith({ ...fast, UPSTREAM_RETRIES: "3" }, "/v1/chat/completions", body);
    expect(res.status).toBe(502);
    expect(((await res.json()) as any).error.code).toBe("backend_unavailable");
    expect(await emulator.requests("/api/chat")).toHaveLength(4);
    await emulator.reset();
    await emulator.fault({ fault: { kind: "drop", afterLines: 0 }, times: 10 });
    expect((await postJsonWith({ UPSTREAM_RETRIES: "0" }, "/v1/chat/completions", body)).status).toBe(502);
    expect(await emulator.requests("/api/chat")).toHaveLength(1);
  });

  it("never retries once the answer has started", async () => {
    await emulator.fault({ fault: { kind: "drop", afterLines: 2 }, times: 1 });
    const { data } = await readSse(await postJsonWith(fast, "/v1/chat/completions", { ...body, stream: true }));
    expect(chunksOf(data).at(-1).error.type).toBe("server_error");
    expect(await emulator.requests("/api/chat")).toHaveLength(1);
  });

  it("does not retry HTTP errors (503 busy is the backend's answer)", async () => {
    await emulator.fault({ fault: { kind: "busy" }, times: 1 });
    expect((await postJsonWith(fast, "/v1/chat/completions", body)).status).toBe(503);
    expect(await emulator.requests("/api/chat")).toHaveLength(1);
  });
});

describe("failures after a stream started end it with an error event", () => {
  const streamBody = { model: "llama3.2", stream: true, messages: [user("one two three")] };

  it("an {error} line mid-stream", async () => {
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 2, message: "boom" } });
    const { data } = await readSse(await postJson("/v1/chat/completions", streamBody));
    const chunks = chunksOf(data);
    expect(chunks.slice(0, 2).map((chunk) => chunk.choices[0].delta.content)).toEqual(["Hello!", " You"]);
    expect(chunks.at(-1)).toEqual({
      error: { message: "The backend failed during generation: boom", type: "server_error", param: null, code: "backend_error" },
    });
    expect(data).not.toContain("[DONE]");
  });

  it("a malformed NDJSON line", async () => {
    await emulator.fault({ fault: { kind: "malformed", afterLines: 1 } });
    const chunks = chunksOf((await readSse(await postJson("/v1/chat/completions", streamBody))).data);
    expect(chunks.at(-1).error).toMatchObject({ message: "The backend sent a malformed NDJSON line.", code: "backend_error" });
  });

  it("a connection dropped mid-stream", async () => {
    await emulator.fault({ fault: { kind: "drop", afterLines: 2 } });
    const chunks = chunksOf((await readSse(await postJson("/v1/chat/completions", streamBody))).data);
    expect(chunks).toHaveLength(3);
    expect(chunks.at(-1).error.type).toBe("server_error");
  });

  it("a stall past UPSTREAM_IDLE_TIMEOUT aborts upstream and frees the connection", async () => {
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 } });
    const res = await postJsonWith({ UPSTREAM_IDLE_TIMEOUT: "400ms", HEARTBEAT_INTERVAL: "150ms" }, "/v1/chat/completions", streamBody);
    const { data, events } = await readSse(res);
    expect(events).toContain(": keep-alive");
    expect(chunksOf(data).at(-1).error).toMatchObject({ code: "backend_timeout", type: "server_error" });
    await expect.poll(async () => (await emulator.stats()).open).toBe(0);
    expect((await emulator.stats()).aborted).toBe(1);
  });

  it("heartbeats while the model loads, then the answer", async () => {
    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 1000 }, times: 1 });
    const res = await postJsonWith({ HEARTBEAT_INTERVAL: "200ms" }, "/v1/chat/completions", streamBody);
    expect(res.status).toBe(200);
    const { events, data } = await readSse(res);
    const firstData = events.findIndex((event) => event.startsWith("data: "));
    expect(firstData).toBeGreaterThanOrEqual(2);
    expect(events.slice(0, firstData).every((event) => event === ": keep-alive")).toBe(true);
    expect(data.at(-1)).toBe("[DONE]");
  });

  it("no headers within UPSTREAM_HEADERS_TIMEOUT on a stream: heartbeats, then an error event", async () => {
    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 3000 } });
    const res = await postJsonWith({ UPSTREAM_HEADERS_TIMEOUT: "700ms", HEARTBEAT_INTERVAL: "200ms" }, "/v1/chat/completions", streamBody);
    expect(res.status).toBe(200);
    const { events, data } = await readSse(res);
    expect(events[0]).toBe(": keep-alive");
    expect(chunksOf(data)).toEqual([{ error: expect.objectContaining({ code: "backend_timeout" }) }]);
  });
});

describe("client disconnects", () => {
  it("cancelling the response body aborts the upstream request", async () => {
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 } });
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => postJson("/v1/chat/completions", { model: "llama3.2", stream: true, messages: [user("x")] })),
    );
    for (const res of responses) {
      const reader = res.body!.getReader();
      await reader.read();
      await reader.cancel();
    }
    await expect.poll(async () => (await emulator.stats()).open).toBe(0);
    expect((await emulator.stats()).aborted).toBe(5);
  });
});
