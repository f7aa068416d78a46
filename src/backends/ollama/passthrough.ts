import { ApiError, backendBroke, toApiError } from "../../core/errors.ts";
import { PacedReader, STREAM_WINDOW_MS } from "../../core/paced-reader.ts";
import type { Usage } from "../../core/usage.ts";
import { clientGone, ERROR_BODY_LIMIT, readErrorBody, stallWatchdog, type UpstreamCall } from "./client.ts";
import { mapUpstreamError, nativeErrorMessage } from "./errors.ts";
import { NativeUsageMeter } from "./usage-meter.ts";

/**
 * The pieces of the native /api/* passthrough: which upstream answers are passed on, the byte-exact relay of the
 * ones that are (with usage read from a copy of the bytes), and errors in Ollama's own `{"error":"…"}` shape.
 */

/** Ollama's content type for its JSON answers and errors. */
export const OLLAMA_JSON = "application/json; charset=utf-8";
const utf8 = new TextEncoder();

/** Our error, or the tunnel's, as a native client expects it: `{"error":"<message>"}` with the status. */
export function nativeErrorResponse(error: ApiError): Response {
  return new Response(JSON.stringify({ error: error.message }), {
    status: error.status,
    headers: { "content-type": OLLAMA_JSON, ...error.headers },
  });
}

/**
 * Wait for the upstream answer and decide whether it is passed on. 2xx answers and Ollama's own JSON errors are
 * (the error re-made from the bytes read); a redirect (an Access login), an HTML page, Ollama's empty 403 from
 * its Host check or any other non-Ollama failure becomes an ApiError, thrown. A HEAD answer has no body to tell
 * Ollama from the tunnel, so its 400 and 404 (a missing blob) are taken as Ollama's.
 */
export async function upstreamAnswer(call: UpstreamCall, method: string): Promise<Response> {
  const response = await call.response;
  const status = response.status;
  if (status >= 200 && status < 300) return response;
  const contentType = response.headers.get("content-type") ?? "";
  if (method === "HEAD" || (status >= 300 && status < 400)) {
    response.body?.cancel().catch(() => {});
    if (method === "HEAD" && (status === 400 || status === 404)) return new Response(null, { status, headers: { "content-type": contentType || OLLAMA_JSON } });
    throw mapUpstreamError(status, contentType, "");
  }
  const text = await readErrorBody(response.body);
  if (text.length < ERROR_BODY_LIMIT && nativeErrorMessage(text) !== null) {
    return new Response(text, { status, headers: { "content-type": contentType || OLLAMA_JSON } });
  }
  throw mapUpstreamError(status, contentType, text);
}

export interface RelayOptions {
  /** Abort the upstream call when it sends nothing for this long (null: no limit, e.g. a long pull). */
  idleTimeoutMs: number | null;
  /**
   * Called exactly once when the answer is over (read to the end, failed, or cancelled by the client), with what
   * it used: Ollama's counts, else an estimate of what was generated with the prompt 0 (unknown); null when
   * Ollama refused the request (a non-2xx answer) or the answer has no body.
   */
  onEnd(usage: Usage | null): void;
  /** Added to the response (e.g. the x-ratelimit-* set). */
  headers?: Record<string, string>;
}

/**
 * The client's response: status and content type as upstream sent them, and the body relayed chunk by chunk,
 * unchanged. A copy of every chunk feeds a usage meter, so the token counts of the final `done:true` object (or
 * of an /api/embed answer) can be reported when the body ends — or, when they never come, an estimate of what was
 * generated; a non-stream JSON body is one line, read the same way. If the upstream body fails midway (a reset, a stall), an NDJSON stream ends the way Ollama ends one:
 * with an `{"error":"…"}` line; any other body is errored. A client that goes away aborts the upstream call.
 */
export function relayAnswer(method: string, upstream: Response, call: UpstreamCall, options: RelayOptions): Response {
  const headers = new Headers(options.headers);
  const contentType = upstream.headers.get("content-type");
  if (contentType) headers.set("content-type", contentType);
  if (method === "HEAD" || !upstream.body || upstream.status === 204) {
    upstream.body?.cancel().catch(() => {});
    options.onEnd(null);
    return new Response(null, { status: upstream.status, headers });
  }
  const accepted = upstream.status >= 200 && upstream.status < 300;
  const body = tap(upstream.body, call, (contentType ?? "").includes("ndjson"), accepted, options);
  return new Response(body, { status: upstream.status, headers });
}

/**
 * The relayed body, with a meter reading a copy of every chunk. When it ends — read to the end, failed midway, or
 * cancelled by the client — `onEnd` gets the meter's counts if the answer was a 2xx (the backend took the request),
 * else null (Ollama refused it: nothing was evaluated).
 */
function tap(source: ReadableStream<Uint8Array>, call: UpstreamCall, ndjson: boolean, accepted: boolean, options: RelayOptions): ReadableStream<Uint8Array> {
  // As few reads as the pace allows: one line per read at a GPU's usual pace, what comes in a window when faster.
  const reader = new PacedReader(source, STREAM_WINDOW_MS);
  const meter = new NativeUsageMeter();
  let endedWithNewline = true;
  let ended = false;

  const idle = options.idleTimeoutMs === null ? null : stallWatchdog(call, options.idleTimeoutMs, STREAM_WINDOW_MS);
  const finish = () => {
    if (ended) return false;
    ended = true;
    idle?.stop();
    options.onEnd(accepted ? meter.usage() : null);
    return true;
  };

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const value = await reader.read();
          if (value === null) {
            meter.flush();
            finish();
            controller.close();
            return;
          }
          idle?.touch();
          meter.push(value);
          if (value.byteLength > 0) endedWithNewline = value[value.byteLength - 1] === 0x0a;
          controller.enqueue(value);
        } catch (error) {
          // Cut short: what was generated so far is charged.
          if (!finish()) return;
          const reason = failureOf(call, error);
          if (!ndjson) return controller.error(reason);
          const line = `${endedWithNewline ? "" : "\n"}${JSON.stringify({ error: reason.message })}\n`;
          controller.enqueue(utf8.encode(line));
          controller.close();
        }
      },
      cancel() {
        finish();
        call.abort(clientGone());
        reader.cancel();
      },
    },
    { highWaterMark: 0 },
  );
}

/** Why the upstream body failed: the reason we aborted the call with (a stall), else a broken connection. */
function failureOf(call: UpstreamCall, error: unknown): ApiError {
  if (call.signal.aborted && call.signal.reason instanceof ApiError) return call.signal.reason;
  const reason = toApiError(error);
  return reason.status === 500 ? backendBroke() : reason;
}
