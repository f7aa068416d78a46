// Server slots: at most `parallel` generations at once; later requests wait in line (llama-server defers them).

export interface Slot {
  id: number;
  busy: boolean;
  /** The last task this slot ran (-1 before the first). */
  idTask: number;
  nDecoded: number;
  stream: boolean;
}

export interface SlotPool {
  slots: Slot[];
  /** Requests waiting for a slot (llamacpp:requests_deferred). */
  waiting(): number;
  /** A free slot, or null when the signal fired first (the client left while waiting). */
  acquire(signal: AbortSignal): Promise<Slot | null>;
  release(slot: Slot): void;
}

export function createSlotPool(size: number): SlotPool {
  const slots: Slot[] = Array.from({ length: size }, (_, id) => ({ id, busy: false, idTask: -1, nDecoded: 0, stream: false }));
  const queue: Array<(slot: Slot) => void> = [];
  return {
    slots,
    waiting: () => queue.length,
    acquire(signal) {
      if (signal.aborted) return Promise.resolve(null);
      const free = slots.find((s) => !s.busy);
      if (free) {
        free.busy = true;
        return Promise.resolve(free);
      }
      return new Promise((resolve) => {
        const take = (slot: Slot): void => {
          signal.removeEventListener("abort", leave);
          resolve(slot);
        };
        const leave = (): void => {
          const at = queue.indexOf(take);
          if (at >= 0) queue.splice(at, 1);
          resolve(null);
        };
        queue.push(take);
        signal.addEventListener("abort", leave, { once: true });
      });
    },
    release(slot) {
      const next = queue.shift();
      if (next)
        next(slot); // handed over still busy
      else slot.busy = false;
    },
  };
}

/** Totals behind /metrics, since start or reset. */
export interface MetricTotals {
  promptTokens: number;
  promptMs: number;
  predictedTokens: number;
  predictedMs: number;
  decodeCalls: number;
  nTokensMax: number;
}

export const emptyTotals = (): MetricTotals => ({
  promptTokens: 0,
  promptMs: 0,
  predictedTokens: 0,
  predictedMs: 0,
  decodeCalls: 0,
  nTokensMax: 0,
});
