import type { Candidate } from "../backends/routing.ts";
import type { ModelDefaults } from "../config.ts";
import type { Admission } from "../http/auth.ts";
import { json, withHeaders } from "../http/respond.ts";
import { llamaAnswer } from "../llamacpp/answer.ts";
import type { CompletionMeta, Usage } from "../translate/chat-common.ts";
import { completionId } from "../translate/chat-common.ts";
import type { SseLineEncoder } from "../translate/stream.ts";
import { type AppContext, modelDefaultsFor } from "./context.ts";
import { type AttemptContext, beforeAnswer, routed } from "./failover.ts";
import { aggregateAnswer, type LineAggregator, streamAnswer } from "./upstream-answer.ts";

export const SYSTEM_FINGERPRINT = "fp_ollama_edge";

export interface GenerationBody {
  model: string;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
}

/**
 * What differs between /v1/chat/completions and /v1/completions; everything else — admission, routing to a
 * backend with failover, the always-streamed upstream call, SSE or assembled answers, settlement — is here.
 */
export interface GenerationSpec<Body extends GenerationBody, Line> {
  /** Ollama's native route. */
  upstreamPath: "/api/chat" | "/api/generate";
  /** The same endpoint on an OpenAI-speaking backend (llama-server). */
  openaiPath: "/v1/chat/completions" | "/v1/completions";
  idPrefix: "chatcmpl" | "cmpl";
  /** Tokens to reserve before the answer is known: the prompt's estimate and the answer's cap. */
  estimateTokens(body: Body): { prompt: number; answer: number };
  /** Body → native request, once the model is resolved (may do I/O, e.g. fetch image URLs). */
  toNative(body: Body, context: { model: string; defaults?: ModelDefaults; signal: AbortSignal; app: AppContext }): unknown;
  encoder(meta: CompletionMeta, body: Body): SseLineEncoder<Line> & { usage(): Usage | null };
  aggregator(meta: CompletionMeta, body: Body): LineAggregator<Line> & { result(): { usage: Usage } };
}

/** `raw` is the client's JSON as sent: what an OpenAI-speaking backend gets (with its own model name). */
export async function runGeneration<Body extends GenerationBody, Line>(
  request: Request,
  app: AppContext,
  body: Body,
  spec: GenerationSpec<Body, Line>,
  raw: Record<string, unknown>,
): Promise<Response> {
  const estimate = spec.estimateTokens(body);
  const want = { model: body.model, estimatedTokens: estimate.prompt + estimate.answer, promptTokens: estimate.prompt };
  return routed(request, app, want, (candidate, context) =>
    candidate.backend.kind === "ollama"
      ? ollamaAnswer(request, app, body, spec, candidate, context)
      : llamaAnswer(request, app, candidate, context, {
          path: spec.openaiPath,
          payload: raw,
          model: body.model,
          stream: body.stream === true,
          includeUsage: body.stream_options?.include_usage === true,
        }),
  );
}

async function ollamaAnswer<Body extends GenerationBody, Line>(
  request: Request,
  app: AppContext,
  body: Body,
  spec: GenerationSpec<Body, Line>,
  candidate: Candidate,
  { admission, retries, release }: AttemptContext,
): Promise<Response> {
  const native = await spec.toNative(body, {
    model: candidate.model,
    defaults: modelDefaultsFor(app.config, body.model, candidate.model),
    signal: request.signal,
    app,
  });
  const meta: CompletionMeta = {
    id: completionId(spec.idPrefix),
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    systemFingerprint: SYSTEM_FINGERPRINT,
  };
  const call = app.clientFor(candidate.backend).call("POST", spec.upstreamPath, native, { signal: request.signal, retries });
  if (body.stream) {
    const encoder = spec.encoder(meta, body);
    const response = await beforeAnswer(streamAnswer(call, encoder, app.config, () => finish(admission, release, encoder.usage())));
    return withHeaders(response, admission.headers);
  }
  await beforeAnswer(call.response);
  const aggregator = spec.aggregator(meta, body);
  await aggregateAnswer(call, aggregator, app.config);
  const result = aggregator.result();
  finish(admission, release, result.usage);
  return json(result, 200, admission.headers);
}

export function finish(admission: Admission, release: () => void, usage: Usage | null): void {
  release();
  admission.settle(usage);
}

/** A rough token count for text: about four characters a token, the usual rule of thumb for English. */
export function estimateTextTokens(text: string): number {
  return Math.ceil(text.length / 4);
}
