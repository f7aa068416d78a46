import type { ModelDefaults } from "../config.ts";
import { admit, modelNotAllowed } from "../http/auth.ts";
import { withExtraHeaders } from "../http/errors.ts";
import { json, withHeaders } from "../http/respond.ts";
import type { CompletionMeta, Usage } from "../translate/chat-common.ts";
import { completionId } from "../translate/chat-common.ts";
import type { SseLineEncoder } from "../translate/stream.ts";
import { type AppContext, modelDefaultsFor } from "./context.ts";
import { aggregateAnswer, type LineAggregator, streamAnswer } from "./upstream-answer.ts";

export const SYSTEM_FINGERPRINT = "fp_ollama_edge";

export interface GenerationBody {
  model: string;
  stream?: boolean | null;
}

/**
 * What differs between /v1/chat/completions and /v1/completions; everything else — admission, model resolution,
 * the always-streamed upstream call, SSE or assembled answers, settlement — is `runGeneration`.
 */
export interface GenerationSpec<Body extends GenerationBody, Line> {
  upstreamPath: "/api/chat" | "/api/generate";
  idPrefix: "chatcmpl" | "cmpl";
  /** Tokens to reserve before the answer is known: the prompt's estimate and the answer's cap. */
  estimateTokens(body: Body): { prompt: number; answer: number };
  /** Body → native request, once the model is resolved (may do I/O, e.g. fetch image URLs). */
  toNative(body: Body, context: { model: string; defaults?: ModelDefaults; signal: AbortSignal; app: AppContext }): unknown;
  encoder(meta: CompletionMeta, body: Body): SseLineEncoder<Line> & { usage(): Usage | null };
  aggregator(meta: CompletionMeta, body: Body): LineAggregator<Line> & { result(): { usage: Usage } };
}

export async function runGeneration<Body extends GenerationBody, Line>(
  request: Request,
  app: AppContext,
  body: Body,
  spec: GenerationSpec<Body, Line>,
): Promise<Response> {
  const estimate = spec.estimateTokens(body);
  const admission = await admit(request, app, { model: body.model, estimatedTokens: estimate.prompt + estimate.answer, promptTokens: estimate.prompt });
  try {
    const { name } = await app.catalog.resolve(body.model);
    if (!admission.allowsModel(name)) throw modelNotAllowed(body.model);
    const native = await spec.toNative(body, { model: name, defaults: modelDefaultsFor(app.config, body.model, name), signal: request.signal, app });
    const meta: CompletionMeta = {
      id: completionId(spec.idPrefix),
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      systemFingerprint: SYSTEM_FINGERPRINT,
    };
    const call = app.ollama.call("POST", spec.upstreamPath, native, { signal: request.signal });
    if (body.stream) {
      const encoder = spec.encoder(meta, body);
      const response = await streamAnswer(call, encoder, app.config, () => admission.settle(encoder.usage()));
      return withHeaders(response, admission.headers);
    }
    const aggregator = spec.aggregator(meta, body);
    await aggregateAnswer(call, aggregator, app.config);
    const result = aggregator.result();
    admission.settle(result.usage);
    return json(result, 200, admission.headers);
  } catch (error) {
    admission.settle(null);
    throw withExtraHeaders(error, admission.headers);
  }
}

/** A rough token count for text: about four characters a token, the usual rule of thumb for English. */
export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
