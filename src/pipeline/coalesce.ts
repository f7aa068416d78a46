/**
 * Joins what the upstream sends in bursts into fewer chunks for the client.
 *
 * In workerd every chunk a JavaScript stream hands to the runtime costs tens of µs of CPU (the response pump
 * enters the isolate, reads, and writes, for each one) — several times what reading and translating a token costs —
 * and an answer generated at full speed arrives one token per HTTP chunk, so one read per token whatever the reader
 * (a BYOB read into a large buffer returns one upstream chunk too). So pieces are held briefly, but only in a burst
 * (pieces less than `burstGapMs` apart, faster than anyone reads): an answer at a GPU's usual pace (10–50 ms per
 * token) goes out piece by piece as it comes, with no added delay; the first piece of an answer is never held; and
 * none is held longer than `holdMs`.
 */
export interface BatchTiming {
  burstGapMs: number;
  holdMs: number;
  maxBytes: number;
}

export class Batch {
  readonly #send: (bytes: Uint8Array) => void;
  readonly #timing: BatchTiming;
  /** Text pieces are joined as text and encoded once; byte pieces are copied together, in order. */
  #parts: Uint8Array[] = [];
  #text = "";
  #size = 0;
  #lastAt = Number.NEGATIVE_INFINITY;
  /** When the oldest piece held in a burst came (null: none is held for a burst). */
  #heldSince: number | null = null;
  /** Sends a burst's pieces if no read comes to do it by the end of the hold. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The client asked for a chunk and none was ready: the next one goes out as soon as it may. */
  #waiting = false;

  constructor(send: (bytes: Uint8Array) => void, timing: BatchTiming) {
    this.#send = send;
    this.#timing = timing;
  }

  /**
   * One upstream read's worth for the client. It goes out at once if the client is waiting for it and nothing
   * suggests more is coming. Pieces of a burst are held together until a read comes `holdMs` after the first of
   * them (or a timer, if none comes: a timer per chunk, not per piece, and usually cleared before it fires). While
   * the client is still taking the previous chunk, pieces gather until it asks again.
   */
  add(piece: string | Uint8Array): void {
    const { burstGapMs, holdMs, maxBytes } = this.#timing;
    const now = Date.now();
    const bursting = now - this.#lastAt < burstGapMs;
    this.#lastAt = now;
    if (piece.length > 0) {
      if (typeof piece === "string") this.#text += piece;
      else {
        this.#takeText();
        this.#parts.push(piece);
      }
      this.#size += piece.length;
    }
    if (this.#size === 0) return;
    if (this.#size >= maxBytes) this.flush();
    else if (this.#heldSince !== null) {
      if (now - this.#heldSince >= holdMs && this.#waiting) this.flush();
    } else if (bursting) {
      this.#heldSince = now;
      this.#timer = setTimeout(this.#held, holdMs);
    } else if (this.#waiting) this.flush();
  }

  /** The client is ready for another chunk. */
  pull(): void {
    this.#waiting = true;
    if (this.#heldSince === null || Date.now() - this.#heldSince >= this.#timing.holdMs) this.flush();
  }

  /** Send what is held now, ready or not (the answer ended, or failed and its error event follows). */
  flush(): void {
    this.#release();
    if (this.#size === 0) return;
    this.#takeText();
    const parts = this.#parts;
    this.#parts = [];
    this.#size = 0;
    this.#waiting = false;
    this.#send(parts.length === 1 ? parts[0]! : joined(parts));
  }

  /** Forget what is held (the client left). */
  drop(): void {
    this.#release();
    this.#parts = [];
    this.#text = "";
    this.#size = 0;
  }

  readonly #held = (): void => {
    this.#timer = undefined;
    if (this.#waiting) this.flush();
    else this.#heldSince = null; // the client's next pull sends it
  };

  #takeText(): void {
    if (this.#text === "") return;
    this.#parts.push(utf8.encode(this.#text));
    this.#text = "";
  }

  #release(): void {
    this.#heldSince = null;
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

const utf8 = new TextEncoder();

function joined(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}
