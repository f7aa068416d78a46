/**
 * Calls `onIdle` when `touch()` has not been called for `ms`. One timer per idle period, not per touch, so
 * touching on every streamed chunk costs only a clock read. `onIdle` returns true to keep watching.
 */
export class IdleTimer {
  readonly #ms: number;
  readonly #onIdle: () => boolean;
  #last = Date.now();
  #handle: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(ms: number, onIdle: () => boolean) {
    this.#ms = ms;
    this.#onIdle = onIdle;
    this.#schedule(ms);
  }

  /** Activity now (`now`: the caller's clock reading, when it has one). */
  touch(now = Date.now()): void {
    this.#last = now;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#handle !== undefined) clearTimeout(this.#handle);
  }

  #schedule(delay: number): void {
    if (!this.#stopped) this.#handle = setTimeout(this.#check, Math.max(1, delay));
  }

  readonly #check = (): void => {
    const idle = Date.now() - this.#last;
    if (idle < this.#ms) {
      this.#schedule(this.#ms - idle);
      return;
    }
    if (!this.#onIdle()) {
      this.stop();
      return;
    }
    this.#last = Date.now();
    this.#schedule(this.#ms);
  };
}
