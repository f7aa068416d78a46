import { stallWatchdog, type UpstreamCall } from "../backends/ollama/client.ts";
import type { Config } from "../config/index.ts";
import { ApiError, backendBroke } from "../core/errors.ts";
import { MalformedLineError, NdjsonDecoder } from "../core/ndjson.ts";
import { PacedReader } from "../core/paced-reader.ts";
import { NdjsonSseTranslator, type SseLineEncoder, type UpstreamTranslator } from "../core/stream.ts";
import type { Usage } from "../core/usage.ts";
import { SSE_HEADERS, sseRelay } from "./sse-relay.ts";

/** Turns one streamed upstream call into the client's answer: SSE, or one JSON body assembled in the Worker. */

type Early = { ok: true } | { ok: false; error: unknown } | { ok: null };

/** Wait for the upstream headers, but no longer than `ms`. */
async function settleWithin(response: Promise<Response>, ms: number): Promise<Early> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<Early>((resolve) => {
    timer = setTimeout(() => resolve({ ok: null }), ms);
  });
  const settled = response.then(
    (): Early => ({ ok: true }),
    (error: unknown): Early => ({ ok: false, error }),
  );
  try {
    return await Promise.race([settled, waited]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/**
 * Stream the answer. If the backend fails before its headers arrive within one heartbeat interval, the client
 * gets a real HTTP error status; after that the SSE response is committed and failures become error events.
 */
export async function streamAnswer<T>(call: UpstreamCall, encoder: SseLineEncoder<T>, config: Config, onEnd: (reached: boolean) => void): Promise<Response> {
  // Translated straight from the upstream reader: no TransformStream hop, which costs more per chunk than the translation.
  const errorEvent = (error: ApiError) => encoder.error(error.message, error.code ?? "backend_error");
  return streamThrough(call, new NdjsonSseTranslator(encoder), errorEvent, config, onEnd, encoder.heartbeat);
}

/** The same, for any upstream format: `translator` turns its bytes into the client's SSE text. */
export async function streamThrough(
  call: UpstreamCall,
  translator: UpstreamTranslator,
  errorEvent: (error: ApiError) => string,
  config: Config,
  onEnd: (reached: boolean) => void,
  heartbeat?: string,
): Promise<Response> {
  const early = await settleWithin(call.response, config.heartbeatIntervalMs);
  if (early.ok === false) throw early.error;
  const body = sseRelay({
    call,
    translator,
    errorEvent,
    heartbeat,
    heartbeatMs: config.heartbeatIntervalMs,
    idleTimeoutMs: config.upstreamIdleTimeoutMs,
    onEnd,
  });
  return new Response(body, { headers: SSE_HEADERS });
}

export interface LineAggregator<T> {
  readonly done: boolean;
  line(value: T): void;
  /**
   * Tokens used so far: the backend's counts once its final line came, else an estimate of what was generated
   * (about one token per line of text) with the prompt 0 (unknown), so an answer cut short is still charged.
   */
  usage(): Usage;
}

/**
 * The client went away while the call was still in flight. Before any answer that still means the backend was
 * working for it (a long prompt is evaluated before the first token, and Ollama sends its headers with it).
 */
export function clientLeft(call: UpstreamCall): boolean {
  const reason: unknown = call.signal.reason;
  return call.signal.aborted && reason instanceof ApiError && reason.code === "client_closed";
}

/** Read the whole upstream stream into `aggregator` (which throws on an error line). */
export async function aggregateAnswer<T>(call: UpstreamCall, aggregator: LineAggregator<T>, config: Config): Promise<void> {
  const decoder = new NdjsonDecoder<T>();
  const onLine = (value: T) => aggregator.line(value);
  await readUpstream(call, config, {
    push: (bytes) => decoder.push(bytes, onLine),
    flush: () => decoder.flush(onLine),
    done: () => aggregator.done,
  });
}

/** How one upstream format is read to the end: bytes in, until the reader says it is done. */
export interface UpstreamReader {
  push(bytes: Uint8Array): void;
  flush(): void;
  done(): boolean;
}

/**
 * Read an upstream body to its end (or until `reader.done()`), under the idle watchdog. Failures become our
 * errors: the reason we aborted with (a stall), a malformed line, or a broken connection.
 */
export async function readUpstream(call: UpstreamCall, config: Config, reader: UpstreamReader): Promise<void> {
  const response = await call.response;
  // Nobody waits for the pieces of an answer sent whole, so each read may take what comes in up to a second (an
  // eighth of the idle timeout at most); the silence is measured from the window's end (see core/paced-reader.ts).
  const body = new PacedReader(response.body!, Math.min(1000, config.upstreamIdleTimeoutMs / 8));
  const idle = stallWatchdog(call, config.upstreamIdleTimeoutMs, body.windowMs);
  try {
    while (!reader.done()) {
      const bytes = await body.read();
      if (bytes === null) {
        reader.flush();
        break;
      }
      idle.touch();
      reader.push(bytes);
    }
  } catch (error) {
    if (call.signal.aborted && call.signal.reason instanceof ApiError) throw call.signal.reason;
    if (error instanceof ApiError) throw error;
    if (error instanceof MalformedLineError) throw new ApiError(502, error.message, "server_error", "backend_error");
    if (error instanceof SyntaxError) throw new ApiError(502, "The backend sent a malformed event.", "server_error", "backend_error");
    throw backendBroke();
  } finally {
    idle.stop();
    body.cancel();
  }
}
