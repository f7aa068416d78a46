import type { NativeLogprob } from "../../../core/native.ts";
import type { Usage } from "../../../core/usage.ts";

/** Pieces shared by the legacy completions encoder and aggregator. */

export type CompletionFinishReason = "stop" | "length";

/** OpenAI's legacy logprobs: parallel arrays, one entry per generated token. */
export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: number[];
  /** One object per position: token string → logprob, the chosen token always among them. */
  top_logprobs: Record<string, number>[];
  /** Character (code point) offset of each token in the returned text, counting an echoed prompt. */
  text_offset: number[];
}

export interface TextCompletion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: [{ text: string; index: 0; logprobs: LegacyLogprobs | null; finish_reason: CompletionFinishReason }];
  usage: Usage;
}

/** Ollama's done_reason → finish_reason: `length` when num_predict was hit; everything else (stop, load, unload) is `stop`. */
export function completionFinishReason(doneReason: string | undefined): CompletionFinishReason {
  return doneReason === "length" ? "length" : "stop";
}

/** Characters as Python (and so OpenAI's text_offset) counts them: code points, not UTF-16 units. */
export function codePoints(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xdc00 && unit <= 0xdfff && i > 0) {
      const previous = text.charCodeAt(i - 1);
      if (previous >= 0xd800 && previous <= 0xdbff) n--;
    }
  }
  return n;
}

export function emptyLegacyLogprobs(): LegacyLogprobs {
  return { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
}

/**
 * Append native logprob entries to `into`, the first token starting at `offset` in the returned text. Within one
 * line the offsets advance by token length; callers resync `offset` from the text itself on every line.
 * Alternatives keep the first (most likely) logprob of a repeated string; as OpenAI documents, the chosen token is
 * always included, so a position may hold N+1 entries.
 */
export function appendLegacyLogprobs(into: LegacyLogprobs, entries: readonly NativeLogprob[], offset: number): void {
  let at = offset;
  for (const entry of entries) {
    into.tokens.push(entry.token);
    into.token_logprobs.push(entry.logprob);
    into.text_offset.push(at);
    const top = new Map<string, number>();
    for (const alternative of entry.top_logprobs ?? []) {
      if (!top.has(alternative.token)) top.set(alternative.token, alternative.logprob);
    }
    if (!top.has(entry.token)) top.set(entry.token, entry.logprob);
    into.top_logprobs.push(Object.fromEntries(top));
    at += codePoints(entry.token);
  }
}
