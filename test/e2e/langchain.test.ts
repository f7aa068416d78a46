import { ChatOpenAI, OpenAIEmbeddings } from "@langchain/openai";
import { beforeEach, describe, expect, it } from "vitest";
import { API_KEY, emulator, GATEWAY_URL } from "./helpers.ts";

// LangChain's OpenAI integration, unmodified but for base URL and key. Never `streaming: true` and never token
// counting: LangChain would then download tokenizer tables from the internet (the loopback guard refuses that).
const configuration = { baseURL: `${GATEWAY_URL}/v1` };
const chat = (model = "llama3.2") => new ChatOpenAI({ model, apiKey: API_KEY, configuration, maxRetries: 0 });
const embeddings = () => new OpenAIEmbeddings({ model: "nomic-embed-text", apiKey: API_KEY, configuration, maxRetries: 0 });

beforeEach(() => emulator.reset());

describe("LangChain ChatOpenAI", () => {
  it("invoke", async () => {
    const message = await chat().invoke("hello from langchain");
    expect(message.content).toBe("Hello! You said: hello from langchain");
    expect(message.response_metadata).toMatchObject({ finish_reason: "stop" });
    expect(message.usage_metadata).toMatchObject({ output_tokens: 6 });
  });

  it(".stream() yields the answer in pieces", async () => {
    const pieces: string[] = [];
    for await (const chunk of await chat("gpt-4o-mini").stream("stream with langchain")) {
      if (typeof chunk.content === "string" && chunk.content) pieces.push(chunk.content);
    }
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join("")).toBe("Hello! You said: stream with langchain");
  });

  it("tool calling with bindTools: name and parsed args", async () => {
    const weather = {
      type: "function" as const,
      function: {
        name: "get_weather",
        description: "Weather for a city",
        parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] },
      },
    };
    const message = await chat().bindTools([weather]).invoke("what is the weather?");
    expect(message.tool_calls).toHaveLength(1);
    expect(message.tool_calls![0]).toMatchObject({ name: "get_weather", args: { city: "text", days: 42 }, type: "tool_call" });
    expect(message.tool_calls![0]!.id).toMatch(/^call_/);
    const [native] = await emulator.requests("/api/chat");
    expect(native!.body.tools[0].function.name).toBe("get_weather");
  });
});

describe("LangChain OpenAIEmbeddings", () => {
  it("embedQuery and embedDocuments", async () => {
    const model = embeddings();
    const query = await model.embedQuery("a query");
    expect(query).toHaveLength(8);
    expect(Math.hypot(...query)).toBeCloseTo(1, 5);
    const documents = await model.embedDocuments(["doc one", "a query", "doc three"]);
    expect(documents).toHaveLength(3);
    // Order is kept: the second document is the query text.
    documents[1]!.forEach((value, i) => expect(value).toBeCloseTo(query[i]!, 6));
    expect(documents[0]).not.toEqual(documents[2]);
  });
});
