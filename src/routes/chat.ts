import { answerCap } from "../core/model-settings.ts";
import type { NativeChatChunk } from "../core/native.ts";
import { estimateTextTokens, IMAGE_TOKENS } from "../core/usage.ts";
import { validate } from "../core/validate.ts";
import { ChatAggregator } from "../dialects/openai/chat/aggregate.ts";
import { chatImageRefs, toNativeChat } from "../dialects/openai/chat/request.ts";
import { type ChatRequest, chatRequestSchema } from "../dialects/openai/chat/schema.ts";
import { ChatSseEncoder } from "../dialects/openai/chat/stream.ts";
import { readJsonBody } from "../http/body.ts";
import type { Caller } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import { type GenerationSpec, runGeneration, withAnswerCeiling } from "../pipeline/generation.ts";

const chatSpec: GenerationSpec<ChatRequest, NativeChatChunk> = {
  kind: "chat",
  idPrefix: "chatcmpl",
  estimateTokens: (body) => ({
    prompt: estimatePromptTokens(body.messages),
    answer: body.max_completion_tokens ?? body.max_tokens ?? answerCap(body.options),
  }),
  images: (body) => chatImageRefs(body.messages),
  toNative: (body, { model, defaults, limits, ceiling, images }) =>
    withAnswerCeiling(toNativeChat(body, { model, defaults, limits, remoteImages: images }), ceiling),
  encoder: (meta, body) => new ChatSseEncoder(meta, body.stream_options?.include_usage === true),
  aggregator: (meta, body) => new ChatAggregator(meta, body.logprobs === true),
};

function estimatePromptTokens(messages: ChatRequest["messages"]): number {
  let tokens = 0;
  for (const message of messages) {
    const content = message.content;
    if (typeof content === "string") tokens += estimateTextTokens(content);
    else if (Array.isArray(content)) {
      for (const part of content) tokens += part.type === "image_url" ? IMAGE_TOKENS : estimateTextTokens(JSON.stringify(part));
    }
    if (message.role === "assistant" && message.tool_calls) tokens += estimateTextTokens(JSON.stringify(message.tool_calls));
  }
  return tokens;
}

/** POST /v1/chat/completions → native /api/chat. */
export async function chatCompletions(request: Request, app: AppContext, caller: Caller): Promise<Response> {
  const raw = await readJsonBody(request, app.config.maxBodyBytes);
  const body = validate(chatRequestSchema, raw);
  return runGeneration(request, app, caller, body, chatSpec, raw as Record<string, unknown>);
}
