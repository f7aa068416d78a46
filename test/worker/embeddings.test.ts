import { beforeEach, describe, expect, it } from "vitest";
import { emulator, gateway, postJson, postJsonWith } from "./helpers.ts";

beforeEach(() => emulator.reset());

const errorOf = async (res: Response) => ((await res.json()) as any).error;

// The emulator's deterministic unit vectors (length 8) for nomic-embed-text, and their float32 base64.
const HELLO = [0.40019415, 0.35815187, 0.57927451, 0.04977379, 0.52021646, 0.05857147, 0.30054443, -0.09567007];
const SECOND = [0.2659965, -0.47301359, -0.43931136, -0.09919426, 0.47664472, -0.19381863, 0.37797724, -0.30829756];
const HELLO_B64 = "P+bMPq9ftz5WSxQ/mt9LPegsBT+j6G899uCZPqvuw70=";
const SECOND_B64 = "sTCIPtYu8r5r7eC+XCbLvccK9D5keEa+PIbBPi7Znb4=";

/** Decode base64 little-endian float32 the way the OpenAI SDKs do. */
function decode(base64: string): number[] {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return Array.from(new Float32Array(bytes.buffer));
}

describe("POST /v1/embeddings", () => {
  it("embeds one string: OpenAI's list shape, the model as sent, usage from prompt_eval_count", async () => {
    const res = await postJson("/v1/embeddings", { model: "nomic-embed-text", input: "hello world" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    expect(await res.json()).toStrictEqual({
      object: "list",
      data: [{ object: "embedding", index: 0, embedding: HELLO }],
      model: "nomic-embed-text",
      usage: { prompt_tokens: 2, total_tokens: 2 },
    });
    const [embed] = await emulator.requests("/api/embed");
    expect(embed!.body).toStrictEqual({ model: "nomic-embed-text:latest", input: "hello world" });
  });

  it("sends a batch in one upstream call and keeps its order", async () => {
    const res = await postJson("/v1/embeddings", { model: "nomic-embed-text:latest", input: ["second text", "hello world", "second text"], user: "u" });
    const body = (await res.json()) as any;
    expect(body.data).toStrictEqual([
      { object: "embedding", index: 0, embedding: SECOND },
      { object: "embedding", index: 1, embedding: HELLO },
      { object: "embedding", index: 2, embedding: SECOND },
    ]);
    expect(body.usage).toStrictEqual({ prompt_tokens: 6, total_tokens: 6 });
    const requests = await emulator.requests("/api/embed");
    expect(requests).toHaveLength(1);
    expect(requests[0]!.body).toStrictEqual({ model: "nomic-embed-text:latest", input: ["second text", "hello world", "second text"] });
  });

  it("encoding_format base64 (any case) gives little-endian float32, which decodes to the float answer", async () => {
    const res = await postJson("/v1/embeddings", { model: "nomic-embed-text", input: ["hello world", "second text"], encoding_format: "BASE64" });
    const body = (await res.json()) as any;
    expect(body.data).toStrictEqual([
      { object: "embedding", index: 0, embedding: HELLO_B64 },
      { object: "embedding", index: 1, embedding: SECOND_B64 },
    ]);
    expect(decode(HELLO_B64)).toStrictEqual(HELLO.map(Math.fround));
    const [embed] = await emulator.requests("/api/embed");
    expect(embed!.body.encoding_format).toBeUndefined();
  });

  it("passes dimensions, truncate, keep_alive and options on; dimensions truncates and renormalises", async () => {
    const res = await postJson("/v1/embeddings", {
      model: "nomic-embed-text",
      input: "hello world",
      dimensions: 3,
      truncate: true,
      keep_alive: "1m",
      options: { num_ctx: 512 },
    });
    const vector = ((await res.json()) as any).data[0].embedding as number[];
    expect(vector).toStrictEqual([0.50662071, 0.45339782, 0.73332522]);
    const [embed] = await emulator.requests("/api/embed");
    expect(embed!.body).toStrictEqual({
      model: "nomic-embed-text:latest",
      input: "hello world",
      dimensions: 3,
      truncate: true,
      keep_alive: "1m",
      options: { num_ctx: 512 },
    });
  });

  it("a model without the embedding capability: Ollama's 400 with its message", async () => {
    const res = await postJson("/v1/embeddings", { model: "llama3.2", input: "x" });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ message: '"llama3.2:latest" does not support embeddings', type: "invalid_request_error" });
  });

  it("an unknown model is a 404 model_not_found, with no embed call", async () => {
    const res = await postJson("/v1/embeddings", { model: "text-embedding-3-small", input: "x" });
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ code: "model_not_found", param: "model" });
    expect(await emulator.requests("/api/embed")).toEqual([]);
  });

  it.each([
    [{ input: "" }, "input"],
    [{ input: [] }, "input"],
    [{ input: ["a", ""] }, "input[1]"],
    [{ input: [1, 2, 3] }, "input"],
    [{ input: [[1, 2]] }, "input"],
    [{}, "input"],
    [{ input: "x", encoding_format: "json" }, "encoding_format"],
    [{ input: "x", dimensions: 0 }, "dimensions"],
  ])("%j → 400 param %s, before any upstream call", async (body, param) => {
    const res = await postJson("/v1/embeddings", { model: "nomic-embed-text", ...body });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ type: "invalid_request_error", param });
    expect(await emulator.requests("/api/embed")).toEqual([]);
  });

  it("MAX_EMBEDDING_INPUTS and MAX_EMBEDDING_BYTES cap a batch, with a message naming the setting", async () => {
    const many = await postJsonWith({ MAX_EMBEDDING_INPUTS: "2" }, "/v1/embeddings", { model: "nomic-embed-text", input: ["a", "b", "c"] });
    expect(many.status).toBe(400);
    expect(await errorOf(many)).toStrictEqual({
      message: "input holds 3 items; at most 2 are allowed per request (MAX_EMBEDDING_INPUTS). Split the batch.",
      type: "invalid_request_error",
      param: "input",
      code: null,
    });
    const big = await postJsonWith({ MAX_EMBEDDING_BYTES: "10" }, "/v1/embeddings", { model: "nomic-embed-text", input: ["hello", "wörld"] });
    expect(big.status).toBe(400);
    expect(await errorOf(big)).toMatchObject({ param: "input", message: expect.stringContaining("MAX_EMBEDDING_BYTES") });
    const fits = await postJsonWith({ MAX_EMBEDDING_INPUTS: "2", MAX_EMBEDDING_BYTES: "10" }, "/v1/embeddings", {
      model: "nomic-embed-text",
      input: ["hello", "world"],
    });
    expect(fits.status).toBe(200);
  });

  it("401 without a key", async () => {
    const res = await gateway("/v1/embeddings", {
      method: "POST",
      headers: { authorization: "" },
      body: JSON.stringify({ model: "nomic-embed-text", input: "x" }),
    });
    expect(res.status).toBe(401);
  });
});
