import * as z from "zod/mini";

/**
 * The public /v1/chat/completions request, as OpenAI documents it plus Ollama's extras.
 * Unknown fields are stripped (clients add fields all the time); wrong types are 400s naming the path.
 */

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const imagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.union([z.string(), z.object({ url: z.string(), detail: z.optional(z.string()) })]),
});
const refusalPart = z.object({ type: z.literal("refusal"), refusal: z.string() });

const partTypeError = (allowed: string) => ({ error: `Each content part must be an object with a "type" of ${allowed}.` });

const textContent = z.union([z.string(), z.array(z.discriminatedUnion("type", [textPart], partTypeError('"text"')))]);
const userContent = z.union([z.string(), z.array(z.discriminatedUnion("type", [textPart, imagePart], partTypeError('"text" or "image_url"')))]);
const assistantContent = z.union([z.string(), z.array(z.discriminatedUnion("type", [textPart, refusalPart], partTypeError('"text" or "refusal"')))]);

const toolCall = z.object({
  id: z.string(),
  type: z.optional(z.literal("function")),
  function: z.object({ name: z.string().check(z.minLength(1)), arguments: z.string() }),
});

const systemMessage = z.object({ role: z.enum(["system", "developer"]), content: textContent, name: z.optional(z.string()) });
const userMessage = z.object({ role: z.literal("user"), content: userContent, name: z.optional(z.string()) });
const assistantMessage = z.object({
  role: z.literal("assistant"),
  content: z.nullish(assistantContent),
  name: z.optional(z.string()),
  tool_calls: z.nullish(z.array(toolCall)),
  reasoning: z.nullish(z.string()),
  reasoning_content: z.nullish(z.string()),
  refusal: z.nullish(z.string()),
});
const toolMessage = z.object({ role: z.literal("tool"), content: textContent, tool_call_id: z.optional(z.string()), name: z.optional(z.string()) });
/** Deprecated by OpenAI but still sent by old clients: a function result named by `name`. */
const functionMessage = z.object({ role: z.literal("function"), content: z.nullable(z.string()), name: z.string() });

export const chatMessage = z.discriminatedUnion("role", [systemMessage, userMessage, assistantMessage, toolMessage, functionMessage], {
  error: 'Each message needs a "role" of "system", "developer", "user", "assistant", "tool" or "function".',
});

const functionTool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().check(z.minLength(1)),
    description: z.optional(z.string()),
    parameters: z.optional(z.record(z.string(), z.unknown())),
    strict: z.nullish(z.boolean()),
  }),
});

const toolChoice = z.union([z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) })]);

export const REASONING_EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra"] as const;
const effort = z.enum(REASONING_EFFORTS);

const responseFormat = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      json_schema: z.object({ name: z.optional(z.string()), schema: z.record(z.string(), z.unknown()), strict: z.nullish(z.boolean()) }),
    }),
  ],
  { error: 'response_format.type must be "text", "json_object" or "json_schema".' },
);

const stop = z.union([z.string(), z.array(z.string()).check(z.maxLength(16))]);
const nonNegativeInt = z.int().check(z.nonnegative());

/** OpenAI sampling fields shared by chat and legacy completions (→ Ollama `options`, see translate/options.ts). */
export const samplingFields = {
  temperature: z.nullish(z.number().check(z.nonnegative())),
  top_p: z.nullish(z.number().check(z.nonnegative())),
  seed: z.nullish(z.int()),
  presence_penalty: z.nullish(z.number()),
  frequency_penalty: z.nullish(z.number()),
  stop: z.nullish(stop),
};

/** Ollama-only body fields (the SDKs' extra_body): the reason many people put a gateway in front of Ollama. */
export const ollamaExtras = {
  options: z.optional(z.record(z.string(), z.unknown())),
  keep_alive: z.optional(z.union([z.string(), z.number()])),
  think: z.optional(z.union([z.boolean(), z.enum(["low", "medium", "high", "max"])])),
};

export const chatRequestSchema = z.object({
  model: z.string().check(z.minLength(1, "model is required")),
  messages: z.array(chatMessage).check(z.minLength(1, "messages must contain at least one message")),
  stream: z.nullish(z.boolean()),
  stream_options: z.nullish(z.object({ include_usage: z.nullish(z.boolean()) })),
  ...samplingFields,
  max_tokens: z.nullish(nonNegativeInt),
  max_completion_tokens: z.nullish(nonNegativeInt),
  n: z.nullish(z.int().check(z.positive())),
  response_format: z.nullish(responseFormat),
  tools: z.nullish(z.array(functionTool)),
  tool_choice: z.nullish(toolChoice),
  parallel_tool_calls: z.nullish(z.boolean()),
  reasoning_effort: z.nullish(effort),
  reasoning: z.nullish(z.object({ effort: z.nullish(effort) })),
  logprobs: z.nullish(z.boolean()),
  top_logprobs: z.nullish(z.int().check(z.minimum(0), z.maximum(20))),
  ...ollamaExtras,
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatMessage = z.infer<typeof chatMessage>;
