import type { Config } from "../config.ts";
import { ApiError, backendTimeout, backendUnavailable } from "../http/errors.ts";
import { mapUpstreamError } from "./errors.ts";

export const ERROR_BODY_LIMIT = 64 * 1024;

/** One upstream request in flight: its response (once the headers are in) and a way to stop it. */
export interface UpstreamCall {
  /** Resolves with a 2xx response; rejects with an ApiError. */
  readonly response: Promise<Response>;
  readonly signal: AbortSignal;
  /** Stop the request; `reason` is what the client is told if it is still listening. */
  abort(reason: ApiError): void;
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

/** The client disconnected: nobody will read this error, it only labels the abort. */
export const clientGone = () => new ApiError(499, "The client closed the connection.", "invalid_request_error", "client_closed");

/**
 * Talks to Ollama. Builds every upstream request from scratch, so the client's Authorization, Cookie, Origin and
 * CF-* headers can never leak through; adds the Access service-token headers when configured.
 */
export class OllamaClient {
  readonly #config: Config;

  constructor(config: Config) {
    this.#config = config;
  }

  #headers(hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: "application/json, application/x-ndjson", ...this.#config.accessHeaders };
    if (hasBody) headers["content-type"] = "application/json";
    return headers;
  }

  /**
   * Start a request. The headers timeout covers everything before the response headers (a model load included);
   * `clientSignal` aborts the upstream call when the client goes away.
   */
  call(method: "GET" | "POST", path: string, body: unknown, clientSignal?: AbortSignal, headersTimeoutMs = this.#config.upstreamHeadersTimeoutMs): UpstreamCall {
    const controller = new AbortController();
    const abort = (reason: ApiError) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const onClientAbort = () => abort(clientGone());
    if (clientSignal?.aborted) onClientAbort();
    clientSignal?.addEventListener("abort", onClientAbort, { once: true });
    const timer = setTimeout(
      () => abort(backendTimeout(`The backend sent no response headers within ${headersTimeoutMs} ms.`)),
      headersTimeoutMs,
    );
    const response = this.#send(method, path, body, controller.signal).finally(() => clearTimeout(timer));
    response.catch(() => clientSignal?.removeEventListener("abort", onClientAbort));
    return { response, signal: controller.signal, abort };
  }

  async #send(method: string, path: string, body: unknown, signal: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.#config.ollamaUrl}${path}`, {
        method,
        headers: this.#headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        // Ollama never redirects; Cloudflare Access does (to its login page). Report that instead of following it.
        redirect: "manual",
      });
    } catch {
      if (signal.reason instanceof ApiError) throw signal.reason;
      throw backendUnavailable(502, "Could not connect to the Ollama backend: is the tunnel up and Ollama running?");
    }
    if (response.ok) return response;
    const text = await readErrorBody(response.body);
    throw mapUpstreamError(response.status, response.headers.get("content-type") ?? "", text);
  }

  /**
   * Raw forwarding for the native passthrough. The body (bytes, or a stream that is never buffered) goes out as
   * is, under fresh headers. Unlike `call`, every HTTP status resolves (redirects are not followed), so the
   * caller decides what to pass on; only a failed connection, an abort or the headers timeout rejects, with an
   * ApiError. For a stream body the headers timeout starts once the body has been sent, so a long upload is not
   * mistaken for a silent backend.
   */
  forward(method: string, path: string, init: ForwardInit = {}): UpstreamCall {
    const controller = new AbortController();
    const abort = (reason: ApiError) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const { clientSignal } = init;
    const onClientAbort = () => abort(clientGone());
    if (clientSignal?.aborted) onClientAbort();
    clientSignal?.addEventListener("abort", onClientAbort, { once: true });

    const timeoutMs = init.headersTimeoutMs ?? this.#config.upstreamHeadersTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let answered = false;
    const startTimer = () => {
      if (answered || timer !== undefined) return;
      timer = setTimeout(() => abort(backendTimeout(`The backend sent no response headers within ${timeoutMs} ms.`)), timeoutMs);
    };

    let body = init.body ?? null;
    if (body instanceof ReadableStream) {
      // Re-piped so we know when the upload is over; a known length keeps Content-Length instead of chunking.
      const pipe = init.contentLength !== undefined ? new FixedLengthStream(init.contentLength) : new TransformStream<Uint8Array, Uint8Array>();
      body.pipeTo(pipe.writable).then(startTimer, () => abort(clientGone()));
      body = pipe.readable;
    } else {
      startTimer();
    }

    const headers: Record<string, string> = { accept: "application/json, application/x-ndjson", ...this.#config.accessHeaders };
    if (body !== null) headers["content-type"] = init.contentType ?? "application/json";
    const signal = controller.signal;
    const response = fetch(`${this.#config.ollamaUrl}${path}`, { method, headers, body, signal, redirect: "manual" })
      .catch((): never => {
        if (signal.reason instanceof ApiError) throw signal.reason;
        throw backendUnavailable(502, "Could not connect to the Ollama backend: is the tunnel up and Ollama running?");
      })
      .finally(() => {
        answered = true;
        if (timer !== undefined) clearTimeout(timer);
      });
    response.catch(() => clientSignal?.removeEventListener("abort", onClientAbort));
    return { response, signal, abort };
  }

  /** A small JSON call (tags, show, version) with its own short timeout. */
  async json<T>(method: "GET" | "POST", path: string, body?: unknown, timeoutMs = 10_000): Promise<T> {
    const call = this.call(method, path, body, undefined, timeoutMs);
    const response = await call.response;
    try {
      return (await response.json()) as T;
    } catch {
      throw backendUnavailable(502, `The backend sent an unreadable answer to ${path}.`);
    }
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
