import { describe, expect, it } from "vitest";
import { float32Base64, toNativeEmbed, toOpenAIEmbeddings } from "../../src/dialects/openai/embeddings/mapping.ts";
import { checkEmbeddingInputCaps, type EmbeddingLimits, validateEmbeddingRequest } from "../../src/dialects/openai/embeddings/schema.ts";
import { failure } from "./helpers.ts";

const m = "test-model";
const LIMITS: EmbeddingLimits = { maxInputs: 256, maxBytes: 1024 ** 2 };

const parse = (body: Record<string, unknown>, limits = LIMITS) => validateEmbeddingRequest({ model: m, ...body }, limits);
const translate = (body: Record<string, unknown>, defaults?: Parameters<typeof toNativeEmbed>[2]) => toNativeEmbed(parse(body), m, defaults);

/** Decode base64 little-endian float32 the way the OpenAI SDKs do. */
function decode(base64: string): number[] {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return Array.from(new Float32Array(bytes.buffer));
}

describe("§6 vectors 11–12", () => {
  it("11: a string input stays a string, an array stays the same array (order kept)", () => {
    expect(translate({ input: "Hello" })).toStrictEqual({ model: m, input: "Hello" });
    expect(translate({ input: ["Hello", "World", "Hello"] })).toStrictEqual({ model: m, input: ["Hello", "World", "Hello"] });
  });

  it("11: missing input → 400; encoding_format json → 400; BASE64 and Float accepted", () => {
    expect(failure(() => parse({})).body.error).toMatchObject({
      param: "input",
      type: "invalid_request_error",
      message: expect.stringMatching(/input is required/),
    });
    expect(failure(() => parse({ input: "x", encoding_format: "json" })).body.error).toMatchObject({
      param: "encoding_format",
      message: "Invalid value for 'encoding_format': \"json\" is not supported. Supported values: 'float', 'base64'.",
    });
    expect(parse({ input: "x", encoding_format: "BASE64" }).encoding_format).toBe("base64");
    expect(parse({ input: "x", encoding_format: "Float" }).encoding_format).toBe("float");
    expect(parse({ input: "x" }).encoding_format).toBeUndefined();
    expect(parse({ input: "x", encoding_format: null }).encoding_format).toBeNull();
  });

  it("12: base64 is little-endian float32, exactly", () => {
    expect(float32Base64([0.1, -0.2, 0.3])).toBe("zczMPc3MTL6amZk+");
    expect(
      [
        [0.1, 0.2],
        [0.3, 0.4],
        [0.5, 0.6],
      ].map(float32Base64),
    ).toStrictEqual(["zczMPc3MTD4=", "mpmZPs3MzD4=", "AAAAP5qZGT8="]);
    expect(float32Base64([])).toBe("");
  });

  it("12: the whole answer, base64, with prompt_eval_count as usage", () => {
    const answer = {
      model: "x",
      embeddings: [
        [0.1, 0.2],
        [0.3, 0.4],
        [0.5, 0.6],
      ],
      prompt_eval_count: 5,
      total_duration: 1,
    };
    expect(toOpenAIEmbeddings(answer, 3, "text-embedding-3-small", "base64")).toStrictEqual({
      object: "list",
      data: [
        { object: "embedding", index: 0, embedding: "zczMPc3MTD4=" },
        { object: "embedding", index: 1, embedding: "mpmZPs3MzD4=" },
        { object: "embedding", index: 2, embedding: "AAAAP5qZGT8=" },
      ],
      model: "text-embedding-3-small",
      usage: { prompt_tokens: 5, total_tokens: 5 },
    });
  });
});

describe("embedding answers", () => {
  it("floats pass through unchanged; a missing count is 0", () => {
    expect(toOpenAIEmbeddings({ embeddings: [[0.1, -0.2, 0.3]] }, 1, "e", "float")).toStrictEqual({
      object: "list",
      data: [{ object: "embedding", index: 0, embedding: [0.1, -0.2, 0.3] }],
      model: "e",
      usage: { prompt_tokens: 0, total_tokens: 0 },
    });
  });

  it("a long vector round-trips through base64 at float32 precision", () => {
    const vector = Array.from({ length: 40_000 }, (_, i) => Math.sin(i) / 3);
    const back = decode(float32Base64(vector));
    expect(back).toHaveLength(vector.length);
    expect(back).toStrictEqual(vector.map(Math.fround));
  });

  it.each([
    [{ embeddings: [[0.1]] }, 2, /1 vectors for 2 inputs/],
    [{ embeddings: [[0.1], [0.2]] }, 1, /2 vectors for 1 inputs/],
    [{}, 1, /no embeddings/],
    [{ embeddings: [0.1] as unknown as number[][] }, 1, /not an array/],
  ])("a mismatched or broken answer %j → 502 server_error", (answer, count, message) => {
    const { status, body } = failure(() => toOpenAIEmbeddings(answer, count, "e", "float"));
    expect(status).toBe(502);
    expect(body.error).toMatchObject({ type: "server_error", code: "backend_error", message: expect.stringMatching(message) });
  });
});

describe("embedding request mapping", () => {
  it("passes dimensions, truncate, keep_alive and options; ignores user and unknown fields", () => {
    expect(translate({ input: ["a"], dimensions: 4, truncate: false, keep_alive: "1m", options: { num_ctx: 512 }, user: "u", extra: 1 })).toStrictEqual({
      model: m,
      input: ["a"],
      dimensions: 4,
      truncate: false,
      keep_alive: "1m",
      options: { num_ctx: 512 },
    });
  });

  it("MODEL_DEFAULTS options and keep_alive apply under the client's", () => {
    expect(translate({ input: "a", options: { num_ctx: 512 } }, { options: { num_ctx: 8192, num_thread: 4 }, keep_alive: "30m", think: false })).toStrictEqual({
      model: m,
      input: "a",
      keep_alive: "30m",
      options: { num_ctx: 512, num_thread: 4 },
    });
  });
});

describe("embedding request: 400s with their param", () => {
  it.each([
    [{}, "input", /input is required/],
    [{ input: null }, "input", /input is required/],
    [{ input: "" }, "input", /empty string/],
    [{ input: [] }, "input", /empty array/],
    [{ input: ["a", ""] }, "input[1]", /empty string/],
    [{ input: ["a", 2] }, "input[1]", /expected a string/],
    [{ input: ["a", ["b"]] }, "input[1]", /expected a string/],
    [{ input: [1, 2, 3] }, "input", /Ollama takes text only/],
    [{ input: [[1, 2], [3]] }, "input", /Ollama takes text only/],
    [{ input: 5 }, "input", /expected string or array/],
    [{ input: "x", model: "" }, "model", /model is required/],
    [{ input: "x", dimensions: 0 }, "dimensions", /./],
    [{ input: "x", dimensions: 1.5 }, "dimensions", /./],
    [{ input: "x", dimensions: "8" }, "dimensions", /expected number/],
    [{ input: "x", encoding_format: "json" }, "encoding_format", /Supported values/],
    [{ input: "x", encoding_format: 1 }, "encoding_format", /expected string/],
    [{ input: "x", truncate: "no" }, "truncate", /expected boolean/],
    [{ input: "x", keep_alive: true }, "keep_alive", /./],
    [{ input: "x", options: [] }, "options", /./],
  ])("%j → param %s", (body, param, message) => {
    const { status, body: error } = failure(() => parse(body));
    expect(status).toBe(400);
    expect(error.error).toMatchObject({ param, type: "invalid_request_error", code: null });
    expect(error.error.message).toMatch(message);
  });

  it("more inputs than MAX_EMBEDDING_INPUTS → 400 naming the limit and the setting; exactly the limit is fine", () => {
    const limits = { maxInputs: 3, maxBytes: 1000 };
    expect(parse({ input: ["a", "b", "c"] }, limits).input).toHaveLength(3);
    expect(failure(() => parse({ input: ["a", "b", "c", "d"] }, limits)).body.error).toStrictEqual({
      message: "input holds 4 items; at most 3 are allowed per request (MAX_EMBEDDING_INPUTS). Split the batch.",
      type: "invalid_request_error",
      param: "input",
      code: null,
    });
  });

  it("more UTF-8 bytes than MAX_EMBEDDING_BYTES → 400; bytes, not characters, are counted", () => {
    const limits = { maxInputs: 10, maxBytes: 6 };
    expect(parse({ input: ["éé", "ab"] }, limits).input).toStrictEqual(["éé", "ab"]);
    expect(failure(() => parse({ input: ["ééé", "a"] }, limits)).body.error).toStrictEqual({
      message: "input is larger than 6 bytes of UTF-8 text in total, the limit per request (MAX_EMBEDDING_BYTES). Split the batch.",
      type: "invalid_request_error",
      param: "input",
      code: null,
    });
    expect(failure(() => parse({ input: "1234567" }, limits)).body.error.param).toBe("input");
  });
});

describe("checkEmbeddingInputCaps: the same caps for native /api/embed bodies", () => {
  const caps = { maxInputs: 3, maxBytes: 6 };
  const TOO_MANY = {
    message: "input holds 4 items; at most 3 are allowed per request (MAX_EMBEDDING_INPUTS). Split the batch.",
    type: "invalid_request_error",
    param: "input",
    code: null,
  };
  const TOO_LARGE = {
    message: "input is larger than 6 bytes of UTF-8 text in total, the limit per request (MAX_EMBEDDING_BYTES). Split the batch.",
    type: "invalid_request_error",
    param: "input",
    code: null,
  };

  it("within the caps: nothing happens (a string, an array, exactly the limits)", () => {
    expect(checkEmbeddingInputCaps("abcdef", caps)).toBeUndefined();
    expect(checkEmbeddingInputCaps(["ab", "cd", "ef"], caps)).toBeUndefined();
    expect(checkEmbeddingInputCaps(["éé", "ab"], caps)).toBeUndefined();
    expect(checkEmbeddingInputCaps("", caps)).toBeUndefined();
    expect(checkEmbeddingInputCaps([], caps)).toBeUndefined();
  });

  it("more items than MAX_EMBEDDING_INPUTS → the 400 /v1/embeddings answers", () => {
    const { status, body } = failure(() => checkEmbeddingInputCaps(["a", "b", "c", "d"], caps));
    expect(status).toBe(400);
    expect(body.error).toStrictEqual(TOO_MANY);
    // Items count whatever they are: Ollama refuses non-strings itself, but not before the cap.
    expect(failure(() => checkEmbeddingInputCaps([1, 2, 3, 4], caps)).body.error).toStrictEqual(TOO_MANY);
  });

  it("more UTF-8 bytes than MAX_EMBEDDING_BYTES → the 400 /v1/embeddings answers; bytes, not characters", () => {
    const { status, body } = failure(() => checkEmbeddingInputCaps("1234567", caps));
    expect(status).toBe(400);
    expect(body.error).toStrictEqual(TOO_LARGE);
    expect(failure(() => checkEmbeddingInputCaps(["ééé", "a"], caps)).body.error).toStrictEqual(TOO_LARGE);
    expect(failure(() => checkEmbeddingInputCaps([7, "ééé", "a"], caps)).body.error).toStrictEqual(TOO_LARGE);
  });

  it("an absent or non-text input is left to the other checks (Ollama's own 400s)", () => {
    for (const input of [undefined, null, 5, { a: "b".repeat(100) }, true]) {
      expect(checkEmbeddingInputCaps(input, caps)).toBeUndefined();
    }
  });
});

describe("embedding request mapping under MODEL_LIMITS", () => {
  it("num_ctx and keep_alive are held over MODEL_DEFAULTS and the client's; no num_predict is added", () => {
    const limits = { max_num_ctx: 2048, max_keep_alive: "10m", max_num_predict: 64 };
    expect(toNativeEmbed(parse({ input: "a", options: { num_ctx: 8192, num_thread: 2 }, keep_alive: -1 }), m, { keep_alive: "1h" }, limits)).toStrictEqual({
      model: m,
      input: "a",
      keep_alive: "10m",
      options: { num_ctx: 2048, num_thread: 2 },
    });
    expect(toNativeEmbed(parse({ input: "a" }), m, { keep_alive: "5m", options: { num_ctx: 1024 } }, limits)).toStrictEqual({
      model: m,
      input: "a",
      keep_alive: "5m",
      options: { num_ctx: 1024 },
    });
    expect(toNativeEmbed(parse({ input: "a" }), m, undefined, limits)).toStrictEqual({ model: m, input: "a" });
  });
});

describe("the official openai SDK reads our answer", () => {
  it("decodes base64 (its default encoding) back to the float32 vectors", async () => {
    const { default: OpenAI } = await import("openai");
    const vectors = [
      [0.1, -0.2, 0.3],
      [0.5, 0.25, -1],
    ];
    let sent: any;
    const client = new OpenAI({
      apiKey: "sk-test",
      baseURL: "http://gateway.invalid/v1",
      fetch: async (_url: unknown, init?: RequestInit) => {
        sent = JSON.parse(String(init?.body));
        const answer = toOpenAIEmbeddings({ embeddings: vectors, prompt_eval_count: 4 }, 2, sent.model, parse(sent).encoding_format ?? "float");
        return new Response(JSON.stringify(answer), { headers: { "content-type": "application/json" } });
      },
    });
    const result = await client.embeddings.create({ model: "nomic-embed-text", input: ["a", "b"] });
    expect(sent.encoding_format).toBe("base64");
    expect(result.data.map((item) => item.embedding)).toStrictEqual(vectors.map((vector) => vector.map(Math.fround)));
    expect(result.usage).toStrictEqual({ prompt_tokens: 4, total_tokens: 4 });
  });
});
