/**
 * The storage writes of a Durable Object's limiter state, merged: every change within `delayMs` is written once.
 *
 * Each write is an SQLite commit (locally an fsync), and a reply the object sends after one waits for it (the
 * output gate): written on every admission and release, they were a third of a request's CPU in the bench and
 * the object's replies waited for them. Decisions are made from memory either way (the object is single-threaded,
 * so limits stay exact); what is traded is durability across a restart of the object (a deploy, a crash): the
 * changes of its last `delayMs` are forgotten.
 */
export class DeferredWrite {
  readonly #write: () => void;
  readonly #delayMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(write: () => void, delayMs: number) {
    this.#write = write;
    this.#delayMs = delayMs;
  }

  /** The state changed: write it within `delayMs`, with whatever else changes until then. */
  soon(): void {
    this.#timer ??= setTimeout(this.now, this.#delayMs);
  }

  /** Write it now (what the caller is told must already be durable). */
  readonly now = (): void => {
    this.cancel();
    this.#write();
  };

  /** Nothing to write any more (the state was deleted). */
  cancel(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** How long a limiter change may wait to be written (see DeferredWrite). */
export const LIMITER_WRITE_DELAY_MS = 250;
