import type { Backend } from "../backends/backend.ts";
import type { BackendConfig } from "../config/backends.ts";
import { dropOldestTurns, estimatePromptTokens } from "../core/context.ts";
import { type ApiError, invalidRequest } from "../core/errors.ts";
import type { NativeChatRequest, NativeGenerateRequest } from "../core/native.ts";
import type { Admission } from "./auth.ts";

/**
 * Context windows on the request path: the prompt must fit the window its backend will give it, or the backend
 * would cut it silently (Ollama keeps the last `num_ctx` tokens). Before a generation call, the prompt's estimate
 * is checked against the backend's window; a prompt that does not fit is refused, or has its oldest turns dropped
 * when the client or the operator asked for that; the answer's cap is held to what is left of the window.
 */

/** What refusing looks like in the dialect (OpenAI's `context_length_exceeded`, Anthropic's "prompt is too long"). */
export type TooLong = (tokens: number, window: number) => ApiError;

export const openaiTooLong =
  (param: string): TooLong =>
  (tokens, window) =>
    invalidRequest(
      `This model's maximum context length is ${window} tokens. However, your request has about ${tokens} prompt tokens ` +
        "(the gateway's estimate). Shorten it, raise num_ctx, or let the gateway drop the oldest turns.",
      param,
      "context_length_exceeded",
    );

/** Tokens kept for the answer at the least: a prompt that leaves less than this does not fit. */
const MIN_ANSWER_TOKENS = 16;
/** Ollama's prompt count within this many tokens of the window: it filled the window, so it was probably cut. */
const CUT_SLACK = 8;
/** Added to the learned ratio so the estimate stays on the safe side of what the backend counted. */
const SAFETY = 1.1;
const LEARNED_AFTER = 3;

interface Calibration {
  ratio: number;
  answers: number;
  cuts: number;
}

/**
 * Per isolate, per backend and model: how the backend's own counts compare with the estimate. Kept by the backend's
 * parsed configuration, which lives as long as the isolate's environment.
 */
const calibrations = new WeakMap<BackendConfig, Map<string, Calibration>>();

function calibrationsOf(backend: BackendConfig): Map<string, Calibration> {
  let models = calibrations.get(backend);
  if (!models) calibrations.set(backend, (models = new Map()));
  return models;
}

/** The factor applied to the raw estimate: the learned ratio (with a margin), only upwards until it is learned. */
function factor(learned: Calibration | undefined): number {
  if (!learned) return 1;
  const scaled = learned.ratio * SAFETY;
  return learned.answers >= LEARNED_AFTER ? Math.min(Math.max(scaled, 0.5), 3) : Math.max(1, scaled);
}

export interface Fitted<T> {
  request: T;
  /** The window it was checked against (null: unknown, not checked). */
  window: number | null;
  /** The prompt's estimate as used for the check (calibrated). */
  estimate: number;
  /** Its raw estimate, before calibration (what the backend's count is compared with). */
  raw: number;
  /** Oldest turns dropped to make it fit. */
  dropped: number;
  /** Learn from the backend's own prompt count once the answer ends (null: it never said). */
  observe(promptTokens: number | null, requestId: string): void;
}

/**
 * Check (and trim, when `truncate`) one backend's native request against that backend's window for `model`, and
 * hold its answer cap to what is left. Throws `tooLong`'s error when it cannot fit. The size is the estimate,
 * calibrated, or the backend's exact count where it has one.
 */
export async function fitToWindow<T extends NativeChatRequest | NativeGenerateRequest>(
  request: T,
  backend: Backend,
  model: string,
  options: { defaultNumCtx: number; truncate: boolean; tooLong: TooLong; signal?: AbortSignal },
): Promise<Fitted<T>> {
  const numCtx = request.options?.num_ctx;
  const window = await backend.contextWindow(model, typeof numCtx === "number" && numCtx > 0 ? numCtx : undefined, options.defaultNumCtx).catch(() => null);
  const learned = calibrationsOf(backend.config);
  // The whole request's raw estimate, once (Claude Code's tool schemas alone are ~47 KB of JSON to measure).
  const whole = estimatePromptTokens(request);
  let scale = factor(learned.get(model));
  if (window !== null && backend.countPromptTokens && "messages" in request && whole * scale > window / 2) {
    // A machine that can count exactly is asked when it matters (a prompt past half the window): its count then
    // decides, and scales the estimate of any trimmed version.
    const exact = await backend.countPromptTokens(request, options.signal).catch(() => null);
    if (exact !== null) scale = exact / whole;
  }
  const room = window === null ? Number.POSITIVE_INFINITY : window - MIN_ANSWER_TOKENS;
  let fitted = request;
  let raw = whole;
  let dropped = 0;
  if (Math.ceil(whole * scale) > room) {
    const trimmed =
      options.truncate && "messages" in request
        ? dropOldestTurns(request.messages, (messages) => Math.ceil(estimatePromptTokens({ ...request, messages }) * scale) <= room)
        : null;
    if (!trimmed) throw options.tooLong(Math.ceil(whole * scale), window!);
    dropped = trimmed.dropped;
    fitted = { ...request, messages: trimmed.messages };
    raw = estimatePromptTokens(fitted);
  }
  const estimate = Math.ceil(raw * scale);
  if (window !== null) fitted = withAnswerRoom(fitted, window - estimate);
  return {
    request: fitted,
    window,
    estimate,
    raw,
    dropped,
    observe: (promptTokens, requestId) => {
      if (window !== null && promptTokens !== null && promptTokens > 0) learn(learned, model, raw, promptTokens, window, requestId);
    },
  };
}

/** The admission, also telling the fitted request's estimate what the backend counted when it is settled. */
export function observing(admission: Admission, fitted: Pick<Fitted<unknown>, "observe">, requestId: string): Admission {
  return {
    ...admission,
    settle(usage) {
      fitted.observe(usage?.prompt_tokens ?? null, requestId);
      admission.settle(usage);
    },
  };
}

/** The answer cap held to the room the prompt leaves (a larger one would make Ollama shift its context midway). */
function withAnswerRoom<T extends { options?: Record<string, unknown> }>(request: T, room: number): T {
  const cap = request.options?.num_predict;
  const left = Math.max(1, room);
  if (typeof cap === "number" && cap >= 0 && cap <= left) return request;
  return { ...request, options: { ...request.options, num_predict: left } };
}

/**
 * The backend's count of an answered prompt refines the estimate. One that filled the window to within a few tokens
 * was most likely cut by the backend (the estimate let it through): logged, counted, and the ratio raised so the
 * next such prompt is caught.
 */
function learn(learned: Map<string, Calibration>, model: string, raw: number, counted: number, window: number, requestId: string): void {
  const calibration = learned.get(model) ?? { ratio: 1, answers: 0, cuts: 0 };
  if (counted >= window - CUT_SLACK) {
    calibration.cuts++;
    calibration.ratio = Math.max(calibration.ratio, (window / raw) * SAFETY);
    console.warn(
      `[${requestId}] context: ${model}'s prompt filled its ${window}-token window (${counted} counted, ${raw} estimated): the backend probably cut it; the estimate is raised`,
    );
  } else {
    const observed = counted / raw;
    calibration.ratio = calibration.answers === 0 ? observed : calibration.ratio * 0.8 + observed * 0.2;
    calibration.answers++;
  }
  learned.set(model, calibration);
}

/** Prompts this backend probably cut despite the check, per model, as this isolate saw them (for /health). */
export function contextCuts(backend: BackendConfig): Record<string, number> {
  const cuts: Record<string, number> = {};
  for (const [model, calibration] of calibrations.get(backend) ?? []) if (calibration.cuts > 0) cuts[model] = calibration.cuts;
  return cuts;
}
