import type { Route } from "../backends/catalog.ts";
import type { Candidate } from "../backends/routing.ts";
import { markDown, occupy } from "../backends/state.ts";
import { type ApiError, toApiError, withExtraHeaders } from "../core/errors.ts";
import { type Admission, admit, type Caller } from "./auth.ts";
import type { AppContext } from "./context.ts";

/** A failure before the backend answered anything: another backend may take the request. */
class BeforeAnswer extends Error {
  readonly failure: ApiError;

  constructor(failure: ApiError) {
    super(failure.message);
    this.failure = failure;
  }
}

/** Mark a failure as happening before any answer (connection, headers timeout, a 5xx status). */
export async function beforeAnswer<T>(pending: Promise<T>): Promise<T> {
  try {
    return await pending;
  } catch (error) {
    throw new BeforeAnswer(toApiError(error));
  }
}

const unwrap = (error: unknown) => (error instanceof BeforeAnswer ? error.failure : error);

/** The backend, not the request, is at fault: its 5xx, an unreachable or silent machine, a model it lost. */
function backendFailed(error: unknown): boolean {
  if (!(error instanceof BeforeAnswer)) return false;
  const { status, code } = error.failure;
  return status >= 500 || code === "model_not_found";
}

export interface AttemptContext {
  admission: Admission;
  /** Connection retries on this backend: 0 while another backend could take over. */
  retries: number | undefined;
  /** Call when the request is over on this backend (frees its place in the routing count). */
  release: () => void;
}

export interface RoutedRequest {
  /** Prompt plus the answer's ceiling, reserved against the key's tokens per minute. */
  estimatedTokens: number;
  promptTokens?: number;
}

/**
 * Admit a request that is already authenticated, validated and scoped (`route` holds only backends and models
 * the key may use), run `prepare` (per-request I/O) if any, then send it to those backends, best first. The gate
 * waited for is the first candidate's. A
 * backend that fails before answering is marked down for the cooldown and the next one is tried — never once the
 * client has received anything.
 */
export async function routed(
  request: Request,
  app: AppContext,
  caller: Caller,
  route: Route,
  want: RoutedRequest,
  prepare: (() => Promise<void>) | null,
  attempt: (candidate: Candidate, context: AttemptContext) => Promise<Response>,
): Promise<Response> {
  const { candidates } = route;
  // With work to do between the limits and the backend (downloads), the slot is taken only once it is done.
  const admission = await admit(request, app, caller, { ...want, model: route.name, backend: prepare ? null : candidates[0]!.backend });
  try {
    if (prepare) {
      await prepare();
      await admission.moveTo(candidates[0]!.backend);
    }
    for (let i = 0; ; i++) {
      const candidate = candidates[i]!;
      const last = i === candidates.length - 1;
      if (i > 0) await admission.moveTo(candidate.backend);
      const release = occupy(candidate.backend);
      try {
        return await attempt(candidate, { admission, retries: last ? undefined : 0, release });
      } catch (error) {
        release();
        if (last || !backendFailed(error)) throw unwrap(error);
        markDown(candidate.backend, app.config.backendCooldownMs);
      }
    }
  } catch (error) {
    admission.settle(null);
    throw withExtraHeaders(error, admission.headers);
  }
}
