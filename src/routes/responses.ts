import type { NativeChatChunk } from "../core/native.ts";
import { validate } from "../core/validate.ts";
import type { CompletionMeta } from "../dialects/openai/common.ts";
import { ResponsesAggregator } from "../dialects/openai-responses/answer.ts";
import { estimateResponsesPrompt, responsesAnswerCap, responsesImageRefs, toNativeResponses } from "../dialects/openai-responses/request.ts";
import { type ResponseObject, type ResponsesMeta, responseId } from "../dialects/openai-responses/response-object.ts";
import { type ResponsesRequest, responsesRequestSchema } from "../dialects/openai-responses/schema.ts";
import { continuation, inputItemsOf, type StoredItem } from "../dialects/openai-responses/stored.ts";
import { ResponsesSseEncoder } from "../dialects/openai-responses/stream.ts";
import { responsesToolNames } from "../dialects/openai-responses/tools.ts";
import { readJsonBody } from "../http/body.ts";
import type { Caller } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import { openaiTooLong } from "../pipeline/context-fit.ts";
import { type GenerationSpec, runGeneration, withAnswerCeiling } from "../pipeline/generation.ts";
import { responseStore } from "../storage/response-store.ts";
import { storedResponse } from "./stored-responses.ts";

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

function responsesMeta(meta: CompletionMeta, body: ResponsesRequest, onFinal: ResponsesMeta["onFinal"]): ResponsesMeta {
  const echo: Record<string, unknown> = {};
  for (const field of ECHOED) echo[field] = (body as Record<string, unknown>)[field] ?? null;
  return { id: responseId(), createdAt: meta.created, model: body.model, echo, tools: responsesToolNames(body), onFinal };
}

/** The Responses dialect on the pipeline; `onFinal` is told the final Response object (where it is stored). */
function responsesSpec(onFinal: ResponsesMeta["onFinal"]): GenerationSpec<ResponsesRequest, NativeChatChunk> {
  return {
    kind: "chat",
    idPrefix: "chatcmpl", // not shown: a Response has its own `resp_` id
    nativeOnly: true,
    truncates: (body) => body.truncation === "auto",
    tooLong: openaiTooLong("input"),
    estimateTokens: (body) => ({ prompt: estimateResponsesPrompt(body), answer: responsesAnswerCap(body) }),
    images: responsesImageRefs,
    toNative: (body, { model, defaults, limits, ceiling, images }) =>
      withAnswerCeiling(toNativeResponses(body, { model, defaults, limits, remoteImages: images }), ceiling),
    encoder: (meta, body) => new ResponsesSseEncoder(responsesMeta(meta, body, onFinal)),
    aggregator: (meta, body) => new ResponsesAggregator(responsesMeta(meta, body, onFinal)),
  };
}

/**
 * POST /v1/responses (OpenAI's Responses API) → native /api/chat, on the same pipeline as chat completions. With
 * `previous_response_id` the stored conversation comes first; with `store` (the default) the answer is kept for
 * the key (see `keeper`). Context windows are not checked yet, so `truncation` has nothing to trim.
 */
export async function responses(request: Request, app: AppContext, caller: Caller): Promise<Response> {
  const raw = await readJsonBody(request, app.config.maxBodyBytes);
  const body = validate(responsesRequestSchema, raw);
  const store = responseStore(app.env, caller.id);
  const earlier = body.previous_response_id ? continuation(await storedResponse(store, body.previous_response_id, "previous_response_id")) : [];
  const items = [...earlier, ...inputItemsOf(body)];
  const keep = body.store === false ? null : keeper(app, store, items);
  // The Response echoes `store` as it will be: true unless the client said false or it is too large to keep.
  const prepared: ResponsesRequest = { ...body, input: items, store: keep !== null };
  return runGeneration(request, app, caller, prepared, responsesSpec(keep ?? undefined), raw as Record<string, unknown>);
}

/**
 * What stores the final Response with its input items, once the answer ends; null when the input alone is over
 * RESPONSES_MAX_BYTES (then nothing is stored and the Response says `store: false`). The write is not awaited:
 * it reaches the key's store before any later request of the client can.
 */
function keeper(app: AppContext, store: ReturnType<typeof responseStore>, items: StoredItem[]): ((response: ResponseObject) => void) | null {
  const { ttlMs, maxBytes, maxKeyBytes } = app.config.responses;
  const itemsJson = JSON.stringify(items);
  if (utf8.encode(itemsJson).byteLength > maxBytes) return null;
  return (response) => {
    const document = `{"response":${JSON.stringify(response)},"items":${itemsJson}}`;
    if (utf8.encode(document).byteLength > maxBytes) {
      console.warn(`response ${response.id} not stored: over RESPONSES_MAX_BYTES (${maxBytes} bytes)`);
      return;
    }
    app.waitUntil(store.put(response.id, document, { expiresAt: Date.now() + ttlMs, maxKeyBytes }));
  };
}

const utf8 = new TextEncoder();
