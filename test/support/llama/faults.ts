// Fault injection for the llama-server emulator: which request gets which fault, and rule validation.
import type { LlamaFault, LlamaFaultRule } from "./types.ts";

export const DEFAULT_LLAMA_FAULT_PATHS = ["/v1/chat/completions", "/chat/completions", "/v1/completions", "/v1/embeddings"];
export const DEFAULT_MIDSTREAM_ERROR = "Internal error: model runner stopped";

/** Faults that cut a stream after some events. */
export type LineFault = Extract<LlamaFault, { afterLines: number }>;

export function isLineFault(fault: LlamaFault): fault is LineFault {
  return "afterLines" in fault;
}

export interface FaultSwitch {
  set(rule: LlamaFaultRule | null): void;
  /** The fault for this request, if any; consumes one of `times`. */
  take(path: string): LlamaFault | null;
}

export function createFaultSwitch(): FaultSwitch {
  let rule: LlamaFaultRule | null = null;
  let remaining = Infinity;
  return {
    set(next) {
      rule = next;
      remaining = next?.times ?? Infinity;
      if (remaining <= 0) rule = null;
    },
    take(path) {
      if (!rule || !(rule.paths ?? DEFAULT_LLAMA_FAULT_PATHS).includes(path)) return null;
      const { fault } = rule;
      remaining -= 1;
      if (remaining <= 0) rule = null;
      return fault;
    },
  };
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// The field each kind needs ("" for none).
const NEEDS: Record<string, string> = {
  "slow-first-byte": "delayMs", stall: "afterLines", drop: "afterLines", "error-midstream": "afterLines",
  busy: "", loading: "", html: "status",
};

/** Validate a rule received over HTTP; returns an error text when it is not a LlamaFaultRule. */
export function parseFaultRule(value: unknown): LlamaFaultRule | null | string {
  if (value === null) return null;
  if (!isObject(value) || !isObject(value.fault)) return "expected {fault:{kind,...}, times?, paths?} or null";
  const f = value.fault;
  const field = typeof f.kind === "string" ? NEEDS[f.kind] : undefined;
  if (field === undefined) return `unknown fault kind ${JSON.stringify(f.kind)}`;
  if (field && !isCount(f[field])) return `fault ${String(f.kind)} needs a non-negative integer ${field}`;
  if (f.message !== undefined && typeof f.message !== "string") return "fault message must be a string";
  if (value.times !== undefined && !isCount(value.times)) return "times must be a non-negative integer";
  const paths = value.paths;
  if (paths !== undefined && !(Array.isArray(paths) && paths.every((p) => typeof p === "string"))) {
    return "paths must be an array of strings";
  }
  return value as unknown as LlamaFaultRule;
}
