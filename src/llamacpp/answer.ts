import type { Candidate } from "../backends/routing.ts";
import { json, withHeaders } from "../http/respond.ts";
import { responseJson } from "../ollama/client.ts";
import type { AppContext } from "../routes/context.ts";
import { type AttemptContext, beforeAnswer } from "../routes/failover.ts";
import { streamThrough } from "../routes/upstream-answer.ts";
import { smoothAnswer, smoothSse, StreamSmoother } from "./smooth.ts";

export interface LlamaRequest {
  path: "/v1/chat/completions" | "/v1/completions";
  /** The client's JSON as sent; `model` is replaced by the backend's own name for it. */
  payload: Record<string, unknown>;
  /** The name the client sent, echoed in answers. */
  model: string;
  stream: boolean;
  includeUsage: boolean;
}

/**
 * A request to an OpenAI-speaking backend (llama-server): forwarded with our auth, limits and routing, its API key
 * instead of the client's, and the answer smoothed into the same API as every other backend. Streams always ask
 * for usage upstream, so token limits settle with real counts.
 */
export async function llamaAnswer(request: Request, app: AppContext, candidate: Candidate, context: AttemptContext, llama: LlamaRequest): Promise<Response> {
  const { admission, retries, release } = context;
  const payload: Record<string, unknown> = { ...llama.payload, model: candidate.model };
  if (llama.stream) payload.stream_options = { ...(payload.stream_options as object | undefined), include_usage: true };
  const call = app.clientFor(candidate.backend).call("POST", llama.path, payload, { signal: request.signal, retries });
  const smoothing = { model: llama.model, includeUsage: llama.includeUsage };
  if (llama.stream) {
    const smoother = new StreamSmoother(smoothing);
    const response = await beforeAnswer(
      streamThrough(call, (hooks) => smoothSse(smoother, hooks), (error) => smoother.error(error.message, error.code ?? "backend_error"), app.config, () => {
        release();
        admission.settle(smoother.usage());
      }),
    );
    return withHeaders(response, admission.headers);
  }
  const response = await beforeAnswer(call.response);
  const { body, usage } = smoothAnswer(await responseJson<Record<string, unknown>>(response, llama.path), smoothing);
  release();
  admission.settle(usage);
  return json(body, 200, admission.headers);
}
