import type { Route } from "../backends/catalog.ts";
import { withExtraHeaders } from "../core/errors.ts";
import type { NativeChatChunk } from "../core/native.ts";
import { IMAGE_TOKENS } from "../core/usage.ts";
import { validate } from "../core/validate.ts";
import { AnthropicAggregator } from "../dialects/anthropic/aggregate.ts";
import { type AnthropicMeta, messageId } from "../dialects/anthropic/answer.ts";
import { promptTooLong } from "../dialects/anthropic/errors.ts";
import { anthropicImageRefs, estimateAnthropicPrompt, promptImages, promptText } from "../dialects/anthropic/prompt.ts";
import { toNativeAnthropic } from "../dialects/anthropic/request.ts";
import { type CountTokensRequest, countTokensSchema, type MessagesRequest, messagesRequestSchema } from "../dialects/anthropic/schema.ts";
import { AnthropicSseEncoder } from "../dialects/anthropic/stream.ts";
import { bearerToken, xApiKey } from "../http/bearer.ts";
import { readJsonBody } from "../http/body.ts";
import { json } from "../http/respond.ts";
import { admit, type Caller, type KeySource } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import { type GenerationSpec, runGeneration, withAnswerCeiling } from "../pipeline/generation.ts";

/**
 * Anthropic's clients send the key as `x-api-key` (the SDK's `apiKey`, Claude Code's ANTHROPIC_API_KEY) or as
 * `Authorization: Bearer` (`authToken`, ANTHROPIC_AUTH_TOKEN).
 */
export const ANTHROPIC_KEY: KeySource = {
  read: (request) => xApiKey(request) ?? bearerToken(request),
  missing: "Missing API key: send it as 'x-api-key: <key>' or 'Authorization: Bearer <key>'.",
};

/** The prompt estimate of a body, computed once (admission and the answer's `message_start` both use it). */
const estimates = new WeakMap<CountTokensRequest, number>();
function estimateOf(body: CountTokensRequest): number {
  let estimate = estimates.get(body);
  if (estimate === undefined) {
    estimate = estimateAnthropicPrompt(body);
    estimates.set(body, estimate);
  }
  return estimate;
}

const anthropicMeta = (body: MessagesRequest): AnthropicMeta => ({
  id: messageId(),
  model: body.model,
  inputEstimate: estimateOf(body),
  stopSequences: body.stop_sequences,
});

const messagesSpec: GenerationSpec<MessagesRequest, NativeChatChunk> = {
  kind: "chat",
  idPrefix: "chatcmpl", // not shown: a Message has its own `msg_` id
  nativeOnly: true,
  // Every client sends max_tokens (it is required), Claude Code 32000 or 128000: a ceiling, not a demand.
  capIsCeiling: true,
  tooLong: promptTooLong,
  estimateTokens: (body) => ({ prompt: estimateOf(body), answer: body.max_tokens }),
  images: anthropicImageRefs,
  toNative: (body, { model, defaults, limits, ceiling, images }) =>
    withAnswerCeiling(toNativeAnthropic(body, { model, defaults, limits, remoteImages: images }), ceiling),
  encoder: (_meta, body) => new AnthropicSseEncoder(anthropicMeta(body)),
  aggregator: (_meta, body) => new AnthropicAggregator(anthropicMeta(body)),
};

/** POST /v1/messages (Anthropic's Messages API) → native /api/chat, on the same pipeline as chat completions. */
export async function messages(request: Request, app: AppContext, caller: Caller): Promise<Response> {
  const raw = await readJsonBody(request, app.config.maxBodyBytes);
  const body = validate(messagesRequestSchema, raw);
  return runGeneration(request, app, caller, body, messagesSpec, raw as Record<string, unknown>);
}

/**
 * POST /v1/messages/count_tokens → `{"input_tokens": N}`, for a model the key may use (the same 404 otherwise).
 * Exact where a backend serving the model tokenizes (llama-server's /tokenize, with the model's own tokenizer, over
 * the prompt's text; images at 768 each), else the gateway's estimate — the one admission charges (core/usage.ts).
 * It counts as one request against the key's requests per minute (and its concurrency while it runs), charges no
 * tokens, and takes no slot at a backend's gate: nothing is generated.
 */
export async function countTokens(request: Request, app: AppContext, caller: Caller): Promise<Response> {
  const raw = await readJsonBody(request, app.config.maxBodyBytes);
  const body = validate(countTokensSchema, raw);
  const route = await app.catalog.route(body.model, caller.allowsModel);
  const admission = await admit(request, app, caller, { model: route.name, estimatedTokens: 0, backend: null });
  try {
    return json({ input_tokens: await inputTokens(app, route, body, request.signal) }, 200, admission.headers);
  } catch (error) {
    throw withExtraHeaders(error, admission.headers);
  } finally {
    admission.settle(null);
  }
}

/** The tokenizer of the first backend serving the model that has one; the estimate if none does or it fails. */
async function inputTokens(app: AppContext, route: Route, body: CountTokensRequest, signal: AbortSignal): Promise<number> {
  const tokenizer = route.candidates.map((candidate) => app.backend(candidate.backend)).find((backend) => backend.extension !== undefined);
  if (!tokenizer?.extension) return estimateOf(body);
  try {
    const answer = await tokenizer.extension("/tokenize", { content: promptText(body) }, signal);
    if (answer.ok) {
      const tokens = ((await answer.json()) as { tokens?: unknown }).tokens;
      if (Array.isArray(tokens)) return tokens.length + promptImages(body) * IMAGE_TOKENS;
    } else await answer.body?.cancel();
  } catch (error) {
    if (signal.aborted) throw error;
  }
  // The machine could not count just now: a count is still an answer, as an estimate.
  return estimateOf(body);
}
