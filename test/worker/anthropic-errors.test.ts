/**
 * The Anthropic routes' failures, in Anthropic's shape `{"type":"error","error":{"type","message"}}` with its types and
 * statuses (401 authentication_error by x-api-key and Bearer, 400, 404 not_found_error, 405, 413, 429 with
 * retry-after, 529 overloaded_error for a busy backend or a full queue, 5xx api_error); mid-stream failures as
 * `event: error`; `ping` while the backend is silent.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { generateKey } from "../../src/keys/key-format.ts";
import { createKey, emulator, gatewayWith, namedFrames, postJson, postJsonWith } from "./helpers.ts";

beforeEach(() => emulator.reset());

const user = (content: unknown) => ({ role: "user", content });
const ok = { model: "llama3.2", max_tokens: 50, messages: [user("x")] };

/** The status, Anthropic's error body (checked to be exactly that shape) and the response's headers. */
async function anthropicError(res: Response): Promise<{ status: number; type: string; message: string; headers: Headers }> {
  const body = (await res.json()) as any;
  expect(Object.keys(body).sort()).toStrictEqual(["error", "type"]);
  expect(body.type).toBe("error");
  expect(Object.keys(body.error).sort()).toStrictEqual(["message", "type"]);
  return { status: res.status, type: body.error.type, message: body.error.message, headers: res.headers };
}

/** Each frame of an SSE body: `event:` and parsed `data:`; an Anthropic stream has no comment frames. */
async function events(res: Response): Promise<{ event: string; data: any }[]> {
  const { comments, events } = await namedFrames(res);
  expect(comments).toBe(0);
  return events;
}

describe("errors on /v1/messages and count_tokens", () => {
  it("401 authentication_error for a missing or bad key, by x-api-key or Bearer; nothing reaches the backend", async () => {
    const cases: [label: string, headers: Record<string, string>][] = [
      ["no key", { authorization: "" }],
      ["made-up x-api-key", { authorization: "", "x-api-key": generateKey() }],
      ["malformed x-api-key", { authorization: "", "x-api-key": "sk-ant-api03-nope" }],
      ["made-up Bearer", { authorization: `Bearer ${generateKey()}` }],
    ];
    for (const path of ["/v1/messages?beta=true", "/v1/messages/count_tokens?beta=true"]) {
      for (const [label, headers] of cases) {
        const error = await anthropicError(await postJson(path, ok, headers));
        expect([error.status, error.type], `${path} with ${label}`).toStrictEqual([401, "authentication_error"]);
      }
    }
    const missing = await anthropicError(await postJson("/v1/messages", ok, { authorization: "" }));
    expect(missing.message).toBe("Missing API key: send it as 'x-api-key: <key>' or 'Authorization: Bearer <key>'.");
    expect(await emulator.requests()).toEqual([]);
  });

  it("400 invalid_request_error naming the field; 413 for a body over the limit", async () => {
    const missing = await anthropicError(await postJson("/v1/messages", { model: "llama3.2", messages: [user("x")] }));
    expect(missing).toMatchObject({ status: 400, type: "invalid_request_error" });
    expect(missing.message).toMatch(/^Invalid value for 'max_tokens': /);
    const notJson = await anthropicError(await postJson("/v1/messages", "{", {}));
    expect(notJson).toMatchObject({ status: 400, type: "invalid_request_error" });
    const big = await postJsonWith({ MAX_BODY_BYTES: "1KiB" }, "/v1/messages", { ...ok, messages: [user("x".repeat(4096))] });
    expect(await anthropicError(big)).toMatchObject({
      status: 413,
      type: "invalid_request_error",
      message: "Request body is larger than the limit of 1024 bytes.",
    });
  });

  it("404 not_found_error for a model that does not exist and for an unknown path under /v1/messages; 405 for another method", async () => {
    const model = await anthropicError(await postJson("/v1/messages", { ...ok, model: "claude-nope" }));
    expect(model).toMatchObject({ status: 404, type: "not_found_error" });
    expect(model.message).toMatch(/^The model 'claude-nope' does not exist or this key may not use it\./);
    const path = await anthropicError(await postJson("/v1/messages/batches", ok));
    expect(path).toMatchObject({
      status: 404,
      type: "not_found_error",
      message: "Unknown request URL: POST /v1/messages/batches. Please check the URL and method.",
    });
    const get = await gatewayWith({}, "/v1/messages", { method: "GET" });
    expect(get.headers.get("allow")).toBe("POST");
    expect(await anthropicError(get)).toMatchObject({ status: 405, type: "invalid_request_error" });
    // Without a key, another method learns nothing but the 401.
    expect((await gatewayWith({}, "/v1/messages/count_tokens", { method: "GET", headers: { authorization: "" } })).status).toBe(401);
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("a scoped key gets the same 404 for a model outside its list as for one that does not exist, on both routes", async () => {
    const { key } = await createKey({ name: "scoped", models: ["llama3.2"] });
    const auth = { authorization: "", "x-api-key": key };
    for (const path of ["/v1/messages", "/v1/messages/count_tokens"]) {
      const outside = await anthropicError(await postJson(path, { ...ok, model: "qwen3:8b" }, auth));
      const missing = await anthropicError(await postJson(path, { ...ok, model: "qwen3:9b" }, auth));
      expect(outside).toMatchObject({
        status: 404,
        type: "not_found_error",
        message: "The model 'qwen3:8b' does not exist or this key may not use it. Closest available models: llama3.2:latest.",
      });
      expect(missing.message).toBe(outside.message.replace("qwen3:8b", "qwen3:9b"));
    }
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("429 rate_limit_error with retry-after when the key's limit is hit", async () => {
    const { key } = await createKey({ name: "one a minute", rpm: 1 });
    const headers = { authorization: "", "x-api-key": key };
    expect((await postJson("/v1/messages", ok, headers)).status).toBe(200);
    const error = await anthropicError(await postJson("/v1/messages", ok, headers));
    expect(error).toMatchObject({ status: 429, type: "rate_limit_error" });
    expect(Number(error.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(error.headers.get("x-ratelimit-remaining-requests")).toBe("0");
  });

  it("529 overloaded_error with retry-after when the backend is busy or loading, and when the queue at its gate is full", async () => {
    await emulator.fault({ fault: { kind: "busy" }, times: 1 });
    const busy = await anthropicError(await postJson("/v1/messages", ok));
    expect(busy).toMatchObject({ status: 529, type: "overloaded_error" });
    expect(busy.message).toMatch(/^The backend is busy or loading a model: server busy/);
    expect(busy.headers.get("retry-after")).toBe("5");

    const { key } = await createKey({ name: "queue", max_concurrency: 10 });
    const auth = { authorization: `Bearer ${key}` };
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 } });
    const vars = { BACKEND_MAX_CONCURRENCY: "1", QUEUE_MAX_LENGTH: "1", QUEUE_MAX_WAIT: "400ms" };
    const holder = await postJsonWith(vars, "/v1/messages", { ...ok, stream: true }, auth);
    expect(holder.status).toBe(200);
    const waiting = postJsonWith(vars, "/v1/messages", ok, auth);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const full = await anthropicError(await postJsonWith(vars, "/v1/messages", ok, auth));
    expect(full).toMatchObject({ status: 529, type: "overloaded_error", message: "The backend is saturated: 1 requests are already waiting." });
    expect(full.headers.get("retry-after")).toBe("1");
    // Waiting too long for a slot is the backend being busy too.
    expect(await anthropicError(await waiting)).toMatchObject({ status: 529, type: "overloaded_error" });
    await holder.body!.cancel();
  });

  it("5xx api_error: an unreachable tunnel (502), a silent backend (504), each message with its request id", async () => {
    await emulator.fault({ fault: { kind: "html", status: 502 }, times: 1 });
    const broken = await postJson("/v1/messages", ok);
    const error = await anthropicError(broken);
    expect(error).toMatchObject({ status: 502, type: "api_error" });
    expect(error.message).toMatch(new RegExp(`\\(request id: ${error.headers.get("x-request-id")}\\)$`));
    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 2000 }, times: 1 });
    const slow = await postJsonWith({ UPSTREAM_HEADERS_TIMEOUT: "300ms" }, "/v1/messages", ok);
    expect(await anthropicError(slow)).toMatchObject({ status: 504, type: "api_error" });
  });
});

describe("streams that fail or wait", () => {
  it("a failure mid-stream ends with `event: error` (api_error) after what was sent, never message_stop", async () => {
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 2, message: "model runner crashed" } });
    const res = await postJson("/v1/messages", { ...ok, stream: true });
    expect(res.status).toBe(200);
    const all = await events(res);
    expect(all.map((frame) => frame.event)).toStrictEqual(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "error"]);
    expect(all.at(-1)!.data).toStrictEqual({
      type: "error",
      error: { type: "api_error", message: "The backend failed during generation: model runner crashed" },
    });
  });

  it("a backend silent before its first byte gets Anthropic's ping events (not comments), then the whole answer", async () => {
    // Silent for five heartbeat intervals (HEARTBEAT_INTERVAL is 300 ms here): pings come even on a loaded machine.
    await emulator.fault({ fault: { kind: "slow-first-byte", delayMs: 1500 }, times: 1 });
    const res = await postJson("/v1/messages", { ...ok, stream: true });
    const text = await res.clone().text();
    expect(text).not.toContain(": keep-alive");
    const all = await events(res);
    const pings = all.filter((frame) => frame.event === "ping");
    expect(pings.length).toBeGreaterThan(0);
    for (const ping of pings) expect(ping.data).toStrictEqual({ type: "ping" });
    expect(all.filter((frame) => frame.event !== "ping").map((frame) => frame.event)).toEqual([
      "message_start",
      "content_block_start",
      ...Array(4).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
  });
});
