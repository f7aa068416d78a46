// The context window, as Ollama applies it to a chat: what a prompt costs, and what of it the model still sees.
import type { Json } from "./answers.ts";
import { isObject, wordCount } from "./answers.ts";
import type { EmulatedModel } from "./types.ts";

/**
 * The window when the request sets no `options.num_ctx`: Ollama's default on a machine with less than 24 GiB of
 * VRAM (and OLLAMA_CONTEXT_LENGTH unset).
 */
export const DEFAULT_NUM_CTX = 4096;

/** The emulated tokenizer: a word is a token, and each message costs one more (its role). */
const messageTokens = (message: Json): number => wordCount(message.content) + 1;

/** The tools are rendered into the prompt by the model's template: their JSON's words count too. */
const toolTokens = (tools: readonly unknown[]): number => (tools.length ? wordCount(JSON.stringify(tools)) : 0);

/** What a whole chat prompt costs in emulated tokens, before any cut. */
export function chatPromptTokens(messages: readonly Json[], tools: readonly unknown[]): number {
  return messages.reduce((n, message) => n + messageTokens(message), toolTokens(tools));
}

/**
 * The window of one request: its `options.num_ctx`, else the server's default (`serverNumCtx`, Ollama's
 * OLLAMA_CONTEXT_LENGTH), never more than the model was trained for.
 */
export function contextWindow(options: unknown, serverNumCtx: number, model: EmulatedModel): number {
  const value = isObject(options) ? options.num_ctx : undefined;
  const asked = typeof value === "number" && Number.isInteger(value) && value > 0 ? value : serverNumCtx;
  return Math.min(asked, model.contextLength || Number.MAX_SAFE_INTEGER);
}

/**
 * A prompt longer than the window is cut silently, as Ollama's chatPrompt does: the oldest messages go first, never
 * the system messages or the last message; what still does not fit is cut by the runner, so the count the answer
 * reports never exceeds the window. The answer is written from the messages kept.
 */
export function fitContext(messages: Json[], tools: readonly unknown[], window: number): { kept: Json[]; promptCount: number } {
  const total = chatPromptTokens(messages, tools);
  if (total <= window || messages.length === 0) return { kept: messages, promptCount: total };
  const fixed = toolTokens(tools);
  let start = messages.length - 1;
  for (let n = 0; n < messages.length - 1; n++) {
    const systemBefore = messages.slice(0, n).filter((message) => message.role === "system");
    const cost = fixed + [...systemBefore, ...messages.slice(n)].reduce((sum, message) => sum + messageTokens(message), 0);
    if (cost <= window) {
      start = n;
      break;
    }
  }
  const kept = [...messages.slice(0, start).filter((message) => message.role === "system"), ...messages.slice(start)];
  return { kept, promptCount: Math.min(window, chatPromptTokens(kept, tools)) };
}
