import { closedEarly, failedDuringGeneration } from "../../core/errors.ts";
import type { NativeChatChunk } from "../../core/native.ts";
import { toolCallTokens, type Usage, usageSoFar } from "../../core/usage.ts";
import {
  buildResponse,
  type CustomToolCallItem,
  type FunctionCallItem,
  type ItemStatus,
  itemId,
  type MessageItem,
  type OutputItem,
  type ReasoningItem,
  type ResponseObject,
  type ResponsesMeta,
  responsesUsage,
  toOutputToolCall,
} from "./response-object.ts";

/**
 * The answer side of the Responses API shared by the stream encoder and the aggregator: `OutputAssembler` turns
 * native /api/chat lines into the Response object's output items in one place, so that the streamed items and the
 * whole answer's items are the same by construction.
 */

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
