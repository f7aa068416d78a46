import { invalidRequest } from "../../core/errors.ts";
import { preparedImage } from "../../core/images.ts";
import { applyModelSettings, type ModelDefaults, type ModelLimits } from "../../core/model-settings.ts";
import type { NativeChatRequest, NativeMessage, NativeToolCall, ThinkValue } from "../../core/native.ts";
import { imageUrl } from "./prompt.ts";
import { type AnthropicMessage, type ContentBlock, isKnownBlock, type KnownBlock, type MessagesRequest, type ToolResultPart } from "./schema.ts";
import { selectTools, thinkOf } from "./settings.ts";

/** What the pure translation needs besides the body: the resolved native model and the fetched remote images. */
export interface AnthropicTranslationContext {
  model: string;
  defaults?: ModelDefaults;
  /** MODEL_LIMITS' entry for the model: held over MODEL_DEFAULTS and the client's values. */
  limits?: ModelLimits;
  /**
   * An image's URL (a `url` source, or a `base64` source as a data URI) → its base64: `collectImages(
   * anthropicImageRefs(body), …)`'s answer, prepared once per request by the pipeline. An http(s) URL missing from
   * it is refused.
   */
  remoteImages?: ReadonlyMap<string, string>;
}

/**
 * Anthropic Messages request → Ollama /api/chat request (always streamed upstream). `stop_sequences` are not sent:
 * the answer side watches for them, so it can say which one ended the answer (Ollama cannot), and a model's own stop
 * words set in its Modelfile stay in force (Ollama's `stop` option would replace them).
 */
export function toNativeAnthropic(body: MessagesRequest, context: AnthropicTranslationContext): NativeChatRequest {
  const native: NativeChatRequest = { model: context.model, messages: toNativeMessages(body, context.remoteImages), stream: true };
  const tools = selectTools(body);
  if (tools) native.tools = tools;
  const format = body.output_config?.format;
  if (format) native.format = format.schema;
  const own: Record<string, unknown> = { num_predict: body.max_tokens };
  if (body.temperature !== undefined) own.temperature = body.temperature;
  if (body.top_p !== undefined) own.top_p = body.top_p;
  if (body.top_k !== undefined) own.top_k = body.top_k;
  applyModelSettings(native, own, undefined, context);
  const think: ThinkValue | undefined = thinkOf(body, context.defaults);
  if (think !== undefined) native.think = think;
  return native;
}

/** `system` (a string or text blocks) first, then the messages in order; a `system` message stays where it is. */
function toNativeMessages(body: MessagesRequest, remoteImages: ReadonlyMap<string, string> | undefined): NativeMessage[] {
  const out: NativeMessage[] = [];
  const system = typeof body.system === "string" ? body.system : body.system?.map((part) => part.text).join("\n");
  if (system) out.push({ role: "system", content: system });
  /** tool_use id → the tool's name, for the tool messages that answer it. */
  const toolNames = new Map<string, string>();
  body.messages.forEach((message, i) => {
    const at = `messages[${i}]`;
    if (typeof message.content === "string") {
      out.push({ role: message.role, content: message.content });
      return;
    }
    if (message.role === "system") out.push({ role: "system", content: message.content.map((part) => part.text).join("\n") });
    else if (message.role === "assistant") out.push(assistantMessage(message.content, at, toolNames, remoteImages));
    else out.push(...userMessages(message.content, at, toolNames, remoteImages));
  });
  return out;
}

type Blocks = Exclude<Extract<AnthropicMessage, { role: "user" }>["content"], string>;

/** Text, thinking and tool calls of one assistant turn: one native assistant message. */
function assistantMessage(blocks: Blocks, at: string, toolNames: Map<string, string>, remoteImages: ReadonlyMap<string, string> | undefined): NativeMessage {
  const texts: string[] = [];
  const thinking: string[] = [];
  const images: string[] = [];
  const calls: NativeToolCall[] = [];
  eachKnown(
    blocks,
    (part, param) => {
      switch (part.type) {
        case "text":
          texts.push(part.text);
          return;
        case "thinking":
          if (part.thinking) thinking.push(part.thinking);
          return;
        case "redacted_thinking":
          return; // sealed by another provider: nothing the model can read
        case "tool_use":
          toolNames.set(part.id, part.name);
          calls.push({ id: part.id, function: { name: part.name, arguments: part.input } });
          return;
        case "image":
          images.push(imageOf(part.source, `${param}.source`, remoteImages));
          return;
        case "tool_result":
          throw invalidRequest("tool_result blocks belong in a user message, after the assistant message that called the tool.", param);
        default:
          throw unreadable(part.type, param);
      }
    },
    at,
  );
  const native: NativeMessage = { role: "assistant", content: texts.join("\n") };
  if (thinking.length) native.thinking = thinking.join("\n");
  if (images.length) native.images = images;
  if (calls.length) native.tool_calls = calls;
  return native;
}

/**
 * One user turn: each `tool_result` becomes a native tool message, in place; the text and images around them
 * become user messages (Claude Code sends its tool results first, then reminders as text).
 */
function userMessages(
  blocks: Blocks,
  at: string,
  toolNames: ReadonlyMap<string, string>,
  remoteImages: ReadonlyMap<string, string> | undefined,
): NativeMessage[] {
  const out: NativeMessage[] = [];
  let texts: string[] = [];
  let images: string[] = [];
  const flush = () => {
    if (!texts.length && !images.length) return;
    const native: NativeMessage = { role: "user", content: texts.join("\n") };
    if (images.length) native.images = images;
    out.push(native);
    texts = [];
    images = [];
  };
  eachKnown(
    blocks,
    (part, param) => {
      switch (part.type) {
        case "text":
          texts.push(part.text);
          return;
        case "image":
          images.push(imageOf(part.source, `${param}.source`, remoteImages));
          return;
        case "tool_result":
          flush();
          out.push(toolMessage(part, param, toolNames, remoteImages));
          return;
        case "thinking":
        case "redacted_thinking":
          return; // the model's own thinking is only ever the assistant's
        case "tool_use":
          throw invalidRequest("tool_use blocks belong in an assistant message.", param);
        default:
          throw unreadable(part.type, param);
      }
    },
    at,
  );
  flush();
  // A turn of hosted tools' blocks only still is a turn.
  if (!out.length) out.push({ role: "user", content: "" });
  return out;
}

type ToolResult = Extract<KnownBlock, { type: "tool_result" }>;

/** A tool's result, as the tool message that answers its call; `is_error` is said in the text, which is all a model reads. */
function toolMessage(
  part: ToolResult,
  at: string,
  toolNames: ReadonlyMap<string, string>,
  remoteImages: ReadonlyMap<string, string> | undefined,
): NativeMessage {
  const texts: string[] = [];
  const images: string[] = [];
  if (typeof part.content === "string") texts.push(part.content);
  else {
    part.content?.forEach((inner: ToolResultPart, k) => {
      if (inner.type === "text") texts.push(inner.text);
      else if (inner.type === "tool_reference") texts.push(inner.tool_name);
      else images.push(imageOf(inner.source, `${at}.content[${k}].source`, remoteImages));
    });
  }
  const content = texts.join("\n");
  const native: NativeMessage = { role: "tool", content: part.is_error ? `Error: ${content}` : content };
  if (images.length) native.images = images;
  const name = toolNames.get(part.tool_use_id);
  if (name) native.tool_name = name;
  native.tool_call_id = part.tool_use_id;
  return native;
}

function imageOf(source: Extract<KnownBlock, { type: "image" }>["source"], param: string, remoteImages: ReadonlyMap<string, string> | undefined): string {
  const url = imageUrl(source);
  if (url === null) throw invalidRequest("Image file_id sources (Anthropic's Files API) are not supported: send the image as base64 or a URL.", param);
  return preparedImage(url, param, remoteImages);
}

const unreadable = (type: string, param: string) =>
  invalidRequest(
    `${type} blocks are not supported: the model reads text and images; send the document's text as a text block.`,
    param,
    "unsupported_parameter",
  );

/** The blocks the model can be given (hosted tools' blocks are skipped), each with its param path. */
function eachKnown(blocks: readonly ContentBlock[], visit: (part: KnownBlock, param: string) => void, at: string): void {
  blocks.forEach((part, j) => {
    if (isKnownBlock(part)) visit(part, `${at}.content[${j}]`);
  });
}
