import type { NativeMetrics, NativeToolCall } from "./native.ts";

/** Token counts: what a request used, and the estimates used before (or instead of) the backend's own counts. */

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Tokens in `chars` characters: about four characters a token, the usual rule of thumb for English. */
export function tokensForChars(chars: number): number {
  return Math.ceil(chars / 4);
}

/** A rough token count for text (see `tokensForChars`). */
export function estimateTextTokens(text: string): number {
  return tokensForChars(text.length);
}

/**
 * About the tokens a model spent writing these tool calls (Ollama sends each call whole, in one line): their JSON
 * at four characters a token, at least one.
 */
export function toolCallTokens(calls: readonly NativeToolCall[]): number {
  return Math.max(1, tokensForChars(JSON.stringify(calls).length));
}

/** An image costs the model a few hundred tokens whatever its byte size, so its base64 must not count as text. */
export const IMAGE_TOKENS = 768;

/** A request that reached its backend but saw nothing generated: settled so that its prompt is charged at its estimate. */
export const NOTHING_GENERATED: Usage = Object.freeze({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });

/** What to settle with: the counts or estimate there is; with none, nothing generated if the backend was reached. */
export function chargeable(usage: Usage | null, reached: boolean): Usage | null {
  return usage ?? (reached ? NOTHING_GENERATED : null);
}

/**
 * What an answer used so far: the backend's counts once its final line arrived; until then the answer lines seen,
 * about a token each, with the prompt unknown (0: settlement charges its estimate).
 */
export function usageSoFar(final: NativeMetrics | null, generated: number): Usage {
  return final ? usageOf(final) : { prompt_tokens: 0, completion_tokens: generated, total_tokens: generated };
}

/** Usage from a final line's counts (/api/chat and /api/generate lines carry the same metrics). */
export function usageOf(chunk: NativeMetrics): Usage {
  const prompt = chunk.prompt_eval_count ?? 0;
  const completion = chunk.eval_count ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
