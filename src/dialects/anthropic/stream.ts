import { closedEarly, failedDuringGeneration } from "../../core/errors.ts";
import type { NativeChatChunk } from "../../core/native.ts";
import type { SseLineEncoder } from "../../core/stream.ts";
import { type Usage, usageSoFar } from "../../core/usage.ts";
import { type AnthropicMeta, MessageAssembler, type StreamEvent } from "./answer.ts";
import { anthropicErrorBody } from "./errors.ts";

/** Anthropic's keep-alive event, sent while the backend is silent (its SDK skips it by name). */
const PING = `event: ping\ndata: ${JSON.stringify({ type: "ping" })}\n\n`;

/**
 * Native /api/chat lines → Anthropic's named SSE events (`event: <type>` + `data: {"type": <type>, …}`), in the order
 * `MessageAssembler` gives them, ending in `message_stop`; a failure after the stream started is a final
 * `event: error` with Anthropic's error object. There is no `[DONE]` line.
 */
export class AnthropicSseEncoder implements SseLineEncoder<NativeChatChunk> {
  readonly heartbeat = PING;
  readonly #assembler: MessageAssembler;
  #failed = false;
  #out = "";

  constructor(meta: AnthropicMeta) {
    this.#assembler = new MessageAssembler(meta, (event) => this.#event(event));
  }

  /** True once `message_stop` or an error event was produced: later input is ignored. */
  get finished(): boolean {
    return this.#failed || this.#assembler.finished;
  }

  line(chunk: NativeChatChunk): string {
    if (this.finished) return "";
    if (typeof chunk.error === "string") return this.error(failedDuringGeneration(chunk.error).message);
    this.#assembler.push(chunk);
    return this.#take();
  }

  /** A failure after the stream started: `event: error`, then the stream ends (Anthropic's SDK throws it). */
  error(message: string, code?: string): string {
    if (this.finished) return "";
    this.#failed = true;
    const type = code === "rate_limit_exceeded" ? "rate_limit_error" : "api_error";
    return `${this.#take()}event: error\ndata: ${JSON.stringify(anthropicErrorBody(type, message))}\n\n`;
  }

  /** The upstream body ended. Without a final line the answer is truncated, which the client must hear about. */
  end(): string {
    return this.error(closedEarly().message);
  }

  /**
   * Tokens used: the backend's counts once it finished, else the answer lines seen so far (about a token each, a
   * tool call by its size), with the prompt unknown (0); null when nothing was generated.
   */
  usage(): Usage | null {
    if (!this.#assembler.final && this.#assembler.generated === 0) return null;
    return usageSoFar(this.#assembler.final, this.#assembler.generated);
  }

  #event(event: StreamEvent): void {
    this.#out += `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
  }

  #take(): string {
    const out = this.#out;
    this.#out = "";
    return out;
  }
}
