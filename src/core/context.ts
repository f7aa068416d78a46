import type { NativeChatRequest, NativeGenerateRequest, NativeMessage } from "./native.ts";
import { IMAGE_TOKENS } from "./usage.ts";

/**
 * Context windows, the pure part: how many tokens a native request's prompt takes (an estimate that errs on the
 * safe side) and how the oldest turns of a conversation are dropped to make it fit. Ollama itself would keep only
 * the last `num_ctx` tokens and say nothing, so the system prompt and the start of the task would vanish.
 */

/**
 * Bytes of UTF-8 per token, at the least. Tokenizers of current models (Llama 3, Qwen, Gemma) make about 4 bytes
 * of English a token, 3–3.5 of code or JSON, and a CJK character (3 bytes) one token; a third of the bytes counts
 * each of them at least as high as it is, bar dense punctuation (test/unit/context-estimate.test.ts measures it).
 */
const BYTES_PER_TOKEN = 3;
/** A chat template wraps each message in a few tokens (role markers, separators). */
const MESSAGE_OVERHEAD = 6;
/** The template's own start (BOS, a default system header) and the assistant header the answer starts after. */
const PROMPT_OVERHEAD = 16;

const utf8 = new TextEncoder();

function textTokens(text: string | undefined): number {
  if (!text) return 0;
  // ASCII is one byte a character: skip encoding in the common case.
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  return Math.ceil((ascii ? text.length : utf8.encode(text).byteLength) / BYTES_PER_TOKEN);
}

function messageTokens(message: NativeMessage): number {
  let tokens = MESSAGE_OVERHEAD + textTokens(message.content) + textTokens(message.thinking);
  if (message.tool_calls?.length) tokens += textTokens(JSON.stringify(message.tool_calls));
  if (message.images?.length) tokens += message.images.length * IMAGE_TOKENS;
  return tokens;
}

/** The estimated prompt of a native chat or generate request: its messages (or prompt), tool schemas and images. */
export function estimatePromptTokens(request: NativeChatRequest | NativeGenerateRequest): number {
  let tokens = PROMPT_OVERHEAD;
  if ("messages" in request) {
    for (const message of request.messages) tokens += messageTokens(message);
    if (request.tools?.length) tokens += textTokens(JSON.stringify(request.tools));
  } else {
    tokens += textTokens(request.prompt) + textTokens(request.system) + textTokens(request.suffix);
    if (request.images?.length) tokens += request.images.length * IMAGE_TOKENS;
  }
  return tokens;
}

/**
 * The turns that may be dropped, oldest first: each a run of messages from a user message up to the next one
 * (so an assistant's tool calls and their results go together). System messages are never dropped, nor is the
 * last user message or anything after it (the turn being answered, with its tool rounds).
 */
function droppableTurns(messages: readonly NativeMessage[]): number[][] {
  let lastUser = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.role === "user") {
      lastUser = i;
      break;
    }
  }
  const turns: number[][] = [];
  for (let i = 0; i < lastUser; i++) {
    if (messages[i]!.role === "system") continue;
    // Messages before the first user message (an assistant greeting) form a turn of their own.
    if (messages[i]!.role === "user" || turns.length === 0) turns.push([]);
    turns.at(-1)!.push(i);
  }
  return turns;
}

export interface Trimmed {
  messages: NativeMessage[];
  /** Turns dropped, oldest first. */
  dropped: number;
}

/**
 * Drop the oldest turns until `fits` says the conversation fits (each dropped turn whole); null when even the
 * system messages and the last turn alone do not fit.
 */
export function dropOldestTurns(messages: readonly NativeMessage[], fits: (messages: NativeMessage[]) => boolean): Trimmed | null {
  if (fits(messages as NativeMessage[])) return { messages: messages as NativeMessage[], dropped: 0 };
  const turns = droppableTurns(messages);
  const removed = new Set<number>();
  for (let dropped = 1; dropped <= turns.length; dropped++) {
    for (const index of turns[dropped - 1]!) removed.add(index);
    const kept = messages.filter((_, index) => !removed.has(index));
    if (fits(kept)) return { messages: kept, dropped };
  }
  return null;
}
