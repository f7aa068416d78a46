import { notFound } from "../core/errors.ts";
import type { NativeChatChunk } from "../core/native.ts";
import { validate } from "../core/validate.ts";
import type { CompletionMeta } from "../dialects/openai/common.ts";
import { ResponsesAggregator, type ResponsesMeta, responseId } from "../dialects/openai-responses/answer.ts";
import {
  estimateResponsesPrompt,
  responsesAnswerCap,
  responsesImageRefs,
  responsesToolNames,
  toNativeResponses,
} from "../dialects/openai-responses/request.ts";
import { type ResponsesRequest, responsesRequestSchema } from "../dialects/openai-responses/schema.ts";
import { ResponsesSseEncoder } from "../dialects/openai-responses/stream.ts";
import { readJsonBody } from "../http/body.ts";
import type { Caller } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import { type GenerationSpec, runGeneration, withAnswerCeiling } from "../pipeline/generation.ts";

/** The request fields a Response object repeats, as the client sent them (null where it sent none). */
const ECHOED = [
  "instructions",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "max_output_tokens",
  "temperature",
  "top_p",
  "reasoning",
  "text",
  "truncation",
  "metadata",
  "store",
  "previous_response_id",
  "user",
  "prompt_cache_key",
  "service_tier",
] as const;

function responsesMeta(meta: CompletionMeta, body: ResponsesRequest): ResponsesMeta {
  const echo: Record<string, unknown> = {};
  for (const field of ECHOED) echo[field] = (body as Record<string, unknown>)[field] ?? null;
  return { id: responseId(), createdAt: meta.created, model: body.model, echo, tools: responsesToolNames(body) };
}

const responsesSpec: GenerationSpec<ResponsesRequest, NativeChatChunk> = {
  kind: "chat",
  idPrefix: "chatcmpl", // not shown: a Response has its own `resp_` id
  nativeOnly: true,
  estimateTokens: (body) => ({ prompt: estimateResponsesPrompt(body), answer: responsesAnswerCap(body) }),
  images: responsesImageRefs,
  toNative: (body, { model, defaults, limits, ceiling, images }) =>
    withAnswerCeiling(toNativeResponses(body, { model, defaults, limits, remoteImages: images }), ceiling),
  encoder: (meta, body) => new ResponsesSseEncoder(responsesMeta(meta, body)),
  aggregator: (meta, body) => new ResponsesAggregator(responsesMeta(meta, body)),
};

/**
 * POST /v1/responses (OpenAI's Responses API) → native /api/chat, on the same pipeline as chat completions.
 * Responses are not stored yet: `previous_response_id` names none (404), and `store` is accepted. Context windows
 * are not checked yet, so `truncation` has nothing to trim.
 */
export async function responses(request: Request, app: AppContext, caller: Caller): Promise<Response> {
  const raw = await readJsonBody(request, app.config.maxBodyBytes);
  const body = validate(responsesRequestSchema, raw);
  if (body.previous_response_id) {
    throw notFound(`No response with id '${body.previous_response_id}' is stored for this key.`, "previous_response_id", "previous_response_not_found");
  }
  return runGeneration(request, app, caller, body, responsesSpec, raw as Record<string, unknown>);
}
