/** LEASE_TTL's default, and what the objects assume until a caller tells them the configured one. */
export const DEFAULT_LEASE_TTL_MS = 90_000;

/** When a refused request may try again, where nothing more precise is known (a full queue, a lost admission). */
export const RETRY_SOON_MS = 1000;
