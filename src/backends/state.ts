import type { BackendConfig } from "../config/backends.ts";

/**
 * This isolate's view of each backend: a cooldown after it failed, the requests it is serving for this isolate,
 * and a turn counter that spreads equal choices. Per isolate on purpose: it is a routing hint, checked again on
 * every attempt; the exact per-backend limit is the backend gate Durable Object. Kept by the backend's parsed
 * configuration, which lives as long as the isolate's environment (config/index.ts parses it once per env).
 */
const downUntil = new WeakMap<BackendConfig, number>();
const inFlight = new WeakMap<BackendConfig, number>();
/** The turn counter of each configuration (one per isolate's environment). */
const turns = new WeakMap<object, number>();

export function isDown(backend: BackendConfig, now = Date.now()): boolean {
  return (downUntil.get(backend) ?? 0) > now;
}

export function markDown(backend: BackendConfig, cooldownMs: number): void {
  downUntil.set(backend, Date.now() + cooldownMs);
}

export function markUp(backend: BackendConfig): void {
  downUntil.delete(backend);
}

/** Count a request on `backend` until the returned release is called (idempotent). */
export function occupy(backend: BackendConfig): () => void {
  inFlight.set(backend, (inFlight.get(backend) ?? 0) + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    inFlight.set(backend, Math.max(0, (inFlight.get(backend) ?? 1) - 1));
  };
}

/** Slots left on `backend` as this isolate sees them (its limit, or the gateway-wide one; 0 = unlimited). */
export function freeCapacity(backend: BackendConfig, gatewayMax: number): number {
  const max = backend.maxConcurrency ?? gatewayMax;
  const busy = inFlight.get(backend) ?? 0;
  return max > 0 ? max - busy : Number.MAX_SAFE_INTEGER - busy;
}

/** The next turn among equal candidates, counted per configuration (`scope`: the parsed Config). */
export function nextTurn(scope: object): number {
  const turn = ((turns.get(scope) ?? 0) + 1) % 1_000_000;
  turns.set(scope, turn);
  return turn;
}
