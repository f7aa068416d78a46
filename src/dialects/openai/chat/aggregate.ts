import { closedEarly, failedDuringGeneration } from "../../../core/errors.ts";
import type { NativeChatChunk } from "../../../core/native.ts";
import { toolCallTokens, type Usage, usageOf, usageSoFar } from "../../../core/usage.ts";
import {
  type CompletionMeta,
  type FinishReason,
  finishReason,
  type OpenAILogprob,
  type OpenAIToolCall,
  toOpenAILogprobs,
  toOpenAIToolCall,
} from "../common.ts";

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: [
    {
      index: 0;
      message: {
        role: "assistant";
        content: string | null;
        refusal: null;
        tool_calls?: OpenAIToolCall[];
        reasoning_content?: string;
        reasoning?: string;
      };
      logprobs: { content: OpenAILogprob[]; refusal: null } | null;
      finish_reason: FinishReason;
    },
  ];
  usage: Usage;
}

/** Assembles a non-stream `chat.completion` from the streamed native lines (upstream is always streamed). */
export class ChatAggregator {
  readonly #meta: CompletionMeta;
  readonly #wantLogprobs: boolean;
  #content = "";
  #thinking = "";
  #toolCalls: OpenAIToolCall[] = [];
  #logprobs: OpenAILogprob[] = [];
  #last: NativeChatChunk | null = null;
  /** About the tokens generated so far, for an answer cut short. */
  #generated = 0;

  constructor(meta: CompletionMeta, wantLogprobs: boolean) {
    this.#meta = meta;
    this.#wantLogprobs = wantLogprobs;
  }

  get done(): boolean {
    return this.#last !== null;
  }

  line(chunk: NativeChatChunk): void {
    if (this.#last) return;
    if (typeof chunk.error === "string") {
      throw failedDuringGeneration(chunk.error);
    }
    const message = chunk.message;
    if (message?.content) this.#content += message.content;
    if (message?.thinking) this.#thinking += message.thinking;
    if (message?.content || message?.thinking) this.#generated++;
    if (message?.tool_calls?.length) {
      this.#generated += toolCallTokens(message.tool_calls);
      this.#toolCalls.push(...message.tool_calls.map(toOpenAIToolCall));
    }
    if (chunk.logprobs?.length) this.#logprobs.push(...toOpenAILogprobs(chunk.logprobs));
    if (chunk.done) this.#last = chunk;
  }

  /** What the answer used so far (see `usageSoFar`). */
  usage(): Usage {
    return usageSoFar(this.#last, this.#generated);
  }

  result(): ChatCompletion {
    const last = this.#last;
    if (!last) throw closedEarly();
    const hasTools = this.#toolCalls.length > 0;
    const message: ChatCompletion["choices"][0]["message"] = {
      role: "assistant",
      content: hasTools && this.#content === "" ? null : this.#content,
      refusal: null,
    };
    if (hasTools) message.tool_calls = this.#toolCalls;
    if (this.#thinking) {
      message.reasoning_content = this.#thinking;
      message.reasoning = this.#thinking;
    }
    return {
      id: this.#meta.id,
      object: "chat.completion",
      created: this.#meta.created,
      model: this.#meta.model,
      system_fingerprint: this.#meta.systemFingerprint,
      choices: [
        {
          index: 0,
          message,
          logprobs: this.#wantLogprobs ? { content: this.#logprobs, refusal: null } : null,
          finish_reason: finishReason(last.done_reason, hasTools),
        },
      ],
      usage: usageOf(last),
    };
  }
}
