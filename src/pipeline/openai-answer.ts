import { OpenAIStreamAggregator } from "../backends/llamacpp/aggregate.ts";
import { SmoothTranslator, SseEventDecoder, StreamSmoother } from "../backends/llamacpp/smooth.ts";
import type { UpstreamCall } from "../backends/ollama/client.ts";
import type { Config } from "../config/index.ts";
import { closedEarly, failedDuringGeneration } from "../core/errors.ts";
import type { Usage } from "../core/usage.ts";
import { chargeable, NOTHING_GENERATED } from "../core/usage.ts";
import { json, withHeaders } from "../http/respond.ts";
import { type AttemptContext, beforeAnswer } from "./failover.ts";
import { clientLeft, readUpstream, streamThrough } from "./upstream-answer.ts";

export interface OpenAIAnswer {
  kind: "chat" | "completion";
  /** The name the client sent, echoed in answers. */
  model: string;
  stream: boolean;
  includeUsage: boolean;
}

/**
 * The answer of a backend that speaks OpenAI itself (llama-server): smoothed into the same API as every other
 * backend's. Its stream always carries usage, so token limits settle with real counts; an answer cut short settles
 * with an estimate.
 */
export async function openaiAnswer(call: UpstreamCall, context: AttemptContext, config: Config, llama: OpenAIAnswer): Promise<Response> {
  const { admission, release } = context;
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
          new SmoothTranslator(smoother),
          (error) => smoother.error(error.message, error.code ?? "backend_error"),
          config,
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
    await readUpstream(call, config, {
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
  return json(aggregator.result(llama.model, llama.kind), 200, admission.headers);
}
