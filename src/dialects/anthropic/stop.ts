/**
 * `stop_sequences`, watched in the answer's text by the gateway. Ollama would stop at them too, but it drops the
 * sequence and ends with the same `done_reason` as at the model's own end, so nobody could tell the client which
 * one matched (Anthropic's `stop_reason: "stop_sequence"` and `stop_sequence`).
 *
 * Text that could be the start of a stop sequence is held back until the next text decides it, so a sequence split
 * across the backend's lines is still found and never half-sent.
 */
export class StopWatch {
  readonly #sequences: readonly string[];
  #held = "";
  #matched: string | null = null;

  constructor(sequences: readonly string[] | undefined) {
    // An empty sequence would match everywhere: Anthropic refuses none, so it is ignored.
    this.#sequences = (sequences ?? []).filter((sequence) => sequence !== "");
  }

  /** The stop sequence found, once one was. */
  get matched(): string | null {
    return this.#matched;
  }

  /** More text → what may be sent now. Once a sequence is found, the text before it; after that, nothing. */
  push(text: string): string {
    if (this.#matched !== null) return "";
    if (!this.#sequences.length) return text;
    const all = this.#held + text;
    let at = -1;
    for (const sequence of this.#sequences) {
      const found = all.indexOf(sequence);
      // The earliest match wins; at the same place, the one listed first.
      if (found >= 0 && (at < 0 || found < at)) {
        at = found;
        this.#matched = sequence;
      }
    }
    if (at >= 0) {
      this.#held = "";
      return all.slice(0, at);
    }
    const keep = this.#partialAtEnd(all);
    this.#held = all.slice(all.length - keep);
    return all.slice(0, all.length - keep);
  }

  /** The answer's text ended: what was held back, since no sequence completed it. */
  flush(): string {
    const held = this.#held;
    this.#held = "";
    return this.#matched === null ? held : "";
  }

  /** The longest end of `text` that is the start of a stop sequence (shorter than the whole sequence). */
  #partialAtEnd(text: string): number {
    let longest = 0;
    for (const sequence of this.#sequences) {
      for (let length = Math.min(sequence.length - 1, text.length); length > longest; length--) {
        if (text.endsWith(sequence.slice(0, length))) {
          longest = length;
          break;
        }
      }
    }
    return longest;
  }
}
