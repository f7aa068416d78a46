import { ApiError, backendBroke, backendStalled, toApiError } from "./errors.ts";
import { IdleTimer } from "./idle-timer.ts";
import { clientGone, type UpstreamCall } from "../ollama/client.ts";
import type { TransformHooks } from "../translate/stream.ts";

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
};

const HEARTBEAT = new TextEncoder().encode(": keep-alive\n\n");
const utf8 = new TextEncoder();

export interface RelayOptions {
  call: UpstreamCall;
  /** NDJSON → SSE for this request. */
  transform: (hooks: TransformHooks) => TransformStream<Uint8Array, Uint8Array>;
  /** The final error event for a failure outside the transform (stall, reset, timeout). */
  errorEvent: (error: ApiError) => string;
  heartbeatMs: number;
  idleTimeoutMs: number;
  /** Called once when the stream is over, however it ended. */
  onEnd?: () => void;
}

/**
 * The SSE body sent to the client. It may start before the upstream headers arrive (a model still loading):
 * comment heartbeats keep the client and Cloudflare from giving up, and any failure — before or during the
 * answer — ends the stream with an error event. A client that goes away cancels this stream, which aborts the
 * upstream request.
 */
export function sseRelay(options: RelayOptions): ReadableStream<Uint8Array> {
  const { call } = options;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;
  let ended = false;

  const heartbeat = new IdleTimer(options.heartbeatMs, () => {
    controllerRef?.enqueue(HEARTBEAT);
    return true;
  });
  const idle = new IdleTimer(options.idleTimeoutMs, () => {
    call.abort(backendStalled(options.idleTimeoutMs));
    return false;
  });
  const finish = () => {
    if (ended) return;
    ended = true;
    heartbeat.stop();
    idle.stop();
    options.onEnd?.();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controllerRef = controller;
      },
      async pull(controller) {
        try {
          if (!reader) {
            const response = await call.response;
            idle.touch();
            reader = pipeUpstream(response.body!, call, options.transform, () => idle.touch());
          }
          const { done, value } = await reader.read();
          if (done) {
            finish();
            controller.close();
            return;
          }
          heartbeat.touch();
          controller.enqueue(value);
        } catch (error) {
          if (ended) return;
          finish();
          controller.enqueue(utf8.encode(options.errorEvent(failureOf(call, error))));
          controller.close();
        }
      },
      cancel() {
        finish();
        call.abort(clientGone());
        reader?.cancel().catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

/** Why the upstream call failed: the reason we aborted it with (a stall, a timeout), else a broken connection. */
function failureOf(call: UpstreamCall, error: unknown): ApiError {
  if (call.signal.aborted && call.signal.reason instanceof ApiError) return call.signal.reason;
  const reason = toApiError(error);
  return reason.status === 500 ? backendBroke() : reason;
}

/**
 * Pipe the upstream body through the NDJSON→SSE transform. If the upstream read fails (reset, stall abort), the
 * transform is closed rather than aborted, so lines already received are still delivered, followed by an error
 * event that says what happened.
 */
function pipeUpstream(
  body: ReadableStream<Uint8Array>,
  call: UpstreamCall,
  makeTransform: (hooks: TransformHooks) => TransformStream<Uint8Array, Uint8Array>,
  onActivity: () => void,
): ReadableStreamDefaultReader<Uint8Array> {
  let failure: ApiError | null = null;
  const transform = makeTransform({ onActivity, failure: () => failure });
  body.pipeTo(transform.writable, { preventAbort: true }).catch((error: unknown) => {
    failure = failureOf(call, error);
    transform.writable.close().catch(() => {});
  });
  return transform.readable.getReader();
}
