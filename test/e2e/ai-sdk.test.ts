import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { embedMany, generateText, streamText, tool } from "ai";
import { beforeEach, describe, expect, it } from "vitest";
import * as z from "zod";
import { API_KEY, emulator, GATEWAY_URL } from "./helpers.ts";

// The Vercel AI SDK through its OpenAI-compatible provider, unmodified but for base URL and key.
const gateway = createOpenAICompatible({ name: "ollama-edge", baseURL: `${GATEWAY_URL}/v1`, apiKey: API_KEY });

beforeEach(() => emulator.reset());

describe("AI SDK with @ai-sdk/openai-compatible", () => {
  it("generateText", async () => {
    const result = await generateText({ model: gateway("llama3.2"), prompt: "hello ai sdk", maxRetries: 0 });
    expect(result.text).toBe("Hello! You said: hello ai sdk");
    expect(result.finishReason).toBe("stop");
    expect(result.usage.outputTokens).toBe(6);
  });

  it("streamText", async () => {
    const result = streamText({ model: gateway("gpt-4o-mini"), prompt: "stream via ai sdk", maxRetries: 0 });
    const parts: string[] = [];
    for await (const text of result.textStream) parts.push(text);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.join("")).toBe("Hello! You said: stream via ai sdk");
    expect(await result.finishReason).toBe("stop");
  });

  it("a tool call: typed input from the schema, executed, with its result", async () => {
    const seen: unknown[] = [];
    const result = await generateText({
      model: gateway("llama3.2"),
      prompt: "what is the weather in the city?",
      maxRetries: 0,
      tools: {
        getWeather: tool({
          description: "Weather for a city",
          inputSchema: z.object({ city: z.string(), days: z.number().int() }),
          execute: async (input) => {
            seen.push(input);
            return { forecast: `sunny in ${input.city} for ${input.days} days` };
          },
        }),
      },
    });
    expect(result.finishReason).toBe("tool-calls");
    expect(result.toolCalls.map((call) => [call.toolName, call.input])).toEqual([["getWeather", { city: "text", days: 42 }]]);
    expect(seen).toEqual([{ city: "text", days: 42 }]);
    expect(result.toolResults.map((entry) => entry.output)).toEqual([{ forecast: "sunny in text for 42 days" }]);
  });

  it("embedMany", async () => {
    const { embeddings } = await embedMany({ model: gateway.embeddingModel("nomic-embed-text"), values: ["one", "two", "one"], maxRetries: 0 });
    expect(embeddings).toHaveLength(3);
    for (const vector of embeddings) expect(vector).toHaveLength(8);
    expect(embeddings[2]).toEqual(embeddings[0]);
    expect(embeddings[1]).not.toEqual(embeddings[0]);
  });
});
