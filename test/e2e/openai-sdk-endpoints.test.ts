import OpenAI from "openai";
import { beforeEach, describe, expect, it } from "vitest";
import { emulator, openaiClient } from "./helpers.ts";

// The official openai SDK, unmodified but for base URL and key: legacy completions and embeddings.
const client = openaiClient();
const EMBEDDER = "nomic-embed-text";

beforeEach(() => emulator.reset());

describe("openai SDK: completions", () => {
  it("completions.create, non-stream", async () => {
    const completion = await client.completions.create({ model: "llama3.2", prompt: "hello legacy" });
    expect(completion.object).toBe("text_completion");
    expect(completion.id).toMatch(/^cmpl-/);
    expect(completion.model).toBe("llama3.2");
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]).toMatchObject({ index: 0, text: "Hello! You said: hello legacy", finish_reason: "stop" });
    expect(completion.usage).toMatchObject({ completion_tokens: 5 });
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
    const [native] = await emulator.requests("/api/generate");
    expect(native!.body).toMatchObject({ model: "llama3.2:latest", prompt: "hello legacy" });
  });

  it("completions.create, stream: text deltas and one finish reason; max_tokens → length", async () => {
    const stream = await client.completions.create({ model: "gpt-4o-mini", prompt: "stream me ✓", stream: true });
    let text = "";
    const finishes: string[] = [];
    for await (const chunk of stream) {
      expect(chunk.object).toBe("text_completion");
      expect(chunk.model).toBe("gpt-4o-mini");
      text += chunk.choices[0]?.text ?? "";
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
    }
    expect(text).toBe("Hello! You said: stream me ✓");
    expect(finishes).toEqual(["stop"]);
    const short = await client.completions.create({ model: "llama3.2", prompt: "cut me short", max_tokens: 2 });
    expect(short.choices[0]).toMatchObject({ text: "Hello! You", finish_reason: "length" });
  });
});

describe("openai SDK: embeddings", () => {
  const inputs = ["first text", "second text", "third text"];

  it("encoding_format float: one unit vector per input, in order, with its index", async () => {
    const result = await client.embeddings.create({ model: EMBEDDER, input: inputs, encoding_format: "float" });
    expect(result.object).toBe("list");
    expect(result.model).toBe(EMBEDDER);
    expect(result.data.map((entry) => [entry.object, entry.index])).toEqual([
      ["embedding", 0],
      ["embedding", 1],
      ["embedding", 2],
    ]);
    for (const entry of result.data) {
      expect(entry.embedding).toHaveLength(8);
      expect(Math.hypot(...entry.embedding)).toBeCloseTo(1, 5);
    }
    expect(result.usage.prompt_tokens).toBeGreaterThan(0);
    // Batch order is input order: each vector is the one that input gets on its own.
    for (const [i, text] of inputs.entries()) {
      const single = await client.embeddings.create({ model: EMBEDDER, input: text, encoding_format: "float" });
      expect(single.data[0]!.embedding).toEqual(result.data[i]!.embedding);
    }
  });

  it("the SDK's default (base64 on the wire, decoded by the SDK) equals the float answer within float32 precision", async () => {
    const floats = await client.embeddings.create({ model: EMBEDDER, input: inputs, encoding_format: "float" });
    const decoded = await client.embeddings.create({ model: EMBEDDER, input: inputs });
    expect(decoded.data.map((entry) => entry.index)).toEqual([0, 1, 2]);
    for (const [i, entry] of decoded.data.entries()) {
      const reference = floats.data[i]!.embedding;
      expect(entry.embedding).toHaveLength(reference.length);
      entry.embedding.forEach((value, j) => {
        expect(typeof value).toBe("number");
        // float32 keeps 24 significant bits: the relative error of the rounding is at most 2^-24.
        expect(Math.abs(value - reference[j]!)).toBeLessThanOrEqual(Math.abs(reference[j]!) * 2 ** -23 + 1e-12);
      });
    }
  });

  it("an unknown embedding model raises NotFoundError", async () => {
    const error = await client.embeddings.create({ model: "no-such-embedder", input: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
  });
});
