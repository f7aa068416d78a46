import { invalidRequest } from "../../core/errors.ts";
import { type ImageRef, preparedImage } from "../../core/images.ts";
import { answerCap, type ModelDefaults, type ModelLimits } from "../../core/model-settings.ts";
import type { NativeChatRequest, NativeMessage, NativeTool, NativeToolCall } from "../../core/native.ts";
import { estimateTextTokens, IMAGE_TOKENS } from "../../core/usage.ts";
import { applyGenerationSettings, parseToolArguments } from "../openai/options.ts";
import { type ContentPart, isKnownItem, isKnownTool, type KnownItem, type KnownTool, type ResponsesRequest } from "./schema.ts";

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

/**
 * Namespaced tools. Ollama's tools are a flat list of functions, so the function `fn` of the namespace tool `ns`
 * is offered to the model as `ns__fn` (the separator MCP clients use, which models know from their training). A
 * call the model makes to `ns__fn` goes back to the client the way openai-node represents namespaced calls: a
 * `function_call` item (`custom_tool_call` for a custom tool) with `name: "fn"` and `namespace: "ns"` (see
 * `ResponseFunctionToolCall.namespace` / `ResponseCustomToolCall.namespace`); `responsesToolNames` gives the
 * answer side that map. A call sent back in the input with a `namespace` is renamed the same way.
 */
const NAMESPACE_SEPARATOR = "__";

const flatName = (name: string, namespace: string | null | undefined) => (namespace ? `${namespace}${NAMESPACE_SEPARATOR}${name}` : name);

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
// Tools

/** A tool as offered to the model, with what it was in the request. */
interface Offered {
  native: NativeTool;
  kind: "function" | "custom";
  /** The name in the request (without its namespace). */
  name: string;
}

type FunctionTool = Extract<KnownTool, { type: "function" }>;
type CustomTool = Extract<KnownTool, { type: "custom" }>;

function knownTools(body: ResponsesRequest): KnownTool[] {
  return (body.tools ?? []).filter(isKnownTool);
}

/** Every function the model is offered: functions, custom tools, the members of namespaces; hosted tools dropped. */
function offeredTools(body: ResponsesRequest): Offered[] {
  const offered: Offered[] = [];
  for (const entry of knownTools(body)) {
    if (entry.type === "namespace") {
      for (const inner of entry.tools) offered.push(offer(inner, flatName(inner.name, entry.name)));
    } else offered.push(offer(entry, entry.name));
  }
  return offered;
}

function offer(entry: FunctionTool | CustomTool, name: string): Offered {
  const description = entry.description ?? undefined;
  if (entry.type === "function") {
    return {
      kind: "function",
      name: entry.name,
      native: {
        type: "function",
        function: { name, ...(description !== undefined && { description }), parameters: entry.parameters ?? { type: "object", properties: {} } },
      },
    };
  }
  // A freeform (custom) tool takes one string: offered as a function of one string parameter `input`.
  return {
    kind: "custom",
    name: entry.name,
    native: {
      type: "function",
      function: {
        name,
        ...(description !== undefined && { description }),
        parameters: { type: "object", properties: { input: { type: "string", description: inputDescription(entry.format) } }, required: ["input"] },
      },
    },
  };
}

/** A custom tool's grammar, if it has one, is what the model must write: say so in the parameter's description. */
function inputDescription(format: CustomTool["format"]): string {
  if (format?.type === "grammar" && typeof format.definition === "string") {
    const grammar = typeof format.syntax === "string" ? `${format.syntax} grammar` : "grammar";
    return `The raw input for the tool, matching this ${grammar}:\n${format.definition}`;
  }
  return "The raw input for the tool.";
}

interface NamedChoice {
  type: string;
  name?: string | null;
}

const matches = (tool: Offered, choice: NamedChoice) => tool.kind === choice.type && (tool.native.function.name === choice.name || tool.name === choice.name);

/**
 * `tool_choice`: "none" sends no tools; a named function or custom tool sends only that one (a namespace member
 * may be named flat, `ns__fn`, or by its own name); `allowed_tools` sends the listed ones; "auto", "required" and
 * hosted tools' choices send all (Ollama cannot force a call).
 */
function selectTools(body: ResponsesRequest): NativeTool[] | undefined {
  const choice = body.tool_choice;
  if (choice === "none") return undefined;
  let offered = offeredTools(body);
  if (choice && typeof choice === "object") {
    if (choice.type === "function" || choice.type === "custom") {
      const named = choice as NamedChoice;
      offered = offered.filter((tool) => matches(tool, named));
      if (!offered.length) {
        throw invalidRequest(`tool_choice names the ${named.type} tool ${JSON.stringify(named.name)}, which is not in tools.`, "tool_choice.name");
      }
    } else if (choice.type === "allowed_tools") {
      const allowed = (choice as { tools: NamedChoice[] }).tools;
      offered = offered.filter((tool) => allowed.some((entry) => matches(tool, entry)));
    }
  }
  return offered.length ? offered.map((tool) => tool.native) : undefined;
}

/**
 * What the answer side needs to map the model's calls back: the native names of custom tools (a call becomes a
 * `custom_tool_call` with `input` = the call's `input` argument) and the flat names of namespace members
 * (`ns__fn` → `{namespace: "ns", name: "fn"}`: a call item with that `name` and `namespace`, as openai-node's
 * `ResponseFunctionToolCall.namespace` has it). A namespaced custom tool is in both.
 */
export function responsesToolNames(body: ResponsesRequest): {
  custom: ReadonlySet<string>;
  namespaced: ReadonlyMap<string, { namespace: string; name: string }>;
} {
  const custom = new Set<string>();
  const namespaced = new Map<string, { namespace: string; name: string }>();
  for (const entry of knownTools(body)) {
    if (entry.type === "custom") custom.add(entry.name);
    if (entry.type !== "namespace") continue;
    for (const inner of entry.tools) {
      const flat = flatName(inner.name, entry.name);
      namespaced.set(flat, { namespace: entry.name, name: inner.name });
      if (inner.type === "custom") custom.add(flat);
    }
  }
  return { custom, namespaced };
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
