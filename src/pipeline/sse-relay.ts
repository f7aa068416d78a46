import { clientGone, stallWatchdog, type UpstreamCall } from "../backends/ollama/client.ts";
import { ApiError, backendBroke, toApiError } from "../core/errors.ts";
import { IdleTimer } from "../core/idle-timer.ts";
import { PacedReader, STREAM_WINDOW_MS } from "../core/paced-reader.ts";
import type { UpstreamTranslator } from "../core/stream.ts";
import { Batch, type BatchTiming } from "./coalesce.ts";
import { reportStreamEnd } from "./outcome.ts";

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
};

/** The heartbeat unless the dialect has its own: an SSE comment, which every client skips. */
const COMMENT_HEARTBEAT = ": keep-alive\n\n";
const utf8 = new TextEncoder();
/**
 * How upstream pieces are joined into chunks (see coalesce.ts): at most one chunk per 15 ms, the window the upstream
 * is read in (tokens 20 ms apart or more go out as they come), growing to one per 50 ms while pieces keep coming
 * faster, up to 32 KiB. Measured on 500-token answers at full speed, against holding only bursts (pieces < 5 ms
 * apart) for up to 20 ms: the same at c=1 and c=32, and at c=128 (where each stream's pieces come ~6 ms apart)
 * 16.7 instead of 18.6-24.9 ms of CPU.
 */
const BATCHING: BatchTiming = { burstGapMs: 10, intervalMs: STREAM_WINDOW_MS, maxIntervalMs: 50, maxBytes: 32 * 1024 };

export interface RelayOptions {
  call: UpstreamCall;
  /**
   * Upstream bytes → SSE for this request: a synchronous translator, driven straight from the upstream reader (no
   * TransformStream in between: in workerd each stream hop costs more per chunk than the translation).
   */
  translator: UpstreamTranslator;
  /** The final error event for a failure outside the translator (stall, reset, timeout). */
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
 *
 * The upstream is read in one loop (one await per upstream read, no promise hand-offs through `pull`) into a `Batch`
 * that gathers pieces while the client is still taking the previous chunk or while they arrive in a burst, and
 * sends them as one chunk; the reads pause while a full chunk waits, so a slow client slows the backend down.
 */
export function sseRelay(options: RelayOptions): ReadableStream<Uint8Array> {
  const { call } = options;
  let source: ChunkSource | undefined;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Resolves the loop's wait for room once the client takes a chunk. */
  let room: (() => void) | null = null;
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
    controller.enqueue(beat);
    return true;
  });
  const idle = stallWatchdog(call, options.idleTimeoutMs, STREAM_WINDOW_MS);
  const batch = new Batch((bytes, now) => {
    heartbeat.touch(now);
    controller.enqueue(bytes);
  }, BATCHING);
  const finish = (byClient: boolean, failed = source?.failed === true) => {
    if (ended) return;
    ended = true;
    heartbeat.stop();
    idle.stop();
    const reached = upstream === "answered" || (byClient && upstream === "waiting");
    reportStreamEnd(failed && !byClient, () => options.onEnd?.(reached));
  };

  const run = async () => {
    try {
      const response = await call.response;
      if (ended) return;
      idle.touch();
      source = translateUpstream(new PacedReader(response.body!, STREAM_WINDOW_MS), call, options.translator);
      for (;;) {
        if (controller.desiredSize! < 0) await new Promise<void>((resolve) => (room = resolve));
        if (ended) return;
        const piece = await source.next();
        if (ended) return;
        if (piece === null) break;
        // One clock reading per upstream read, for the idle watchdog and the batch.
        const now = Date.now();
        idle.touch(now);
        batch.add(piece, now);
      }
      batch.flush();
      finish(false);
      controller.close();
    } catch (error) {
      if (ended) return;
      // What was already received goes first, then the error event.
      batch.flush();
      finish(false, true);
      // A translator that threw leaves the upstream body open.
      source?.cancel();
      controller.enqueue(utf8.encode(options.errorEvent(failureOf(call, error))));
      controller.close();
    }
  };

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        void run();
      },
      pull() {
        batch.pull();
        room?.();
        room = null;
      },
      cancel() {
        finish(true);
        batch.drop();
        call.abort(clientGone());
        source?.cancel();
        room?.();
      },
    },
    // Nothing queued ahead of the client: what it has not taken yet is still gathering in the batch.
    { highWaterMark: 0 },
  );
}

/** Where the relay's text comes from once the upstream headers are in: one piece per upstream read. */
interface ChunkSource {
  /** The next piece ("" when a read completed nothing), or null once over. Rejects when the relay must end with an error event. */
  next(): Promise<string | null>;
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
 * Read the upstream body and translate each read synchronously: one piece of SSE text per read ("" for a read that
 * completes no line), joined into chunks by the relay's coalescer. If an upstream read fails (reset, stall abort), the lines
 * already received have been delivered and the translator ends with an error event that says what happened. Once
 * the translator has finished ([DONE] or an error event), the upstream body is cancelled.
 */
function translateUpstream(reader: PacedReader, call: UpstreamCall, translator: UpstreamTranslator): ChunkSource {
  let over = false;
  let cancelled = false;
  return {
    async next() {
      if (over) return null;
      let bytes: Uint8Array | null;
      try {
        bytes = await reader.read();
      } catch (error) {
        if (cancelled) return null;
        over = true;
        return translator.end(failureOf(call, error));
      }
      if (cancelled) return null;
      if (bytes === null) {
        over = true;
        return translator.end(null);
      }
      const text = translator.push(bytes);
      if (translator.finished) {
        over = true;
        reader.cancel();
      }
      return text;
    },
    cancel() {
      over = cancelled = true;
      reader.cancel();
    },
    get failed() {
      return translator.failed;
    },
  };
}
