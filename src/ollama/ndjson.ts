/** The backend sent a line that is not a JSON object (a truncated write, a proxy's garbage). */
export class MalformedLineError extends Error {}

/** A line longer than this is refused rather than buffered without bound. */
const MAX_LINE_CHARS = 8 * 1024 * 1024;

/**
 * Newline-delimited JSON objects from a byte stream. Network reads split lines and multi-byte UTF-8 characters
 * anywhere; the streaming TextDecoder and the carried-over partial line put them back together. Only the new text
 * of each read is searched for newlines, so a long line costs linear time however finely it is split.
 */
export class NdjsonDecoder<T> {
  readonly #decoder = new TextDecoder();
  readonly #fast: ((line: string) => boolean) | undefined;
  #partial = "";

  /** `fast` may take a line whole, without JSON.parse (returns true when it did): the hot path of plain tokens. */
  constructor(fast?: (line: string) => boolean) {
    this.#fast = fast;
  }

  push(bytes: Uint8Array, onValue: (value: T) => void): void {
    const text = this.#decoder.decode(bytes, { stream: true });
    let end = text.indexOf("\n");
    if (end === -1) {
      this.#partial += text;
      if (this.#partial.length > MAX_LINE_CHARS) throw new MalformedLineError("The backend sent a line longer than the gateway accepts.");
      return;
    }
    this.#emit(this.#partial + text.slice(0, end), onValue);
    this.#partial = "";
    let start = end + 1;
    while ((end = text.indexOf("\n", start)) !== -1) {
      this.#emit(text.slice(start, end), onValue);
      start = end + 1;
    }
    this.#partial = text.slice(start);
  }

  /** End of input: a last line without a trailing newline still counts. */
  flush(onValue: (value: T) => void): void {
    const rest = this.#partial + this.#decoder.decode();
    this.#partial = "";
    this.#emit(rest, onValue);
  }

  #emit(line: string, onValue: (value: T) => void): void {
    if (this.#fast?.(line)) return;
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new MalformedLineError("The backend sent a malformed NDJSON line.");
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new MalformedLineError("The backend sent a malformed NDJSON line.");
    }
    onValue(value as T);
  }
}
