import type { NativeLogprob, NativeToolCall } from "../../core/native.ts";

/** Pieces shared by the streaming encoder and the non-stream aggregator. */

export interface OpenAIToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface OpenAITokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
}

export interface OpenAILogprob extends OpenAITokenLogprob {
  top_logprobs: OpenAITokenLogprob[];
}

export type FinishReason = "stop" | "length" | "tool_calls";

/** The metadata every chunk of one completion repeats. */
export interface CompletionMeta {
  id: string;
  created: number;
  /** The name the client sent (an alias stays an alias). */
  model: string;
  systemFingerprint: string;
}

/**
 * Ollama's done_reason → OpenAI's finish_reason. A normal stop after tool calls is "tool_calls"; anything
 * OpenAI clients do not know (load, unload, empty) becomes "stop" rather than a value their types reject.
 */
export function finishReason(doneReason: string | undefined, sawToolCalls: boolean): FinishReason {
  if (doneReason === "length") return "length";
  return sawToolCalls ? "tool_calls" : "stop";
}

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/** Ollama before v0.12.10 sent tool calls without ids; clients need one to answer the call. */
export function newToolCallId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let id = "call_";
  for (const byte of bytes) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return id;
}

export function toOpenAIToolCall(call: NativeToolCall): OpenAIToolCall {
  return {
    id: call.id || newToolCallId(),
    type: "function",
    function: { name: call.function.name, arguments: JSON.stringify(call.function.arguments ?? {}) },
  };
}

const utf8 = new TextEncoder();

function tokenLogprob(entry: { token: string; logprob: number; bytes?: number[] }): OpenAITokenLogprob {
  return { token: entry.token, logprob: entry.logprob, bytes: entry.bytes ?? Array.from(utf8.encode(entry.token)) };
}

export function toOpenAILogprobs(entries: readonly NativeLogprob[]): OpenAILogprob[] {
  return entries.map((entry) => ({ ...tokenLogprob(entry), top_logprobs: (entry.top_logprobs ?? []).map(tokenLogprob) }));
}

export function completionId(prefix: "chatcmpl" | "cmpl"): string {
  return `${prefix}-${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
}
