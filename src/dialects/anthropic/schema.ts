import * as z from "zod/mini";

/**
 * The public /v1/messages and /v1/messages/count_tokens requests, as Anthropic's API reference (and
 * @anthropic-ai/sdk's `MessageCreateParams`) defines them, with what Claude Code sends. Unknown fields are stripped
 * (`cache_control` on any block, `citations`, `container`, `service_tier`, …); wrong types of the fields we read are
 * 400s naming the path. Blocks and tools of Anthropic's hosted tools (web search, code execution, …) are accepted
 * and ignored: a local model cannot run them. Written with zod/mini, for the bundle's size.
 */

const text = z.object({ type: z.literal("text"), text: z.string() });

const imageSource = z.discriminatedUnion(
  "type",
  [
    /** The type is checked by the mapping, with the other dialects' image rules (PNG, JPEG, WebP, GIF). */
    z.object({ type: z.literal("base64"), media_type: z.string(), data: z.string() }),
    z.object({ type: z.literal("url"), url: z.string() }),
    /** Anthropic's Files API has no counterpart here: accepted by the schema, refused by the mapping with its path. */
    z.object({ type: z.literal("file"), file_id: z.string() }),
  ],
  { error: 'An image source needs a "type" of "base64", "url" or "file".' },
);
const image = z.object({ type: z.literal("image"), source: imageSource });

/** A tool search's result names a tool to load; every tool is offered from the start here (see `defer_loading`). */
const toolReference = z.object({ type: z.literal("tool_reference"), tool_name: z.string() });

const toolResultPart = z.discriminatedUnion("type", [text, image, toolReference], {
  error: 'Each tool_result content block must be an object with a "type" of "text", "image" or "tool_reference".',
});

const toolUse = z.object({
  type: z.literal("tool_use"),
  id: z.string().check(z.minLength(1)),
  name: z.string().check(z.minLength(1)),
  input: z.record(z.string(), z.unknown()),
});
const toolResult = z.object({
  type: z.literal("tool_result"),
  tool_use_id: z.string().check(z.minLength(1)),
  content: z.optional(z.union([z.string(), z.array(toolResultPart)])),
  is_error: z.optional(z.boolean()),
});
/** Thinking sent back: its text goes to the model again; the signature is not checked (the gateway signs nothing). */
const thinking = z.object({ type: z.literal("thinking"), thinking: z.string(), signature: z.optional(z.string()) });
/** Another model's encrypted thinking: accepted back, never decrypted or forwarded. */
const redactedThinking = z.object({ type: z.literal("redacted_thinking"), data: z.string() });
/** Documents and search results the model cannot read here: accepted by the schema, refused by the mapping. */
const document = z.object({ type: z.enum(["document", "search_result"]) });

const KNOWN_BLOCK_TYPES = new Set(["text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking", "document", "search_result"]);
const knownBlock = z.discriminatedUnion("type", [text, image, toolUse, toolResult, thinking, redactedThinking, document], {
  error: 'Each content block must be an object with a known "type".',
});
/** Hosted tools' blocks (server_tool_use, web_search_tool_result, container_upload, …): history the model cannot use. */
const hostedBlock = z.object({
  type: z.string().check(z.refine((type) => !KNOWN_BLOCK_TYPES.has(type), { error: "Invalid content block.", abort: true })),
});
const block = z.union([knownBlock, hostedBlock]);

const message = z.discriminatedUnion(
  "role",
  [
    z.object({ role: z.literal("user"), content: z.union([z.string(), z.array(block)]) }),
    z.object({ role: z.literal("assistant"), content: z.union([z.string(), z.array(block)]) }),
    /** Claude Code sends one after the user's turn; it becomes a system message in place. */
    z.object({ role: z.literal("system"), content: z.union([z.string(), z.array(text)]) }),
  ],
  { error: 'Each message needs a "role" of "user", "assistant" or "system".' },
);

/** A client tool: a function the model may call, described by its JSON schema. */
const customTool = z.object({
  type: z.nullish(z.literal("custom")),
  name: z.string().check(z.minLength(1)),
  description: z.optional(z.string()),
  input_schema: z.record(z.string(), z.unknown()),
  /** Claude Code marks its tool search's tools so; here every tool is offered from the start. */
  defer_loading: z.optional(z.boolean()),
});
/** Anthropic's versioned tools (web_search_20250305, bash_20250124, code_execution_…, text_editor_…, …). */
const hostedTool = z.object({
  type: z.string().check(z.refine((type) => type !== "custom", { error: "Invalid tool.", abort: true })),
});
const tool = z.union([customTool, hostedTool]);

const toolChoice = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("auto"), disable_parallel_tool_use: z.optional(z.boolean()) }),
    z.object({ type: z.literal("any"), disable_parallel_tool_use: z.optional(z.boolean()) }),
    z.object({ type: z.literal("tool"), name: z.string().check(z.minLength(1)), disable_parallel_tool_use: z.optional(z.boolean()) }),
    z.object({ type: z.literal("none") }),
  ],
  { error: 'tool_choice.type must be "auto", "any", "tool" or "none".' },
);

const thinkingConfig = z.discriminatedUnion(
  "type",
  [
    /** `budget_tokens` only switches thinking on: Ollama has no thinking budget. */
    z.object({ type: z.literal("enabled"), budget_tokens: z.int().check(z.minimum(0)) }),
    z.object({ type: z.literal("adaptive") }),
    z.object({ type: z.literal("between_tools") }),
    z.object({ type: z.literal("disabled") }),
  ],
  { error: 'thinking.type must be "enabled", "adaptive", "between_tools" or "disabled".' },
);

export const EFFORTS = ["low", "medium", "high", "xhigh", "max"] as const;

const outputConfig = z.object({
  effort: z.nullish(z.enum(EFFORTS)),
  format: z.nullish(
    z.discriminatedUnion("type", [z.object({ type: z.literal("json_schema"), schema: z.record(z.string(), z.unknown()) })], {
      error: 'output_config.format.type must be "json_schema".',
    }),
  ),
});

/** What both routes read: the prompt (system, messages, tools) and what shapes it (tool_choice, thinking). */
const promptShape = {
  model: z.string().check(z.minLength(1, "model is required")),
  messages: z.array(message).check(z.minLength(1, "at least one message is required")),
  system: z.optional(z.union([z.string(), z.array(text)])),
  tools: z.optional(z.array(tool)),
  tool_choice: z.optional(toolChoice),
  thinking: z.optional(thinkingConfig),
  output_config: z.optional(outputConfig),
};

/** POST /v1/messages/count_tokens. */
export const countTokensSchema = z.object(promptShape);

const unit = () => z.number().check(z.gte(0), z.lte(1));

/** POST /v1/messages. */
export const messagesRequestSchema = z.object({
  ...promptShape,
  /** Required, as at Anthropic: the most the answer may use (a ceiling: see GenerationSpec.capIsCeiling). */
  max_tokens: z.int().check(z.minimum(1)),
  stop_sequences: z.optional(z.array(z.string())),
  temperature: z.optional(unit()),
  top_p: z.optional(unit()),
  top_k: z.optional(z.int().check(z.minimum(0))),
  stream: z.optional(z.boolean()),
  metadata: z.optional(z.object({ user_id: z.nullish(z.string()) })),
  /** Claude Code's context editing (clearing old thinking and tool results): accepted; nothing is edited here. */
  context_management: z.optional(z.unknown()),
});

export type CountTokensRequest = z.output<typeof countTokensSchema>;
export type MessagesRequest = z.output<typeof messagesRequestSchema>;
export type AnthropicMessage = z.output<typeof message>;
export type ContentBlock = z.output<typeof block>;
export type KnownBlock = z.output<typeof knownBlock>;
export type ToolResultPart = z.output<typeof toolResultPart>;
export type AnthropicTool = z.output<typeof tool>;
export type CustomTool = z.output<typeof customTool>;
export type ImageSource = z.output<typeof imageSource>;

/** Narrows a content block to the kinds the mapping reads (a hosted tool's block has any other `type`). */
export const isKnownBlock = (entry: ContentBlock): entry is KnownBlock => KNOWN_BLOCK_TYPES.has(entry.type);

/** Narrows a tool to a client tool (no `type`, or `"custom"`): the ones offered to the model. */
export const isCustomTool = (entry: AnthropicTool): entry is CustomTool => entry.type === undefined || entry.type === null || entry.type === "custom";
