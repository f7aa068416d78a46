/**
 * The Messages API through Anthropic's official SDK (@anthropic-ai/sdk) against wrangler dev + the Ollama emulator:
 * messages.create, messages.stream(...).finalMessage() with the SDK's own accumulation, a tool round trip, thinking,
 * countTokens, and errors as the SDK's error classes.
 */
import Anthropic from "@anthropic-ai/sdk";
import { beforeEach, describe, expect, it } from "vitest";
import { anthropicClient, emulator } from "./helpers.ts";

const client = anthropicClient();
const weather: Anthropic.Tool = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

beforeEach(() => emulator.reset());

describe("official @anthropic-ai/sdk: messages", () => {
  it("messages.create: the Message, its text, stop reason and usage, the model name as sent (an alias)", async () => {
    const message = await client.messages.create({ model: "claude-haiku-4-5", max_tokens: 100, messages: [{ role: "user", content: "hello anthropic" }] });
    expect(message.id).toMatch(/^msg_/);
    expect(message.type).toBe("message");
    expect(message.model).toBe("claude-haiku-4-5");
    expect(message.content).toStrictEqual([{ type: "text", text: "Hello! You said: hello anthropic" }]);
    expect(message.stop_reason).toBe("end_turn");
    expect(message.usage.input_tokens).toBe(3);
    expect(message.usage.output_tokens).toBe(5);
    const [native] = await emulator.requests("/api/chat");
    expect(native!.body.model).toBe("qwen3:8b");
    expect(native!.body.think).toBe(false);
  });

  it("messages.stream(...).finalMessage(): thinking and text accumulated by the SDK, with the text events in order", async () => {
    const stream = client.messages.stream({
      model: "claude-sonnet-4-5",
      max_tokens: 32000,
      thinking: { type: "enabled", budget_tokens: 31999 },
      system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
      messages: [{ role: "user", content: "stream me" }],
    });
    let text = "";
    stream.on("text", (delta) => {
      text += delta;
    });
    const final = await stream.finalMessage();
    expect(text).toBe("Hello! You said: stream me");
    expect(final.content).toStrictEqual([
      { type: "thinking", thinking: "Let me think about that.", signature: "ollama-edge:unsigned" },
      { type: "text", text: "Hello! You said: stream me" },
    ]);
    expect(final.stop_reason).toBe("end_turn");
    expect(final.usage.input_tokens).toBe(6);
    const [native] = await emulator.requests("/api/chat");
    expect(native!.body.messages).toStrictEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "stream me" },
    ]);
    // 32000 asked: a ceiling held to DEFAULT_MAX_TOKENS.
    expect(native!.body.options.num_predict).toBe(8192);
  });

  it("a tool call streamed with its input, then the tool_result sent back (with the thinking block) answered", async () => {
    const first = await client.messages
      .stream({ model: "claude-sonnet-4-5", max_tokens: 1024, tools: [weather], messages: [{ role: "user", content: "weather in Paris?" }] })
      .finalMessage();
    expect(first.stop_reason).toBe("tool_use");
    const call = first.content.find((block): block is Anthropic.ToolUseBlock => block.type === "tool_use")!;
    expect(call).toMatchObject({ name: "get_weather", input: { city: "text" } });
    const second = await client.messages.create({
      model: "claude-sonnet-4-5",
      max_tokens: 1024,
      tools: [weather],
      messages: [
        { role: "user", content: "weather in Paris?" },
        { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "sunny, 21 °C" }] },
      ],
    });
    expect(second.content).toStrictEqual([{ type: "text", text: "The tool said: sunny, 21 °C" }]);
  });

  it("messages.countTokens: the estimate, for a key sent as a Bearer token too", async () => {
    const counted = await anthropicClient({ authToken: true }).messages.countTokens({
      model: "claude-sonnet-4-5",
      system: "Be brief.",
      messages: [{ role: "user", content: "count me" }],
    });
    expect(counted).toStrictEqual({ input_tokens: Math.ceil("Be brief.\ncount me".length / 4) });
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("errors become the SDK's classes: NotFoundError for a model that does not exist, AuthenticationError for a bad key", async () => {
    await expect(client.messages.create({ model: "no-such-model", max_tokens: 10, messages: [{ role: "user", content: "x" }] })).rejects.toMatchObject({
      status: 404,
      type: "not_found_error",
      constructor: Anthropic.NotFoundError,
    });
    const stranger = new Anthropic({ baseURL: client.baseURL, apiKey: "sk-not-a-key", maxRetries: 0 });
    await expect(stranger.messages.create({ model: "claude-sonnet-4-5", max_tokens: 10, messages: [{ role: "user", content: "x" }] })).rejects.toBeInstanceOf(
      Anthropic.AuthenticationError,
    );
  });
});
