import type { NativeChatChunk } from "../core/native.ts";
import { estimateTextTokens } from "../core/usage.ts";
import { ChatAggregator } from "../dialects/openai/chat/aggregate.ts";
import { chatImageRefs, toNativeChat } from "../dialects/openai/chat/request.ts";
import { type ChatRequest, chatRequestSchema } from "../dialects/openai/chat/schema.ts";
import { ChatSseEncoder } from "../dialects/openai/chat/stream.ts";
import { validate } from "../dialects/openai/validate.ts";
import { readJsonBody } from "../http/body.ts";
import type { Caller } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import { answerCap, type GenerationSpec, runGeneration, withAnswerCeiling } from "../pipeline/generation.ts";
import { collectImages, imageLimits } from "../pipeline/image-budget.ts";

const chatSpec: GenerationSpec<ChatRequest, NativeChatChunk, ReadonlyMap<string, string>> = {
  kind: "chat",
  idPrefix: "chatcmpl",
  estimateTokens: (body) => ({
    prompt: estimatePromptTokens(body.messages),
    answer: body.max_completion_tokens ?? body.max_tokens ?? answerCap(body.options),
  }),
  prepare: prepareChatImages,
  downloads: (body) => chatImageRefs(body.messages).some(({ url }) => /^https?:/i.test(url)),
  toNative: (body, { model, defaults, limits, ceiling, prepared }) =>
    withAnswerCeiling(toNativeChat(body, { model, defaults, limits, remoteImages: prepared }), ceiling),
  encoder: (meta, body) => new ChatSseEncoder(meta, body.stream_options?.include_usage === true),
  aggregator: (meta, body) => new ChatAggregator(meta, body.logprobs === true),
};

/** An image costs the model a few hundred tokens whatever its byte size, so its base64 must not count as text. */
const IMAGE_TOKENS = 768;

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

/**
 * Every image of the request, checked against the image budget and downloaded once (see `collectImages`):
 * `image_url` value → base64, for `toNativeChat`'s `remoteImages`. Call it once per request, after the key is
 * checked and before a backend slot is taken; every backend tried then reuses the map.
 */
export function prepareChatImages(body: ChatRequest, app: AppContext, signal: AbortSignal): Promise<ReadonlyMap<string, string>> {
  return collectImages(chatImageRefs(body.messages), imageLimits(app.config), signal);
}
