import { describe, expect, it } from "vitest";
import type { ModelDefaults, ModelLimits } from "../../src/core/model-settings.ts";
import { validate } from "../../src/core/validate.ts";
import { anthropicImageRefs, estimateAnthropicPrompt, promptText } from "../../src/dialects/anthropic/prompt.ts";
import { toNativeAnthropic } from "../../src/dialects/anthropic/request.ts";
import { countTokensSchema, type MessagesRequest, messagesRequestSchema } from "../../src/dialects/anthropic/schema.ts";
import { failure } from "./helpers.ts";

const m = "qwen3:8b";
const PNG = "iVBORw0KGgoAAAANSUhEUg==";

interface Context {
  defaults?: ModelDefaults;
  limits?: ModelLimits;
  remoteImages?: ReadonlyMap<string, string>;
}

const parse = (body: Record<string, unknown>): MessagesRequest => validate(messagesRequestSchema, { model: "claude-sonnet-4-5", max_tokens: 1024, ...body });
/** The request as the route sees it: validated by the public schema, then translated. */
const translate = (body: Record<string, unknown>, context: Context = {}) => toNativeAnthropic(parse(body), { model: m, ...context });
const errorOf = (fn: () => unknown) => failure(fn);
const user = (content: unknown) => ({ role: "user", content });
const weather = {
  name: "get_weather",
  description: "The weather in a city.",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};
const nativeWeather = { type: "function", function: { name: "get_weather", description: "The weather in a city.", parameters: weather.input_schema } };

describe("messages → native /api/chat", () => {
  it("a whole conversation: system blocks, a system message in place, images, thinking, a tool call and its results", () => {
    const native = translate(
      {
        system: [
          { type: "text", text: "You are helpful.", cache_control: { type: "ephemeral" } },
          { type: "text", text: "Be brief." },
        ],
        messages: [
          user([
            { type: "text", text: "<system-reminder>cwd: /tmp</system-reminder>" },
            { type: "text", text: "What is in these, and the weather?", cache_control: { type: "ephemeral" } },
            { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
            { type: "image", source: { type: "url", url: "https://img.example/cat.jpg" } },
          ]),
          { role: "system", content: "You are powered by a local model." },
          {
            role: "assistant",
            content: [
              { type: "thinking", thinking: "Two images.", signature: "sig-from-elsewhere" },
              { type: "redacted_thinking", data: "c2VhbGVk" },
              { type: "text", text: "Let me look it up." },
              { type: "tool_use", id: "toolu_01", name: "get_weather", input: { city: "Paris" } },
              { type: "tool_use", id: "toolu_02", name: "get_weather", input: { city: "Oslo" } },
            ],
          },
          user([
            { type: "tool_result", tool_use_id: "toolu_01", content: "sunny" },
            {
              type: "tool_result",
              tool_use_id: "toolu_02",
              is_error: true,
              content: [
                { type: "text", text: "station offline" },
                { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
              ],
            },
            { type: "text", text: "<system-reminder>todo list empty</system-reminder>" },
            { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: {} },
          ]),
        ],
        tools: [
          { ...weather, cache_control: { type: "ephemeral" }, defer_loading: true },
          { type: "web_search_20250305", name: "web_search" },
        ],
        temperature: 0.2,
        top_p: 0.9,
        top_k: 40,
        stop_sequences: ["END"],
        metadata: { user_id: "u-1" },
        context_management: { edits: [{ type: "clear_thinking_20251015", keep: "all" }] },
        thinking: { type: "enabled", budget_tokens: 31999 },
      },
      { remoteImages: new Map([["https://img.example/cat.jpg", "Q0FU"]]) },
    );
    expect(native).toStrictEqual({
      model: m,
      messages: [
        { role: "system", content: "You are helpful.\nBe brief." },
        {
          role: "user",
          content: "<system-reminder>cwd: /tmp</system-reminder>\nWhat is in these, and the weather?",
          images: [PNG, "Q0FU"],
        },
        { role: "system", content: "You are powered by a local model." },
        {
          role: "assistant",
          content: "Let me look it up.",
          thinking: "Two images.",
          tool_calls: [
            { id: "toolu_01", function: { name: "get_weather", arguments: { city: "Paris" } } },
            { id: "toolu_02", function: { name: "get_weather", arguments: { city: "Oslo" } } },
          ],
        },
        { role: "tool", content: "sunny", tool_name: "get_weather", tool_call_id: "toolu_01" },
        { role: "tool", content: "Error: station offline", images: [PNG], tool_name: "get_weather", tool_call_id: "toolu_02" },
        { role: "user", content: "<system-reminder>todo list empty</system-reminder>" },
      ],
      stream: true,
      tools: [nativeWeather],
      // max_tokens is the answer cap; stop_sequences are watched on the answer side, not sent (see stop.ts).
      options: { num_predict: 1024, temperature: 0.2, top_p: 0.9, top_k: 40 },
      think: true,
    });
  });

  it("a plain string prompt, no system, no tools: no think unless asked (Anthropic's models do not think unasked)", () => {
    expect(translate({ messages: [user("hi")] })).toStrictEqual({
      model: m,
      messages: [{ role: "user", content: "hi" }],
      stream: true,
      options: { num_predict: 1024 },
      think: false,
    });
  });

  it("thinking and output_config.effort → think", () => {
    const think = (fields: Record<string, unknown>, defaults?: ModelDefaults) => translate({ messages: [user("x")], ...fields }, { defaults }).think;
    expect(think({ thinking: { type: "enabled", budget_tokens: 2048 } })).toBe(true);
    expect(think({ thinking: { type: "adaptive" } })).toBe(true);
    expect(think({ thinking: { type: "adaptive" }, output_config: { effort: "medium" } })).toBe("medium");
    expect(think({ thinking: { type: "enabled", budget_tokens: 1024 }, output_config: { effort: "low" } })).toBe("low");
    expect(think({ thinking: { type: "adaptive" }, output_config: { effort: "xhigh" } })).toBe("max");
    expect(think({ thinking: { type: "adaptive" }, output_config: { effort: "max" } })).toBe("max");
    expect(think({ thinking: { type: "between_tools" } })).toBe(true);
    expect(think({ thinking: { type: "disabled" }, output_config: { effort: "high" } })).toBe(false);
    // Effort alone does not switch thinking on, as at Anthropic; MODEL_DEFAULTS' think applies when thinking is absent.
    expect(think({ output_config: { effort: "high" } })).toBe(false);
    expect(think({}, { think: true })).toBe(true);
    expect(think({ thinking: { type: "disabled" } }, { think: true })).toBe(false);
  });

  it("tool_choice is honoured as on chat completions: none sends no tools, tool only the one named, auto and any all", () => {
    const other = { name: "read_file", input_schema: { type: "object", properties: { path: { type: "string" } } } };
    const tools = [weather, other];
    const names = (tool_choice?: unknown) =>
      translate({ messages: [user("x")], tools, ...(tool_choice ? { tool_choice } : {}) }).tools?.map((tool) => tool.function.name);
    expect(names()).toEqual(["get_weather", "read_file"]);
    expect(names({ type: "auto", disable_parallel_tool_use: true })).toEqual(["get_weather", "read_file"]);
    expect(names({ type: "any" })).toEqual(["get_weather", "read_file"]);
    expect(names({ type: "tool", name: "read_file" })).toEqual(["read_file"]);
    expect(names({ type: "none" })).toBeUndefined();
    // A tool without a description has none; its schema is sent as it came.
    expect(translate({ messages: [user("x")], tools: [other] }).tools).toStrictEqual([
      { type: "function", function: { name: "read_file", parameters: other.input_schema } },
    ]);
    expect(errorOf(() => translate({ messages: [user("x")], tools, tool_choice: { type: "tool", name: "nope" } })).body.error).toMatchObject({
      message: 'tool_choice names the tool "nope", which is not in tools.',
      param: "tool_choice.name",
    });
    expect(errorOf(() => translate({ messages: [user("x")], tool_choice: { type: "any" } })).body.error.param).toBe("tool_choice");
    // Only hosted tools: nothing the model could call is offered.
    expect(translate({ messages: [user("x")], tools: [{ type: "bash_20250124", name: "bash" }] }).tools).toBeUndefined();
  });

  it("MODEL_DEFAULTS go under the request's values, MODEL_LIMITS over them; output_config.format is the native format", () => {
    const native = translate(
      { messages: [user("x")], max_tokens: 32000, temperature: 1, output_config: { format: { type: "json_schema", schema: { type: "object" } } } },
      { defaults: { options: { num_ctx: 32768, temperature: 0.6, top_k: 20 }, keep_alive: "1h" }, limits: { max_num_predict: 8192, max_keep_alive: "30m" } },
    );
    expect(native.options).toStrictEqual({ num_ctx: 32768, temperature: 1, top_k: 20, num_predict: 8192 });
    expect(native.keep_alive).toBe("30m");
    expect(native.format).toStrictEqual({ type: "object" });
  });

  it("refuses what the model cannot read, naming the block", () => {
    const file = errorOf(() => translate({ messages: [user([{ type: "image", source: { type: "file", file_id: "file_1" } }])] }));
    expect(file).toMatchObject({ status: 400, body: { error: { param: "messages[0].content[0].source" } } });
    const pdf = errorOf(() =>
      translate({
        messages: [
          user([
            { type: "text", text: "read" },
            { type: "document", source: { type: "url", url: "https://x/a.pdf" } },
          ]),
        ],
      }),
    );
    expect(pdf.body.error).toMatchObject({ param: "messages[0].content[1]", code: "unsupported_parameter" });
    const bmp = errorOf(() => translate({ messages: [user([{ type: "image", source: { type: "base64", media_type: "image/bmp", data: PNG } }])] }));
    expect(bmp.body.error).toMatchObject({ param: "messages[0].content[0].source", code: "invalid_image_format" });
    const toolUse = errorOf(() => translate({ messages: [user([{ type: "tool_use", id: "t", name: "f", input: {} }])] }));
    expect(toolUse.body.error.param).toBe("messages[0].content[0]");
    const result = errorOf(() => translate({ messages: [{ role: "assistant", content: [{ type: "tool_result", tool_use_id: "t" }] }] }));
    expect(result.body.error.param).toBe("messages[0].content[0]");
    // An http(s) image the pipeline did not fetch cannot be sent.
    const url = errorOf(() => translate({ messages: [user([{ type: "image", source: { type: "url", url: "https://img.example/x.png" } }])] }));
    expect(url.body.error).toMatchObject({ param: "messages[0].content[0].source", code: "invalid_image_url" });
  });
});

describe("the schema", () => {
  const invalid = (body: Record<string, unknown>) => errorOf(() => validate(messagesRequestSchema, body)).body.error;

  it("max_tokens is required, as at Anthropic; 400s name the field", () => {
    expect(invalid({ model: "m", messages: [user("x")] })).toMatchObject({ param: "max_tokens", type: "invalid_request_error" });
    expect(invalid({ model: "m", max_tokens: 0, messages: [user("x")] }).param).toBe("max_tokens");
    expect(invalid({ model: "", max_tokens: 5, messages: [user("x")] }).message).toBe("Invalid value for 'model': model is required");
    expect(invalid({ model: "m", max_tokens: 5, messages: [] }).message).toBe("Invalid value for 'messages': at least one message is required");
    expect(invalid({ model: "m", max_tokens: 5, messages: [{ role: "tool", content: "x" }] }).param).toBe("messages[0].role");
    expect(invalid({ model: "m", max_tokens: 5, messages: [user("x")], temperature: 1.5 }).param).toBe("temperature");
    expect(invalid({ model: "m", max_tokens: 5, messages: [user("x")], top_k: -1 }).param).toBe("top_k");
    expect(invalid({ model: "m", max_tokens: 5, messages: [user("x")], thinking: { type: "enabled" } }).param).toBe("thinking.budget_tokens");
    expect(invalid({ model: "m", max_tokens: 5, messages: [user("x")], tool_choice: { type: "required" } }).param).toBe("tool_choice.type");
    expect(invalid({ model: "m", max_tokens: 5, messages: [user("x")], output_config: { effort: "extreme" } }).param).toBe("output_config.effort");
    expect(invalid({ model: "m", max_tokens: 5, messages: [user([{ type: "tool_use", id: "t", name: "f", input: "x" }])] }).param).toBe(
      "messages[0].content[0].input",
    );
    expect(invalid({ model: "m", max_tokens: 5, messages: [user([{ type: "text" }])] }).param).toBe("messages[0].content[0].text");
  });

  it("count_tokens takes the same prompt without max_tokens", () => {
    const body = validate(countTokensSchema, { model: "m", messages: [user("x")], max_tokens: 10, tools: [weather] });
    expect(body).toStrictEqual({ model: "m", messages: [user("x")], tools: [weather] });
  });
});

describe("counting the prompt", () => {
  const body = parse({
    system: "Be brief.",
    messages: [
      user([
        { type: "text", text: "look" },
        { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
      ]),
      { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "get_weather", input: { city: "Paris" } }] },
      user([
        {
          type: "tool_result",
          tool_use_id: "t1",
          content: [
            { type: "text", text: "sunny" },
            { type: "image", source: { type: "url", url: "https://img.example/sky.png" } },
          ],
        },
      ]),
    ],
    tools: [weather],
  });

  it("the text in order (system, messages, tool calls, results, then the tools' JSON) and the images apart", () => {
    const tools = JSON.stringify([nativeWeather]);
    expect(promptText(body)).toBe(["Be brief.", "look", "get_weather", '{"city":"Paris"}', "sunny", tools].join("\n"));
    expect(estimateAnthropicPrompt(body)).toBe(Math.ceil(promptText(body).length / 4) + 2 * 768);
    expect(anthropicImageRefs(body)).toStrictEqual([
      { url: `data:image/png;base64,${PNG}`, param: "messages[0].content[1].source" },
      { url: "https://img.example/sky.png", param: "messages[2].content[0].content[1].source" },
    ]);
  });
});
