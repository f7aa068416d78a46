import { invalidRequest } from "../../core/errors.ts";
import { type ImageRef, preparedImage } from "../../core/images.ts";
import { answerCap, type ModelDefaults, type ModelLimits } from "../../core/model-settings.ts";
import type { NativeChatRequest, NativeMessage, NativeToolCall } from "../../core/native.ts";
import { estimateTextTokens, IMAGE_TOKENS } from "../../core/usage.ts";
import { applyGenerationSettings, parseToolArguments } from "../openai/options.ts";
import { type ContentPart, isKnownItem, type KnownItem, type ResponsesRequest } from "./schema.ts";
import { flatName, knownTools, selectTools } from "./tools.ts";

/** What the pure translation needs besides the body: the resolved native model and the fetched remote images. */
export interface ResponsesTranslationContext {
  model: string;
  defaults?: ModelDefaults;
  /** MODEL_LIMITS' entry for the model: held over MODEL_DEFAULTS and the client's values. */
  limits?: ModelLimits;
  /**
   * `image_url` value → its base64: `collectImages(responsesImageRefs(body), …)`'s answer, prepared once per request
   * by the route. Its entries are used as they are; a data URI missing from it is checked here, an http(s) URL
   * missing from it is refused.
   */
  remoteImages?: ReadonlyMap<string, string>;
}

/** OpenAI Responses request → Ollama /api/chat request. Upstream is always streamed. */
export function toNativeResponses(body: ResponsesRequest, context: ResponsesTranslationContext): NativeChatRequest {
  const messages: NativeMessage[] = [];
  if (body.instructions) messages.push({ role: "system", content: body.instructions });
  messages.push(...toNativeMessages(body.input, context.remoteImages));
  if (!messages.length) throw invalidRequest("input is required: send a string or a list of input items.", "input");

  const native: NativeChatRequest = { model: context.model, messages, stream: true };
  const tools = selectTools(body);
  if (tools) native.tools = tools;
  const format = toFormat(body.text?.format);
  if (format !== undefined) native.format = format;
  applyGenerationSettings(native, body, body.max_output_tokens, context);
  return native;
}

function toFormat(format: NonNullable<ResponsesRequest["text"]>["format"]): NativeChatRequest["format"] | undefined {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return "json";
  return format.schema;
}

// ---------------------------------------------------------------------------------------------------------------
// Input items → native messages

type Message = Extract<KnownItem, { role: string }>;
type ToolOutput = Extract<KnownItem, { type: "function_call_output" | "custom_tool_call_output" }>;

function toNativeMessages(input: ResponsesRequest["input"], remoteImages: ReadonlyMap<string, string> | undefined): NativeMessage[] {
  if (input === null || input === undefined) return [];
  if (typeof input === "string") return [{ role: "user", content: input }];
  const out: NativeMessage[] = [];
  /** call_id → the tool's native name, for the tool messages that answer it. */
  const callNames = new Map<string, string>();
  /** Reasoning items waiting for the assistant message they belong to (the next one). */
  let thinking: string[] = [];
  const giveThinking = (message: NativeMessage) => {
    if (!thinking.length) return;
    const text = thinking.join("\n");
    message.thinking = message.thinking ? `${message.thinking}\n${text}` : text;
    thinking = [];
  };

  input.forEach((item, i) => {
    if (!isKnownItem(item)) return; // hosted items (web_search_call, item_reference, …) carry nothing for the model
    const at = `input[${i}]`;
    switch (item.type) {
      case undefined:
      case "message": {
        const native = messageOf(item as Message, at, remoteImages);
        if (native.role === "assistant") giveThinking(native);
        else thinking = [];
        out.push(native);
        return;
      }
      case "reasoning": {
        const texts = item.summary.map((part) => part.text);
        if (!texts.length && item.content) texts.push(...item.content.map((part) => part.text));
        const text = texts.filter((t) => t !== "").join("\n");
        if (text) thinking.push(text);
        return;
      }
      case "function_call":
      case "custom_tool_call": {
        const name = flatName(item.name, item.namespace);
        const call: NativeToolCall =
          item.type === "function_call"
            ? { id: item.call_id, function: { name, arguments: parseToolArguments(item.arguments, `${at}.arguments`) } }
            : { id: item.call_id, function: { name, arguments: { input: item.input } } };
        callNames.set(item.call_id, name);
        // Consecutive calls, and the text the same answer gave before them, are one assistant turn.
        const last = out.at(-1);
        if (last?.role === "assistant") {
          giveThinking(last);
          (last.tool_calls ??= []).push(call);
        } else {
          const native: NativeMessage = { role: "assistant", content: "", tool_calls: [call] };
          giveThinking(native);
          out.push(native);
        }
        return;
      }
      case "function_call_output":
      case "custom_tool_call_output": {
        thinking = [];
        out.push(toolMessage(item, at, callNames, remoteImages));
        return;
      }
      default:
        return;
    }
  });
  return out;
}

function messageOf(item: Message, at: string, remoteImages: ReadonlyMap<string, string> | undefined): NativeMessage {
  const role = item.role === "system" || item.role === "developer" ? "system" : item.role;
  if (typeof item.content === "string") return { role, content: item.content };
  const { text, images } = partsOf(item.content, `${at}.content`, remoteImages);
  const native: NativeMessage = { role, content: text };
  if (images.length) native.images = images;
  return native;
}

function toolMessage(
  item: ToolOutput,
  at: string,
  callNames: ReadonlyMap<string, string>,
  remoteImages: ReadonlyMap<string, string> | undefined,
): NativeMessage {
  const native: NativeMessage = { role: "tool", content: "" };
  if (typeof item.output === "string") native.content = item.output;
  else {
    const { text, images } = partsOf(item.output, `${at}.output`, remoteImages);
    native.content = text;
    if (images.length) native.images = images;
  }
  const name = callNames.get(item.call_id);
  if (name) native.tool_name = name;
  native.tool_call_id = item.call_id;
  return native;
}

/** Text parts of one item stay one message, joined by a newline; images go to `images` as base64. */
function partsOf(parts: readonly ContentPart[], at: string, remoteImages: ReadonlyMap<string, string> | undefined): { text: string; images: string[] } {
  const texts: string[] = [];
  const images: string[] = [];
  parts.forEach((part, j) => {
    switch (part.type) {
      case "input_text":
      case "output_text":
        texts.push(part.text);
        return;
      case "refusal":
        texts.push(part.refusal);
        return;
      case "input_image":
        images.push(imageOf(part.image_url, `${at}[${j}].image_url`, remoteImages));
        return;
      case "input_file":
        throw invalidRequest("input_file parts are not supported: send the file's text as input_text.", `${at}[${j}]`, "unsupported_parameter");
    }
  });
  return { text: texts.join("\n"), images };
}

function imageOf(url: string | null | undefined, param: string, remoteImages: ReadonlyMap<string, string> | undefined): string {
  if (!url) throw invalidRequest("input_image needs an image_url (a data URI or an http(s) URL); file_id is not supported.", param);
  return preparedImage(url, param, remoteImages);
}

// ---------------------------------------------------------------------------------------------------------------
// Images, estimates, the answer cap

/** Every image of the request in order (each occurrence), with its param path: what `collectImages` takes. */
export function responsesImageRefs(body: ResponsesRequest): ImageRef[] {
  const found: ImageRef[] = [];
  if (!Array.isArray(body.input)) return found;
  body.input.forEach((item, i) => {
    if (!isKnownItem(item)) return;
    let parts: readonly ContentPart[] | null = null;
    let at = "";
    if (item.type === undefined || item.type === "message") {
      const content = (item as Message).content;
      if (typeof content !== "string") [parts, at] = [content, `input[${i}].content`];
    } else if (item.type === "function_call_output" || item.type === "custom_tool_call_output") {
      if (typeof item.output !== "string") [parts, at] = [item.output, `input[${i}].output`];
    }
    parts?.forEach((part, j) => {
      if (part.type === "input_image" && part.image_url) found.push({ url: part.image_url, param: `${at}[${j}].image_url` });
    });
  });
  return found;
}

/** The prompt estimate admission charges before the backend counts: text ÷ 4, 768 an image, tool schemas by their JSON. */
export function estimateResponsesPrompt(body: ResponsesRequest): number {
  const texts: string[] = [];
  let images = 0;
  if (body.instructions) texts.push(body.instructions);
  const addParts = (parts: readonly ContentPart[]) => {
    for (const part of parts) {
      if (part.type === "input_image") images++;
      else if (part.type === "refusal") texts.push(part.refusal);
      else if (part.type !== "input_file") texts.push(part.text);
    }
  };
  if (typeof body.input === "string") texts.push(body.input);
  else if (body.input) {
    for (const item of body.input) {
      if (!isKnownItem(item)) continue;
      switch (item.type) {
        case undefined:
        case "message": {
          const content = (item as Message).content;
          if (typeof content === "string") texts.push(content);
          else addParts(content);
          break;
        }
        case "function_call":
          texts.push(item.name, item.arguments);
          break;
        case "custom_tool_call":
          texts.push(item.name, item.input);
          break;
        case "function_call_output":
        case "custom_tool_call_output":
          if (typeof item.output === "string") texts.push(item.output);
          else addParts(item.output);
          break;
        case "reasoning":
          for (const part of item.summary) texts.push(part.text);
          break;
      }
    }
  }
  const tools = knownTools(body);
  const toolTokens = tools.length ? estimateTextTokens(JSON.stringify(tools)) : 0;
  return estimateTextTokens(texts.join("\n")) + images * IMAGE_TOKENS + toolTokens;
}

/** The answer's ceiling the client asked for: `max_output_tokens`, else a usable `options.num_predict`, else null. */
export function responsesAnswerCap(body: ResponsesRequest): number | null {
  return body.max_output_tokens ?? answerCap(body.options);
}
