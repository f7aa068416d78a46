import { ApiError } from "../http/errors.ts";
import type { NativeGenerateChunk } from "../ollama/types.ts";
import { type CompletionMeta, type Usage, usageOf } from "./chat-common.ts";
import { appendLegacyLogprobs, codePoints, completionFinishReason, emptyLegacyLogprobs } from "./completions-common.ts";

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
export class CompletionsSseEncoder {
  readonly #head: string;
  readonly #tail: string;
  readonly #usageHead: string;
  readonly #options: CompletionStreamOptions;
  #started = false;
  #finished = false;
  #final: Usage | null = null;
  #generated = 0;
  /** Code points of text sent so far (echo included), for text_offset. */
  #offset = 0;

  constructor(meta: CompletionMeta, options: CompletionStreamOptions) {
    const envelope =
      `{"id":${JSON.stringify(meta.id)},"object":"text_completion","created":${meta.created},` +
      `"model":${JSON.stringify(meta.model)},"system_fingerprint":${JSON.stringify(meta.systemFingerprint)},`;
    this.#head = `data: ${envelope}"choices":[{"text":`;
    this.#tail = options.includeUsage ? `,"usage":null}\n\n` : `}\n\n`;
    this.#usageHead = `data: ${envelope}"choices":[],"usage":`;
    this.#options = options;
  }

  /** True once [DONE] or an error event was produced: later input is ignored. */
  get finished(): boolean {
    return this.#finished;
  }

  /** One upstream line → zero or more SSE frames. */
  line(chunk: NativeGenerateChunk): string {
    if (this.#finished) return "";
    if (typeof chunk.error === "string") return this.error(`The backend failed during generation: ${chunk.error}`);
    const text = chunk.response ?? "";
    if (text || chunk.thinking) this.#generated++;
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

  /**
   * Tokens used: the backend's counts once it finished, else the answer lines seen so far (about one token each),
   * with the prompt unknown (0) — so a limit can still charge what was generated.
   */
  usage(): Usage | null {
    if (this.#final) return this.#final;
    return this.#generated ? { prompt_tokens: 0, completion_tokens: this.#generated, total_tokens: this.#generated } : null;
  }

  /** A failure after the stream started: OpenAI's error envelope as the last event, then the stream ends. */
  error(message: string, code = "backend_error"): string {
    if (this.#finished) return "";
    this.#finished = true;
    return `data: ${JSON.stringify(new ApiError(502, message, "server_error", code).toBody())}\n\n`;
  }

  /** The upstream body ended. Without a done line that is a truncated answer, which the client must hear about. */
  end(): string {
    return this.error("The backend closed the stream before the answer was complete.");
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
    return `${this.#head}${JSON.stringify(text)},"index":0,"logprobs":${logprobs},"finish_reason":${finishReason}}]${this.#tail}`;
  }

  #finish(chunk: NativeGenerateChunk): string {
    let out = this.#start();
    out += this.#frame("", "null", `"${completionFinishReason(chunk.done_reason)}"`);
    this.#final = usageOf(chunk);
    if (this.#options.includeUsage) out += `${this.#usageHead}${JSON.stringify(this.#final)}}\n\n`;
    this.#finished = true;
    return `${out}data: [DONE]\n\n`;
  }
}
