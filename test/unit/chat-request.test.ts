import { describe, expect, it } from "vitest";
import type { ModelDefaults } from "../../src/config/index.ts";
import { toBase64 } from "../../src/core/images.ts";
import { validate } from "../../src/core/validate.ts";
import { chatImageRefs, toNativeChat } from "../../src/dialects/openai/chat/request.ts";
import { chatRequestSchema } from "../../src/dialects/openai/chat/schema.ts";
import { failure } from "./helpers.ts";

const m = "test-model";
const U = { role: "user", content: "Hello" };
const B = "iVBORw0KGgoAAAANSUhEUg==";
const TC = [
  {
    id: "id",
    type: "function",
    function: { name: "get_current_weather", arguments: '{"location": "Paris, France", "format": "celsius"}' },
  },
];
const TCn = [{ id: "id", function: { name: "get_current_weather", arguments: { location: "Paris, France", format: "celsius" } } }];

interface Context {
  defaults?: ModelDefaults;
  remoteImages?: ReadonlyMap<string, string>;
}

/** The request as the route sees it: validated by the public schema, then translated. */
function translate(body: Record<string, unknown>, context: Context = {}) {
  return toNativeChat(validate(chatRequestSchema, { model: m, ...body }), { model: m, ...context });
}

const paramOf = (fn: () => unknown) => failure(fn).body.error.param;

describe("§6 conformance vectors, adapted to our choices", () => {
  it("1: a bare request keeps the messages, sets stream:true and sends no options key", () => {
    expect(translate({ messages: [U] })).toStrictEqual({ model: m, messages: [U], stream: true });
    expect(translate({ messages: [U], stream: false })).toStrictEqual({ model: m, messages: [U], stream: true });
  });

  it("2: sampling fields, stop and json_object map into options and format; stream_options changes nothing", () => {
    const body = {
      messages: [U],
      stream: true,
      max_tokens: 999,
      seed: 123,
      stop: ["\n", "stop"],
      temperature: 3,
      frequency_penalty: 4,
      presence_penalty: 5,
      top_p: 6,
      response_format: { type: "json_object" },
    };
    const expected = {
      model: m,
      messages: [U],
      stream: true,
      format: "json",
      options: { num_predict: 999, seed: 123, stop: ["\n", "stop"], temperature: 3, frequency_penalty: 4, presence_penalty: 5, top_p: 6 },
    };
    expect(translate(body)).toStrictEqual(expected);
    expect(translate({ ...body, stream_options: { include_usage: true } })).toStrictEqual(expected);
  });

  it("3: text and image parts of one message stay ONE message with images", () => {
    const content = [
      { type: "text", text: "Hello" },
      { type: "image_url", image_url: { url: `data:image/jpeg;base64,${B}` } },
    ];
    expect(translate({ messages: [{ role: "user", content }] }).messages).toStrictEqual([{ role: "user", content: "Hello", images: [B] }]);
  });

  it("4: assistant tool calls get object arguments; content kept; reasoning → thinking", () => {
    expect(translate({ messages: [{ role: "assistant", tool_calls: TC }] }).messages).toStrictEqual([{ role: "assistant", content: "", tool_calls: TCn }]);
    expect(translate({ messages: [{ role: "assistant", content: "", tool_calls: TC }] }).messages).toStrictEqual([
      { role: "assistant", content: "", tool_calls: TCn },
    ]);
    expect(translate({ messages: [{ role: "assistant", content: null, tool_calls: TC }] }).messages).toStrictEqual([
      { role: "assistant", content: "", tool_calls: TCn },
    ]);
    expect(translate({ messages: [{ role: "assistant", content: "Let's see what the weather is like in Paris", tool_calls: TC }] }).messages).toStrictEqual([
      { role: "assistant", content: "Let's see what the weather is like in Paris", tool_calls: TCn },
    ]);
    expect(translate({ messages: [{ role: "assistant", content: "", reasoning: "Let's see", tool_calls: TC }] }).messages).toStrictEqual([
      { role: "assistant", content: "", thinking: "Let's see", tool_calls: TCn },
    ]);
    expect(translate({ messages: [{ role: "assistant", content: "Hi", reasoning_content: "think A", reasoning: "think B" }] }).messages).toStrictEqual([
      { role: "assistant", content: "Hi", thinking: "think A" },
    ]);
  });

  it("5: a tool result gets tool_name from the earlier call with that id, or from name", () => {
    const assistant = { role: "assistant", tool_calls: [{ ...TC[0], id: "id_abc" }] };
    expect(translate({ messages: [U, assistant, { role: "tool", tool_call_id: "id_abc", content: "20C" }] }).messages[2]).toStrictEqual({
      role: "tool",
      content: "20C",
      tool_name: "get_current_weather",
      tool_call_id: "id_abc",
    });
    expect(translate({ messages: [U, assistant, { role: "tool", name: "get_current_weather", content: "20C" }] }).messages[2]).toStrictEqual({
      role: "tool",
      content: "20C",
      tool_name: "get_current_weather",
    });
    // Only calls made EARLIER count; an unknown id gives no tool_name but keeps the id.
    expect(translate({ messages: [{ role: "tool", tool_call_id: "id_abc", content: "20C" }, assistant] }).messages[0]).toStrictEqual({
      role: "tool",
      content: "20C",
      tool_call_id: "id_abc",
    });
  });

  it("6: tools pass through unchanged (no default options added)", () => {
    const tools = [
      {
        type: "function",
        function: {
          name: "get_current_weather",
          description: "Get the current weather",
          parameters: {
            type: "object",
            required: ["location"],
            properties: {
              location: { type: "string", description: "The city and state" },
              unit: { type: "string", enum: ["celsius", "fahrenheit"] },
            },
          },
        },
      },
    ];
    expect(translate({ messages: [U], tools })).toStrictEqual({ model: m, messages: [U], tools, stream: true });
  });

  it("7: numeric content is a 400 naming messages[0].content", () => {
    const { status, body } = failure(() => translate({ messages: [{ role: "user", content: 2 }] }));
    expect(status).toBe(400);
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.param).toBe("messages[0].content");
    expect(body.error.code).toBeNull();
  });

  it("8: reasoning effort → think, and logprobs pass through", () => {
    const think = (effort?: string) => translate({ messages: [U], ...(effort && { reasoning_effort: effort }) }).think;
    expect("think" in translate({ messages: [U] })).toBe(false);
    expect(think("high")).toBe("high");
    expect(think("medium")).toBe("medium");
    expect(think("low")).toBe("low");
    expect(think("max")).toBe("max");
    expect(think("minimal")).toBe("low");
    expect(think("xhigh")).toBe("max");
    expect(think("ultra")).toBe("max");
    expect(think("none")).toBe(false);
    expect(paramOf(() => translate({ messages: [U], reasoning_effort: "extreme" }))).toBe("reasoning_effort");
    expect(translate({ messages: [U], logprobs: true, top_logprobs: 5 })).toStrictEqual({
      model: m,
      messages: [U],
      stream: true,
      logprobs: true,
      top_logprobs: 5,
    });
    expect(translate({ messages: [U], logprobs: false })).toStrictEqual({ model: m, messages: [U], stream: true });
  });
});

describe("messages", () => {
  it("maps developer to system and joins text parts with a newline", () => {
    const messages = [
      { role: "developer", content: "Be brief." },
      {
        role: "system",
        content: [
          { type: "text", text: "Rule 1" },
          { type: "text", text: "Rule 2" },
        ],
      },
      {
        role: "user",
        content: [
          { type: "text", text: "a" },
          { type: "text", text: "b" },
        ],
      },
    ];
    expect(translate({ messages }).messages).toStrictEqual([
      { role: "system", content: "Be brief." },
      { role: "system", content: "Rule 1\nRule 2" },
      { role: "user", content: "a\nb" },
    ]);
  });

  it("puts every image of a message (any accepted type, string or object form) into that message", () => {
    const content = [
      { type: "image_url", image_url: `data:image/png;base64,${B}` },
      { type: "text", text: "compare" },
      { type: "image_url", image_url: { url: "data:image/jpg;base64,AAAA", detail: "low" } },
      { type: "image_url", image_url: { url: "data:image/webp;base64,BBBB" } },
      { type: "image_url", image_url: { url: "data:IMAGE/GIF;base64,CC\nCC" } },
      { type: "text", text: "these" },
    ];
    expect(translate({ messages: [{ role: "user", content }] }).messages).toStrictEqual([
      { role: "user", content: "compare\nthese", images: [B, "AAAA", "BBBB", "CCCC"] },
    ]);
    expect(translate({ messages: [{ role: "user", content: [content[0]] }] }).messages).toStrictEqual([{ role: "user", content: "", images: [B] }]);
  });

  it("rejects other image types and bad data with the part's image_url param", () => {
    const withImage = (url: string) => ({
      messages: [
        U,
        {
          role: "user",
          content: [
            { type: "text", text: "x" },
            { type: "image_url", image_url: { url } },
          ],
        },
      ],
    });
    for (const url of ["data:image/bmp;base64,AAAA", "data:application/pdf;base64,AAAA", "data:;base64,AAAA", "data:image/png;base64,***", "ftp://x/y.png"]) {
      const { status, body } = failure(() => translate(withImage(url)));
      expect(status).toBe(400);
      expect(body.error.param).toBe("messages[1].content[1].image_url");
    }
    expect(failure(() => translate(withImage("data:image/bmp;base64,AAAA"))).body.error.code).toBe("invalid_image_format");
  });

  it("uses remoteImages for http(s) URLs and fails when one was not fetched", () => {
    const messages = [
      {
        role: "user",
        content: [
          { type: "text", text: "what?" },
          { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
        ],
      },
    ];
    const remoteImages = new Map([["https://example.com/cat.png", "Q0FU"]]);
    expect(translate({ messages }, { remoteImages }).messages).toStrictEqual([{ role: "user", content: "what?", images: ["Q0FU"] }]);
    const missing = failure(() => translate({ messages }));
    expect(missing.status).toBe(400);
    expect(missing.body.error.param).toBe("messages[0].content[1].image_url");
    expect(missing.body.error.code).toBe("invalid_image_url");
    expect(chatImageRefs(validate(chatRequestSchema, { model: m, messages: [U, ...messages] }).messages)).toStrictEqual([
      { url: "https://example.com/cat.png", param: "messages[1].content[1].image_url" },
    ]);
  });

  it("toBase64 encodes fetched bytes, including buffers larger than one fromCharCode batch", () => {
    expect(toBase64(new Uint8Array([0, 1, 2, 255]))).toBe("AAEC/w==");
    const big = new Uint8Array(0x8000 * 2 + 3).map((_, i) => i % 256);
    expect(toBase64(big)).toBe(Buffer.from(big).toString("base64"));
  });

  it("rejects tool-call arguments that are not a JSON object, naming the exact call", () => {
    const call = (args: string) => ({ messages: [U, { role: "assistant", tool_calls: [TC[0], { id: "b", function: { name: "f", arguments: args } }] }] });
    for (const args of ["{not json", "[1,2]", "42", "null", '"text"']) {
      const { status, body } = failure(() => translate(call(args)));
      expect(status).toBe(400);
      expect(body.error.param).toBe("messages[1].tool_calls[1].function.arguments");
    }
    expect(translate(call("")).messages[1]!.tool_calls![1]).toStrictEqual({ id: "b", function: { name: "f", arguments: {} } });
  });

  it("turns the deprecated function role into a tool message", () => {
    expect(translate({ messages: [U, { role: "function", name: "lookup", content: "42" }] }).messages[1]).toStrictEqual({
      role: "tool",
      content: "42",
      tool_name: "lookup",
    });
  });
});

describe("options, keep_alive and think", () => {
  it("max_completion_tokens wins over max_tokens; a stop string becomes an array", () => {
    expect(translate({ messages: [U], max_tokens: 10, max_completion_tokens: 20, stop: "END" }).options).toStrictEqual({ num_predict: 20, stop: ["END"] });
    expect(translate({ messages: [U], max_tokens: 10 }).options).toStrictEqual({ num_predict: 10 });
  });

  it("layers MODEL_DEFAULTS options < body options < top-level fields", () => {
    const defaults: ModelDefaults = { options: { temperature: 0.2, num_ctx: 8192, top_k: 10, num_predict: 1 } };
    const native = translate({ messages: [U], options: { temperature: 0.5, num_ctx: 4096, num_predict: 2 }, temperature: 0.9, max_tokens: 3 }, { defaults });
    expect(native.options).toStrictEqual({ temperature: 0.9, num_ctx: 4096, top_k: 10, num_predict: 3 });
    expect(translate({ messages: [U] }, { defaults }).options).toStrictEqual({ temperature: 0.2, num_ctx: 8192, top_k: 10, num_predict: 1 });
    expect(defaults.options).toStrictEqual({ temperature: 0.2, num_ctx: 8192, top_k: 10, num_predict: 1 });
  });

  it("keep_alive: the body wins over the defaults", () => {
    expect(translate({ messages: [U], keep_alive: "10m" }, { defaults: { keep_alive: -1 } }).keep_alive).toBe("10m");
    expect(translate({ messages: [U], keep_alive: 0 }, { defaults: { keep_alive: "1h" } }).keep_alive).toBe(0);
    expect(translate({ messages: [U] }, { defaults: { keep_alive: "1h" } }).keep_alive).toBe("1h");
  });

  it("think: reasoning.effort > reasoning_effort > body think > defaults.think", () => {
    const defaults: ModelDefaults = { think: "high" };
    expect(translate({ messages: [U], reasoning: { effort: "none" }, reasoning_effort: "high", think: true }, { defaults }).think).toBe(false);
    expect(translate({ messages: [U], reasoning_effort: "minimal", think: true }, { defaults }).think).toBe("low");
    expect(translate({ messages: [U], think: false }, { defaults }).think).toBe(false);
    expect(translate({ messages: [U] }, { defaults }).think).toBe("high");
    expect(translate({ messages: [U], reasoning: { effort: null }, reasoning_effort: "medium" }).think).toBe("medium");
  });

  it("response_format: text sends no format, json_schema sends its schema", () => {
    const schema = { type: "object", properties: { a: { type: "integer" } }, required: ["a"] };
    expect("format" in translate({ messages: [U], response_format: { type: "text" } })).toBe(false);
    expect(translate({ messages: [U], response_format: { type: "json_schema", json_schema: { name: "x", schema, strict: true } } }).format).toStrictEqual(
      schema,
    );
  });
});

describe("tools, n and logprobs", () => {
  const weather = { type: "function", function: { name: "weather", parameters: { type: "object", properties: { city: { type: "string" } } } } };
  const time = { type: "function", function: { name: "time", description: "Current time" } };
  const timeNative = { type: "function", function: { name: "time", description: "Current time", parameters: { type: "object", properties: {} } } };

  it("tool_choice selects the tools sent", () => {
    expect("tools" in translate({ messages: [U], tools: [weather, time], tool_choice: "none" })).toBe(false);
    expect(translate({ messages: [U], tools: [weather, time], tool_choice: "auto" }).tools).toStrictEqual([weather, timeNative]);
    expect(translate({ messages: [U], tools: [weather, time], tool_choice: "required" }).tools).toStrictEqual([weather, timeNative]);
    expect(translate({ messages: [U], tools: [weather, time] }).tools).toStrictEqual([weather, timeNative]);
    expect(translate({ messages: [U], tools: [weather, time], tool_choice: { type: "function", function: { name: "time" } } }).tools).toStrictEqual([
      timeNative,
    ]);
    const unknown = failure(() => translate({ messages: [U], tools: [weather], tool_choice: { type: "function", function: { name: "nope" } } }));
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.param).toBe("tool_choice.function.name");
  });

  it("a named tool_choice without tools is a 400 (the forced call cannot happen), not a silent text answer", () => {
    for (const tools of [undefined, []]) {
      const { status, body } = failure(() =>
        translate({ messages: [U], ...(tools && { tools }), tool_choice: { type: "function", function: { name: "weather" } } }),
      );
      expect(status).toBe(400);
      expect(body.error.type).toBe("invalid_request_error");
      expect(body.error.param).toBe("tool_choice");
    }
    expect(paramOf(() => translate({ messages: [U], tool_choice: "required" }))).toBe("tool_choice");
    expect("tools" in translate({ messages: [U], tool_choice: "auto" })).toBe(false);
  });

  it("n > 1 is an unsupported_parameter 400; n = 1 is fine", () => {
    const { status, body } = failure(() => translate({ messages: [U], n: 2 }));
    expect(status).toBe(400);
    expect(body.error.param).toBe("n");
    expect(body.error.code).toBe("unsupported_parameter");
    expect(translate({ messages: [U], n: 1 })).toStrictEqual({ model: m, messages: [U], stream: true });
  });

  it("top_logprobs without logprobs:true is a 400", () => {
    expect(paramOf(() => translate({ messages: [U], top_logprobs: 3 }))).toBe("top_logprobs");
    expect(paramOf(() => translate({ messages: [U], logprobs: false, top_logprobs: 3 }))).toBe("top_logprobs");
  });
});
