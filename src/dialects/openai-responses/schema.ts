import * as z from "zod/mini";
import { ollamaExtras, REASONING_EFFORTS } from "../openai/chat/schema.ts";

/**
 * The public /v1/responses request, as OpenAI's API reference (and openai-node's `ResponseCreateParams`) defines it,
 * plus Ollama's extras. Unknown fields are stripped (clients add fields all the time, Codex CLI among them); wrong
 * types of the fields we read are 400s naming the path. Hosted tools and hosted items (web search, file search,
 * computer use, MCP, shell, …) are accepted and ignored: a local model cannot run them.
 */

const nonEmpty = z.string().check(z.minLength(1));

const inputText = z.object({ type: z.literal("input_text"), text: z.string() });
const inputImage = z.object({
  type: z.literal("input_image"),
  /** A base64 data URI or an http(s) URL; `file_id` (OpenAI's file storage) has no counterpart here. */
  image_url: z.nullish(z.string()),
  file_id: z.nullish(z.string()),
  detail: z.nullish(z.string()),
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
  type: z.optional(z.literal("message")),
  /** Kept when sent, so a stored response lists its input items under the ids the client gave them. */
  id: z.nullish(z.string()),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(contentPart)]),
});

const functionCall = z.object({
  type: z.literal("function_call"),
  call_id: nonEmpty,
  name: nonEmpty,
  /** A JSON-encoded object, parsed by the mapping (400 naming this path when it is not one). */
  arguments: z.string(),
  id: z.nullish(z.string()),
  status: z.nullish(z.string()),
  /** The namespace tool the function belongs to (openai-node `ResponseFunctionToolCall.namespace`). */
  namespace: z.nullish(z.string()),
});
const functionCallOutput = z.object({
  type: z.literal("function_call_output"),
  call_id: nonEmpty,
  output: z.union([z.string(), z.array(toolOutputPart)]),
});
const customToolCall = z.object({
  type: z.literal("custom_tool_call"),
  call_id: nonEmpty,
  name: nonEmpty,
  input: z.string(),
  id: z.nullish(z.string()),
  namespace: z.nullish(z.string()),
});
const customToolCallOutput = z.object({
  type: z.literal("custom_tool_call_output"),
  call_id: nonEmpty,
  output: z.union([z.string(), z.array(toolOutputPart)]),
});
const reasoningItem = z.object({
  type: z.literal("reasoning"),
  id: z.nullish(z.string()),
  summary: z._default(z.array(z.object({ type: z.literal("summary_text"), text: z.string() })), []),
  content: z.nullish(z.array(z.object({ type: z.literal("reasoning_text"), text: z.string() }))),
  /** Another model's sealed reasoning: accepted back (Codex sends it every turn), never decrypted or forwarded. */
  encrypted_content: z.nullish(z.string()),
});

/**
 * An object whose `type` is any string but the `known` ones (which fail with `error`, so the union reports the known
 * branch's deeper issue instead): hosted items, tools and tool choices, accepted and ignored.
 */
const otherType = (known: ReadonlySet<string>, error: string) =>
  z.object({ type: z.string().check(z.refine((type: string) => !known.has(type), { error, abort: true })) });

const KNOWN_ITEM_TYPES = new Set(["message", "function_call", "function_call_output", "custom_tool_call", "custom_tool_call_output", "reasoning"]);

const knownItem = z.discriminatedUnion("type", [message, functionCall, functionCallOutput, customToolCall, customToolCallOutput, reasoningItem], {
  error: 'Each input item needs a "type" (a message may leave it out and give a "role").',
});
/** Any other item type (web_search_call, item_reference, mcp_call, …): accepted and ignored. */
const hostedItem = otherType(KNOWN_ITEM_TYPES, "Invalid item.");
const inputItem = z.union([knownItem, hostedItem]);

const functionTool = z.object({
  type: z.literal("function"),
  name: nonEmpty,
  description: z.nullish(z.string()),
  parameters: z.nullish(z.record(z.string(), z.unknown())),
  strict: z.nullish(z.boolean()),
});
const customTool = z.object({
  type: z.literal("custom"),
  name: nonEmpty,
  description: z.nullish(z.string()),
  /** `{type:"text"}` or a grammar (`lark`/`regex`): the model is only told to send one string. */
  format: z.nullish(z.record(z.string(), z.unknown())),
});
/** openai-node `NamespaceTool`: a named group of function (and custom) tools. */
const namespaceTool = z.object({
  type: z.literal("namespace"),
  name: nonEmpty,
  description: z.nullish(z.string()),
  tools: z.array(z.discriminatedUnion("type", [functionTool, customTool], { error: 'A namespace holds tools of "type" "function" or "custom".' })),
});
const KNOWN_TOOL_TYPES = new Set(["function", "custom", "namespace"]);
const knownTool = z.discriminatedUnion("type", [functionTool, customTool, namespaceTool]);
/** Hosted tools (web_search, file_search, computer_use_preview, image_generation, code_interpreter, mcp, …). */
const hostedTool = otherType(KNOWN_TOOL_TYPES, "Invalid tool.");
const tool = z.union([knownTool, hostedTool]);

const KNOWN_CHOICE_TYPES = new Set(["function", "custom", "allowed_tools"]);
const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.discriminatedUnion("type", [
    z.object({ type: z.literal("function"), name: nonEmpty }),
    z.object({ type: z.literal("custom"), name: nonEmpty }),
    z.object({
      type: z.literal("allowed_tools"),
      mode: z.enum(["auto", "required"]),
      tools: z.array(z.object({ type: z.string(), name: z.nullish(z.string()) })),
    }),
  ]),
  /** A hosted tool's choice ({type:"web_search_preview"}, {type:"mcp", …}): treated as "auto". */
  otherType(KNOWN_CHOICE_TYPES, "Invalid tool_choice."),
]);

const textFormat = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      name: z.nullish(z.string()),
      description: z.nullish(z.string()),
      schema: z.record(z.string(), z.unknown()),
      strict: z.nullish(z.boolean()),
    }),
  ],
  { error: 'text.format.type must be "text", "json_object" or "json_schema".' },
);

export const responsesRequestSchema = z.object({
  model: z.string().check(z.minLength(1, "model is required")),
  input: z.nullish(z.union([z.string(), z.array(inputItem)])),
  instructions: z.nullish(z.string()),
  tools: z.nullish(z.array(tool)),
  tool_choice: z.nullish(toolChoice),
  parallel_tool_calls: z.nullish(z.boolean()),
  max_output_tokens: z.nullish(z.int().check(z.nonnegative())),
  temperature: z.nullish(z.number().check(z.nonnegative())),
  top_p: z.nullish(z.number().check(z.nonnegative())),
  reasoning: z.nullish(
    z.object({
      effort: z.nullish(z.enum(REASONING_EFFORTS)),
      summary: z.nullish(z.string()),
      generate_summary: z.nullish(z.string()),
    }),
  ),
  text: z.nullish(
    z.object({
      format: z.nullish(textFormat),
      verbosity: z.nullish(z.enum(["low", "medium", "high"])),
    }),
  ),
  truncation: z.nullish(z.enum(["auto", "disabled"])),
  store: z.nullish(z.boolean()),
  previous_response_id: z.nullish(z.string()),
  metadata: z.nullish(z.record(z.string(), z.string())),
  user: z.nullish(z.string()),
  include: z.nullish(z.array(z.string())),
  prompt_cache_key: z.nullish(z.string()),
  service_tier: z.nullish(z.string()),
  stream: z.nullish(z.boolean()),
  /** Codex CLI's own field (not in OpenAI's reference): accepted and not forwarded. */
  client_metadata: z.nullish(z.record(z.string(), z.unknown())),
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
