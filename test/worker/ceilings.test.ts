/**
 * Limits that protect the machine: MODEL_LIMITS holds num_ctx, num_predict and keep_alive under the operator's
 * ceilings on every route (native ones included), every generation has a real answer ceiling that its admission
 * reserves, and the embedding input caps hold on /api/embed too.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { createKey, emulator, postJsonWith, user } from "./helpers.ts";

beforeEach(() => emulator.reset());

const LIMITS = { MODEL_LIMITS: JSON.stringify({ "*": { max_num_ctx: 8192, max_keep_alive: "30m", max_num_predict: 64 } }) };
const GREEDY = { num_ctx: 131072, num_predict: -1, temperature: 0.5 };

describe("MODEL_LIMITS", () => {
  it("holds /v1 chat and completions to the ceilings, after the client's own values", async () => {
    const chat = await postJsonWith(LIMITS, "/v1/chat/completions", {
      model: "llama3.2",
      messages: [user("x")],
      options: GREEDY,
      keep_alive: -1,
      max_tokens: 100000,
    });
    expect(chat.status).toBe(200);
    await chat.text();
    const [forwarded] = await emulator.requests("/api/chat");
    expect(forwarded!.body.options).toStrictEqual({ num_ctx: 8192, num_predict: 64, temperature: 0.5 });
    expect(forwarded!.body.keep_alive).toBe("30m");

    await (await postJsonWith(LIMITS, "/v1/completions", { model: "llama3.2", prompt: "x", keep_alive: "2h" })).text();
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.body.options).toStrictEqual({ num_predict: 64 });
    expect(generate!.body.keep_alive).toBe("30m");
  });

  it("holds native /api/chat, /api/generate and /api/embed to them too (a value within them is kept as sent)", async () => {
    await (await postJsonWith(LIMITS, "/api/chat", { model: "llama3.2", stream: false, messages: [user("x")], options: GREEDY, keep_alive: "-1m" })).text();
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body).toStrictEqual({
      model: "llama3.2:latest",
      stream: false,
      messages: [user("x")],
      options: { num_ctx: 8192, num_predict: 64, temperature: 0.5 },
      keep_alive: "30m",
    });

    await (
      await postJsonWith(LIMITS, "/api/generate", {
        model: "llama3.2",
        stream: false,
        prompt: "x",
        options: { num_ctx: 2048, num_predict: 10 },
        keep_alive: "5m",
      })
    ).text();
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.body).toStrictEqual({
      model: "llama3.2:latest",
      stream: false,
      prompt: "x",
      options: { num_ctx: 2048, num_predict: 10 },
      keep_alive: "5m",
    });

    await (await postJsonWith(LIMITS, "/api/embed", { model: "nomic-embed-text", input: "x", options: { num_ctx: 99999 }, keep_alive: 86400 })).text();
    const [embed] = await emulator.requests("/api/embed");
    expect(embed!.body).toStrictEqual({ model: "nomic-embed-text:latest", input: "x", options: { num_ctx: 8192 }, keep_alive: "30m" });
  });

  it("cannot be dodged by spelling a field in another case on the native routes", async () => {
    const res = await postJsonWith(
      LIMITS,
      "/api/chat",
      JSON.parse('{"model":"llama3.2","stream":false,"messages":[],"Options":{"num_ctx":131072},"KEEP_ALIVE":-1}'),
    );
    await res.text();
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body).toStrictEqual({ model: "llama3.2:latest", stream: false, messages: [], options: { num_ctx: 8192, num_predict: 64 }, keep_alive: "30m" });
  });

  it("is a loud configuration error when malformed", async () => {
    const res = await postJsonWith({ MODEL_LIMITS: '{"*":{"max_num_ctx":"lots"}}' }, "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
    expect(res.status).toBe(500);
    expect(((await res.json()) as any).error.code).toBe("invalid_configuration");
  });
});

describe("every generation has a real answer ceiling, and reserves it", () => {
  it("without max_tokens, DEFAULT_MAX_TOKENS is sent as num_predict and reserved against the key's tokens per minute", async () => {
    const { key } = await createKey({ name: "ceiling", tpm: 100_000 });
    const res = await postJsonWith(
      { DEFAULT_MAX_TOKENS: "500" },
      "/v1/chat/completions",
      { model: "llama3.2", messages: [user("abcdefgh")] },
      { authorization: `Bearer ${key}` },
    );
    expect(res.status).toBe(200);
    // Prompt estimate 2 tokens ("abcdefgh") + the 500-token ceiling.
    expect(res.headers.get("x-ratelimit-remaining-tokens")).toBe(String(100_000 - 502));
    await res.text();
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.options).toStrictEqual({ num_predict: 500 });
  });

  it("a native generation without num_predict (or with -1) gets the ceiling too", async () => {
    const { key } = await createKey({ name: "native ceiling", tpm: 100_000 });
    const res = await postJsonWith(
      { DEFAULT_MAX_TOKENS: "300" },
      "/api/generate",
      { model: "llama3.2", prompt: "abcd", stream: false, options: { num_predict: -1 } },
      { authorization: `Bearer ${key}` },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("x-ratelimit-remaining-tokens")).toBe(String(100_000 - 301));
    await res.text();
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.body.options).toStrictEqual({ num_predict: 300 });
  });
});

describe("/api/embed keeps to the embedding input caps", () => {
  it("refuses more than MAX_EMBEDDING_INPUTS inputs or MAX_EMBEDDING_BYTES of text, in Ollama's error shape, before any backend call", async () => {
    const many = await postJsonWith({}, "/api/embed", { model: "nomic-embed-text", input: Array.from({ length: 5000 }, () => "x") });
    expect(many.status).toBe(400);
    expect(((await many.json()) as any).error).toMatch(/256/);
    const large = await postJsonWith({ MAX_EMBEDDING_BYTES: "1KiB" }, "/api/embed", { model: "nomic-embed-text", input: "x".repeat(2000) });
    expect(large.status).toBe(400);
    expect(typeof ((await large.json()) as any).error).toBe("string");
    expect(await emulator.requests("/api/embed")).toEqual([]);
    const fine = await postJsonWith({}, "/api/embed", { model: "nomic-embed-text", input: Array.from({ length: 256 }, () => "x") });
    expect(fine.status).toBe(200);
  });
});
