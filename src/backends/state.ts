import type { BackendConfig } from "../config/backends.ts";

/**
 * This isolate's view of each backend: a cooldown after it failed, the requests it is serving for this isolate,
 * and a turn counter that spreads equal choices. Per isolate on purpose: it is a routing hint, checked again on
 * every attempt; the exact per-backend limit is the backend gate Durable Object.
 */
const downUntil = new Map<string, number>();
const inFlight = new Map<string, number>();
let turn = 0;

const keyOf = (backend: BackendConfig) => `${backend.name} ${backend.url}`;

export function isDown(backend: BackendConfig, now = Date.now()): boolean {
  return (downUntil.get(keyOf(backend)) ?? 0) > now;
}

export function markDown(backend: BackendConfig, cooldownMs: number): void {
  downUntil.set(keyOf(backend), Date.now() + cooldownMs);
}

export function markUp(backend: BackendConfig): void {
  downUntil.delete(keyOf(backend));
}

/** Count a request on `backend` until the returned release is called (idempotent). */
export function occupy(backend: BackendConfig): () => void {
  const key = keyOf(backend);
  inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    inFlight.set(key, Math.max(0, (inFlight.get(key) ?? 1) - 1));
  };
}

/** Slots left on `backend` as this isolate sees them (its limit, or the gateway-wide one; 0 = unlimited). */
export function freeCapacity(backend: BackendConfig, gatewayMax: number): number {
  const max = backend.maxConcurrency ?? gatewayMax;
  const busy = inFlight.get(keyOf(backend)) ?? 0;
  return max > 0 ? max - busy : Number.MAX_SAFE_INTEGER - busy;
}

export function nextTurn(): number {
  turn = (turn + 1) % 1_000_000;
  return turn;
}

/** Forget every mark. @internal For tests only (see `clearCatalogCache`). */
export function resetBackendState(): void {
  downUntil.clear();
  inFlight.clear();
  turn = 0;
}
