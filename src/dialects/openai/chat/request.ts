import { invalidRequest } from "../../../core/errors.ts";
import { type ImageRef, preparedImage } from "../../../core/images.ts";
import type { ModelDefaults, ModelLimits } from "../../../core/model-settings.ts";
import type { NativeChatRequest, NativeMessage, NativeTool, NativeToolCall } from "../../../core/native.ts";
import { applyGenerationSettings, parseToolArguments } from "../options.ts";
import type { ChatMessage, ChatRequest } from "./schema.ts";

/** What the pure translation needs besides the body: the resolved native model and the fetched remote images. */
export interface ChatTranslationContext {
  model: string;
  defaults?: ModelDefaults;
  /** MODEL_LIMITS' entry for the model: held over MODEL_DEFAULTS and the client's values. */
  limits?: ModelLimits;
  /**
   * `image_url` value → its base64: `collectImages(chatImageRefs(messages), …)`'s answer, prepared once per request
   * by the route (I/O and the image budget stay out of this module). Its entries are used as they are, not checked
   * again; a data URI missing from it is checked here, an http(s) URL missing from it is refused.
   */
  remoteImages?: ReadonlyMap<string, string>;
}

/** OpenAI chat request → Ollama /api/chat request. Upstream is always streamed; the Worker assembles non-stream answers. */
export function toNativeChat(body: ChatRequest, context: ChatTranslationContext): NativeChatRequest {
  if (body.n !== undefined && body.n !== null && body.n > 1) {
    throw invalidRequest("n > 1 is not supported: Ollama returns one choice per request. Send n separate requests.", "n", "unsupported_parameter");
  }
  if (body.top_logprobs !== undefined && body.top_logprobs !== null && body.logprobs !== true) {
    throw invalidRequest("top_logprobs requires logprobs to be true.", "top_logprobs");
  }
  const native: NativeChatRequest = {
    model: context.model,
    messages: toNativeMessages(body.messages, context.remoteImages),
    stream: true,
  };
  const tools = selectTools(body);
  if (tools) native.tools = tools;
  const format = toFormat(body.response_format);
  if (format !== undefined) native.format = format;
  applyGenerationSettings(native, body, body.max_completion_tokens ?? body.max_tokens, context);
  if (body.logprobs) {
    native.logprobs = true;
    if (body.top_logprobs) native.top_logprobs = body.top_logprobs;
  }
  return native;
}

function toFormat(format: ChatRequest["response_format"]): NativeChatRequest["format"] | undefined {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return "json";
  return format.json_schema.schema;
}

/** `tool_choice`: "none" sends no tools, a named function sends only that tool, "auto"/"required" send all. */
function selectTools(body: ChatRequest): NativeTool[] | undefined {
  const tools = body.tools;
  const choice = body.tool_choice;
  if (!tools?.length) {
    if (choice === "required" || (choice && typeof choice === "object")) {
      throw invalidRequest("tool_choice requires tools: send the functions the model may call in tools.", "tool_choice");
    }
    return undefined;
  }
  if (choice === "none") return undefined;
  const native = tools.map(
    (tool): NativeTool => ({
      type: "function",
      function: {
        name: tool.function.name,
        ...(tool.function.description !== undefined && { description: tool.function.description }),
        parameters: tool.function.parameters ?? { type: "object", properties: {} },
      },
    }),
  );
  if (choice && typeof choice === "object") {
    const chosen = native.filter((tool) => tool.function.name === choice.function.name);
    if (!chosen.length) {
      throw invalidRequest(`tool_choice names the function ${JSON.stringify(choice.function.name)}, which is not in tools.`, "tool_choice.function.name");
    }
    return chosen;
  }
  return native;
}

type Part = { type: string; text?: string; refusal?: string };

/** Text parts of one message stay one message, joined by a newline. */
function textOf(content: string | readonly Part[] | null | undefined): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  const texts: string[] = [];
  for (const part of content) {
    if (part.type === "text") texts.push(part.text ?? "");
    else if (part.type === "refusal") texts.push(part.refusal ?? "");
  }
  return texts.join("\n");
}

export function toNativeMessages(messages: readonly ChatMessage[], remoteImages?: ReadonlyMap<string, string>): NativeMessage[] {
  const toolNames = new Map<string, string>();
  return messages.map((message, index): NativeMessage => {
    const at = `messages[${index}]`;
    switch (message.role) {
      case "system":
      case "developer":
        return { role: "system", content: textOf(message.content) };
      case "user":
        return userMessage(message.content, at, remoteImages);
      case "assistant": {
        const native: NativeMessage = { role: "assistant", content: textOf(message.content) };
        const thinking = message.reasoning_content ?? message.reasoning;
        if (thinking) native.thinking = thinking;
        if (message.tool_calls?.length) {
          native.tool_calls = message.tool_calls.map((call, j) => {
            toolNames.set(call.id, call.function.name);
            return toNativeToolCall(call, `${at}.tool_calls[${j}].function.arguments`);
          });
        }
        return native;
      }
      case "tool": {
        const native: NativeMessage = { role: "tool", content: textOf(message.content) };
        const name = message.name ?? (message.tool_call_id ? toolNames.get(message.tool_call_id) : undefined);
        if (name) native.tool_name = name;
        if (message.tool_call_id) native.tool_call_id = message.tool_call_id;
        return native;
      }
      case "function":
        return { role: "tool", content: message.content ?? "", tool_name: message.name };
      default:
        // The schema admits no other role; this keeps the mapping total should one be added there.
        throw invalidRequest("Unsupported message role.", `${at}.role`);
    }
  });
}

function userMessage(
  content: Extract<ChatMessage, { role: "user" }>["content"],
  at: string,
  remoteImages: ReadonlyMap<string, string> | undefined,
): NativeMessage {
  if (typeof content === "string") return { role: "user", content };
  const images: string[] = [];
  content.forEach((part, j) => {
    if (part.type !== "image_url") return;
    images.push(preparedImage(imageUrlOf(part), `${at}.content[${j}].image_url`, remoteImages));
  });
  const native: NativeMessage = { role: "user", content: textOf(content) };
  if (images.length) native.images = images;
  return native;
}

function toNativeToolCall(call: { id: string; function: { name: string; arguments: string } }, param: string): NativeToolCall {
  return { id: call.id, function: { name: call.function.name, arguments: parseToolArguments(call.function.arguments, param) } };
}

const imageUrlOf = (part: { image_url: string | { url: string } }) => (typeof part.image_url === "string" ? part.image_url : part.image_url.url);

/** Every image of the request in order (each occurrence), with its param path: what `collectImages` takes. */
export function chatImageRefs(messages: readonly ChatMessage[]): ImageRef[] {
  const found: ImageRef[] = [];
  messages.forEach((message, i) => {
    if (message.role !== "user" || typeof message.content === "string") return;
    message.content.forEach((part, j) => {
      if (part.type === "image_url") found.push({ url: imageUrlOf(part), param: `messages[${i}].content[${j}].image_url` });
    });
  });
  return found;
}
