import { closedEarly, failedDuringGeneration } from "../../../core/errors.ts";
import type { NativeGenerateChunk } from "../../../core/native.ts";
import { type Usage, usageOf, usageSoFar } from "../../../core/usage.ts";
import type { CompletionMeta } from "../common.ts";
import { appendLegacyLogprobs, codePoints, completionFinishReason, emptyLegacyLogprobs, type LegacyLogprobs, type TextCompletion } from "./common.ts";

/**
 * Assembles a non-stream `text_completion` from the streamed native /api/generate lines (upstream is always
 * streamed). The echoed prompt, when asked for, leads the text; thinking is dropped.
 */
export class CompletionsAggregator {
  readonly #meta: CompletionMeta;
  #text: string;
  /** Code points of the text so far, for text_offset. */
  #offset: number;
  readonly #logprobs: LegacyLogprobs | null;
  #last: NativeGenerateChunk | null = null;
  /** About the tokens generated so far, for an answer cut short. */
  #generated = 0;

  /** `echo`: the prompt when echo is on, else "". `wantLogprobs`: legacy `logprobs` was sent. */
  constructor(meta: CompletionMeta, echo: string, wantLogprobs: boolean) {
    this.#meta = meta;
    this.#text = echo;
    this.#offset = codePoints(echo);
    this.#logprobs = wantLogprobs ? emptyLegacyLogprobs() : null;
  }

  get done(): boolean {
    return this.#last !== null;
  }

  line(chunk: NativeGenerateChunk): void {
    if (this.#last) return;
    if (typeof chunk.error === "string") {
      throw failedDuringGeneration(chunk.error);
    }
    const text = chunk.response ?? "";
    if (text || chunk.thinking) this.#generated++;
    if (this.#logprobs && chunk.logprobs?.length) appendLegacyLogprobs(this.#logprobs, chunk.logprobs, this.#offset);
    if (text) {
      this.#text += text;
      this.#offset += codePoints(text);
    }
    if (chunk.done) this.#last = chunk;
  }

  /** What the answer used so far (see `usageSoFar`). */
  usage(): Usage {
    return usageSoFar(this.#last, this.#generated);
  }

  result(): TextCompletion {
    const last = this.#last;
    if (!last) throw closedEarly();
    return {
      id: this.#meta.id,
      object: "text_completion",
      created: this.#meta.created,
      model: this.#meta.model,
      system_fingerprint: this.#meta.systemFingerprint,
      choices: [{ text: this.#text, index: 0, logprobs: this.#logprobs, finish_reason: completionFinishReason(last.done_reason) }],
      usage: usageOf(last),
    };
  }
}
