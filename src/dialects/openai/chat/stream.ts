import type { NativeChatChunk, NativeLogprob } from "../../../core/native.ts";
import { PLAIN_CHAT_TOKEN } from "../../../core/plain-lines.ts";
import { toolCallTokens } from "../../../core/usage.ts";
import { type CompletionMeta, finishReason, toOpenAILogprobs, toOpenAIToolCall } from "../common.ts";
import { SseEncoder } from "../sse-encoder.ts";

/**
 * Native /api/chat lines → OpenAI `chat.completion.chunk` SSE frames, exactly as OpenAI frames them: one id and
 * `created` for all chunks, `role` only in the first, a finish chunk with `delta:{}`, an optional usage chunk
 * with `choices:[]`, then `data: [DONE]`. Per token only the escaped delta is spliced into the envelope template.
 */
export class ChatSseEncoder extends SseEncoder<NativeChatChunk> {
  #started = false;
  #sawToolCalls = false;
  #toolIndex = 0;

  constructor(meta: CompletionMeta, includeUsage: boolean) {
    super(meta, "chat.completion.chunk", `{"index":0,"delta":`, includeUsage);
  }

  rawLine(line: string): string | null {
    if (this.finished) return null;
    const match = PLAIN_CHAT_TOKEN.exec(line);
    if (!match) return null;
    const literal = match[1]!;
    if (literal === '""') return "";
    this.countGenerated();
    return this.#frame(`"content":${literal}`, undefined);
  }

  protected encode(chunk: NativeChatChunk): string {
    const message = chunk.message;
    if (message?.content || message?.thinking) this.countGenerated();
    let out = "";
    if (message?.thinking) {
      const text = JSON.stringify(message.thinking);
      out += this.#frame(`"reasoning_content":${text},"reasoning":${text}`, undefined);
    }
    if (message?.content || chunk.logprobs?.length) {
      out += this.#frame(`"content":${JSON.stringify(message?.content ?? "")}`, chunk.logprobs);
    }
    if (message?.tool_calls?.length) {
      // A tool call is generated text too: charged by its size if the stream is cut before the backend's counts.
      for (let i = toolCallTokens(message.tool_calls); i > 0; i--) this.countGenerated();
      const calls = message.tool_calls.map((call) => ({ index: this.#toolIndex++, ...toOpenAIToolCall(call) }));
      this.#sawToolCalls = true;
      out += this.#frame(`"tool_calls":${JSON.stringify(calls)}`, undefined);
    }
    if (chunk.done) out += this.#finish(chunk);
    return out;
  }

  #frame(deltaFields: string, logprobs: readonly NativeLogprob[] | undefined): string {
    const role = this.#started ? "" : `"role":"assistant",`;
    this.#started = true;
    const lp = logprobs?.length ? JSON.stringify({ content: toOpenAILogprobs(logprobs), refusal: null }) : "null";
    return `${this.head}{${role}${deltaFields}},"logprobs":${lp},"finish_reason":null}]${this.tail}`;
  }

  #finish(chunk: NativeChatChunk): string {
    const first = this.#started ? "" : this.#frame(`"content":""`, undefined);
    const reason = finishReason(chunk.done_reason, this.#sawToolCalls);
    return this.complete(`${first}${this.head}{},"logprobs":null,"finish_reason":"${reason}"}]${this.tail}`, chunk);
  }
}
