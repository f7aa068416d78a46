/**
 * The Responses API through the official openai SDK against wrangler dev + the Ollama emulator: create, stream
 * (with the SDK's own event accumulation), a function tool call and its output sent back, output_text, and stored
 * responses: retrieve, inputItems.list, delete, previous_response_id.
 */
import type OpenAI from "openai";
import { beforeEach, describe, expect, it } from "vitest";
import { emulator, openaiClient } from "./helpers.ts";

const client = openaiClient();
const weather: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false,
};

beforeEach(() => emulator.reset());

describe("official openai SDK: responses", () => {
  it("responses.create: output_text, status, usage, the model name as sent", async () => {
    const response = await client.responses.create({ model: "llama3.2", input: "hello responses", store: false });
    expect(response.object).toBe("response");
    expect(response.id).toMatch(/^resp_/);
    expect(response.status).toBe("completed");
    expect(response.model).toBe("llama3.2");
    expect(response.output_text).toBe("Hello! You said: hello responses");
    expect(response.usage?.input_tokens).toBeGreaterThan(0);
    expect(response.usage?.output_tokens).toBeGreaterThan(0);
    expect(response.usage?.total_tokens).toBe((response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0));
  });

  it("responses.stream: text deltas in order, one completed event, finalResponse equal to what streamed", async () => {
    const stream = client.responses.stream({ model: "llama3.2", instructions: "Be brief.", input: [{ role: "user", content: "stream me" }], store: false });
    const types: string[] = [];
    let text = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.output_text.delta") text += event.delta;
    }
    const final = await stream.finalResponse();
    expect(types[0]).toBe("response.created");
    expect(types.at(-1)).toBe("response.completed");
    expect(types.filter((type) => type === "response.completed")).toHaveLength(1);
    expect(text).toBe("Hello! You said: stream me");
    expect(final.output_text).toBe(text);
    const [forwarded] = (await emulator.requests("/api/chat")) as { body: { messages: { role: string; content: string }[] } }[];
    expect(forwarded!.body.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "stream me" },
    ]);
  });

  it("a function call, then its output sent back as the next turn", async () => {
    const first = await client.responses.create({ model: "llama3.2", input: "what is the weather in Paris?", tools: [weather], store: false });
    const call = first.output.find((item): item is OpenAI.Responses.ResponseFunctionToolCall => item.type === "function_call");
    expect(call).toBeDefined();
    expect(call!.name).toBe("get_weather");
    expect(typeof JSON.parse(call!.arguments).city).toBe("string");
    const second = await client.responses.create({
      model: "llama3.2",
      tools: [weather],
      store: false,
      input: [
        { role: "user", content: "what is the weather in Paris?" },
        { type: "function_call", call_id: call!.call_id, name: call!.name, arguments: call!.arguments },
        { type: "function_call_output", call_id: call!.call_id, output: "sunny, 21 °C" },
      ],
    });
    expect(second.output_text).toBe("The tool said: sunny, 21 °C");
  });

  it("errors in OpenAI's envelope: an unknown previous_response_id is a 404", async () => {
    await expect(client.responses.create({ model: "llama3.2", input: "x", previous_response_id: "resp_nope" })).rejects.toMatchObject({
      status: 404,
      error: { type: "invalid_request_error", param: "previous_response_id" },
    });
  });

  it("stored responses: retrieve, inputItems.list (paged by the SDK), previous_response_id, delete", async () => {
    const first = await client.responses.create({ model: "llama3.2", input: [{ role: "user", content: "My name is Ada." }] });
    expect((first as unknown as { store: boolean }).store).toBe(true); // not in openai-node's Response type
    const retrieved = await client.responses.retrieve(first.id);
    expect(retrieved.id).toBe(first.id);
    expect(retrieved.output_text).toBe(first.output_text);

    const second = await client.responses.create({ model: "llama3.2", previous_response_id: first.id, input: "What is my name?" });
    expect(second.previous_response_id).toBe(first.id);
    const [, continued] = (await emulator.requests("/api/chat")) as { body: { messages: { role: string; content: string }[] } }[];
    expect(continued!.body.messages).toEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: first.output_text },
      { role: "user", content: "What is my name?" },
    ]);

    // The SDK follows `has_more` / `after` itself: two items a page, three items in all, oldest first.
    const texts: string[] = [];
    for await (const item of client.responses.inputItems.list(second.id, { limit: 2, order: "asc" })) {
      if (item.type === "message") texts.push(item.content.map((part) => ("text" in part ? part.text : "")).join(""));
    }
    expect(texts).toEqual(["My name is Ada.", first.output_text, "What is my name?"]);

    // openai-node types delete as void; the body it parses is OpenAI's deletion object.
    const deleted: unknown = await client.responses.delete(first.id);
    expect(deleted).toStrictEqual({ id: first.id, object: "response", deleted: true });
    await expect(client.responses.retrieve(first.id)).rejects.toMatchObject({ status: 404, error: { code: "response_not_found" } });
    // The second one is still there, and still continues without the deleted one (it holds its own items).
    expect((await client.responses.retrieve(second.id)).output_text).toBe(second.output_text);
  });
});
