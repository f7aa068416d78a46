import * as z from "zod";
import { ollamaExtras, REASONING_EFFORTS } from "../openai/chat/schema.ts";

/**
 * The public /v1/responses request, as OpenAI's API reference (and openai-node's `ResponseCreateParams`) defines it,
 * plus Ollama's extras. Unknown fields are stripped (clients add fields all the time, Codex CLI among them); wrong
 * types of the fields we read are 400s naming the path. Hosted tools and hosted items (web search, file search,
 * computer use, MCP, shell, …) are accepted and ignored: a local model cannot run them.
 */

const inputText = z.object({ type: z.literal("input_text"), text: z.string() });
const inputImage = z.object({
  type: z.literal("input_image"),
  /** A base64 data URI or an http(s) URL; `file_id` (OpenAI's file storage) has no counterpart here. */
  image_url: z.string().nullish(),
  file_id: z.string().nullish(),
  detail: z.string().nullish(),
});
/** Files cannot be read by the model: accepted by the schema, refused by the mapping with its path. */
const inputFile = z.object({ type: z.literal("input_file") });
const outputText = z.object({ type: z.literal("output_text"), text: z.string() });
const refusal = z.object({ type: z.literal("refusal"), refusal: z.string() });

const contentPart = z.discriminatedUnion("type", [inputText, inputImage, inputFile, outputText, refusal], {
  error: 'Each content part must be an object with a "type" of "input_text", "input_image", "input_file", "output_text" or "refusal".',
});
const toolOutputPart = z.discriminatedUnion("type", [inputText, inputImage, inputFile], {
  error: 'Each output part must be an object with a "type" of "input_text", "input_image" or "input_file".',
});

/** EasyInputMessage, ResponseInputItem.Message and ResponseOutputMessage: `type` may be left out. */
const message = z.object({
  type: z.literal("message").optional(),
  /** Kept when sent, so a stored response lists its input items under the ids the client gave them. */
  id: z.string().nullish(),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(contentPart)]),
});

const functionCall = z.object({
  type: z.literal("function_call"),
  call_id: z.string().min(1),
  name: z.string().min(1),
  /** A JSON-encoded object, parsed by the mapping (400 naming this path when it is not one). */
  arguments: z.string(),
  id: z.string().nullish(),
  status: z.string().nullish(),
  /** The namespace tool the function belongs to (openai-node `ResponseFunctionToolCall.namespace`). */
  namespace: z.string().nullish(),
});
const functionCallOutput = z.object({
  type: z.literal("function_call_output"),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(toolOutputPart)]),
});
const customToolCall = z.object({
  type: z.literal("custom_tool_call"),
  call_id: z.string().min(1),
  name: z.string().min(1),
  input: z.string(),
  id: z.string().nullish(),
  namespace: z.string().nullish(),
});
const customToolCallOutput = z.object({
  type: z.literal("custom_tool_call_output"),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(toolOutputPart)]),
});
const reasoningItem = z.object({
  type: z.literal("reasoning"),
  id: z.string().nullish(),
  summary: z.array(z.object({ type: z.literal("summary_text"), text: z.string() })).default([]),
  content: z.array(z.object({ type: z.literal("reasoning_text"), text: z.string() })).nullish(),
  /** Another model's sealed reasoning: accepted back (Codex sends it every turn), never decrypted or forwarded. */
  encrypted_content: z.string().nullish(),
});

const KNOWN_ITEM_TYPES = new Set(["message", "function_call", "function_call_output", "custom_tool_call", "custom_tool_call_output", "reasoning"]);

const knownItem = z.discriminatedUnion("type", [message, functionCall, functionCallOutput, customToolCall, customToolCallOutput, reasoningItem], {
  error: 'Each input item needs a "type" (a message may leave it out and give a "role").',
});
/** Any other item type (web_search_call, item_reference, mcp_call, …): accepted and ignored. */
const hostedItem = z.object({
  type: z.string().refine((type) => !KNOWN_ITEM_TYPES.has(type), { error: "Invalid item.", abort: true }),
});
const inputItem = z.union([knownItem, hostedItem]);

const functionTool = z.object({
  type: z.literal("function"),
  name: z.string().min(1),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});
const customTool = z.object({
  type: z.literal("custom"),
  name: z.string().min(1),
  description: z.string().nullish(),
  /** `{type:"text"}` or a grammar (`lark`/`regex`): the model is only told to send one string. */
  format: z.record(z.string(), z.unknown()).nullish(),
});
/** openai-node `NamespaceTool`: a named group of function (and custom) tools. */
const namespaceTool = z.object({
  type: z.literal("namespace"),
  name: z.string().min(1),
  description: z.string().nullish(),
  tools: z.array(z.discriminatedUnion("type", [functionTool, customTool], { error: 'A namespace holds tools of "type" "function" or "custom".' })),
});
const KNOWN_TOOL_TYPES = new Set(["function", "custom", "namespace"]);
const knownTool = z.discriminatedUnion("type", [functionTool, customTool, namespaceTool]);
/** Hosted tools (web_search, file_search, computer_use_preview, image_generation, code_interpreter, mcp, …). */
const hostedTool = z.object({ type: z.string().refine((type) => !KNOWN_TOOL_TYPES.has(type), { error: "Invalid tool.", abort: true }) });
const tool = z.union([knownTool, hostedTool]);

const KNOWN_CHOICE_TYPES = new Set(["function", "custom", "allowed_tools"]);
const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.discriminatedUnion("type", [
    z.object({ type: z.literal("function"), name: z.string().min(1) }),
    z.object({ type: z.literal("custom"), name: z.string().min(1) }),
    z.object({
      type: z.literal("allowed_tools"),
      mode: z.enum(["auto", "required"]),
      tools: z.array(z.object({ type: z.string(), name: z.string().nullish() })),
    }),
  ]),
  /** A hosted tool's choice ({type:"web_search_preview"}, {type:"mcp", …}): treated as "auto". */
  z.object({ type: z.string().refine((type) => !KNOWN_CHOICE_TYPES.has(type), { error: "Invalid tool_choice.", abort: true }) }),
]);

const textFormat = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      name: z.string().nullish(),
      description: z.string().nullish(),
      schema: z.record(z.string(), z.unknown()),
      strict: z.boolean().nullish(),
    }),
  ],
  { error: 'text.format.type must be "text", "json_object" or "json_schema".' },
);

export const responsesRequestSchema = z.object({
  model: z.string().min(1, "model is required"),
  input: z.union([z.string(), z.array(inputItem)]).nullish(),
  instructions: z.string().nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  max_output_tokens: z.number().int().nonnegative().nullish(),
  temperature: z.number().nonnegative().nullish(),
  top_p: z.number().nonnegative().nullish(),
  reasoning: z
    .object({
      effort: z.enum(REASONING_EFFORTS).nullish(),
      summary: z.string().nullish(),
      generate_summary: z.string().nullish(),
    })
    .nullish(),
  text: z
    .object({
      format: textFormat.nullish(),
      verbosity: z.enum(["low", "medium", "high"]).nullish(),
    })
    .nullish(),
  truncation: z.enum(["auto", "disabled"]).nullish(),
  store: z.boolean().nullish(),
  previous_response_id: z.string().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  user: z.string().nullish(),
  include: z.array(z.string()).nullish(),
  prompt_cache_key: z.string().nullish(),
  service_tier: z.string().nullish(),
  stream: z.boolean().nullish(),
  /** Codex CLI's own field (not in OpenAI's reference): accepted and not forwarded. */
  client_metadata: z.record(z.string(), z.unknown()).nullish(),
  ...ollamaExtras,
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
export type ResponsesInputItem = z.infer<typeof inputItem>;
export type KnownItem = z.infer<typeof knownItem>;
type ResponsesTool = z.infer<typeof tool>;
export type KnownTool = z.infer<typeof knownTool>;
export type ContentPart = z.infer<typeof contentPart>;

/** Narrows an input item to the kinds the mapping reads (a hosted item's `type` is any other string). */
export const isKnownItem = (item: ResponsesInputItem): item is KnownItem => item.type === undefined || KNOWN_ITEM_TYPES.has(item.type);

/** Narrows a tool to the kinds offered to the model (function, custom, namespace). */
export const isKnownTool = (entry: ResponsesTool): entry is KnownTool => KNOWN_TOOL_TYPES.has(entry.type);
