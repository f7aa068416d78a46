import { OpenAIStreamAggregator } from "../backends/llamacpp/aggregate.ts";
import { SseEventDecoder, StreamSmoother, smoothSse } from "../backends/llamacpp/smooth.ts";
import type { Candidate } from "../backends/routing.ts";
import { closedEarly, failedDuringGeneration } from "../core/errors.ts";
import type { Usage } from "../core/usage.ts";
import { chargeable, NOTHING_GENERATED } from "../core/usage.ts";
import { json, withHeaders } from "../http/respond.ts";
import type { AppContext } from "./context.ts";
import { type AttemptContext, beforeAnswer } from "./failover.ts";
import { clientLeft, readUpstream, streamThrough } from "./upstream-answer.ts";

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
 * for usage upstream, so token limits settle with real counts; an answer cut short settles with an estimate.
 */
export async function llamaAnswer(request: Request, app: AppContext, candidate: Candidate, context: AttemptContext, llama: LlamaRequest): Promise<Response> {
  const { admission, retries, release } = context;
  const payload: Record<string, unknown> = { ...llama.payload, model: candidate.model };
  // Always streamed upstream, always with usage: token limits settle with real counts.
  payload.stream = true;
  payload.stream_options = { ...(payload.stream_options as object | undefined), include_usage: true };
  const call = app.clientFor(candidate.backend).call("POST", llama.path, payload, { signal: request.signal, retries });
  const smoothing = { model: llama.model, includeUsage: llama.includeUsage };
  // Settled with llama-server's usage, else an estimate of what was generated; null only if it was never reached.
  const finish = (usage: Usage | null) => {
    release();
    admission.settle(usage);
  };
  try {
    if (llama.stream) {
      const smoother = new StreamSmoother(smoothing);
      const response = await beforeAnswer(
        streamThrough(
          call,
          (hooks) => smoothSse(smoother, hooks),
          (error) => smoother.error(error.message, error.code ?? "backend_error"),
          app.config,
          (reached) => finish(chargeable(smoother.usage(), reached)),
        ),
      );
      return withHeaders(response, admission.headers);
    }
    // Non-stream answers are streamed upstream too and assembled here, so a long generation keeps bytes flowing
    // through the tunnel (no 524) and the idle watchdog can tell a silent backend from a slow one.
    await beforeAnswer(call.response);
  } catch (error) {
    // The client left before the backend's first byte: the backend was already working on the prompt.
    if (clientLeft(call)) finish(NOTHING_GENERATED);
    throw error;
  }
  const aggregator = new OpenAIStreamAggregator();
  const events = new SseEventDecoder();
  const onData = (data: string) => aggregator.event(data);
  try {
    await readUpstream(call, app.config, {
      push: (bytes) => events.push(bytes, onData),
      flush: () => events.flush(onData),
      done: () => aggregator.done,
    });
  } finally {
    // However the answer ended (complete, failed, cut short, or abandoned by the client), what it used is charged.
    finish(aggregator.usage());
  }
  if (aggregator.error !== null) throw failedDuringGeneration(aggregator.error);
  if (!aggregator.done) throw closedEarly();
  return json(aggregator.result(llama.model, llama.path === "/v1/completions" ? "completion" : "chat"), 200, admission.headers);
}
