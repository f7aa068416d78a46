/** The backend sent a line that is not JSON (a truncated write, a proxy's garbage). */
export class MalformedLineError extends Error {}

/**
 * Newline-delimited JSON from a byte stream. Network reads split lines and multi-byte UTF-8 characters
 * anywhere; the streaming TextDecoder and the carried-over partial line put them back together.
 */
export class NdjsonDecoder<T> {
  readonly #decoder = new TextDecoder();
  #partial = "";

  push(bytes: Uint8Array, onValue: (value: T) => void): void {
    const text = this.#partial + this.#decoder.decode(bytes, { stream: true });
    let start = 0;
    for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
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
    if (line.trim() === "") return;
    let value: T;
    try {
      value = JSON.parse(line) as T;
    } catch {
      throw new MalformedLineError("The backend sent a malformed NDJSON line.");
    }
    onValue(value);
  }
}
