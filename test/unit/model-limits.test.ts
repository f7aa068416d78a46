import { describe, expect, it } from "vitest";
import { ConfigError, type ModelDefaults, parseConfig } from "../../src/config/index.ts";
import {
  answerCeiling,
  applyNativeLimits,
  applyOpenAILimits,
  limitKeepAlive,
  limitsFor,
  type ModelLimits,
  modelDefaultsFor,
  parseGoDuration,
  patternLookup,
} from "../../src/core/model-settings.ts";
import { validate } from "../../src/core/validate.ts";
import { toNativeChat } from "../../src/dialects/openai/chat/request.ts";
import { chatRequestSchema } from "../../src/dialects/openai/chat/schema.ts";
import { toNativeCompletion } from "../../src/dialects/openai/completions/request.ts";
import { validateCompletionRequest } from "../../src/dialects/openai/completions/schema.ts";
import { toNativeEmbed } from "../../src/dialects/openai/embeddings/mapping.ts";
import { validateEmbeddingRequest } from "../../src/dialects/openai/embeddings/schema.ts";

const L: ModelLimits = { max_num_ctx: 32768, max_keep_alive: "30m", max_num_predict: 8192 };

describe("patternLookup: exact names, then the longest * pattern", () => {
  const table = {
    "*": "any",
    "qwen3*": "qwen3 family",
    "qwen3:8b": "qwen3 8b exactly",
    "claude-*": "claude",
    "claude-3*": "claude 3",
    "gpt-4o-mini": "alias exactly",
    "a*b": "not a pattern",
  };

  it("an exact key wins over every pattern; the names are tried in the order given", () => {
    expect(patternLookup(table, "qwen3:8b")).toBe("qwen3 8b exactly");
    expect(patternLookup(table, "gpt-4o-mini", "qwen3:8b")).toBe("alias exactly");
    expect(patternLookup(table, "qwen3:8b", "gpt-4o-mini")).toBe("qwen3 8b exactly");
    expect(patternLookup(table, "claude-3-opus", "qwen3:8b")).toBe("qwen3 8b exactly");
  });

  it("the longest matching pattern wins, whichever name it matches; `*` alone matches everything", () => {
    expect(patternLookup(table, "claude-3-opus")).toBe("claude 3");
    expect(patternLookup(table, "claude-sonnet-4")).toBe("claude");
    expect(patternLookup(table, "qwen3:14b")).toBe("qwen3 family");
    // The client's alias matches only "*"; the installed name matches the longer "qwen3*".
    expect(patternLookup(table, "my-alias", "qwen3:14b")).toBe("qwen3 family");
    expect(patternLookup(table, "llama3.2")).toBe("any");
    expect(patternLookup(table, "")).toBe("any");
  });

  it("between patterns of the same length, the one matching an earlier name wins", () => {
    const same = { "ab*": 1, "xy*": 2 };
    expect(patternLookup(same, "abc", "xyz")).toBe(1);
    expect(patternLookup(same, "xyz", "abc")).toBe(2);
  });

  it("only a trailing * is a pattern; no match is undefined", () => {
    expect(patternLookup({ "a*b": 1 }, "axxb")).toBeUndefined();
    expect(patternLookup({ "a*b": 1 }, "a*b")).toBe(1);
    expect(patternLookup({ "llama*": 1 }, "qwen3")).toBeUndefined();
    expect(patternLookup({}, "x")).toBeUndefined();
    expect(patternLookup({ x: 1 })).toBeUndefined();
  });

  it("own keys only: constructor, __proto__ and toString find nothing unless the table has them", () => {
    expect(patternLookup({ llama: 1 }, "constructor")).toBeUndefined();
    expect(patternLookup({ llama: 1 }, "__proto__", "toString", "hasOwnProperty")).toBeUndefined();
    const own = JSON.parse('{"__proto__":{"max_num_ctx":1},"constructor":{"max_num_ctx":2}}') as Record<string, ModelLimits>;
    expect(patternLookup(own, "__proto__")).toStrictEqual({ max_num_ctx: 1 });
    expect(patternLookup(own, "constructor")).toStrictEqual({ max_num_ctx: 2 });
    expect(patternLookup(JSON.parse('{"__proto__*":5}') as Record<string, number>, "__proto__x")).toBe(5);
  });
});

describe("limitsFor and modelDefaultsFor (MODEL_DEFAULTS accepts * patterns too)", () => {
  it("limitsFor looks up MODEL_LIMITS by the requested name, the installed name, or a pattern", () => {
    const config = { modelLimits: { "*": { max_num_ctx: 8192 }, "qwen3*": { max_num_ctx: 4096 }, "gpt-4o": { max_num_ctx: 2048 } } };
    expect(limitsFor(config, "gpt-4o", "qwen3:8b")).toStrictEqual({ max_num_ctx: 2048 });
    expect(limitsFor(config, "gpt-5", "qwen3:8b")).toStrictEqual({ max_num_ctx: 4096 });
    expect(limitsFor(config, "llama3.2", "llama3.2:latest")).toStrictEqual({ max_num_ctx: 8192 });
    expect(limitsFor({ modelLimits: {} }, "a", "b")).toBeUndefined();
  });

  it("modelDefaultsFor: exact (requested, then installed), then the longest pattern", () => {
    const modelDefaults: Record<string, ModelDefaults> = {
      "*": { keep_alive: "5m" },
      "qwen3*": { think: false },
      "qwen3:8b": { keep_alive: "1h" },
      "claude-*": { options: { num_ctx: 65536 } },
    };
    const config = { modelDefaults };
    expect(modelDefaultsFor(config, "claude-sonnet-4", "qwen3:8b")).toStrictEqual({ keep_alive: "1h" });
    expect(modelDefaultsFor(config, "claude-sonnet-4", "qwen3:14b")).toStrictEqual({ options: { num_ctx: 65536 } });
    expect(modelDefaultsFor(config, "qwen3:14b", "qwen3:14b")).toStrictEqual({ think: false });
    expect(modelDefaultsFor(config, "llama3.2", "llama3.2:latest")).toStrictEqual({ keep_alive: "5m" });
    expect(modelDefaultsFor({ modelDefaults: {} }, "constructor", "toString")).toBeUndefined();
  });
});

describe("MODEL_LIMITS in the configuration", () => {
  const configError = (raw: string) => {
    try {
      parseConfig({ MODEL_LIMITS: raw });
    } catch (error) {
      if (error instanceof ConfigError) return { variable: error.variable, message: error.message };
      throw error;
    }
    throw new Error("expected a ConfigError");
  };

  it("is parsed into modelLimits; unset is {}", () => {
    expect(parseConfig({}).modelLimits).toStrictEqual({});
    expect(parseConfig({ MODEL_LIMITS: "  " }).modelLimits).toStrictEqual({});
    const raw = '{"*":{"max_num_ctx":32768,"max_keep_alive":"30m","max_num_predict":8192},"qwen3:8b":{"max_keep_alive":1800},"tiny*":{}}';
    expect(parseConfig({ MODEL_LIMITS: raw }).modelLimits).toStrictEqual({
      "*": { max_num_ctx: 32768, max_keep_alive: "30m", max_num_predict: 8192 },
      "qwen3:8b": { max_keep_alive: 1800 },
      "tiny*": {},
    });
    expect(parseConfig({ MODEL_LIMITS: '{"m":{"max_keep_alive":"1h30m"}}' }).modelLimits).toStrictEqual({ m: { max_keep_alive: "1h30m" } });
    expect(parseConfig({ MODEL_LIMITS: '{"m":{"max_keep_alive":0}}' }).modelLimits).toStrictEqual({ m: { max_keep_alive: 0 } });
  });

  it.each([
    ["not json", "Invalid configuration MODEL_LIMITS: not valid JSON"],
    ['["*"]', "Invalid configuration MODEL_LIMITS: Invalid input: expected record, received array"],
    ['{"*":{"max_ctx":1}}', 'Invalid configuration MODEL_LIMITS: Unrecognized key: "max_ctx" at *'],
    ['{"*":{"max_num_ctx":0}}', "Invalid configuration MODEL_LIMITS: Too small: expected number to be >=1 at *.max_num_ctx"],
    ['{"*":{"max_num_ctx":1.5}}', "Invalid configuration MODEL_LIMITS: Invalid input: expected int, received number at *.max_num_ctx"],
    ['{"*":{"max_num_predict":"8k"}}', "Invalid configuration MODEL_LIMITS: Invalid input: expected number, received string at *.max_num_predict"],
    ['{"*":{"max_num_predict":-1}}', "Invalid configuration MODEL_LIMITS: Too small: expected number to be >=1 at *.max_num_predict"],
    [
      '{"*":{"max_keep_alive":"30 m"}}',
      'Invalid configuration MODEL_LIMITS: expected a Go duration that is not negative, such as "30m", "1h" or "90s" at *.max_keep_alive',
    ],
    [
      '{"*":{"max_keep_alive":"30"}}',
      'Invalid configuration MODEL_LIMITS: expected a Go duration that is not negative, such as "30m", "1h" or "90s" at *.max_keep_alive',
    ],
    [
      '{"*":{"max_keep_alive":"-1m"}}',
      'Invalid configuration MODEL_LIMITS: expected a Go duration that is not negative, such as "30m", "1h" or "90s" at *.max_keep_alive',
    ],
    ['{"*":{"max_keep_alive":-1}}', "Invalid configuration MODEL_LIMITS: Too small: expected number to be >=0 at *.max_keep_alive"],
    ['{"*":{"max_keep_alive":true}}', 'Invalid configuration MODEL_LIMITS: expected a duration such as "30m" or a whole number of seconds at *.max_keep_alive'],
    ['{"":{}}', "Invalid configuration MODEL_LIMITS: Invalid key in record at "],
  ])("%s → a ConfigError naming MODEL_LIMITS", (raw, message) => {
    expect(configError(raw)).toStrictEqual({ variable: "MODEL_LIMITS", message });
  });
});

describe("parseGoDuration: Go's time.ParseDuration, in nanoseconds", () => {
  it.each([
    ["30m", 1800e9],
    ["1h", 3600e9],
    ["90s", 90e9],
    ["1h30m", 5400e9],
    ["1.5h", 5400e9],
    ["500ms", 500e6],
    ["0", 0],
    ["-0", 0],
    ["+5m", 300e9],
    ["-1m", -60e9],
    [".5s", 500e6],
    ["1.s", 1e9],
    ["10us", 10e3],
    ["10\u00b5s", 10e3],
    ["10\u03bcs", 10e3],
    ["7ns", 7],
    ["2h45m30.5s", 9930.5e9],
  ])("%s → %d ns", (text, ns) => {
    expect(parseGoDuration(text)).toBe(ns);
  });

  it.each(["", "30", "5 m", " 5m", "5m ", "m", ".s", "-", "1d", "1e3s", "--1s", "1.5.5h", "9999999999h", "5M"])("%j → null (Go refuses it)", (text) => {
    expect(parseGoDuration(text)).toBeNull();
  });
});

describe("applyNativeLimits: a native body under MODEL_LIMITS", () => {
  it("num_ctx is clamped when sent, kept when within, left unset when absent", () => {
    expect(applyNativeLimits({ model: "m", options: { num_ctx: 131072 } }, { max_num_ctx: 32768 })).toStrictEqual({ model: "m", options: { num_ctx: 32768 } });
    expect(applyNativeLimits({ model: "m", options: { num_ctx: 4096 } }, { max_num_ctx: 32768 })).toStrictEqual({ model: "m", options: { num_ctx: 4096 } });
    expect(applyNativeLimits({ model: "m", options: { num_ctx: 32768 } }, { max_num_ctx: 32768 })).toStrictEqual({ model: "m", options: { num_ctx: 32768 } });
    expect(applyNativeLimits({ model: "m", options: { temperature: 0 } }, { max_num_ctx: 32768 })).toStrictEqual({ model: "m", options: { temperature: 0 } });
    expect(applyNativeLimits({ model: "m" }, { max_num_ctx: 32768 })).toStrictEqual({ model: "m" });
    expect(applyNativeLimits({ model: "m", options: { num_ctx: null } }, { max_num_ctx: 32768 })).toStrictEqual({ model: "m", options: { num_ctx: null } });
    // Not a number: Ollama would refuse it or read it some other way; the ceiling is the safe answer.
    expect(applyNativeLimits({ model: "m", options: { num_ctx: "999999" } }, { max_num_ctx: 32768 })).toStrictEqual({
      model: "m",
      options: { num_ctx: 32768 },
    });
  });

  it("num_predict is clamped, and set to the ceiling when absent, -1 (infinite) or -2 (fill the context)", () => {
    const limits = { max_num_predict: 8192 };
    expect(applyNativeLimits({ model: "m" }, limits)).toStrictEqual({ model: "m", options: { num_predict: 8192 } });
    expect(applyNativeLimits({ model: "m", options: null }, limits)).toStrictEqual({ model: "m", options: { num_predict: 8192 } });
    expect(applyNativeLimits({ model: "m", options: { num_predict: -1, top_k: 5 } }, limits)).toStrictEqual({
      model: "m",
      options: { num_predict: 8192, top_k: 5 },
    });
    expect(applyNativeLimits({ model: "m", options: { num_predict: -2 } }, limits)).toStrictEqual({ model: "m", options: { num_predict: 8192 } });
    expect(applyNativeLimits({ model: "m", options: { num_predict: 100000 } }, limits)).toStrictEqual({ model: "m", options: { num_predict: 8192 } });
    expect(applyNativeLimits({ model: "m", options: { num_predict: 100 } }, limits)).toStrictEqual({ model: "m", options: { num_predict: 100 } });
    expect(applyNativeLimits({ model: "m", options: { num_predict: 0 } }, limits)).toStrictEqual({ model: "m", options: { num_predict: 0 } });
    expect(applyNativeLimits({ model: "m", options: { num_predict: "5" } }, limits)).toStrictEqual({ model: "m", options: { num_predict: 8192 } });
  });

  it("{answer: false} (embeddings): no num_predict is added, one that is sent is still held", () => {
    const mode = { answer: false };
    expect(applyNativeLimits({ model: "e", input: "x" }, L, mode)).toStrictEqual({ model: "e", input: "x" });
    expect(applyNativeLimits({ model: "e", input: "x", options: { num_ctx: 65536 } }, L, mode)).toStrictEqual({
      model: "e",
      input: "x",
      options: { num_ctx: 32768 },
    });
    expect(applyNativeLimits({ model: "e", options: { num_predict: -1 } }, L, mode)).toStrictEqual({ model: "e", options: { num_predict: 8192 } });
  });

  it.each([
    ["1h", "30m"],
    ["30m", "30m"],
    ["10m", "10m"],
    ["1800s", "1800s"],
    ["1801s", "30m"],
    ["29m59.999s", "29m59.999s"],
    ["0", "0"],
    ["0s", "0s"],
    ["-1m", "30m"],
    ["-1", "30m"],
    ["forever", "30m"],
    ["30", "30m"],
    ["", "30m"],
    [-1, "30m"],
    [-0.5, "30m"],
    [3600, "30m"],
    [1800, 1800],
    [1800.9, 1800.9],
    [1801, "30m"],
    [600, 600],
    [0, 0],
    [1e300, "30m"],
    [true, "30m"],
    [{ seconds: 1 }, "30m"],
  ])('keep_alive %j under max "30m" → %j', (keepAlive, expected) => {
    expect(applyNativeLimits({ model: "m", keep_alive: keepAlive }, { max_keep_alive: "30m" })).toStrictEqual({ model: "m", keep_alive: expected });
  });

  it('a ceiling in seconds is sent as "Ns"; an absent or null keep_alive stays as it is', () => {
    expect(applyNativeLimits({ model: "m", keep_alive: -1 }, { max_keep_alive: 1800 })).toStrictEqual({ model: "m", keep_alive: "1800s" });
    expect(applyNativeLimits({ model: "m", keep_alive: "2h" }, { max_keep_alive: 0 })).toStrictEqual({ model: "m", keep_alive: "0s" });
    expect(applyNativeLimits({ model: "m", keep_alive: "1h" }, { max_keep_alive: "1h30m" })).toStrictEqual({ model: "m", keep_alive: "1h" });
    expect(applyNativeLimits({ model: "m" }, { max_keep_alive: "30m" })).toStrictEqual({ model: "m" });
    expect(applyNativeLimits({ model: "m", keep_alive: null }, { max_keep_alive: "30m" })).toStrictEqual({ model: "m", keep_alive: null });
    expect(limitKeepAlive(undefined, L)).toBeUndefined();
    expect(limitKeepAlive("2h", undefined)).toBe("2h");
  });

  it("all three at once; every other field is kept; the input is not changed", () => {
    const body = {
      model: "m",
      messages: [{ role: "user", content: "hi", options: { num_ctx: 1e9 } }],
      options: { num_ctx: 1_000_000, num_predict: -1, temperature: 0.2 },
      keep_alive: -1,
      stream: false,
      think: true,
    };
    const copy = structuredClone(body);
    expect(applyNativeLimits(body, L)).toStrictEqual({
      model: "m",
      messages: [{ role: "user", content: "hi", options: { num_ctx: 1e9 } }],
      options: { num_ctx: 32768, num_predict: 8192, temperature: 0.2 },
      keep_alive: "30m",
      stream: false,
      think: true,
    });
    expect(body).toStrictEqual(copy);
  });

  it("without limits, a copy; options that are not an object are left for Ollama to refuse", () => {
    const body = { model: "m", options: { num_ctx: 1e9 }, keep_alive: -1 };
    const out = applyNativeLimits(body, undefined);
    expect(out).toStrictEqual(body);
    expect(out).not.toBe(body);
    expect(applyNativeLimits({ model: "m", options: [1] }, L)).toStrictEqual({ model: "m", options: [1] });
    expect(applyNativeLimits({ model: "m", options: "x" }, L)).toStrictEqual({ model: "m", options: "x" });
  });

  it("an own __proto__ key survives as a key, not as a prototype", () => {
    const body = JSON.parse('{"model":"m","__proto__":{"keep_alive":-1},"options":{"__proto__":{"num_ctx":1}}}') as Record<string, unknown>;
    const out = applyNativeLimits(body, L);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toStrictEqual(["model", "__proto__", "options"]);
    expect(Object.getPrototypeOf(out.options)).toBe(Object.prototype);
    expect(Object.keys(out.options as object)).toStrictEqual(["__proto__", "num_predict"]);
  });
});

describe("applyOpenAILimits: llama-server payloads", () => {
  const limits = { max_num_predict: 8192 };

  it("sets max_tokens when no cap is present (null counts as absent)", () => {
    expect(applyOpenAILimits({ model: "m", messages: [] }, limits)).toStrictEqual({ model: "m", messages: [], max_tokens: 8192 });
    expect(applyOpenAILimits({ model: "m", max_tokens: null }, limits)).toStrictEqual({ model: "m", max_tokens: 8192 });
  });

  it("clamps each of max_tokens, max_completion_tokens, n_predict; negative (no limit) or non-numbers become the ceiling", () => {
    expect(applyOpenAILimits({ max_tokens: 100000 }, limits)).toStrictEqual({ max_tokens: 8192 });
    expect(applyOpenAILimits({ max_tokens: 100 }, limits)).toStrictEqual({ max_tokens: 100 });
    expect(applyOpenAILimits({ max_completion_tokens: 128000 }, limits)).toStrictEqual({ max_completion_tokens: 8192 });
    expect(applyOpenAILimits({ n_predict: -1 }, limits)).toStrictEqual({ n_predict: 8192 });
    expect(applyOpenAILimits({ n_predict: 50, max_tokens: 9000, max_completion_tokens: "x" }, limits)).toStrictEqual({
      n_predict: 50,
      max_tokens: 8192,
      max_completion_tokens: 8192,
    });
  });

  it("no max_num_predict, or no limits: a copy", () => {
    const payload = { max_tokens: 1e9 };
    expect(applyOpenAILimits(payload, { max_num_ctx: 10 })).toStrictEqual({ max_tokens: 1e9 });
    expect(applyOpenAILimits(payload, undefined)).not.toBe(payload);
  });
});

describe("answerCeiling", () => {
  it.each([
    [100, { max_num_predict: 8192 }, 100],
    [100000, { max_num_predict: 8192 }, 8192],
    [null, { max_num_predict: 8192 }, 8192],
    [undefined, { max_num_predict: 8192 }, 8192],
    [-1, { max_num_predict: 8192 }, 8192],
    [500, undefined, 500],
    [500, { max_num_ctx: 10 }, 500],
    [0, { max_num_predict: 8192 }, 0],
    [null, undefined, null],
    [-1, {}, null],
  ])("client %j, limits %j → %j", (cap, limits, expected) => {
    expect(answerCeiling(cap, limits)).toBe(expected);
  });
});

describe("the /v1 translators apply MODEL_LIMITS after MODEL_DEFAULTS and the client's values", () => {
  const m = "test-model";
  const defaults: ModelDefaults = { options: { num_ctx: 65536, num_thread: 4 }, keep_alive: "2h" };
  const U = { role: "user", content: "Hello" };

  it("chat: num_ctx from defaults or the client is held; max_tokens is held; num_predict is set when absent; keep_alive held", () => {
    const chat = (body: Record<string, unknown>, limits?: ModelLimits) =>
      toNativeChat(validate(chatRequestSchema, { model: m, messages: [U], ...body }), { model: m, defaults, limits });
    expect(chat({}, L)).toStrictEqual({
      model: m,
      messages: [U],
      stream: true,
      options: { num_ctx: 32768, num_thread: 4, num_predict: 8192 },
      keep_alive: "30m",
    });
    expect(chat({ max_tokens: 100000, options: { num_ctx: 1_000_000 }, keep_alive: -1, temperature: 0.5 }, L)).toStrictEqual({
      model: m,
      messages: [U],
      stream: true,
      options: { num_ctx: 32768, num_thread: 4, num_predict: 8192, temperature: 0.5 },
      keep_alive: "30m",
    });
    expect(chat({ max_completion_tokens: 64, options: { num_ctx: 2048 }, keep_alive: "5m" }, L)).toStrictEqual({
      model: m,
      messages: [U],
      stream: true,
      options: { num_ctx: 2048, num_thread: 4, num_predict: 64 },
      keep_alive: "5m",
    });
    // Without limits nothing changes.
    expect(chat({ options: { num_ctx: 1_000_000 } })).toStrictEqual({
      model: m,
      messages: [U],
      stream: true,
      options: { num_ctx: 1_000_000, num_thread: 4 },
      keep_alive: "2h",
    });
  });

  it("chat without defaults: a client that sends no num_ctx and no keep_alive gets none", () => {
    const native = toNativeChat(validate(chatRequestSchema, { model: m, messages: [U] }), { model: m, limits: L });
    expect(native).toStrictEqual({ model: m, messages: [U], stream: true, options: { num_predict: 8192 } });
  });

  it("completions: the same rules", () => {
    const completion = (body: Record<string, unknown>) =>
      toNativeCompletion(validateCompletionRequest({ model: m, prompt: "Hi", ...body }), { model: m, defaults, limits: L });
    expect(completion({ max_tokens: 20000 })).toStrictEqual({
      model: m,
      prompt: "Hi",
      stream: true,
      options: { num_ctx: 32768, num_thread: 4, num_predict: 8192 },
      keep_alive: "30m",
    });
    expect(completion({ max_tokens: 16, keep_alive: 60 })).toStrictEqual({
      model: m,
      prompt: "Hi",
      stream: true,
      options: { num_ctx: 32768, num_thread: 4, num_predict: 16 },
      keep_alive: 60,
    });
  });

  it("embeddings: num_ctx and keep_alive held, no num_predict added", () => {
    const caps = { maxInputs: 10, maxBytes: 1000 };
    const embed = (body: Record<string, unknown>, limits?: ModelLimits) =>
      toNativeEmbed(validateEmbeddingRequest({ model: m, input: "a", ...body }, caps), m, defaults, limits);
    expect(embed({}, L)).toStrictEqual({ model: m, input: "a", keep_alive: "30m", options: { num_ctx: 32768, num_thread: 4 } });
    expect(embed({ keep_alive: "1m", options: { num_ctx: 512 } }, L)).toStrictEqual({
      model: m,
      input: "a",
      keep_alive: "1m",
      options: { num_ctx: 512, num_thread: 4 },
    });
    expect(embed({}, undefined)).toStrictEqual({ model: m, input: "a", keep_alive: "2h", options: { num_ctx: 65536, num_thread: 4 } });
  });
});
