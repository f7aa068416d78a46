import { ApiError, closedEarly, failedDuringGeneration } from "../../core/errors.ts";
import type { NativeMetrics } from "../../core/native.ts";
import { type Usage, usageOf } from "../../core/usage.ts";
import type { CompletionMeta } from "./common.ts";

/**
 * What every OpenAI SSE encoder shares: a chunk envelope precomputed once per stream (per token only the escaped
 * delta is spliced in between `head` and `tail`), the optional usage chunk, `[DONE]`, error events, and the
 * usage report used to settle token limits.
 */
export abstract class SseEncoder<Line extends { error?: string }> {
  /** `data: {envelope…"choices":[{` up to where the choice's own fields start. */
  protected readonly head: string;
  /** Closes the choice list and the chunk (with `"usage":null` when include_usage is on). */
  protected readonly tail: string;
  readonly #usageHead: string;
  readonly #includeUsage: boolean;
  #finished = false;
  #final: Usage | null = null;
  #generated = 0;

  constructor(meta: CompletionMeta, object: string, choiceStart: string, includeUsage: boolean) {
    const envelope =
      `{"id":${JSON.stringify(meta.id)},"object":"${object}","created":${meta.created},` +
      `"model":${JSON.stringify(meta.model)},"system_fingerprint":${JSON.stringify(meta.systemFingerprint)},`;
    this.head = `data: ${envelope}"choices":[${choiceStart}`;
    this.tail = includeUsage ? `,"usage":null}\n\n` : `}\n\n`;
    this.#usageHead = `data: ${envelope}"choices":[],"usage":`;
    this.#includeUsage = includeUsage;
  }

  /** True once [DONE] or an error event was produced: later input is ignored. */
  get finished(): boolean {
    return this.#finished;
  }

  /** One upstream line → zero or more SSE frames. */
  line(chunk: Line): string {
    if (this.#finished) return "";
    if (typeof chunk.error === "string") return this.error(failedDuringGeneration(chunk.error).message);
    return this.encode(chunk);
  }

  protected abstract encode(chunk: Line): string;

  /** Count one line of generated text (about one token), for usage when the stream is cut short. */
  protected countGenerated(): void {
    this.#generated++;
  }

  /** After the finish frame: the usage chunk if asked for, then `[DONE]`. */
  protected complete(finishFrames: string, metrics: NativeMetrics): string {
    this.#final = usageOf(metrics);
    this.#finished = true;
    const usage = this.#includeUsage ? `${this.#usageHead}${JSON.stringify(this.#final)}}\n\n` : "";
    return `${finishFrames}${usage}data: [DONE]\n\n`;
  }

  /**
   * Tokens used: the backend's counts once it finished, else (client gone, backend failed) the answer lines seen
   * so far, about one token each, with the prompt unknown (0) — so a limit can still charge what was generated.
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
    return this.error(closedEarly().message);
  }
}
