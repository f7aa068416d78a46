import type { NativeToolCall } from "../../core/native.ts";
import { NdjsonDecoder, type SkippedLine } from "../../core/ndjson.ts";
import { tokensForChars, toolCallTokens, type Usage } from "../../core/usage.ts";

type Line = Record<string, unknown>;

/** A JSON string literal as Ollama's encoder writes it (only where the line is counted, never to use its text). */
const LITERAL = String.raw`("(?:[^"\\]|\\.)*")`;
const NATIVE_PREFIX = String.raw`^\{"model":"(?:[^"\\]|\\.)*","created_at":"[^"\\]*",`;

/**
 * A plain native token line, /api/chat or /api/generate, answer text or thinking: recognised without JSON.parse
 * (the hot path). A content-bearing one has a literal other than `""`.
 */
const TOKEN_LINE = new RegExp(
  `${NATIVE_PREFIX}(?:"message":\\{"role":"assistant","content":${LITERAL}(?:,"thinking":${LITERAL})?\\}|"response":${LITERAL}(?:,"thinking":${LITERAL})?),"done":false\\}$`,
);

/** How an answer line of /api/chat or /api/generate starts, up to the opening quote of its text. */
const ANSWER_HEAD = new RegExp(`${NATIVE_PREFIX}"(?:message":\\{"role":"assistant","content":"|response":")`);

/** Ollama's counts, from its final line (`done:true`) or an /api/embed answer; null for any other line. */
function usageOf(line: Line): Usage | null {
  const final = line.done === true || Array.isArray(line.embeddings);
  if (!final) return null;
  const count = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : 0);
  const prompt = count(line.prompt_eval_count);
  const completion = count(line.eval_count);
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** About how many tokens one parsed line that is not the last carries: one per text line, tool calls by size. */
function generatedBy(line: Line): number {
  const message = typeof line.message === "object" && line.message !== null ? (line.message as Line) : line;
  const text = (value: unknown) => typeof value === "string" && value !== "";
  let tokens = text(message.content) || text(message.thinking) || text(line.response) || text(line.thinking) ? 1 : 0;
  if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) tokens += toolCallTokens(message.tool_calls as NativeToolCall[]);
  return tokens;
}

/**
 * An estimate for a line that could not be decoded (over the size limit, malformed, or cut short): if it is an
 * answer line, its text at four characters a token, at least one; anything else (a verbose /api/show, a huge
 * /api/embed answer, a proxy's garbage) is no generated text.
 */
function estimateSkipped(line: SkippedLine): number {
  const head = ANSWER_HEAD.exec(line.head);
  return head ? Math.max(1, tokensForChars(line.chars - head[0].length)) : 0;
}

/**
 * What a native answer used, read from a copy of its bytes: Ollama's own counts once its final line arrives;
 * until then (a client that left, a body cut short, counts that never came) an estimate of what was generated —
 * one token per line of answer text or thinking (Ollama sends about one per line), tool calls and undecodable
 * answer lines by their size — with the prompt unknown (0), which settlement charges at its estimate. Plain token
 * lines are counted without JSON.parse. Never throws: accounting must not disturb the relay.
 */
export class NativeUsageMeter {
  #final: Usage | null = null;
  #generated = 0;
  /** Bytes read after the decoder failed unexpectedly: estimated by size. */
  #undecoded = 0;
  #decoding = true;
  readonly #decoder = new NdjsonDecoder<Line>(
    (line) => {
      const match = TOKEN_LINE.exec(line);
      if (!match) return false;
      for (let i = 1; i < match.length; i++) {
        if (match[i] !== undefined && match[i] !== '""') {
          this.#generated++;
          break;
        }
      }
      return true;
    },
    (skipped) => {
      this.#generated += estimateSkipped(skipped);
    },
  );
  readonly #observe = (line: Line): void => {
    const final = usageOf(line);
    if (final) this.#final = final;
    else this.#generated += generatedBy(line);
  };

  push(bytes: Uint8Array): void {
    if (!this.#decoding) {
      this.#undecoded += bytes.byteLength;
      return;
    }
    try {
      this.#decoder.push(bytes, this.#observe);
    } catch {
      this.#decoding = false;
      this.#undecoded += bytes.byteLength;
    }
  }

  /** The body ended: a last line without a newline still counts. */
  flush(): void {
    if (!this.#decoding) return;
    try {
      this.#decoder.flush(this.#observe);
    } catch {
      this.#decoding = false;
    }
  }

  /** The counts to settle with: Ollama's, or the estimate so far (a line cut short included). */
  usage(): Usage {
    if (this.#final) return this.#final;
    const pending = this.#decoding ? this.#decoder.pending : null;
    const completion = this.#generated + (pending ? estimateSkipped(pending) : 0) + tokensForChars(this.#undecoded);
    return { prompt_tokens: 0, completion_tokens: completion, total_tokens: completion };
  }
}
