import type { NativeGenerateChunk } from "../../../core/native.ts";
import { PLAIN_GENERATE_TOKEN } from "../../../core/plain-lines.ts";
import type { CompletionMeta } from "../common.ts";
import { SseEncoder } from "../sse-encoder.ts";
import { appendLegacyLogprobs, codePoints, completionFinishReason, emptyLegacyLogprobs } from "./common.ts";

export interface CompletionStreamOptions {
  includeUsage: boolean;
  /** The prompt when `echo` is on (sent as the first text), else "". */
  echo: string;
  /** Legacy `logprobs` was sent: map each line's native logprobs into its chunk. */
  logprobs: boolean;
}

/**
 * Native /api/generate lines → OpenAI `text_completion` SSE chunks: one id and `created` for all chunks, an
 * optional echo of the prompt as the first text, a final chunk with `text:""` and the finish_reason, an optional
 * usage chunk with `choices:[]`, then `data: [DONE]`. Thinking has no place in a completion and is dropped.
 * As in the chat encoder, the envelope is a precomputed template and per token only the escaped text is spliced in.
 */
export class CompletionsSseEncoder extends SseEncoder<NativeGenerateChunk> {
  readonly #options: CompletionStreamOptions;
  #started = false;
  /** Code points of text sent so far (echo included), for text_offset. */
  #offset = 0;

  constructor(meta: CompletionMeta, options: CompletionStreamOptions) {
    super(meta, "text_completion", `{"text":`, options.includeUsage);
    this.#options = options;
  }

  /** A plain token line, framed without parsing it (not when logprobs are mapped: they need the parsed line). */
  rawLine(line: string): string | null {
    if (this.finished || this.#options.logprobs) return null;
    const match = PLAIN_GENERATE_TOKEN.exec(line);
    if (!match) return null;
    const literal = match[1]!;
    if (literal === '""') return "";
    this.countGenerated();
    return this.#start() + this.#frameLiteral(literal, "null", "null");
  }

  protected encode(chunk: NativeGenerateChunk): string {
    const text = chunk.response ?? "";
    if (text || chunk.thinking) this.countGenerated();
    let out = "";
    const withLogprobs = this.#options.logprobs && chunk.logprobs?.length ? chunk.logprobs : undefined;
    if (text || withLogprobs) {
      out += this.#start();
      let logprobs = "null";
      if (withLogprobs) {
        const mapped = emptyLegacyLogprobs();
        appendLegacyLogprobs(mapped, withLogprobs, this.#offset);
        logprobs = JSON.stringify(mapped);
      }
      out += this.#frame(text, logprobs, "null");
      this.#offset += codePoints(text);
    }
    if (chunk.done) out += this.#finish(chunk);
    return out;
  }

  /** Before the first output: the echoed prompt, as its own chunk. */
  #start(): string {
    if (this.#started) return "";
    this.#started = true;
    const echo = this.#options.echo;
    if (!echo) return "";
    this.#offset = codePoints(echo);
    return this.#frame(echo, "null", "null");
  }

  #frame(text: string, logprobs: string, finishReason: string): string {
    return this.#frameLiteral(JSON.stringify(text), logprobs, finishReason);
  }

  #frameLiteral(literal: string, logprobs: string, finishReason: string): string {
    return `${this.head}${literal},"index":0,"logprobs":${logprobs},"finish_reason":${finishReason}}]${this.tail}`;
  }

  #finish(chunk: NativeGenerateChunk): string {
    const echo = this.#start();
    return this.complete(`${echo}${this.#frame("", "null", `"${completionFinishReason(chunk.done_reason)}"`)}`, chunk);
  }
}
