import { closedEarly, failedDuringGeneration } from "../../core/errors.ts";
import type { NativeChatChunk, NativeMetrics, NativeToolCall } from "../../core/native.ts";
import { tokensForChars, toolCallTokens, type Usage, usageOf, usageSoFar } from "../../core/usage.ts";
import { newToolCallId } from "../openai/common.ts";

/**
 * The answer side of the Responses API shared by the stream encoder and the aggregator: the Response object, the
 * output items, and `OutputAssembler`, which turns native /api/chat lines into output items in one place so that
 * the streamed items and the whole answer's items are the same by construction.
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

/** What happened to the output, for the stream encoder (the aggregator ignores it). */
export type OutputEvent =
  | { kind: "reasoning.open"; index: number; item: ReasoningItem }
  | { kind: "reasoning.delta"; index: number; item: ReasoningItem; delta: string }
  | { kind: "reasoning.close"; index: number; item: ReasoningItem; text: string }
  | { kind: "message.open"; index: number; item: MessageItem }
  | { kind: "message.delta"; index: number; item: MessageItem; delta: string }
  | { kind: "message.close"; index: number; item: MessageItem; text: string }
  | { kind: "tool"; index: number; item: FunctionCallItem | CustomToolCallItem };

type Open = { kind: "reasoning"; item: ReasoningItem; text: string } | { kind: "message"; item: MessageItem; text: string };

const NO_EVENTS = (): void => {};

/**
 * Native lines → output items, in order: thinking becomes a reasoning item, text a message item (a switch between
 * them closes the open one), each tool call (sent whole) its own item. Counts what was generated for usage so far.
 */
export class OutputAssembler {
  readonly #meta: ResponsesMeta;
  /** The closed items, in order. */
  readonly output: OutputItem[] = [];
  #open: Open | null = null;
  #thinkingChars = 0;
  #generated = 0;
  #final: NativeChatChunk | null = null;

  constructor(meta: ResponsesMeta) {
    this.#meta = meta;
  }

  /** The final line, once it came. */
  get final(): NativeChatChunk | null {
    return this.#final;
  }

  /** About the tokens generated so far (a line of text or thinking each, a tool call by its size). */
  get generated(): number {
    return this.#generated;
  }

  /** One native line (not an error line). Closes the open item on the final line. */
  push(chunk: NativeChatChunk, on: (event: OutputEvent) => void = NO_EVENTS): void {
    if (this.#final) return;
    const message = chunk.message;
    if (message?.content || message?.thinking) this.#generated++;
    if (message?.thinking) {
      this.#thinkingChars += message.thinking.length;
      const open = this.#openAs("reasoning", on);
      open.text += message.thinking;
      on({ kind: "reasoning.delta", index: this.output.length, item: open.item as ReasoningItem, delta: message.thinking });
    }
    if (message?.content) {
      const open = this.#openAs("message", on);
      open.text += message.content;
      on({ kind: "message.delta", index: this.output.length, item: open.item as MessageItem, delta: message.content });
    }
    if (message?.tool_calls?.length) {
      this.#generated += toolCallTokens(message.tool_calls);
      this.#close(on, "completed");
      for (const call of message.tool_calls) {
        const item = toOutputToolCall(call, this.#meta.tools);
        on({ kind: "tool", index: this.output.length, item });
        this.output.push(item);
      }
    }
    if (chunk.done) {
      this.#close(on, chunk.done_reason === "length" ? "incomplete" : "completed");
      this.#final = chunk;
    }
  }

  /** The Response object once the final line came: "completed", or "incomplete" when the answer hit its cap. */
  response(): ResponseObject | null {
    const final = this.#final;
    if (!final) return null;
    const incomplete = final.done_reason === "length";
    return buildResponse(this.#meta, {
      status: incomplete ? "incomplete" : "completed",
      output: this.output,
      usage: responsesUsage(final, this.#thinkingChars),
      incomplete,
    });
  }

  #openAs(kind: Open["kind"], on: (event: OutputEvent) => void): Open {
    if (this.#open?.kind === kind) return this.#open;
    this.#close(on, "completed");
    const index = this.output.length;
    if (kind === "reasoning") {
      const item: ReasoningItem = { type: "reasoning", id: itemId("rs"), summary: [] };
      this.#open = { kind, item, text: "" };
      on({ kind: "reasoning.open", index, item });
    } else {
      const item: MessageItem = { type: "message", id: itemId("msg"), status: "in_progress", role: "assistant", content: [] };
      this.#open = { kind, item, text: "" };
      on({ kind: "message.open", index, item });
    }
    return this.#open;
  }

  #close(on: (event: OutputEvent) => void, status: ItemStatus): void {
    const open = this.#open;
    if (!open) return;
    this.#open = null;
    const index = this.output.length;
    if (open.kind === "reasoning") {
      const item: ReasoningItem = {
        type: "reasoning",
        id: open.item.id,
        summary: [{ type: "summary_text", text: open.text }],
        content: [{ type: "reasoning_text", text: open.text }],
      };
      on({ kind: "reasoning.close", index, item, text: open.text });
      this.output.push(item);
    } else {
      const item: MessageItem = {
        type: "message",
        id: open.item.id,
        status,
        role: "assistant",
        content: [{ type: "output_text", text: open.text, annotations: [], logprobs: [] }],
      };
      on({ kind: "message.close", index, item, text: open.text });
      this.output.push(item);
    }
  }
}

/** Assembles the whole Response object (a non-stream `POST /v1/responses`) from the streamed native lines. */
export class ResponsesAggregator {
  readonly #meta: ResponsesMeta;
  readonly #output: OutputAssembler;

  constructor(meta: ResponsesMeta) {
    this.#meta = meta;
    this.#output = new OutputAssembler(meta);
  }

  get done(): boolean {
    return this.#output.final !== null;
  }

  line(chunk: NativeChatChunk): void {
    if (this.done) return;
    if (typeof chunk.error === "string") throw failedDuringGeneration(chunk.error);
    this.#output.push(chunk);
  }

  /** What the answer used so far (see `usageSoFar`). */
  usage(): Usage {
    return usageSoFar(this.#output.final, this.#output.generated);
  }

  result(): ResponseObject {
    const response = this.#output.response();
    if (!response) throw closedEarly();
    this.#meta.onFinal?.(response);
    return response;
  }
}
