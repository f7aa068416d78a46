import type * as z from "zod/mini";
import "../core/zod-english.ts";

/** Parsing of single settings; each failure names its variable so the operator knows what to fix. */

/** A bad setting: the message names the variable so the operator knows what to fix. */
export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, detail: string) {
    super(`Invalid configuration ${variable}: ${detail}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** setTimeout overflows above this and fires at once, which would turn every timer into a busy loop. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * "30s", "500ms", "2m", "30d" or a bare number of seconds → milliseconds. `maxMs`: what the setting can hold (a
 * timer's limit unless it is not used as one).
 */
export function parseDuration(variable: string, raw: string | undefined, fallbackMs: number, maxMs = MAX_TIMER_MS): number {
  if (raw === undefined || raw.trim() === "") return fallbackMs;
  const match = DURATION.exec(raw.trim());
  if (!match) throw new ConfigError(variable, `expected a duration such as "30s", "500ms" or "2m", got ${JSON.stringify(raw)}`);
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] ?? "s"]!);
  if (ms > maxMs) {
    const limit = maxMs === MAX_TIMER_MS ? "a timer can hold (about 24 days)" : `${maxMs / 86_400_000} days`;
    throw new ConfigError(variable, `${JSON.stringify(raw)} is longer than ${limit}`);
  }
  return ms;
}

const SIZE = /^(\d+)\s*(b|kib|kb|mib|mb|gib|gb)?$/i;
const UNIT_BYTES: Record<string, number> = { b: 1, kb: 1000, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };

/** "20MiB", "512KiB" or a bare number of bytes → bytes. */
export function parseSize(variable: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const match = SIZE.exec(raw.trim());
  if (!match) throw new ConfigError(variable, `expected a size such as "20MiB" or a number of bytes, got ${JSON.stringify(raw)}`);
  return Number(match[1]) * UNIT_BYTES[(match[2] ?? "b").toLowerCase()]!;
}

export function parseCount(variable: string, raw: string | undefined, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw.trim());
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new ConfigError(variable, `expected a whole number ${range}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

export function parseJson<T>(variable: string, raw: string | undefined, schema: z.ZodMiniType<T>, fallback: T): T {
  if (raw === undefined || raw.trim() === "") return fallback;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new ConfigError(variable, "not valid JSON");
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length ? ` at ${issue.path.join(".")}` : "";
    throw new ConfigError(variable, `${issue.message}${where}`);
  }
  return parsed.data;
}

export function parseUrl(variable: string, raw: string | undefined, fallback: string): string {
  const value = raw?.trim() || fallback;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, "not a valid URL"); // the value itself may hold credentials: never echo it
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(variable, "must be an http(s) URL");
  return value.replace(/\/+$/, "");
}
