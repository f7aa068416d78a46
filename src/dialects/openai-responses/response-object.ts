import type { NativeMetrics, NativeToolCall } from "../../core/native.ts";
import { tokensForChars, usageOf } from "../../core/usage.ts";
import { newToolCallId } from "../openai/common.ts";

/**
 * The Responses API's objects as the gateway sends them: the Response object, its output items and usage, their
 * ids, and the native tool call → output item mapping. `answer.ts` assembles them from native lines.
 */

/** What every Response object of one request repeats. */
export interface ResponsesMeta {
  /** "resp_…" (`responseId()`). */
  id: string;
  /** Unix seconds. */
  createdAt: number;
  /** The name the client sent (an alias stays an alias). */
  model: string;
  /** Request fields the Response object repeats (instructions, tools, tool_choice, temperature, …). */
  echo: Record<string, unknown>;
  /**
   * How tool calls come back: a name in `custom` is a freeform tool (a `custom_tool_call` with its `input`); a flat
   * name in `namespaced` (`ns__fn`) is a namespace's function (its own name and a `namespace` field).
   */
  tools: { custom: ReadonlySet<string>; namespaced: ReadonlyMap<string, { namespace: string; name: string }> };
  /** Told the final Response object (completed, incomplete or failed), once: where it is stored. */
  onFinal?: (response: ResponseObject) => void;
}

export type ItemPrefix = "msg" | "fc" | "ctc" | "rs";

const hex = () => crypto.randomUUID().replaceAll("-", "");

export function responseId(): string {
  return `resp_${hex()}`;
}

export function itemId(prefix: ItemPrefix): string {
  return `${prefix}_${hex()}`;
}

export type ItemStatus = "in_progress" | "completed" | "incomplete";

export interface OutputText {
  type: "output_text";
  text: string;
  annotations: [];
  logprobs: [];
}

export interface MessageItem {
  type: "message";
  id: string;
  status: ItemStatus;
  role: "assistant";
  content: OutputText[];
}

export interface SummaryText {
  type: "summary_text";
  text: string;
}

/**
 * The model's thinking. Ollama's thinking is the raw chain of thought: it is `content` (`reasoning_text`, as the
 * reference carries raw reasoning), and, since a local model writes no separate summary, also the one summary
 * part — what clients such as Codex CLI show.
 */
export interface ReasoningItem {
  type: "reasoning";
  id: string;
  summary: SummaryText[];
  content?: { type: "reasoning_text"; text: string }[];
}

export interface FunctionCallItem {
  type: "function_call";
  id: string;
  call_id: string;
  name: string;
  namespace?: string;
  arguments: string;
  status: ItemStatus;
}

export interface CustomToolCallItem {
  type: "custom_tool_call";
  id: string;
  call_id: string;
  name: string;
  namespace?: string;
  input: string;
}

export type OutputItem = MessageItem | ReasoningItem | FunctionCallItem | CustomToolCallItem;

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = "in_progress" | "completed" | "incomplete" | "failed";

export interface ResponseObject {
  id: string;
  object: "response";
  created_at: number;
  status: ResponseStatus;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: "max_output_tokens" } | null;
  model: string;
  output: OutputItem[];
  usage: ResponsesUsage | null;
  [echoed: string]: unknown;
}

/** The Response object in any state; the echoed request fields never replace the fields computed here. */
export function buildResponse(
  meta: ResponsesMeta,
  state: {
    status: ResponseStatus;
    output: OutputItem[];
    usage: ResponsesUsage | null;
    error?: { code: string; message: string } | null;
    incomplete?: boolean;
  },
): ResponseObject {
  const response: ResponseObject = {
    id: meta.id,
    object: "response",
    created_at: meta.createdAt,
    status: state.status,
    error: state.error ?? null,
    incomplete_details: state.incomplete ? { reason: "max_output_tokens" } : null,
    model: meta.model,
    output: state.output,
    usage: state.usage,
  };
  for (const [key, value] of Object.entries(meta.echo)) {
    if (!(key in response)) response[key] = value;
  }
  return response;
}

/**
 * The final line's counts. Ollama does not count thinking tokens apart: they are estimated as the thinking's
 * characters ÷ 4 (rounded up), capped at the output tokens.
 */
export function responsesUsage(final: NativeMetrics, thinkingChars: number): ResponsesUsage {
  const usage = usageOf(final);
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: Math.min(tokensForChars(thinkingChars), usage.completion_tokens) },
    total_tokens: usage.total_tokens,
  };
}

/** A native tool call → its output item (completed), as the request's tools say it comes back. */
export function toOutputToolCall(call: NativeToolCall, tools: ResponsesMeta["tools"]): FunctionCallItem | CustomToolCallItem {
  const flat = call.function.name;
  const scoped = tools.namespaced.get(flat);
  const name = scoped?.name ?? flat;
  const callId = call.id || newToolCallId();
  const args = call.function.arguments ?? {};
  if (tools.custom.has(flat)) {
    const input = args.input;
    const item: CustomToolCallItem = { type: "custom_tool_call", id: itemId("ctc"), call_id: callId, name, input: "" };
    if (scoped) item.namespace = scoped.namespace;
    item.input = typeof input === "string" ? input : input === undefined ? "" : JSON.stringify(input);
    return item;
  }
  const item: FunctionCallItem = { type: "function_call", id: itemId("fc"), call_id: callId, name, arguments: "", status: "completed" };
  if (scoped) item.namespace = scoped.namespace;
  item.arguments = JSON.stringify(args);
  return item;
}

/** A tool call item as `response.output_item.added` shows it: its arguments (or input) still empty. */
export function inProgressToolCall(item: FunctionCallItem | CustomToolCallItem): FunctionCallItem | CustomToolCallItem {
  return item.type === "function_call" ? { ...item, arguments: "", status: "in_progress" } : { ...item, input: "" };
}
