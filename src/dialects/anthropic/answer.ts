import type { NativeChatChunk, NativeToolCall } from "../../core/native.ts";
import { toolCallTokens } from "../../core/usage.ts";
import { StopWatch } from "./stop.ts";

/**
 * The answer side of the Messages API shared by the stream encoder and the aggregator: Anthropic's stream events,
 * and `MessageAssembler`, which turns native /api/chat lines into those events in one place. The whole (non-stream)
 * Message is those same events accumulated, as Anthropic's SDK accumulates a stream, so both answers agree by
 * construction.
 */

/** What every event of one answer repeats or needs. */
export interface AnthropicMeta {
  /** "msg_…" (`messageId()`). */
  id: string;
  /** The name the client sent (an alias stays an alias). */
  model: string;
  /** The prompt's estimate: the input tokens until the backend counts them (see `message_start`). */
  inputEstimate: number;
  stopSequences?: readonly string[];
}

export function messageId(): string {
  return `msg_${crypto.randomUUID().replaceAll("-", "")}`;
}

/**
 * A thinking block's `signature`. Anthropic signs its models' thinking so it can check it when it comes back; a
 * local model's thinking has nothing to check it against, and the gateway ignores signatures it is sent. Clients
 * still expect one to be there (an empty one makes some drop the block from the history they send back).
 */
export const THINKING_SIGNATURE = "ollama-edge:unsigned";

export interface TextBlock {
  type: "text";
  text: string;
}
export interface ThinkingBlock {
  type: "thinking";
  thinking: string;
  signature: string;
}
export interface ToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: Record<string, unknown>;
}
export type ResponseBlock = TextBlock | ThinkingBlock | ToolUseBlock;

export type StopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use";

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  /** Nothing is cached by the gateway: always 0, present because clients add them up. */
  cache_creation_input_tokens: 0;
  cache_read_input_tokens: 0;
}

export interface AnthropicMessage {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: ResponseBlock[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

export type BlockDelta =
  | { type: "text_delta"; text: string }
  | { type: "thinking_delta"; thinking: string }
  | { type: "signature_delta"; signature: string }
  | { type: "input_json_delta"; partial_json: string };

export type StreamEvent =
  | { type: "message_start"; message: AnthropicMessage }
  | { type: "content_block_start"; index: number; content_block: ResponseBlock }
  | { type: "content_block_delta"; index: number; delta: BlockDelta }
  | { type: "content_block_stop"; index: number }
  | {
      type: "message_delta";
      delta: { stop_reason: StopReason; stop_sequence: string | null };
      usage: { input_tokens: number; output_tokens: number };
    }
  | { type: "message_stop" };

const ANTHROPIC_ID = /^[A-Za-z0-9_-]+$/;

/** A tool call's id as Anthropic's clients send it back (`[A-Za-z0-9_-]+`): Ollama's own, else a new one. */
function toolUseId(call: NativeToolCall): string {
  if (call.id && ANTHROPIC_ID.test(call.id)) return call.id;
  return `toolu_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}

/**
 * Native lines → Anthropic's events, in the order its API sends them: `message_start`; per block
 * `content_block_start`, its deltas, `content_block_stop` (thinking, then text, a switch between them closes the
 * open block; each tool call its own block with its input as one `input_json_delta`, since Ollama sends calls
 * whole); then `message_delta` with the stop reason and usage, and `message_stop`. Counts what was generated, for
 * usage so far.
 */
export class MessageAssembler {
  readonly #meta: AnthropicMeta;
  readonly #on: (event: StreamEvent) => void;
  readonly #stop: StopWatch;
  #started = false;
  #finished = false;
  #blocks = 0;
  #open: "text" | "thinking" | null = null;
  #sawTools = false;
  #generated = 0;
  #final: NativeChatChunk | null = null;

  constructor(meta: AnthropicMeta, on: (event: StreamEvent) => void) {
    this.#meta = meta;
    this.#on = on;
    this.#stop = new StopWatch(meta.stopSequences);
  }

  /** True once `message_stop` was produced: the backend finished, or a stop sequence ended the answer. */
  get finished(): boolean {
    return this.#finished;
  }

  /** The backend's final line, once it came (none when a stop sequence ended the answer first). */
  get final(): NativeChatChunk | null {
    return this.#final;
  }

  /** About the tokens generated so far (a line of text or thinking each, a tool call by its size). */
  get generated(): number {
    return this.#generated;
  }

  /** `message_start`, once: the empty message with the prompt's estimate as its input tokens. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#on({ type: "message_start", message: emptyMessage(this.#meta) });
  }

  /** One native line (not an error line). */
  push(chunk: NativeChatChunk): void {
    if (this.#finished) return;
    this.start();
    const message = chunk.message;
    if (message?.content || message?.thinking) this.#generated++;
    if (message?.thinking) {
      this.#openAs("thinking");
      this.#delta({ type: "thinking_delta", thinking: message.thinking });
    }
    if (message?.content) {
      this.#text(this.#stop.push(message.content));
      const matched = this.#stop.matched;
      if (matched !== null) {
        this.#finish("stop_sequence", matched, { input_tokens: this.#meta.inputEstimate, output_tokens: this.#generated });
        return;
      }
    }
    if (message?.tool_calls?.length) {
      this.#generated += toolCallTokens(message.tool_calls);
      this.#sawTools = true;
      this.#flushText();
      this.#close();
      for (const call of message.tool_calls) this.#toolUse(call);
    }
    if (chunk.done) {
      this.#final = chunk;
      this.#flushText();
      const reason: StopReason = chunk.done_reason === "length" ? "max_tokens" : this.#sawTools ? "tool_use" : "end_turn";
      this.#finish(reason, null, { input_tokens: chunk.prompt_eval_count ?? 0, output_tokens: chunk.eval_count ?? 0 });
    }
  }

  #text(text: string): void {
    if (text === "") return;
    this.#openAs("text");
    this.#delta({ type: "text_delta", text });
  }

  /** Text held back while it could have been the start of a stop sequence, now that none can follow. */
  #flushText(): void {
    this.#text(this.#stop.flush());
  }

  #openAs(kind: "text" | "thinking"): void {
    if (this.#open === kind) return;
    if (this.#open === "text") this.#flushText();
    this.#close();
    this.#open = kind;
    const content_block: ResponseBlock = kind === "text" ? { type: "text", text: "" } : { type: "thinking", thinking: "", signature: "" };
    this.#on({ type: "content_block_start", index: this.#blocks, content_block });
  }

  #delta(delta: BlockDelta): void {
    this.#on({ type: "content_block_delta", index: this.#blocks, delta });
  }

  /** Close the open block; a thinking block gets its signature first, as Anthropic sends it. */
  #close(): void {
    if (this.#open === null) return;
    if (this.#open === "thinking") this.#delta({ type: "signature_delta", signature: THINKING_SIGNATURE });
    this.#on({ type: "content_block_stop", index: this.#blocks });
    this.#open = null;
    this.#blocks++;
  }

  #toolUse(call: NativeToolCall): void {
    const index = this.#blocks++;
    this.#on({ type: "content_block_start", index, content_block: { type: "tool_use", id: toolUseId(call), name: call.function.name, input: {} } });
    this.#on({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: JSON.stringify(call.function.arguments ?? {}) } });
    this.#on({ type: "content_block_stop", index });
  }

  #finish(stop_reason: StopReason, stop_sequence: string | null, usage: { input_tokens: number; output_tokens: number }): void {
    this.#close();
    this.#finished = true;
    this.#on({ type: "message_delta", delta: { stop_reason, stop_sequence }, usage });
    this.#on({ type: "message_stop" });
  }
}

function emptyMessage(meta: AnthropicMeta): AnthropicMessage {
  return {
    id: meta.id,
    type: "message",
    role: "assistant",
    model: meta.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: meta.inputEstimate, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}
