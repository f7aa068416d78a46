import { readJsonBody } from "../http/body.ts";
import { chatRequestSchema, type ChatRequest } from "../openai/chat-schema.ts";
import { validate } from "../openai/validate.ts";
import type { NativeChatChunk } from "../ollama/types.ts";
import { ChatAggregator } from "../translate/chat-aggregate.ts";
import { remoteImageUrls, toNativeChat } from "../translate/chat-request.ts";
import { ChatSseEncoder } from "../translate/chat-stream.ts";
import { fetchImage } from "../translate/images.ts";
import type { AppContext } from "./context.ts";
import { estimateTextTokens, type GenerationSpec, runGeneration } from "./generation.ts";

/** Without max_tokens, reserve this many answer tokens for token limits; the real count settles it. */
const DEFAULT_ANSWER_ESTIMATE = 1024;

const chatSpec: GenerationSpec<ChatRequest, NativeChatChunk> = {
  upstreamPath: "/api/chat",
  openaiPath: "/v1/chat/completions",
  idPrefix: "chatcmpl",
  estimateTokens: (body) => ({
    prompt: estimatePromptTokens(body.messages),
    answer: body.max_completion_tokens ?? body.max_tokens ?? DEFAULT_ANSWER_ESTIMATE,
  }),
  toNative: async (body, { model, defaults, signal, app }) =>
    toNativeChat(body, { model, defaults, remoteImages: await fetchRemoteImages(body, app, signal) }),
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
export async function chatCompletions(request: Request, app: AppContext): Promise<Response> {
  const raw = await readJsonBody(request, app.config.maxBodyBytes);
  const body = validate(chatRequestSchema, raw);
  return runGeneration(request, app, body, chatSpec, raw as Record<string, unknown>);
}

async function fetchRemoteImages(body: ChatRequest, app: AppContext, signal: AbortSignal): Promise<Map<string, string>> {
  const wanted = remoteImageUrls(body.messages);
  const limits = { maxBytes: app.config.maxImageBytes, timeoutMs: app.config.imageFetchTimeoutMs };
  const fetched = await Promise.all(wanted.map(({ url, param }) => fetchImage(url, param, limits, signal)));
  return new Map(wanted.map(({ url }, i) => [url, fetched[i]!]));
}
