import { closedEarly, failedDuringGeneration } from "../../core/errors.ts";
import type { NativeChatChunk } from "../../core/native.ts";
import { type Usage, usageSoFar } from "../../core/usage.ts";
import { type AnthropicMessage, type AnthropicMeta, MessageAssembler, type StreamEvent } from "./answer.ts";

/**
 * Assembles the whole Message (a non-stream `POST /v1/messages`) from the streamed native lines: the assembler's
 * events, accumulated the way Anthropic's SDK accumulates a stream (`MessageStream`), so a stream and a whole
 * answer of the same lines are the same Message.
 */
export class AnthropicAggregator {
  readonly #assembler: MessageAssembler;
  #message: AnthropicMessage | null = null;
  /** The open tool_use block's input JSON, as its deltas brought it. */
  #json = "";

  constructor(meta: AnthropicMeta) {
    this.#assembler = new MessageAssembler(meta, (event) => this.#apply(event));
  }

  get done(): boolean {
    return this.#assembler.finished;
  }

  line(chunk: NativeChatChunk): void {
    if (this.done) return;
    if (typeof chunk.error === "string") throw failedDuringGeneration(chunk.error);
    this.#assembler.push(chunk);
  }

  /** What the answer used so far (see `usageSoFar`). */
  usage(): Usage {
    return usageSoFar(this.#assembler.final, this.#assembler.generated);
  }

  result(): AnthropicMessage {
    if (!this.done || !this.#message) throw closedEarly();
    return this.#message;
  }

  #apply(event: StreamEvent): void {
    switch (event.type) {
      case "message_start":
        this.#message = { ...event.message, content: [] };
        return;
      case "content_block_start":
        this.#message!.content.push({ ...event.content_block });
        this.#json = "";
        return;
      case "content_block_delta": {
        const block = this.#message!.content[event.index]!;
        const delta = event.delta;
        if (delta.type === "text_delta" && block.type === "text") block.text += delta.text;
        else if (delta.type === "thinking_delta" && block.type === "thinking") block.thinking += delta.thinking;
        else if (delta.type === "signature_delta" && block.type === "thinking") block.signature = delta.signature;
        else if (delta.type === "input_json_delta") this.#json += delta.partial_json;
        return;
      }
      case "content_block_stop": {
        const block = this.#message!.content[event.index]!;
        if (block.type === "tool_use" && this.#json !== "") block.input = JSON.parse(this.#json) as Record<string, unknown>;
        return;
      }
      case "message_delta":
        this.#message!.stop_reason = event.delta.stop_reason;
        this.#message!.stop_sequence = event.delta.stop_sequence;
        this.#message!.usage = { ...this.#message!.usage, ...event.usage };
        return;
      case "message_stop":
        return;
    }
  }
}
