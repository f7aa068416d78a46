/**
 * Reads an upstream body in as few JavaScript reads as its pace allows.
 *
 * In workerd every read of a fetch body from JavaScript costs ~10 µs of CPU (the runtime enters the isolate and
 * settles a promise; a body takes one read request at a time and hands out one HTTP chunk per read), and a backend
 * at full speed sends every token as its own chunk. Piped into an `IdentityTransformStream`, the body is carried by
 * the runtime without entering JavaScript, and a read of at least `min` bytes on the other side takes everything
 * that came meanwhile in one go. Measured on 500-token answers at full speed, c=32: 2.3 ms of workerd CPU per
 * answer read that way, 8.9 ms read chunk by chunk, 4.1 ms for the floor Worker that only forwards the body. The
 * pipe's hop costs something per chunk too (~10 µs a token at a GPU's pace, measured), so the body is read chunk by
 * chunk, as a plain reader would, until the pace makes a window hold several chunks; then it is piped.
 *
 * `min` is what came in one window at the average rate since the first byte (at least 1 byte, at most 32 KiB); the
 * average runs over at least four windows, so the first bytes and a short burst keep it small. At a GPU's usual
 * pace, a ~130-byte line every 10–50 ms, a window holds less than a line and the body is never piped; above a few
 * hundred lines a second a read takes what comes in about a window, which the relay would have joined into one
 * chunk anyway. A read holds what it has received until `min` bytes are in, so when a fast backend pauses
 * mid-answer, up to a window's bytes wait with it; when it stalls, they go out when the idle watchdog ends the call,
 * before its error.
 *
 * Nothing received is lost when the upstream fails: the pipe does not abort its destination but closes it, so the
 * read in progress returns what it holds, and the read after it throws the upstream's failure.
 */

/**
 * The window of a stream its client reads as it comes: a read holds tokens no longer than this at the answer's pace,
 * which is also how long the relay's batches hold them (pipeline/sse-relay.ts).
 */
export const STREAM_WINDOW_MS = 15;

/** The most a read waits for (each read's buffer is twice its `min`, at least 4 KiB, so a read that is due takes what came). */
const MAX_MIN_BYTES = 32 * 1024;
/** The average rate that sizes a read runs over at least this many windows. */
const AVERAGE_WINDOWS = 4;
/** The body is piped once a window's bytes make this many of its chunks: below that, the pipe's own hop costs more. */
const PIPE_AT_CHUNKS = 4;

/** The body piped into an IdentityTransformStream, read on the other side at least `min` bytes at a time. */
class Pipe {
  readonly reader: ReadableStreamBYOBReader;
  readonly done: Promise<void>;
  failure: { error: unknown } | null = null;
  /** Ends the pipe and cancels the upstream body (a cancelled destination is noticed only at the pipe's next write). */
  readonly #stop = new AbortController();

  constructor(body: ReadableStream<Uint8Array>) {
    const relay = new IdentityTransformStream();
    this.done = body.pipeTo(relay.writable, { preventAbort: true, signal: this.#stop.signal }).catch((error: unknown) => {
      this.failure = { error };
      return relay.writable.close().catch(() => {});
    });
    this.reader = relay.readable.getReader({ mode: "byob" });
  }

  cancel(): void {
    this.#stop.abort();
    this.reader.cancel().catch(() => {});
  }
}

export class PacedReader {
  readonly windowMs: number;
  readonly #body: ReadableStream<Uint8Array>;
  /** Chunk by chunk until the pace makes piping pay; then null, and `#pipe` is read instead. */
  #direct: ReadableStreamDefaultReader<Uint8Array> | null;
  #pipe: Pipe | null = null;
  #min = 1;
  /** The last read returned the final bytes: the next one reports the end (or the failure). */
  #ended = false;
  /** When the first bytes were read, and how many bytes in how many reads since. */
  #firstAt = -1;
  #total = 0;
  #reads = 0;
  #cancelled = false;

  constructor(body: ReadableStream<Uint8Array>, windowMs: number) {
    this.windowMs = windowMs;
    this.#body = body;
    this.#direct = body.getReader();
  }

  /** The next bytes (the caller's to keep), or null at the end. After the last bytes of an upstream that failed, it throws the failure. */
  async read(): Promise<Uint8Array | null> {
    if (this.#direct) {
      const { done, value } = await this.#direct.read();
      if (done) return null;
      this.#follow(value.byteLength, Date.now());
      // Between reads nothing is pending, so the body can change hands.
      if (!this.#cancelled && this.#min >= (PIPE_AT_CHUNKS * this.#total) / this.#reads) {
        this.#direct.releaseLock();
        this.#direct = null;
        this.#pipe = new Pipe(this.#body);
      }
      return value;
    }
    const pipe = this.#pipe!;
    while (!this.#ended) {
      // A fresh buffer each time: the bytes are the caller's to keep (a relay enqueues them as they are).
      const { done, value } = await pipe.reader.readAtLeast(this.#min, new Uint8Array(Math.max(2 * this.#min, 4096)));
      this.#ended = done;
      if (value && value.byteLength > 0) {
        this.#follow(value.byteLength, Date.now());
        return value;
      }
    }
    await pipe.done;
    if (pipe.failure) throw pipe.failure.error;
    return null;
  }

  /** Stop reading: the upstream body is cancelled (through the pipe, once there is one). */
  cancel(): void {
    this.#cancelled = true;
    if (this.#direct) this.#direct.cancel().catch(() => {});
    else this.#pipe?.cancel();
  }

  #follow(bytes: number, now: number): void {
    if (this.#firstAt < 0) this.#firstAt = now;
    this.#total += bytes;
    this.#reads++;
    const perMs = this.#total / Math.max(now - this.#firstAt, AVERAGE_WINDOWS * this.windowMs);
    this.#min = Math.min(MAX_MIN_BYTES, Math.max(1, Math.floor(perMs * this.windowMs)));
  }
}
