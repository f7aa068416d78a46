import { MalformedLineError, NdjsonDecoder } from "./ndjson.ts";

/** What turns native lines into SSE text: the chat encoder, and later the completions one. */
export interface SseLineEncoder<T> {
  readonly finished: boolean;
  /**
   * What is sent while the backend is silent, to keep the client and Cloudflare from giving up: the dialect's own
   * keep-alive event (Anthropic's `ping`) where it has one; without it, an SSE comment every client skips.
   */
  readonly heartbeat?: string;
  line(value: T): string;
  /** The SSE text for a raw line it recognises without parsing it, or null to have the line parsed. */
  rawLine?(line: string): string | null;
  error(message: string, code?: string): string;
  end(): string;
}

export interface UpstreamFailure {
  message: string;
  code: string | null;
}

/**
 * Upstream bytes → the client's SSE text, one read at a time, synchronously. The streaming relay drives it
 * directly from the upstream reader (no TransformStream in between: in workerd each stream hop costs far more
 * per chunk than the translation itself).
 */
export interface UpstreamTranslator {
  /** True once [DONE] or an error event was produced: the upstream body is no longer needed. */
  readonly finished: boolean;
  /** True once it produced an error event: the answer failed (for the key's usage records). */
  readonly failed: boolean;
  /** One upstream read → the SSE text to send now ("" while a line is still incomplete). */
  push(chunk: Uint8Array): string;
  /** The upstream body ended: cleanly (`failure` null), or cut short by `failure`. The last SSE text. */
  end(failure: UpstreamFailure | null): string;
}

/**
 * Ollama's NDJSON → OpenAI SSE. Lines and UTF-8 characters split across reads are reassembled by the decoder; a
 * malformed line or an `{"error"}` line becomes an error event, after which the translator is finished.
 */
export class NdjsonSseTranslator<T> implements UpstreamTranslator {
  readonly #decoder: NdjsonDecoder<T>;
  readonly #encoder: SseLineEncoder<T>;
  #out = "";
  #failed = false;
  readonly #collect = (value: T): void => {
    // The native form's error line (`{"error":"…"}`): the encoder turns it into its error event.
    if (typeof (value as { error?: unknown } | null)?.error === "string") this.#failed = true;
    this.#out += this.#encoder.line(value);
  };

  constructor(encoder: SseLineEncoder<T>) {
    this.#encoder = encoder;
    this.#decoder = new NdjsonDecoder<T>(
      encoder.rawLine
        ? (line) => {
            const out = encoder.rawLine!(line);
            if (out === null) return false;
            this.#out += out;
            return true;
          }
        : undefined,
    );
  }

  get finished(): boolean {
    return this.#encoder.finished;
  }

  get failed(): boolean {
    return this.#failed;
  }

  push(chunk: Uint8Array): string {
    try {
      this.#decoder.push(chunk, this.#collect);
    } catch (error) {
      if (!(error instanceof MalformedLineError)) throw error;
      this.#fail(error.message);
    }
    return this.#take();
  }

  end(failure: UpstreamFailure | null): string {
    try {
      this.#decoder.flush(this.#collect);
    } catch (error) {
      if (!(error instanceof MalformedLineError)) throw error;
      this.#fail(error.message);
    }
    if (failure) this.#fail(failure.message, failure.code ?? undefined);
    else if (!this.#encoder.finished) this.#out += this.#encoder.end();
    return this.#take();
  }

  #fail(message: string, code?: string): void {
    this.#failed = true;
    this.#out += this.#encoder.error(message, code);
  }

  #take(): string {
    const out = this.#out;
    this.#out = "";
    return out;
  }
}
