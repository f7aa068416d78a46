/** Token counts: what a request used, and the estimates used before (or instead of) the backend's own counts. */

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** A rough token count for text: about four characters a token, the usual rule of thumb for English. */
export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** A request that reached its backend but saw nothing generated: settled so that its prompt is charged at its estimate. */
export const NOTHING_GENERATED: Usage = Object.freeze({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 });

/** What to settle with: the counts or estimate there is; with none, nothing generated if the backend was reached. */
export function chargeable(usage: Usage | null, reached: boolean): Usage | null {
  return usage ?? (reached ? NOTHING_GENERATED : null);
}
