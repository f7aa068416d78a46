import { clientGone, type UpstreamCall } from "../backends/ollama/client.ts";
import { ApiError, backendBroke, backendStalled, toApiError } from "../core/errors.ts";
import { IdleTimer } from "../core/idle-timer.ts";
import type { TransformHooks, UpstreamTranslator } from "../core/stream.ts";
import { reportStreamEnd } from "./outcome.ts";

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
};

/** The heartbeat unless the dialect has its own: an SSE comment, which every client skips. */
const COMMENT_HEARTBEAT = ": keep-alive\n\n";
const utf8 = new TextEncoder();

export interface RelayOptions {
  call: UpstreamCall;
  /**
   * Upstream bytes → SSE for this request: a synchronous translator, driven straight from the upstream reader
   * (one stream hop per chunk, the cheap way), or a TransformStream the upstream body is piped through.
   */
  translator?: UpstreamTranslator;
  transform?: (hooks: TransformHooks) => TransformStream<Uint8Array, Uint8Array>;
  /** The final error event for a failure outside the transform (stall, reset, timeout). */
  errorEvent: (error: ApiError) => string;
  /** The SSE text sent every `heartbeatMs` while nothing else is (default: a comment). */
  heartbeat?: string;
  heartbeatMs: number;
  idleTimeoutMs: number;
  /**
   * Called once when the stream is over, however it ended. `reached`: the backend took the request — its answer
   * started, or the client left while it was still awaited (a backend evaluating a long prompt sends nothing
   * before its first token) — as opposed to a call that failed before any answer (nothing to charge). While it
   * runs, `streamEndedInError()` (pipeline/outcome.ts) tells whether the stream ended with an error event.
   */
  onEnd?: (reached: boolean) => void;
}

/**
 * The SSE body sent to the client. It may start before the upstream headers arrive (a model still loading):
 * heartbeats keep the client and Cloudflare from giving up, and any failure — before or during the
 * answer — ends the stream with an error event. A client that goes away cancels this stream, which aborts the
 * upstream request.
 */
export function sseRelay(options: RelayOptions): ReadableStream<Uint8Array> {
  const { call } = options;
  let source: ChunkSource | undefined;
  let controllerRef: ReadableStreamDefaultController<Uint8Array> | undefined;
  let ended = false;
  let upstream: "waiting" | "answered" | "failed" = "waiting";
  call.response.then(
    () => {
      upstream = "answered";
    },
    () => {
      if (upstream === "waiting") upstream = "failed";
    },
  );

  const beat = utf8.encode(options.heartbeat ?? COMMENT_HEARTBEAT);
  const heartbeat = new IdleTimer(options.heartbeatMs, () => {
    controllerRef?.enqueue(beat);
    return true;
  });
  const idle = new IdleTimer(options.idleTimeoutMs, () => {
    call.abort(backendStalled(options.idleTimeoutMs));
    return false;
  });
  const finish = (byClient: boolean, failed = source?.failed === true) => {
    if (ended) return;
    ended = true;
    heartbeat.stop();
    idle.stop();
    const reached = upstream === "answered" || (byClient && upstream === "waiting");
    reportStreamEnd(failed && !byClient, () => options.onEnd?.(reached));
  };
  const onActivity = () => idle.touch();

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controllerRef = controller;
      },
      async pull(controller) {
        try {
          if (!source) {
            const response = await call.response;
            idle.touch();
            source = options.translator
              ? translateUpstream(response.body!, call, options.translator, onActivity)
              : pipeUpstream(response.body!, call, options.transform!, onActivity);
          }
          const value = await source.next();
          if (value === null) {
            finish(false);
            controller.close();
            return;
          }
          heartbeat.touch();
          controller.enqueue(value);
        } catch (error) {
          if (ended) return;
          finish(false, true);
          // A transform that failed cancelled the upstream body through its pipe; a translator that threw did not.
          source?.cancel();
          controller.enqueue(utf8.encode(options.errorEvent(failureOf(call, error))));
          controller.close();
        }
      },
      cancel() {
        finish(true);
        call.abort(clientGone());
        source?.cancel();
      },
    },
    { highWaterMark: 0 },
  );
}

/** Where the relay's bytes come from once the upstream headers are in. */
interface ChunkSource {
  /** The next bytes for the client, or null once the answer is over. Rejects when the relay must end with an error event. */
  next(): Promise<Uint8Array | null>;
  cancel(): void;
  /** The answer ended with an error event it produced (the backend failed midway). */
  readonly failed: boolean;
}

/** Why the upstream call failed: the reason we aborted it with (a stall, a timeout), else a broken connection. */
function failureOf(call: UpstreamCall, error: unknown): ApiError {
  if (call.signal.aborted && call.signal.reason instanceof ApiError) return call.signal.reason;
  const reason = toApiError(error);
  return reason.status === 500 ? backendBroke() : reason;
}

/**
 * Read the upstream body and translate each read synchronously: the translator's output for a read is enqueued as
 * one chunk (reads that complete no line produce none). If an upstream read fails (reset, stall abort), the lines
 * already received have been delivered and the translator ends with an error event that says what happened. Once
 * the translator has finished ([DONE] or an error event), the upstream body is cancelled.
 */
function translateUpstream(body: ReadableStream<Uint8Array>, call: UpstreamCall, translator: UpstreamTranslator, onActivity: () => void): ChunkSource {
  const reader = body.getReader();
  let over = false;
  let cancelled = false;
  return {
    async next() {
      while (!over) {
        let read: ReadableStreamReadResult<Uint8Array>;
        try {
          read = await reader.read();
        } catch (error) {
          if (cancelled) return null;
          over = true;
          const text = translator.end(failureOf(call, error));
          return text === "" ? null : utf8.encode(text);
        }
        if (cancelled) return null;
        let text: string;
        if (read.done) {
          over = true;
          text = translator.end(null);
        } else {
          onActivity();
          text = translator.push(read.value);
          if (translator.finished) {
            over = true;
            reader.cancel().catch(() => {});
          }
        }
        if (text !== "") return utf8.encode(text);
      }
      return null;
    },
    cancel() {
      over = cancelled = true;
      reader.cancel().catch(() => {});
    },
    get failed() {
      return translator.failed;
    },
  };
}

/**
 * Pipe the upstream body through a transform. If the upstream read fails (reset, stall abort), the transform is
 * closed rather than aborted, so lines already received are still delivered, followed by an error event that
 * says what happened.
 */
function pipeUpstream(
  body: ReadableStream<Uint8Array>,
  call: UpstreamCall,
  makeTransform: (hooks: TransformHooks) => TransformStream<Uint8Array, Uint8Array>,
  onActivity: () => void,
): ChunkSource {
  let failure: ApiError | null = null;
  const transform = makeTransform({ onActivity, failure: () => failure });
  body.pipeTo(transform.writable, { preventAbort: true }).catch((error: unknown) => {
    failure = failureOf(call, error);
    transform.writable.close().catch(() => {});
  });
  const reader = transform.readable.getReader();
  return {
    async next() {
      const { done, value } = await reader.read();
      return done ? null : value;
    },
    cancel() {
      reader.cancel().catch(() => {});
    },
    get failed() {
      return failure !== null;
    },
  };
}
