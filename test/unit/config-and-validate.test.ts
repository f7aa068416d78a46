import { describe, expect, it } from "vitest";
import type { EnvVars as Env } from "../../src/config/env-vars.ts";
import { ConfigError, getConfig, parseConfig, parseDuration, parseSize } from "../../src/config/index.ts";
import { ApiError, type ErrorBody } from "../../src/core/errors.ts";
import { paramPath, validate } from "../../src/core/validate.ts";
import { chatRequestSchema } from "../../src/dialects/openai/chat/schema.ts";

function configError(env: Env): { variable: string; message: string } {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return { variable: error.variable, message: error.message };
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("parseDuration / parseSize", () => {
  it("reads ms, s, m, h and bare seconds", () => {
    expect(parseDuration("X", "500ms", 1)).toBe(500);
    expect(parseDuration("X", "30s", 1)).toBe(30_000);
    expect(parseDuration("X", "2m", 1)).toBe(120_000);
    expect(parseDuration("X", "1h", 1)).toBe(3_600_000);
    expect(parseDuration("X", "10", 1)).toBe(10_000);
    expect(parseDuration("X", "1.5s", 1)).toBe(1500);
    expect(parseDuration("X", " 45s ", 1)).toBe(45_000);
  });

  it("falls back when unset or blank, and names the variable when invalid", () => {
    expect(parseDuration("X", undefined, 1234)).toBe(1234);
    expect(parseDuration("X", "  ", 1234)).toBe(1234);
    for (const raw of ["abc", "-5s", "5 minutes", "1w", "s"]) {
      expect(() => parseDuration("HEARTBEAT_INTERVAL", raw, 1)).toThrow(ConfigError);
      expect(() => parseDuration("HEARTBEAT_INTERVAL", raw, 1)).toThrow(
        `Invalid configuration HEARTBEAT_INTERVAL: expected a duration such as "30s", "500ms" or "2m", got ${JSON.stringify(raw)}`,
      );
    }
  });

  it("USAGE_RETENTION: 90 days by default, at least an hour, up to 3650 days", () => {
    expect(parseConfig({}).usageRetentionMs).toBe(90 * 86_400_000);
    expect(parseConfig({ USAGE_RETENTION: "1h" }).usageRetentionMs).toBe(3_600_000);
    expect(() => parseConfig({ USAGE_RETENTION: "59m" })).toThrow("Invalid configuration USAGE_RETENTION: must be at least 1h (usage is kept by the hour)");
    expect(() => parseConfig({ USAGE_RETENTION: "3651d" })).toThrow('Invalid configuration USAGE_RETENTION: "3651d" is longer than 3650 days');
  });

  it("reads days; RESPONSES_TTL is not a timer and may be long (30d by default, up to 3650 days)", () => {
    expect(parseDuration("X", "2d", 1)).toBe(2 * 86_400_000);
    expect(parseConfig({}).responses).toStrictEqual({ ttlMs: 30 * 86_400_000, maxBytes: 8 * 1024 ** 2, maxKeyBytes: 256 * 1024 ** 2 });
    expect(parseConfig({ RESPONSES_TTL: "365d" }).responses.ttlMs).toBe(365 * 86_400_000);
    expect(() => parseConfig({ RESPONSES_TTL: "3651d" })).toThrow('Invalid configuration RESPONSES_TTL: "3651d" is longer than 3650 days');
    expect(() => parseDuration("HEARTBEAT_INTERVAL", "30d", 1)).toThrow(/longer than a timer can hold/);
  });

  it("rejects durations a timer cannot hold (over 2^31-1 ms) instead of letting them overflow to a 1 ms timer", () => {
    expect(parseDuration("UPSTREAM_IDLE_TIMEOUT", "596h", 1)).toBe(596 * 3_600_000);
    for (const raw of ["1000h", "3000000", "999999999s"]) {
      expect(() => parseDuration("UPSTREAM_IDLE_TIMEOUT", raw, 1)).toThrow(ConfigError);
      expect(() => parseDuration("UPSTREAM_IDLE_TIMEOUT", raw, 1)).toThrow(/UPSTREAM_IDLE_TIMEOUT/);
    }
    expect(configError({ HEARTBEAT_INTERVAL: "1000h" }).variable).toBe("HEARTBEAT_INTERVAL");
  });

  it("reads sizes in bytes, decimal and binary units, case-insensitively", () => {
    expect(parseSize("X", "1000", 1)).toBe(1000);
    expect(parseSize("X", "20MiB", 1)).toBe(20 * 1024 * 1024);
    expect(parseSize("X", "512KiB", 1)).toBe(512 * 1024);
    expect(parseSize("X", "2kb", 1)).toBe(2000);
    expect(parseSize("X", "1 GB", 1)).toBe(1e9);
    expect(parseSize("X", "3gib", 1)).toBe(3 * 1024 ** 3);
    expect(parseSize("X", undefined, 77)).toBe(77);
    expect(() => parseSize("MAX_BODY_BYTES", "1.5MiB", 1)).toThrow(
      'Invalid configuration MAX_BODY_BYTES: expected a size such as "20MiB" or a number of bytes, got "1.5MiB"',
    );
    expect(() => parseSize("MAX_BODY_BYTES", "10 parsecs", 1)).toThrow(ConfigError);
  });
});

describe("parseConfig", () => {
  it("has working defaults for an empty env", () => {
    expect(parseConfig({})).toStrictEqual({
      ollamaUrl: "http://127.0.0.1:11434",
      accessHeaders: {},
      backends: [
        {
          name: "ollama",
          kind: "ollama",
          url: "http://127.0.0.1:11434",
          binding: null,
          models: null,
          maxConcurrency: null,
          apiKey: null,
          contextLength: null,
          headers: {},
        },
      ],
      backendsConfigured: false,
      backendCooldownMs: 30_000,
      modelAliases: {},
      modelDefaults: {},
      modelLimits: {},
      corsOrigins: "*",
      maxBodyBytes: 20 * 1024 ** 2,
      maxImageBytes: 10 * 1024 ** 2,
      maxImages: 16,
      maxImageTotalBytes: 32 * 1024 ** 2,
      imageFetchTimeoutMs: 10_000,
      heartbeatIntervalMs: 10_000,
      upstreamHeadersTimeoutMs: 300_000,
      upstreamIdleTimeoutMs: 120_000,
      modelsCacheTtlMs: 10_000,
      upstreamRetries: 2,
      upstreamRetryBackoffMs: 250,
      defaultMaxTokens: 8192,
      maxEmbeddingInputs: 256,
      maxEmbeddingBytes: 1024 ** 2,
      adminToken: null,
      keyDefaults: { rpm: 60, tpm: 200_000, max_concurrency: 4 },
      backendMaxConcurrency: 4,
      queueMaxWaitMs: 30_000,
      queueMaxLength: 64,
      leaseTtlMs: 90_000,
      ollamaContextLength: 4096,
      responses: { ttlMs: 30 * 86_400_000, maxBytes: 8 * 1024 ** 2, maxKeyBytes: 256 * 1024 ** 2 },
      usageRetentionMs: 90 * 86_400_000,
    });
  });

  it("reads every variable", () => {
    const config = parseConfig({
      OLLAMA_URL: " https://ollama.example.com/ ",
      CF_ACCESS_CLIENT_ID: "abc.access",
      CF_ACCESS_CLIENT_SECRET: "s3cret",
      MODEL_ALIASES: '{"gpt-4o-mini":"llama3.2:3b"}',
      MODEL_DEFAULTS: '{"llama3.2:3b":{"options":{"num_ctx":8192},"keep_alive":"30m","think":false}}',
      MODEL_LIMITS: '{"*":{"max_num_ctx":32768,"max_keep_alive":"30m","max_num_predict":4096}}',
      DEFAULT_MAX_TOKENS: "2048",
      MAX_IMAGES: "4",
      MAX_IMAGE_TOTAL_BYTES: "2MiB",
      CORS_ORIGINS: "https://a.example, https://b.example,",
      MAX_BODY_BYTES: "1MiB",
      MAX_IMAGE_BYTES: "512KiB",
      IMAGE_FETCH_TIMEOUT: "5s",
      HEARTBEAT_INTERVAL: "15s",
      UPSTREAM_HEADERS_TIMEOUT: "2m",
      UPSTREAM_IDLE_TIMEOUT: "90",
      MODELS_CACHE_TTL: "500ms",
      MAX_EMBEDDING_INPUTS: "32",
      MAX_EMBEDDING_BYTES: "64KiB",
      ADMIN_TOKEN: " admin-token-0123456789abcdef01234 ",
      DEFAULT_KEY_RPM: "10",
      DEFAULT_KEY_TPM: "5000",
      DEFAULT_KEY_MAX_CONCURRENCY: "2",
      BACKEND_MAX_CONCURRENCY: "0",
      QUEUE_MAX_WAIT: "5s",
      QUEUE_MAX_LENGTH: "8",
      LEASE_TTL: "1h",
      RESPONSES_TTL: "7d",
      OLLAMA_CONTEXT_LENGTH: "32768",
      RESPONSES_MAX_BYTES: "1MiB",
      RESPONSES_MAX_KEY_BYTES: "64MiB",
      USAGE_RETENTION: "30d",
      UPSTREAM_RETRIES: "0",
      UPSTREAM_RETRY_BACKOFF: "100ms",
      BACKEND_COOLDOWN: "5s",
    });
    expect(config).toStrictEqual({
      ollamaUrl: "https://ollama.example.com",
      accessHeaders: { "CF-Access-Client-Id": "abc.access", "CF-Access-Client-Secret": "s3cret" },
      backends: [
        {
          name: "ollama",
          kind: "ollama",
          url: "https://ollama.example.com",
          binding: null,
          models: null,
          maxConcurrency: null,
          apiKey: null,
          contextLength: null,
          headers: { "CF-Access-Client-Id": "abc.access", "CF-Access-Client-Secret": "s3cret" },
        },
      ],
      backendsConfigured: false,
      backendCooldownMs: 5000,
      modelAliases: { "gpt-4o-mini": "llama3.2:3b" },
      modelDefaults: { "llama3.2:3b": { options: { num_ctx: 8192 }, keep_alive: "30m", think: false } },
      modelLimits: { "*": { max_num_ctx: 32768, max_keep_alive: "30m", max_num_predict: 4096 } },
      corsOrigins: ["https://a.example", "https://b.example"],
      maxBodyBytes: 1024 ** 2,
      maxImageBytes: 512 * 1024,
      maxImages: 4,
      maxImageTotalBytes: 2 * 1024 ** 2,
      imageFetchTimeoutMs: 5000,
      heartbeatIntervalMs: 15_000,
      upstreamHeadersTimeoutMs: 120_000,
      upstreamIdleTimeoutMs: 90_000,
      modelsCacheTtlMs: 500,
      upstreamRetries: 0,
      upstreamRetryBackoffMs: 100,
      defaultMaxTokens: 2048,
      maxEmbeddingInputs: 32,
      maxEmbeddingBytes: 64 * 1024,
      adminToken: "admin-token-0123456789abcdef01234",
      keyDefaults: { rpm: 10, tpm: 5000, max_concurrency: 2 },
      backendMaxConcurrency: 0,
      queueMaxWaitMs: 5000,
      queueMaxLength: 8,
      leaseTtlMs: 3_600_000,
      ollamaContextLength: 32768,
      responses: { ttlMs: 7 * 86_400_000, maxBytes: 1024 ** 2, maxKeyBytes: 64 * 1024 ** 2 },
      usageRetentionMs: 30 * 86_400_000,
    });
  });

  it("ADMIN_TOKEN: at least 32 characters after trimming, or unset", () => {
    const token31 = "a".repeat(31);
    const token32 = "a".repeat(32);
    expect(parseConfig({ ADMIN_TOKEN: token32 }).adminToken).toBe(token32);
    expect(parseConfig({ ADMIN_TOKEN: `  ${token32}\n` }).adminToken).toBe(token32);
    for (const short of [token31, ` ${token31} `, " admin ", "short-token"]) {
      const error = configError({ ADMIN_TOKEN: short });
      expect(error.variable, short).toBe("ADMIN_TOKEN");
      expect(error.message, short).toMatch(/ADMIN_TOKEN.*at least 32 characters/);
      expect(error.message, short).not.toContain(short.trim());
    }
    for (const unset of [undefined, "", "   "]) expect(parseConfig({ ADMIN_TOKEN: unset }).adminToken, JSON.stringify(unset)).toBeNull();
  });

  it("errors name the variable", () => {
    expect(configError({ MODEL_ALIASES: "{gpt: llama}" })).toStrictEqual({
      variable: "MODEL_ALIASES",
      message: "Invalid configuration MODEL_ALIASES: not valid JSON",
    });
    expect(configError({ MODEL_ALIASES: '{"a":1}' }).variable).toBe("MODEL_ALIASES");
    expect(configError({ MODEL_ALIASES: '["a"]' }).variable).toBe("MODEL_ALIASES");
    expect(configError({ MODEL_DEFAULTS: '{"m":{"temperature":1}}' }).variable).toBe("MODEL_DEFAULTS");
    expect(configError({ MODEL_DEFAULTS: '{"m":{"think":"extreme"}}' }).variable).toBe("MODEL_DEFAULTS");
    expect(configError({ OLLAMA_URL: "ollama.example.com" })).toStrictEqual({
      variable: "OLLAMA_URL",
      message: "Invalid configuration OLLAMA_URL: not a valid URL",
    });
    expect(configError({ OLLAMA_URL: "ftp://ollama.example.com" })).toStrictEqual({
      variable: "OLLAMA_URL",
      message: "Invalid configuration OLLAMA_URL: must be an http(s) URL",
    });
    expect(configError({ UPSTREAM_IDLE_TIMEOUT: "forever" }).variable).toBe("UPSTREAM_IDLE_TIMEOUT");
    expect(configError({ MAX_IMAGE_BYTES: "big" }).variable).toBe("MAX_IMAGE_BYTES");
    expect(configError({ UPSTREAM_RETRIES: "11" })).toStrictEqual({
      variable: "UPSTREAM_RETRIES",
      message: 'Invalid configuration UPSTREAM_RETRIES: expected a whole number from 0 to 10, got "11"',
    });
    expect(configError({ DEFAULT_KEY_RPM: "0" }).message).toBe('Invalid configuration DEFAULT_KEY_RPM: expected a whole number ≥ 1, got "0"');
  });

  it("needs both Access secrets or neither", () => {
    const both = "set both CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET, or neither";
    expect(configError({ CF_ACCESS_CLIENT_ID: "id" })).toStrictEqual({
      variable: "CF_ACCESS_CLIENT_SECRET",
      message: `Invalid configuration CF_ACCESS_CLIENT_SECRET: ${both}`,
    });
    expect(configError({ CF_ACCESS_CLIENT_SECRET: "secret", CF_ACCESS_CLIENT_ID: "  " })).toStrictEqual({
      variable: "CF_ACCESS_CLIENT_ID",
      message: `Invalid configuration CF_ACCESS_CLIENT_ID: ${both}`,
    });
    expect(parseConfig({ CF_ACCESS_CLIENT_ID: " id ", CF_ACCESS_CLIENT_SECRET: "secret\n" }).accessHeaders).toStrictEqual({
      "CF-Access-Client-Id": "id",
      "CF-Access-Client-Secret": "secret",
    });
  });

  it("getConfig parses once per env object", () => {
    const env: Env = { OLLAMA_URL: "http://10.0.0.2:11434" };
    expect(getConfig(env)).toBe(getConfig(env));
    expect(getConfig({ ...env })).not.toBe(getConfig(env));
  });
});

describe("validate", () => {
  const ok = { model: "m", messages: [{ role: "user", content: "hi" }] };

  function failure(body: unknown): { status: number; body: ErrorBody } {
    try {
      validate(chatRequestSchema, body);
    } catch (error) {
      if (error instanceof ApiError) return { status: error.status, body: error.toBody() };
      throw error;
    }
    throw new Error("expected an ApiError");
  }
  const paramOf = (body: unknown) => failure(body).body.error.param;

  it("accepts unknown top-level fields and drops them", () => {
    expect(validate(chatRequestSchema, { ...ok, user: "u-1", metadata: { a: 1 }, store: false, service_tier: "auto" })).toStrictEqual(ok);
  });

  it("names the field path of the problem", () => {
    expect(failure({ ...ok, messages: [] })).toStrictEqual({
      status: 400,
      body: {
        error: {
          message: "Invalid value for 'messages': messages must contain at least one message",
          type: "invalid_request_error",
          param: "messages",
          code: null,
        },
      },
    });
    const content = failure({ model: "m", messages: [{ role: "user", content: 2 }] });
    expect(content.status).toBe(400);
    expect(content.body.error.param).toBe("messages[0].content");
    expect(content.body.error.message).toMatch(/^Invalid value for 'messages\[0\]\.content': /);
    expect(paramOf({ model: "m", messages: [ok.messages[0], { role: "user", content: [{ type: "text", text: "a" }, { type: "input_audio" }] }] })).toBe(
      "messages[1].content[1].type",
    );
    expect(paramOf({ model: "m", messages: [{ role: "user", content: [{ type: "text", text: 3 }] }] })).toBe("messages[0].content[0].text");
    expect(paramOf({ model: "m", messages: [{ role: "robot", content: "x" }] })).toBe("messages[0].role");
    expect(paramOf({ model: "m", messages: [{ role: "assistant", tool_calls: [{ id: "a", function: { name: "f", arguments: {} } }] }] })).toBe(
      "messages[0].tool_calls[0].function.arguments",
    );
    expect(paramOf({ ...ok, temperature: "hot" })).toBe("temperature");
    expect(paramOf({ ...ok, stop: ["a", 1] })).toBe("stop[1]");
    expect(paramOf({ ...ok, response_format: { type: "xml" } })).toBe("response_format.type");
    expect(paramOf({ ...ok, top_logprobs: 21 })).toBe("top_logprobs");
    expect(paramOf({ ...ok, tools: [{ type: "function", function: { name: "" } }] })).toBe("tools[0].function.name");
    expect(paramOf({ model: "m", messages: [{ role: "user", content: ["hi"] }] })).toBe("messages[0].content[0]");
    expect(paramOf({ model: "m", messages: [{ role: "user", content: [{ type: "image_url", image_url: { detail: "low" } }] }] })).toBe(
      "messages[0].content[0].image_url.url",
    );
    expect(paramOf({ model: "m", messages: [{ role: "system", content: [{ type: "image_url", image_url: "data:image/png;base64,AAAA" }] }] })).toBe(
      "messages[0].content[0].type",
    );
    expect(paramOf({ model: "m", messages: "hi" })).toBe("messages");
    expect(paramOf({ ...ok, reasoning: { effort: "huge" } })).toBe("reasoning.effort");
    expect(paramOf({ ...ok, stream_options: { include_usage: "yes" } })).toBe("stream_options.include_usage");
    expect(paramOf({ messages: ok.messages })).toBe("model");
    expect(paramOf({ ...ok, model: "" })).toBe("model");
  });

  it("a body that is not an object has no param", () => {
    for (const body of [null, [], "text", 3]) {
      expect(failure(body)).toStrictEqual({
        status: 400,
        body: { error: { message: "The request body must be a JSON object.", type: "invalid_request_error", param: null, code: null } },
      });
    }
  });

  it("paramPath formats paths the way OpenAI names params", () => {
    expect(paramPath(["messages", 0, "content", 1, "image_url"])).toBe("messages[0].content[1].image_url");
    expect(paramPath([0, "a"])).toBe("[0].a");
    expect(paramPath([])).toBeNull();
  });
});
