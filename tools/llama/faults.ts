// Fault injection for the llama-server emulator: which request gets which fault, and rule validation.
import { createFaultSwitch as createSharedSwitch, parseFaultRule as parseSharedRule, type FaultSwitch as SharedSwitch } from "../emulator/faults.ts";
import type { LlamaFault, LlamaFaultRule } from "./types.ts";

export const DEFAULT_LLAMA_FAULT_PATHS = ["/v1/chat/completions", "/chat/completions", "/v1/completions", "/v1/embeddings"];
export const DEFAULT_MIDSTREAM_ERROR = "Internal error: model runner stopped";

/** Faults that cut a stream after some events. */
export type LineFault = Extract<LlamaFault, { afterLines: number }>;

export function isLineFault(fault: LlamaFault): fault is LineFault {
  return "afterLines" in fault;
}

export type LlamaFaultSwitch = SharedSwitch<LlamaFaultRule>;
export type { LlamaFaultSwitch as FaultSwitch };

/** The same switch as the Ollama emulator's, over llama-server's inference routes. */
export const createFaultSwitch = (): LlamaFaultSwitch => createSharedSwitch<LlamaFaultRule>(DEFAULT_LLAMA_FAULT_PATHS);

/** The number field each llama-server fault kind needs ("" for none). */
const LLAMA_FAULT_FIELDS: Record<string, string> = {
  "slow-first-byte": "delayMs",
  stall: "afterLines",
  drop: "afterLines",
  "error-midstream": "afterLines",
  busy: "",
  loading: "",
  html: "status",
};

/** Validate a rule received over HTTP; returns an error text when it is not a LlamaFaultRule. */
export const parseFaultRule = (value: unknown): LlamaFaultRule | null | string => parseSharedRule<LlamaFaultRule>(value, LLAMA_FAULT_FIELDS);
