/** Exponential backoff with ±25 % jitter (so retrying clients do not move in lockstep), capped at 8× the base. */
export function retryDelay(baseMs: number, attempt: number): number {
  const exponential = Math.min(baseMs * 2 ** attempt, baseMs * 8);
  return Math.round(exponential * (0.75 + Math.random() * 0.5));
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
