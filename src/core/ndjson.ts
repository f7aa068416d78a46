/** The backend sent a line that is not a JSON object (a truncated write, a proxy's garbage). */
export class MalformedLineError extends Error {}

/** A line longer than this is refused rather than buffered without bound. */
const MAX_LINE_CHARS = 8 * 1024 * 1024;

/** A line the decoder did not turn into a value: its length in characters and its first characters. */
export interface SkippedLine {
  chars: number;
  head: string;
}

/** How much of a skipped line is kept to tell what it was. */
const HEAD_CHARS = 512;

/**
 * Newline-delimited JSON objects from a byte stream. Network reads split lines and multi-byte UTF-8 characters
 * anywhere; the streaming TextDecoder and the carried-over partial line put them back together. Only the new text
 * of each read is searched for newlines, so a long line costs linear time however finely it is split.
 *
 * A malformed line or one longer than the gateway accepts throws MalformedLineError — unless `onSkipped` is given:
 * then the line is reported there and skipped (an over-long one without being buffered past the limit), and the
 * lines after it are decoded as usual. That is how an observer that must not give up (token accounting) reads.
 */
export class NdjsonDecoder<T> {
  readonly #decoder = new TextDecoder();
  readonly #fast: ((line: string) => boolean) | undefined;
  readonly #onSkipped: ((line: SkippedLine) => void) | undefined;
  #partial = "";
  /** The over-long line being skipped, if any: counted, not kept. */
  #skipping: SkippedLine | null = null;

  /** `fast` may take a line whole, without JSON.parse (returns true when it did): the hot path of plain tokens. */
  constructor(fast?: (line: string) => boolean, onSkipped?: (line: SkippedLine) => void) {
    this.#fast = fast;
    this.#onSkipped = onSkipped;
  }

  /** The line still incomplete (what a body cut short leaves behind), or null. */
  get pending(): SkippedLine | null {
    if (this.#skipping) return { ...this.#skipping };
    return this.#partial === "" ? null : { chars: this.#partial.length, head: this.#partial.slice(0, HEAD_CHARS) };
  }

  push(bytes: Uint8Array, onValue: (value: T) => void): void {
    let text = this.#decoder.decode(bytes, { stream: true });
    if (this.#skipping) {
      const newline = text.indexOf("\n");
      if (newline === -1) {
        this.#skipping.chars += text.length;
        return;
      }
      this.#skipping.chars += newline;
      this.#skipped();
      text = text.slice(newline + 1);
    }
    let end = text.indexOf("\n");
    if (end === -1) {
      this.#partial += text;
    } else {
      this.#emit(this.#partial + text.slice(0, end), onValue);
      this.#partial = "";
      let start = end + 1;
      while ((end = text.indexOf("\n", start)) !== -1) {
        this.#emit(text.slice(start, end), onValue);
        start = end + 1;
      }
      this.#partial = text.slice(start);
    }
    if (this.#partial.length > MAX_LINE_CHARS) this.#tooLong();
  }

  /** End of input: a last line without a trailing newline still counts. */
  flush(onValue: (value: T) => void): void {
    const rest = this.#partial + this.#decoder.decode();
    this.#partial = "";
    if (this.#skipping) {
      this.#skipping.chars += rest.length;
      this.#skipped();
      return;
    }
    this.#emit(rest, onValue);
  }

  #tooLong(): void {
    if (!this.#onSkipped) throw new MalformedLineError("The backend sent a line longer than the gateway accepts.");
    this.#skipping = { chars: this.#partial.length, head: this.#partial.slice(0, HEAD_CHARS) };
    this.#partial = "";
  }

  #skipped(): void {
    const line = this.#skipping!;
    this.#skipping = null;
    this.#onSkipped!(line);
  }

  #emit(line: string, onValue: (value: T) => void): void {
    if (this.#fast?.(line)) return;
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      if (!this.#onSkipped) throw new MalformedLineError("The backend sent a malformed NDJSON line.");
      this.#onSkipped({ chars: line.length, head: line.slice(0, HEAD_CHARS) });
      return;
    }
    onValue(value as T);
  }
}
