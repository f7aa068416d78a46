/**
 * A bounded queue that is fair across keys: waiters are grouped by key and served round-robin, so one key with
 * many queued requests cannot starve another key's single request.
 */
export class FairQueue<T> {
  readonly #byKey = new Map<string, T[]>();
  /** Keys with waiters, in service order. */
  #order: string[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  push(key: string, item: T): void {
    let waiting = this.#byKey.get(key);
    if (!waiting) {
      waiting = [];
      this.#byKey.set(key, waiting);
      this.#order.push(key);
    }
    waiting.push(item);
    this.#size++;
  }

  /** The next waiter: the oldest of the key whose turn it is; that key then goes to the back of the line. */
  shift(): T | undefined {
    const key = this.#order.shift();
    if (key === undefined) return undefined;
    const waiting = this.#byKey.get(key)!;
    const item = waiting.shift()!;
    this.#size--;
    if (waiting.length) this.#order.push(key);
    else this.#byKey.delete(key);
    return item;
  }

  /** Remove a specific waiter (it timed out or its client left). */
  remove(key: string, item: T): boolean {
    const waiting = this.#byKey.get(key);
    const index = waiting?.indexOf(item) ?? -1;
    if (!waiting || index === -1) return false;
    waiting.splice(index, 1);
    this.#size--;
    if (!waiting.length) {
      this.#byKey.delete(key);
      this.#order = this.#order.filter((k) => k !== key);
    }
    return true;
  }
}
