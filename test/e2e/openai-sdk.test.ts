import OpenAI from "openai";
import { beforeEach, describe, expect, it } from "vitest";
import { emulator, openaiClient } from "./helpers.ts";

const client = openaiClient();
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
const weatherTools: OpenAI.Chat.ChatCompletionFunctionTool[] = ["get_weather", "get_time"].map((name) => ({
  type: "function",
  function: { name, parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
}));

beforeEach(() => emulator.reset());

describe("official openai SDK against wrangler dev + emulator", () => {
  it("non-stream chat", async () => {
    const completion = await client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "hello gateway" }] });
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0]!.message.content).toBe("Hello! You said: hello gateway");
    expect(completion.choices[0]!.finish_reason).toBe("stop");
    expect(completion.usage).toEqual({ prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 });
  });

  it("stream with include_usage: content deltas, one finish, usage last", async () => {
    const stream = await client.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "stream this ✓ please" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    const finishes: string[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      expect(chunk.model).toBe("gpt-4o-mini");
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.choices[0]?.finish_reason) finishes.push(chunk.choices[0].finish_reason);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe("Hello! You said: stream this ✓ please");
    expect(finishes).toEqual(["stop"]);
    expect(usage).toEqual({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 });
  });

  it("the SDK's stream helper accumulates streamed tool calls", async () => {
    const runner = client.chat.completions.stream({
      model: "llama3.2",
      messages: [{ role: "user", content: "weather and time, both please" }],
      tools: weatherTools,
    });
    const final = await runner.finalChatCompletion();
    const message = final.choices[0]!.message;
    expect(final.choices[0]!.finish_reason).toBe("tool_calls");
    expect(message.tool_calls?.map((call) => call.type === "function" && [call.function.name, JSON.parse(call.function.arguments)])).toEqual([
      ["get_weather", { city: "text" }],
      ["get_time", { city: "text" }],
    ]);
    expect(new Set(message.tool_calls!.map((call) => call.id)).size).toBe(2);
  });

  it("a tool round trip: the tool result reaches Ollama with the tool's name", async () => {
    const first = await client.chat.completions.create({
      model: "llama3.2",
      messages: [{ role: "user", content: "weather?" }],
      tools: weatherTools.slice(0, 1),
    });
    const call = first.choices[0]!.message.tool_calls![0]!;
    const second = await client.chat.completions.create({
      model: "llama3.2",
      tools: weatherTools.slice(0, 1),
      messages: [{ role: "user", content: "weather?" }, first.choices[0]!.message, { role: "tool", tool_call_id: call.id, content: "21C and sunny" }],
    });
    expect(second.choices[0]!.message.content).toBe("The tool said: 21C and sunny");
    const [, native] = await emulator.requests("/api/chat");
    expect(native!.body.messages.at(-1)).toEqual({ role: "tool", content: "21C and sunny", tool_name: "get_weather", tool_call_id: call.id });
    expect(native!.body.messages[1].tool_calls[0].function.arguments).toEqual({ city: "text" });
  });

  it("JSON schema output", async () => {
    const completion = await client.chat.completions.create({
      model: "llama3.2",
      messages: [{ role: "user", content: "a city" }],
      response_format: {
        type: "json_schema",
        json_schema: {
          name: "city",
          strict: true,
          schema: { type: "object", properties: { name: { type: "string" }, population: { type: "integer" } }, required: ["name", "population"] },
        },
      },
    });
    expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ name: "text", population: 42 });
  });

  it("an image as a data URI", async () => {
    const completion = await client.chat.completions.create({
      model: "llava:7b",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "describe" },
            { type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } },
          ],
        },
      ],
    });
    expect(completion.choices[0]!.message.content).toBe("Hello! You said: describe (I see 1 image(s))");
  });

  it("Ollama extras through extra body fields: options.num_ctx and keep_alive", async () => {
    await client.chat.completions.create({
      model: "llama3.2",
      messages: [{ role: "user", content: "x" }],
      // @ts-expect-error Ollama-only fields, sent as the Python SDK's extra_body would
      options: { num_ctx: 8192 },
      keep_alive: "1h",
    });
    const [native] = await emulator.requests("/api/chat");
    expect(native!.body).toMatchObject({ options: { num_ctx: 8192 }, keep_alive: "1h", stream: true });
  });

  it("an unknown model raises NotFoundError with code model_not_found", async () => {
    const error = await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe("model_not_found");
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).status).toBe(404);
  });

  it("a backend error mid-stream surfaces as an APIError while iterating", async () => {
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 2, message: "GPU fell off the bus" } });
    const stream = await client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "a b c" }], stream: true });
    let text = "";
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
    })().catch((e: unknown) => e);
    expect(text).toBe("Hello! You");
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as Error).message).toContain("GPU fell off the bus");
  });

  it("models.list and models.retrieve, ids with ':' and '/'", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toContain("hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M");
    expect(ids).toContain("gpt-4o-mini");
    const model = await client.models.retrieve("hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M");
    expect(model).toMatchObject({ id: "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M", object: "model", owned_by: "unsloth" });
  });

  it("aborting a stream from the client aborts the upstream request", async () => {
    await emulator.fault({ fault: { kind: "stall", afterLines: 1 } });
    const controllers = Array.from({ length: 4 }, () => new AbortController());
    const streams = await Promise.all(
      controllers.map((controller) =>
        client.chat.completions.create({ model: "llama3.2", messages: [{ role: "user", content: "x" }], stream: true }, { signal: controller.signal }),
      ),
    );
    await Promise.all(
      streams
        .map(async (stream, i) => {
          for await (const _chunk of stream) {
            controllers[i]!.abort();
          }
        })
        .map((p) => p.catch(() => {})),
    );
    await expect.poll(async () => (await emulator.stats()).open, { timeout: 10_000 }).toBe(0);
    expect((await emulator.stats()).aborted).toBe(4);
  });
});
