import type { UpstreamCall } from "../backends/ollama/client.ts";
import type { Candidate } from "../backends/routing.ts";
import type { Config, ModelDefaults } from "../config/index.ts";
import type { ImageRef } from "../core/images.ts";
import { answerCap, answerCeiling, applyOpenAILimits, limitsFor, type ModelLimits, modelDefaultsFor } from "../core/model-settings.ts";
import type { NativeChatRequest, NativeGenerateRequest } from "../core/native.ts";
import type { SseLineEncoder } from "../core/stream.ts";
import type { Usage } from "../core/usage.ts";
import { chargeable, NOTHING_GENERATED } from "../core/usage.ts";
import type { CompletionMeta } from "../dialects/openai/common.ts";
import { completionId } from "../dialects/openai/common.ts";
import { json, withHeaders } from "../http/respond.ts";
import type { Admission, Caller } from "./auth.ts";
import type { AppContext } from "./context.ts";
import { fitToWindow, observing, openaiTooLong, type TooLong } from "./context-fit.ts";
import { type AttemptContext, beforeAnswer, routed } from "./failover.ts";
import { collectImages, imageLimits } from "./image-budget.ts";
import { openaiAnswer } from "./openai-answer.ts";
import { aggregateAnswer, clientLeft, type LineAggregator, streamAnswer } from "./upstream-answer.ts";

export const SYSTEM_FINGERPRINT = "fp_ollama_edge";

export interface GenerationBody {
  model: string;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
}

/**
 * What differs between /v1/chat/completions and /v1/completions; everything else — scope, admission, routing to a
 * backend with failover, the always-streamed upstream call, SSE or assembled answers, settlement — is here.
 */
export interface GenerationSpec<Body extends GenerationBody, Line> {
  /** What the backends are asked for: a chat turn or a plain completion. */
  kind: "chat" | "completion";
  idPrefix: "chatcmpl" | "cmpl";
  /** The prompt's token estimate and the answer cap the client asked for (null: none). */
  estimateTokens(body: Body): { prompt: number; answer: number | null };
  /**
   * The client's cap is a ceiling it always sends, not a demand (Anthropic's required `max_tokens`, which coding
   * agents set to 32k–128k): the answer is held under it, but never gets more than a request without a cap would
   * (MODEL_DEFAULTS' `num_predict`, else MODEL_LIMITS' `max_num_predict`, else DEFAULT_MAX_TOKENS). Without this,
   * the cap replaces those, held only to MODEL_LIMITS.
   */
  capIsCeiling?: boolean;
  /**
   * The request's images. They are checked and downloaded once, after the key, the scope and (when there is a
   * download) the limits, and before a backend slot is taken (a slot must never wait on a download), whatever
   * number of backends is then tried.
   */
  images?(body: Body): ImageRef[];
  /** Body → native request for one backend's name of the model (pure). */
  toNative(body: Body, context: NativeContext): unknown;
  encoder(meta: CompletionMeta, body: Body): SseLineEncoder<Line> & { usage(): Usage | null };
  aggregator(meta: CompletionMeta, body: Body): LineAggregator<Line> & { result(): unknown };
  /**
   * The dialect builds only the internal form (it is not OpenAI's chat or completions, which a backend that speaks
   * OpenAI takes as the client sent them): every backend gets that form, one that speaks OpenAI translates it.
   */
  nativeOnly?: boolean;
  /** The request asks for its oldest turns to be dropped when it does not fit (Responses' `truncation: "auto"`). */
  truncates?(body: Body): boolean;
  /** The dialect's refusal of a prompt longer than the window (default: OpenAI's, naming `messages`). */
  tooLong?: TooLong;
}

export interface NativeContext {
  model: string;
  defaults?: ModelDefaults;
  limits?: ModelLimits;
  /** The answer's ceiling: sent as the answer cap when the client set none (it is what was reserved). */
  ceiling: number;
  /** The request's images, checked and downloaded once (see `GenerationSpec.images`): `image_url` value → base64. */
  images: ReadonlyMap<string, string> | undefined;
}

/**
 * The most answer tokens a request may produce, which is also what its admission reserves: the client's cap,
 * held under the model's MODEL_LIMITS, or without one the limit or DEFAULT_MAX_TOKENS. Every request has a real
 * ceiling, so a key cannot spend without bound in one request.
 */
export function answerCeilingFor(clientCap: number | null, limits: ModelLimits | undefined, config: Config): number {
  return answerCeiling(clientCap, limits) ?? config.defaultMaxTokens;
}

/** The native request with its answer cap held to the ceiling that was reserved for it (and set, when absent). */
export function withAnswerCeiling<T extends { options?: Record<string, unknown> }>(native: T, ceiling: number): T {
  const cap = answerCap(native.options);
  if (cap !== null && cap <= ceiling) return native;
  return { ...native, options: { ...native.options, num_predict: ceiling } };
}

/**
 * Coding agents ask for thinking on every request; a model that cannot think would refuse it (Ollama answers 400),
 * so `think` is left out for a model whose backend says it lacks the `thinking` capability. Unknown capabilities
 * (an older Ollama) leave the request as it is.
 */
function withoutUnsupportedThinking<T>(native: T, capabilities: readonly string[] | undefined): T {
  const request = native as T & { think?: unknown };
  if (!capabilities || capabilities.includes("thinking") || request.think === undefined) return native;
  const { think: _think, ...rest } = request;
  return rest as T;
}

/**
 * `raw` is the client's JSON as sent: what a backend that speaks OpenAI gets (with its own model name) for an OpenAI
 * dialect; every other generation is the internal form.
 */
export async function runGeneration<Body extends GenerationBody, Line>(
  request: Request,
  app: AppContext,
  caller: Caller,
  body: Body,
  spec: GenerationSpec<Body, Line>,
  raw: Record<string, unknown>,
): Promise<Response> {
  const route = await app.catalog.route(body.model, caller.allowsModel);
  const passthrough = (candidate: Candidate) => !spec.nativeOnly && app.backend(candidate.backend).speaks === "openai";
  // Only the internal form uses the images (a passthrough sends the client's own image parts).
  const nativeServes = route.candidates.some((candidate) => !passthrough(candidate));
  const refs = nativeServes ? (spec.images?.(body) ?? []) : [];
  let images: ReadonlyMap<string, string> | undefined;
  const collect = async () => {
    images = await collectImages(refs, imageLimits(app.config), request.signal);
  };
  // Downloads wait until the key's limits have admitted the request, and finish before it takes a backend slot.
  const downloads = refs.some(({ url }) => /^https?:/i.test(url));
  if (refs.length && !downloads) await collect();
  const estimate = spec.estimateTokens(body);
  const defaults = modelDefaultsFor(app.config, body.model, route.name);
  const limits = limitsFor(app.config, body.model, route.name);
  const ceiling = spec.capIsCeiling
    ? Math.min(answerCeilingFor(answerCap(defaults?.options), limits, app.config), estimate.answer ?? Number.POSITIVE_INFINITY)
    : answerCeilingFor(estimate.answer ?? answerCap(defaults?.options), limits, app.config);
  const want = { estimatedTokens: estimate.prompt + ceiling, promptTokens: estimate.prompt };
  return routed(request, app, caller, route, want, downloads ? collect : null, async (candidate, context) => {
    const backend = app.backend(candidate.backend);
    // Each backend gets the request in the form it takes, with its own name for the model and its settings.
    const target = { kind: spec.kind, model: candidate.model };
    const options = { signal: request.signal, retries: context.retries };
    if (passthrough(candidate)) {
      const openai = applyOpenAILimits({ ...raw, max_tokens: estimate.answer ?? ceiling }, limitsFor(app.config, body.model, candidate.model));
      return openaiAnswer(backend.startGeneration({ ...target, native: undefined, openai }, options), context, app.config, {
        kind: spec.kind,
        model: body.model,
        stream: body.stream === true,
        includeUsage: body.stream_options?.include_usage === true,
      });
    }
    const settings = nativeContext(app, body, candidate, ceiling, images);
    const native = withoutUnsupportedThinking(spec.toNative(body, settings), app.catalog.capabilities(candidate.backend, candidate.model));
    // The prompt must fit this backend's window: refused, or its oldest turns dropped, before any generation call.
    const fitted = await fitToWindow(native as NativeChatRequest | NativeGenerateRequest, backend, candidate.model, {
      defaultNumCtx: app.config.ollamaContextLength,
      truncate: spec.truncates?.(body) === true || settings.defaults?.truncate === "oldest",
      tooLong: spec.tooLong ?? openaiTooLong("messages"),
      signal: request.signal,
    });
    // Whatever backend took the internal form answers in native lines: the dialect encodes them, and settles with
    // the final line's counts (a llama-server's usage, translated), which also calibrate the prompt estimate.
    const call = backend.startGeneration({ ...target, native: fitted.request }, options);
    const learning = { ...context, admission: observing(context.admission, fitted, app.requestId) };
    const response = await nativeAnswer(call, body, spec, learning, app.config);
    return fitted.dropped ? withHeaders(response, { "x-context-truncated": String(fitted.dropped) }) : response;
  });
}

/** What the dialect's mapping needs for one backend: its name for the model, and the model's settings there. */
function nativeContext<Body extends GenerationBody>(
  app: AppContext,
  body: Body,
  candidate: Candidate,
  ceiling: number,
  images: ReadonlyMap<string, string> | undefined,
): NativeContext {
  return {
    model: candidate.model,
    defaults: modelDefaultsFor(app.config, body.model, candidate.model),
    limits: limitsFor(app.config, body.model, candidate.model),
    ceiling,
    images,
  };
}

/** An answer in the internal form's stream (native NDJSON lines), encoded by the dialect as it is read. */
async function nativeAnswer<Body extends GenerationBody, Line>(
  call: UpstreamCall,
  body: Body,
  spec: GenerationSpec<Body, Line>,
  { admission, release }: AttemptContext,
  config: Config,
): Promise<Response> {
  const meta: CompletionMeta = {
    id: completionId(spec.idPrefix),
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    systemFingerprint: SYSTEM_FINGERPRINT,
  };
  try {
    if (body.stream) {
      const encoder = spec.encoder(meta, body);
      const onEnd = (reached: boolean) => finish(admission, release, chargeable(encoder.usage(), reached));
      const response = await beforeAnswer(streamAnswer(call, encoder, config, onEnd));
      return withHeaders(response, admission.headers);
    }
    await beforeAnswer(call.response);
  } catch (error) {
    // The client left before the backend's first byte: the backend was already working on the prompt.
    if (clientLeft(call)) finish(admission, release, NOTHING_GENERATED);
    throw error;
  }
  const aggregator = spec.aggregator(meta, body);
  let result: ReturnType<typeof aggregator.result>;
  try {
    await aggregateAnswer(call, aggregator, config);
    result = aggregator.result();
  } finally {
    // However the answer ended (complete, failed, cut short, or abandoned by the client), what it used is charged.
    finish(admission, release, aggregator.usage());
  }
  return json(result, 200, admission.headers);
}

/**
 * The request is over on its backend: free its place there and settle its key with what it used — the backend's
 * counts or an estimate of what was generated; null only when it never reached a backend.
 */
export function finish(admission: Admission, release: () => void, usage: Usage | null): void {
  release();
  admission.settle(usage);
}
