/**
 * Joins what the upstream sends quickly into fewer chunks for the client.
 *
 * In workerd every chunk a JavaScript stream hands to the runtime costs tens of µs of CPU (the response pump
 * enters the isolate, reads, and writes, for each one) — several times what reading and translating a token costs —
 * and an answer generated at full speed arrives one token per HTTP chunk, so one read per token whatever the reader
 * (a BYOB read into a large buffer returns one upstream chunk too). So a piece that comes `burstGapMs` or more
 * after the previous one goes out at once — the first piece of an answer, and every token at a GPU's usual pace of
 * 20–50 ms — while pieces of a burst wait together, at most one chunk per interval. While they keep coming faster
 * than `intervalMs` (a fast model, or an isolate busy with many streams), the interval doubles, up to
 * `maxIntervalMs`; at a slower pace it is back to `intervalMs`. And while the client is still taking the previous
 * chunk, pieces gather until it asks again.
 */
export interface BatchTiming {
  /** A piece this long or longer after the previous one goes out at once: the pace is slow enough. */
  burstGapMs: number;
  intervalMs: number;
  /** How far the interval may grow while pieces keep coming faster than it. */
  maxIntervalMs: number;
  maxBytes: number;
}

export class Batch {
  readonly #send: (bytes: Uint8Array, now: number) => void;
  readonly #timing: BatchTiming;
  /** The pieces held, joined as text and encoded once when they go out. */
  #text = "";
  #size = 0;
  /** When the last chunk went out, and when the last piece came. */
  #sentAt = Number.NEGATIVE_INFINITY;
  #pieceAt = Number.NEGATIVE_INFINITY;
  /** Pieces held for the next chunk, and the interval before it. */
  #pieces = 0;
  #interval: number;
  /** Sends what is held at the end of the interval if no read comes to do it (usually cleared before it fires). */
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The client asked for a chunk and none was ready: the next one goes out as soon as it may. */
  #waiting = false;

  constructor(send: (bytes: Uint8Array, now: number) => void, timing: BatchTiming) {
    this.#send = send;
    this.#timing = timing;
    this.#interval = timing.intervalMs;
  }

  /**
   * One upstream read's worth for the client, sent now if the client is waiting and the piece came `burstGapMs` or
   * more after the previous one; a piece of a burst waits with the others for the end of the interval.
   */
  add(piece: string, now = Date.now()): void {
    if (piece.length === 0) return;
    const bursting = now - this.#pieceAt < this.#timing.burstGapMs;
    this.#pieceAt = now;
    this.#pieces++;
    this.#text += piece;
    this.#size += piece.length;
    if (this.#size >= this.#timing.maxBytes) this.flush(now);
    else if (!this.#waiting) return;
    else if (bursting) this.#sendWhenDue(now);
    else this.flush(now);
  }

  /** The client is ready for another chunk. */
  pull(): void {
    this.#waiting = true;
    if (this.#size > 0) this.#sendWhenDue(Date.now());
  }

  /** Send what is held now, ready or not (the answer ended, or failed and its error event follows). */
  flush(now = Date.now()): void {
    this.#stopTimer();
    if (this.#size === 0) return;
    const bytes = utf8.encode(this.#text);
    this.#text = "";
    this.#size = 0;
    this.#waiting = false;
    // Pieces coming faster than the base interval (a fast GPU, or a busy isolate): the next chunk may wait longer,
    // up to maxIntervalMs; at a slower pace, back to the base interval.
    const fast = (now - this.#sentAt) / this.#pieces < this.#timing.intervalMs;
    this.#interval = fast ? Math.min(2 * this.#interval, this.#timing.maxIntervalMs) : this.#timing.intervalMs;
    this.#sentAt = now;
    this.#pieces = 0;
    this.#send(bytes, now);
  }

  /** Forget what is held (the client left). */
  drop(): void {
    this.#stopTimer();
    this.#text = "";
    this.#size = 0;
    this.#pieces = 0;
  }

  /** Send now if the interval since the last chunk is over (a read after it is the clock), else when it ends. */
  #sendWhenDue(now: number): void {
    const wait = this.#sentAt + this.#interval - now;
    if (wait <= 0) this.flush(now);
    else this.#timer ??= setTimeout(this.#due, wait);
  }

  readonly #due = (): void => {
    this.#timer = undefined;
    if (this.#waiting) this.flush();
  };

  #stopTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

const utf8 = new TextEncoder();
