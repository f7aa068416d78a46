// Fault injection: which request gets which fault, and the faults that replace a whole answer.
import { isObject } from "./answers.ts";
import type { Fault, FaultRule } from "./types.ts";

export const DEFAULT_FAULT_PATHS = ["/api/chat", "/api/generate"];
export const BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded";
export const DEFAULT_MIDSTREAM_ERROR =
  "model runner has unexpectedly stopped, this may be due to resource limitations or an internal error, check ollama server logs for details";

/** Faults that cut a stream after some lines. */
export type LineFault = Extract<Fault, { afterLines: number }>;

export function isLineFault(fault: Fault): fault is LineFault {
  return "afterLines" in fault;
}

/** What both emulators' fault rules have in common. */
interface AnyRule {
  fault: unknown;
  times?: number;
  paths?: string[];
}

export interface FaultSwitch<R extends AnyRule = FaultRule> {
  set(rule: R | null): void;
  /** The fault for this request, if any; consumes one of `times`. */
  take(path: string): R["fault"] | null;
}

/** One fault rule at a time, for the paths it names (default `defaultPaths`), `times` times or until cleared. */
export function createFaultSwitch<R extends AnyRule = FaultRule>(defaultPaths: readonly string[] = DEFAULT_FAULT_PATHS): FaultSwitch<R> {
  let rule: R | null = null;
  let remaining = Infinity;
  return {
    set(next) {
      rule = next;
      remaining = next?.times ?? Infinity;
      if (remaining <= 0) rule = null;
    },
    take(path) {
      if (!rule || !(rule.paths ?? defaultPaths).includes(path)) return null;
      const { fault } = rule;
      remaining -= 1;
      if (remaining <= 0) rule = null;
      return fault;
    },
  };
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/** The number field each Ollama fault kind needs ("" for none). */
const OLLAMA_FAULT_FIELDS: Record<string, string> = {
  "slow-first-byte": "delayMs",
  stall: "afterLines",
  "error-midstream": "afterLines",
  busy: "",
  drop: "afterLines",
  malformed: "afterLines",
  html: "status",
  forbidden: "",
  "access-redirect": "",
};

/**
 * Validate a rule received over HTTP against `fields` (each kind's required number field); returns an error text
 * when it is not a rule.
 */
export function parseFaultRule<R = FaultRule>(value: unknown, fields: Readonly<Record<string, string>> = OLLAMA_FAULT_FIELDS): R | null | string {
  if (value === null) return null;
  if (!isObject(value) || !isObject(value.fault)) return "expected {fault:{kind,...}, times?, paths?} or null";
  const f = value.fault;
  const field = typeof f.kind === "string" && Object.hasOwn(fields, f.kind) ? fields[f.kind] : undefined;
  if (field === undefined) return `unknown fault kind ${JSON.stringify(f.kind)}`;
  if (field && !isCount(f[field])) return `fault ${String(f.kind)} needs a non-negative integer ${field}`;
  if (f.message !== undefined && typeof f.message !== "string") return "fault message must be a string";
  if (value.times !== undefined && !isCount(value.times)) return "times must be a non-negative integer";
  const paths = value.paths;
  if (paths !== undefined && !(Array.isArray(paths) && paths.every((p) => typeof p === "string"))) {
    return "paths must be an array of strings";
  }
  return value as unknown as R;
}

const CLOUDFLARE_ERRORS: Record<number, [string, string]> = {
  502: ["Bad gateway", "Error code 502"],
  503: ["Service unavailable", "Error code 503"],
  504: ["Gateway time-out", "Error code 504"],
  520: ["Web server is returning an unknown error", "Error code 520"],
  521: ["Web server is down", "Error code 521"],
  522: ["Connection timed out", "Error code 522"],
  523: ["Origin is unreachable", "Error code 523"],
  524: ["A timeout occurred", "Error code 524"],
  530: ["Origin is unreachable", "Error 1033"],
};

// What a tunnel or the Cloudflare edge sends instead of Ollama's JSON when the origin is unhealthy.
export function cloudflareErrorPage(status: number): string {
  const [title, code] = CLOUDFLARE_ERRORS[status] ?? ["Error", `Error code ${status}`];
  return (
    `<!DOCTYPE html><html lang="en-US"><head><title>${title} | example.com | Cloudflare</title></head>` +
    `<body><div id="cf-error-details"><h1>${code}</h1><h2>${title}</h2>` +
    `<p>Ray ID: 8f00000000000000 &bull; Performance &amp; security by Cloudflare</p></div></body></html>`
  );
}
