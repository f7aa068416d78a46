import type { UpstreamFetcher } from "../../config/backends.ts";
import type { Config } from "../../config/index.ts";
import { ApiError, backendStalled, backendTimeout, backendUnavailable, withDetail } from "../../core/errors.ts";
import { IdleTimer } from "../../core/idle-timer.ts";
import { mapUpstreamError } from "./errors.ts";
import { retryDelay, sleep } from "./retry.ts";

export const ERROR_BODY_LIMIT = 64 * 1024;

/** One upstream request in flight: its response (once the headers are in) and a way to stop it. */
export interface UpstreamCall {
  /** Resolves with a 2xx response; rejects with an ApiError. */
  readonly response: Promise<Response>;
  readonly signal: AbortSignal;
  /** Stop the request; `reason` is what the client is told if it is still listening. */
  abort(reason: ApiError): void;
}

/**
 * The idle watchdog of an answer being read: no bytes for `idleTimeoutMs` aborts the call as stalled. A paced read
 * (core/paced-reader.ts) may hold up to `windowMs` of bytes it has not returned yet, so the silence is counted from
 * the end of that window: a stall is never called early.
 */
export function stallWatchdog(call: UpstreamCall, idleTimeoutMs: number, windowMs: number): IdleTimer {
  return new IdleTimer(idleTimeoutMs + windowMs, () => {
    call.abort(backendStalled(idleTimeoutMs));
    return false;
  });
}

/** What `OllamaClient.forward` sends. */
export interface ForwardInit {
  /** Bytes, or a stream passed through without buffering. */
  body?: string | Uint8Array | ReadableStream<Uint8Array> | null;
  /** Content-Type of the body (default application/json). */
  contentType?: string;
  /** Length of a stream body, when the client declared it. */
  contentLength?: number;
  /** Aborts the upstream call when the client goes away. */
  clientSignal?: AbortSignal;
  headersTimeoutMs?: number;
}

/** Where a client sends its requests: one backend's base URL and the headers it needs (Access token, API key). */
export interface UpstreamTarget {
  url: string;
  headers: Record<string, string>;
  /** Sends every request (to `url` + path) through this binding instead of the global fetch. */
  fetcher?: UpstreamFetcher;
}

export interface CallOptions {
  /** The client's signal: its disconnect aborts the upstream call. */
  signal?: AbortSignal;
  headersTimeoutMs?: number;
  /** Connection retries on this backend (default UPSTREAM_RETRIES; 0 when another backend can take over). */
  retries?: number;
}

/** The client disconnected: nobody will read this error, it only labels the abort. */
export const clientGone = () => new ApiError(499, "The client closed the connection.", "invalid_request_error", "client_closed");

/** Names neither the backend's URL nor its host: the client is not told where the tunnel is. */
const cannotConnect = () => backendUnavailable(502, "Could not connect to the Ollama backend: is the tunnel up and Ollama running?");

/** For the log: the backend's host (never the whole URL, whose user-info may hold credentials). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(unparsable backend URL)";
  }
}

const describe = (error: unknown) => JSON.stringify(error instanceof Error ? `${error.name}: ${error.message}` : String(error));

const noHeaders = (ms: number) => backendTimeout(`The backend sent no response headers within ${ms} ms.`);

/** An abortable upstream call: the client's own disconnect aborts it too. */
function inFlight(clientSignal: AbortSignal | undefined) {
  const controller = new AbortController();
  const abort = (reason: ApiError) => {
    if (!controller.signal.aborted) controller.abort(reason);
  };
  const onClientAbort = () => abort(clientGone());
  if (clientSignal?.aborted) onClientAbort();
  clientSignal?.addEventListener("abort", onClientAbort, { once: true });
  const release = () => clientSignal?.removeEventListener("abort", onClientAbort);
  return { signal: controller.signal, abort, release };
}

/**
 * Talks to Ollama. Builds every upstream request from scratch, so the client's Authorization, Cookie, Origin and
 * CF-* headers can never leak through; adds the Access service-token headers when configured. A connection that
 * fails before any answer (Ollama restarting, a tunnel reconnecting) is retried with bounded exponential backoff;
 * nothing is retried once an answer has started.
 */
export class OllamaClient {
  readonly #config: Config;
  readonly #target: UpstreamTarget;

  /** `target` is one backend: its URL (or binding) and headers. */
  constructor(config: Config, target: UpstreamTarget) {
    this.#config = config;
    this.#target = target;
  }

  /**
   * Start a JSON request. The headers timeout covers everything before the response headers (a model load and
   * retries included); `clientSignal` aborts the upstream call when the client goes away. Resolves with a 2xx.
   */
  call(method: "GET" | "POST", path: string, body: unknown, options: CallOptions = {}): UpstreamCall {
    const headersTimeoutMs = options.headersTimeoutMs ?? this.#config.upstreamHeadersTimeoutMs;
    const flight = inFlight(options.signal);
    const timer = setTimeout(() => flight.abort(noHeaders(headersTimeoutMs)), headersTimeoutMs);
    const json = body === undefined ? null : JSON.stringify(body);
    const retries = options.retries ?? this.#config.upstreamRetries;
    const response = this.#fetch(method, path, json, json === null ? null : "application/json", flight.signal, retries)
      .then(async (answer) => {
        if (answer.ok) return answer;
        const text = await readErrorBody(answer.body);
        throw mapUpstreamError(answer.status, answer.headers.get("content-type") ?? "", text);
      })
      .finally(() => clearTimeout(timer));
    response.catch(flight.release);
    return { response, signal: flight.signal, abort: flight.abort };
  }

  /**
   * Raw forwarding for the native passthrough. The body (bytes, or a stream that is never buffered) goes out as
   * is, under fresh headers. Unlike `call`, every HTTP status resolves (redirects are not followed), so the
   * caller decides what to pass on; only a failed connection, an abort or the headers timeout rejects, with an
   * ApiError. For a stream body the headers timeout starts once the body has been sent, so a long upload is not
   * mistaken for a silent backend; a stream body cannot be sent twice, so it is not retried.
   */
  forward(method: string, path: string, init: ForwardInit = {}): UpstreamCall {
    const flight = inFlight(init.clientSignal);
    const timeoutMs = init.headersTimeoutMs ?? this.#config.upstreamHeadersTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let answered = false;
    const startTimer = () => {
      if (answered || timer !== undefined) return;
      timer = setTimeout(() => flight.abort(noHeaders(timeoutMs)), timeoutMs);
    };

    let body = init.body ?? null;
    const replayable = !(body instanceof ReadableStream);
    if (body instanceof ReadableStream) {
      // Re-piped so we know when the upload is over; a known length keeps Content-Length instead of chunking.
      const pipe = init.contentLength !== undefined ? new FixedLengthStream(init.contentLength) : new TransformStream<Uint8Array, Uint8Array>();
      body.pipeTo(pipe.writable).then(startTimer, () => flight.abort(clientGone()));
      body = pipe.readable;
    } else {
      startTimer();
    }
    const contentType = body === null ? null : (init.contentType ?? "application/json");
    const response = this.#fetch(method, path, body, contentType, flight.signal, replayable ? this.#config.upstreamRetries : 0).finally(() => {
      answered = true;
      if (timer !== undefined) clearTimeout(timer);
    });
    response.catch(flight.release);
    return { response, signal: flight.signal, abort: flight.abort };
  }

  /** fetch, retried while the connection fails before any answer; rejects only with an ApiError. */
  async #fetch(method: string, path: string, body: BodyInit | null, contentType: string | null, signal: AbortSignal, retries: number): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json, application/x-ndjson, text/event-stream", ...this.#target.headers };
    if (contentType !== null) headers["content-type"] = contentType;
    for (let attempt = 0; ; attempt++) {
      try {
        // Ollama never redirects; Cloudflare Access does (to its login page). Report that instead of following it.
        const url = `${this.#target.url}${path}`;
        const init: RequestInit = { method, headers, body, signal, redirect: "manual" };
        return await (this.#target.fetcher ? this.#target.fetcher.fetch(new Request(url, init)) : fetch(url, init));
      } catch (error) {
        if (signal.reason instanceof ApiError) throw signal.reason;
        if (attempt >= retries)
          throw withDetail(cannotConnect(), `${method} ${hostOf(this.#target.url)}${path}: ${attempt + 1} attempt(s), last: ${describe(error)}`);
      }
      await sleep(retryDelay(this.#config.upstreamRetryBackoffMs, attempt), signal);
    }
  }

  /** A small JSON call (tags, show, version) with its own short timeout. */
  async json<T>(method: "GET" | "POST", path: string, body?: unknown, timeoutMs = 10_000, retries?: number): Promise<T> {
    const call = this.call(method, path, body, { headersTimeoutMs: timeoutMs, retries });
    return responseJson<T>(await call.response, path);
  }
}

/** The first 64 KiB of an error body (all of any real error message); a body cut off mid-read gives what arrived. */
export async function readErrorBody(body: ReadableStream<Uint8Array> | null): Promise<string> {
  if (!body) return "";
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (text.length < ERROR_BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // keep what arrived: the status still says what happened
  } finally {
    reader.cancel().catch(() => {});
  }
  return text;
}

/** A backend's JSON answer; a body that is not JSON is the backend's failure (502), not ours. */
export async function responseJson<T>(response: Response, path: string): Promise<T> {
  try {
    return (await response.json()) as T;
  } catch {
    throw backendUnavailable(502, `The backend sent an unreadable answer to ${path}.`);
  }
}
