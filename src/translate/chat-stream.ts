import type { NativeChatChunk, NativeLogprob } from "../ollama/types.ts";
import { ApiError } from "../http/errors.ts";
import { type CompletionMeta, finishReason, toOpenAILogprobs, toOpenAIToolCall, type Usage, usageOf } from "./chat-common.ts";

/**
 * Native /api/chat lines → OpenAI `chat.completion.chunk` SSE frames, exactly as OpenAI frames them: one id and
 * `created` for all chunks, `role` only in the first, a finish chunk with `delta:{}`, an optional usage chunk
 * with `choices:[]`, then `data: [DONE]`. The chunk envelope is a precomputed template: per token only the
 * escaped delta is spliced in, which keeps the per-token cost to one JSON.stringify of a string.
 */
export class ChatSseEncoder {
  readonly #head: string;
  readonly #tail: string;
  readonly #usageHead: string;
  readonly #includeUsage: boolean;
  #started = false;
  #sawToolCalls = false;
  #toolIndex = 0;
  #finished = false;
  #final: Usage | null = null;
  #generated = 0;

  constructor(meta: CompletionMeta, includeUsage: boolean) {
    const envelope =
      `{"id":${JSON.stringify(meta.id)},"object":"chat.completion.chunk","created":${meta.created},` +
      `"model":${JSON.stringify(meta.model)},"system_fingerprint":${JSON.stringify(meta.systemFingerprint)},`;
    this.#head = `data: ${envelope}"choices":[{"index":0,"delta":`;
    this.#tail = includeUsage ? `,"usage":null}\n\n` : `}\n\n`;
    this.#usageHead = `data: ${envelope}"choices":[],"usage":`;
    this.#includeUsage = includeUsage;
  }

  /** True once [DONE] or an error event was produced: later input is ignored. */
  get finished(): boolean {
    return this.#finished;
  }

  /** One upstream line → zero or more SSE frames. */
  line(chunk: NativeChatChunk): string {
    if (this.#finished) return "";
    if (typeof chunk.error === "string") return this.error(`The backend failed during generation: ${chunk.error}`);
    const message = chunk.message;
    if (message?.content || message?.thinking) this.#generated++;
    let out = "";
    if (message?.thinking) {
      const text = JSON.stringify(message.thinking);
      out += this.#frame(`"reasoning_content":${text},"reasoning":${text}`, undefined);
    }
    if (message?.content || chunk.logprobs?.length) {
      out += this.#frame(`"content":${JSON.stringify(message?.content ?? "")}`, chunk.logprobs);
    }
    if (message?.tool_calls?.length) {
      const calls = message.tool_calls.map((call) => ({ index: this.#toolIndex++, ...toOpenAIToolCall(call) }));
      this.#sawToolCalls = true;
      out += this.#frame(`"tool_calls":${JSON.stringify(calls)}`, undefined);
    }
    if (chunk.done) out += this.#finish(chunk);
    return out;
  }

  /**
   * Tokens used: the backend's counts once it finished, else (client gone, backend failed) the answer lines seen
   * so far, about one token each, with the prompt unknown (0) — so a limit can still charge what was generated.
   */
  usage(): Usage | null {
    if (this.#final) return this.#final;
    return this.#generated ? { prompt_tokens: 0, completion_tokens: this.#generated, total_tokens: this.#generated } : null;
  }

  /** A failure after the stream started: OpenAI's error envelope as the last event, then the stream ends. */
  error(message: string, code = "backend_error"): string {
    if (this.#finished) return "";
    this.#finished = true;
    return `data: ${JSON.stringify(new ApiError(502, message, "server_error", code).toBody())}\n\n`;
  }

  /** The upstream body ended. Without a done line that is a truncated answer, which the client must hear about. */
  end(): string {
    return this.error("The backend closed the stream before the answer was complete.");
  }

  #frame(deltaFields: string, logprobs: readonly NativeLogprob[] | undefined): string {
    const role = this.#started ? "" : `"role":"assistant",`;
    this.#started = true;
    const lp = logprobs?.length ? JSON.stringify({ content: toOpenAILogprobs(logprobs), refusal: null }) : "null";
    return `${this.#head}{${role}${deltaFields}},"logprobs":${lp},"finish_reason":null}]${this.#tail}`;
  }

  #finish(chunk: NativeChatChunk): string {
    let out = this.#started ? "" : this.#frame(`"content":""`, undefined);
    const reason = finishReason(chunk.done_reason, this.#sawToolCalls);
    out += `${this.#head}{},"logprobs":null,"finish_reason":"${reason}"}]${this.#tail}`;
    this.#final = usageOf(chunk);
    if (this.#includeUsage) out += `${this.#usageHead}${JSON.stringify(this.#final)}}\n\n`;
    this.#finished = true;
    return `${out}data: [DONE]\n\n`;
  }
}
