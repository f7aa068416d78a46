import * as z from "zod";

/**
 * The public /v1/chat/completions request, as OpenAI documents it plus Ollama's extras.
 * Unknown fields are stripped (clients add fields all the time); wrong types are 400s naming the path.
 */

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const imagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.union([z.string(), z.object({ url: z.string(), detail: z.string().optional() })]),
});
const refusalPart = z.object({ type: z.literal("refusal"), refusal: z.string() });

const partTypeError = (allowed: string) => ({ error: `Each content part must be an object with a "type" of ${allowed}.` });

const textContent = z.union([z.string(), z.array(z.discriminatedUnion("type", [textPart], partTypeError('"text"')))]);
const userContent = z.union([z.string(), z.array(z.discriminatedUnion("type", [textPart, imagePart], partTypeError('"text" or "image_url"')))]);
const assistantContent = z.union([z.string(), z.array(z.discriminatedUnion("type", [textPart, refusalPart], partTypeError('"text" or "refusal"')))]);

const toolCall = z.object({
  id: z.string(),
  type: z.literal("function").optional(),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const systemMessage = z.object({ role: z.enum(["system", "developer"]), content: textContent, name: z.string().optional() });
const userMessage = z.object({ role: z.literal("user"), content: userContent, name: z.string().optional() });
const assistantMessage = z.object({
  role: z.literal("assistant"),
  content: assistantContent.nullish(),
  name: z.string().optional(),
  tool_calls: z.array(toolCall).nullish(),
  reasoning: z.string().nullish(),
  reasoning_content: z.string().nullish(),
  refusal: z.string().nullish(),
});
const toolMessage = z.object({ role: z.literal("tool"), content: textContent, tool_call_id: z.string().optional(), name: z.string().optional() });
/** Deprecated by OpenAI but still sent by old clients: a function result named by `name`. */
const functionMessage = z.object({ role: z.literal("function"), content: z.string().nullable(), name: z.string() });

export const chatMessage = z.discriminatedUnion("role", [systemMessage, userMessage, assistantMessage, toolMessage, functionMessage], {
  error: 'Each message needs a "role" of "system", "developer", "user", "assistant", "tool" or "function".',
});

const functionTool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
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
      json_schema: z.object({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()), strict: z.boolean().nullish() }),
    }),
  ],
  { error: 'response_format.type must be "text", "json_object" or "json_schema".' },
);

const stop = z.union([z.string(), z.array(z.string()).max(16)]);
const nonNegativeInt = z.number().int().nonnegative();

/** OpenAI sampling fields shared by chat and legacy completions (→ Ollama `options`, see translate/options.ts). */
export const samplingFields = {
  temperature: z.number().nonnegative().nullish(),
  top_p: z.number().nonnegative().nullish(),
  seed: z.number().int().nullish(),
  presence_penalty: z.number().nullish(),
  frequency_penalty: z.number().nullish(),
  stop: stop.nullish(),
};

/** Ollama-only body fields (the SDKs' extra_body): the reason many people put a gateway in front of Ollama. */
export const ollamaExtras = {
  options: z.record(z.string(), z.unknown()).optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
  think: z.union([z.boolean(), z.enum(["low", "medium", "high", "max"])]).optional(),
};

export const chatRequestSchema = z.object({
  model: z.string().min(1, "model is required"),
  messages: z.array(chatMessage).min(1, "messages must contain at least one message"),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  ...samplingFields,
  max_tokens: nonNegativeInt.nullish(),
  max_completion_tokens: nonNegativeInt.nullish(),
  n: z.number().int().positive().nullish(),
  response_format: responseFormat.nullish(),
  tools: z.array(functionTool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  reasoning_effort: effort.nullish(),
  reasoning: z.object({ effort: effort.nullish() }).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  ...ollamaExtras,
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatMessage = z.infer<typeof chatMessage>;
