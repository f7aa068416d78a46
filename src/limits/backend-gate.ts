import { DurableObject } from "cloudflare:workers";
import { DEFAULT_LEASE_TTL_MS, RETRY_SOON_MS } from "../core/timing.ts";
import type { Env } from "../env.ts";
import type { GatePolicy } from "../keys/types.ts";
import { DeferredWrite, LIMITER_WRITE_DELAY_MS } from "./deferred-write.ts";
import { FairQueue } from "./fair-queue.ts";

export type GateResult = { ok: true } | { ok: false; retryAfterMs: number; message: string };

interface Waiter {
  lease: string;
  resolve: (result: GateResult) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * Gateway-wide protection of the home GPU: at most BACKEND_MAX_CONCURRENCY requests in flight to the backend; the
 * rest wait in a bounded queue that is fair across keys, for at most QUEUE_MAX_WAIT, then get a 429.
 * Slots in use are persisted (within LIMITER_WRITE_DELAY_MS, see DeferredWrite) so a restart of this object does not forget them; waiters keep it alive.
 */
export class BackendGate extends DurableObject<Env> {
  /** lease → time granted */
  #inFlight: Map<string, number>;
  readonly #queue = new FairQueue<Waiter>();
  /** The policy of the latest caller: the Worker's configuration is the source of truth. */
  #max = 1;
  #ttlMs = DEFAULT_LEASE_TTL_MS;
  #sweep: ReturnType<typeof setTimeout> | undefined;
  readonly #saved = new DeferredWrite(() => this.ctx.storage.kv.put("inFlight", Object.fromEntries(this.#inFlight)), LIMITER_WRITE_DELAY_MS);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#inFlight = new Map(Object.entries(ctx.storage.kv.get<Record<string, number>>("inFlight") ?? {}));
  }

  async acquire(keyId: string, lease: string, policy: GatePolicy): Promise<GateResult> {
    this.#max = policy.maxConcurrency;
    this.#ttlMs = policy.leaseTtlMs;
    this.#expire();
    if (this.#inFlight.size < policy.maxConcurrency && this.#queue.size === 0) {
      this.#grant(lease);
      return { ok: true };
    }
    if (this.#queue.size >= policy.maxQueue) {
      return { ok: false, retryAfterMs: RETRY_SOON_MS, message: `The backend is saturated: ${policy.maxQueue} requests are already waiting.` };
    }
    return new Promise<GateResult>((resolve) => {
      const waiter: Waiter = {
        lease,
        resolve,
        timer: setTimeout(() => {
          this.#queue.remove(keyId, waiter);
          resolve({ ok: false, retryAfterMs: RETRY_SOON_MS, message: `The backend is busy: no slot became free within ${policy.maxWaitMs} ms.` });
        }, policy.maxWaitMs),
      };
      this.#queue.push(keyId, waiter);
      this.#expire();
    });
  }

  /** The request is still running: its slot is not a dead Worker's. */
  renew(lease: string): void {
    if (this.#inFlight.has(lease)) {
      this.#inFlight.set(lease, Date.now());
      this.#save();
    }
  }

  release(lease: string): void {
    if (!this.#inFlight.delete(lease)) return;
    this.#save();
    this.#drain();
  }

  stats(): { inFlight: number; queued: number } {
    return { inFlight: this.#inFlight.size, queued: this.#queue.size };
  }

  #drain(): void {
    while (this.#inFlight.size < this.#max) {
      const waiter = this.#queue.shift();
      if (!waiter) return;
      clearTimeout(waiter.timer);
      this.#grant(waiter.lease);
      waiter.resolve({ ok: true });
    }
  }

  #grant(lease: string): void {
    this.#inFlight.set(lease, Date.now());
    this.#save();
  }

  /**
   * Slots not renewed for LEASE_TTL belonged to a Worker that died: reclaim them and serve the waiters. While
   * anyone waits, a timer checks again when the oldest slot would expire, so waiters are not stranded.
   */
  #expire(): void {
    const now = Date.now();
    let changed = false;
    for (const [lease, seen] of this.#inFlight) if (now - seen >= this.#ttlMs) changed = this.#inFlight.delete(lease);
    if (changed) {
      this.#save();
      this.#drain();
    }
    if (this.#sweep !== undefined) clearTimeout(this.#sweep);
    this.#sweep = undefined;
    if (this.#queue.size > 0 && this.#inFlight.size > 0) {
      const oldest = Math.min(...this.#inFlight.values());
      this.#sweep = setTimeout(() => this.#expire(), Math.max(10, oldest + this.#ttlMs - now));
    }
  }

  /** Slots in use are written soon (see DeferredWrite): a restart forgets at most the last moment's grants and releases. */
  #save(): void {
    this.#saved.soon();
  }
}
