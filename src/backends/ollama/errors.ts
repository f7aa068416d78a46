import { ApiError, backendTimeout, backendUnavailable, modelNotFound, withDetail } from "../../core/errors.ts";

/** Both wordings: `model 'x' not found` (since v0.12.0) and `model "x" not found, try pulling it first`. */
const MODEL_NOT_FOUND = /^model ['"](.+?)['"] not found/;
const RETRY_AFTER_SECONDS = 5;
const CLIENT_FAULT = new Set([400, 404, 413, 422]);

/** The `error` string of an Ollama JSON error body, if that is what the body is. */
export function nativeErrorMessage(body: string): string | null {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    return typeof parsed.error === "string" ? parsed.error : null;
  } catch {
    return null;
  }
}

/** The message of a backend's JSON error: Ollama's `{"error":"…"}` or llama-server's `{"error":{"message":"…"}}`. */
export function backendErrorMessage(body: string): string | null {
  const native = nativeErrorMessage(body);
  if (native !== null) return native;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } };
    return typeof parsed.error?.message === "string" ? parsed.error.message : null;
  } catch {
    return null;
  }
}

/**
 * llama-server's refusal of a prompt longer than its window (`exceed_context_size_error`, with both counts in its
 * message): the same code as the gateway's own check, which does not run on requests passed through to it.
 */
function overLongPrompt(body: string): boolean {
  try {
    return (JSON.parse(body) as { error?: { type?: unknown } }).error?.type === "exceed_context_size_error";
  } catch {
    return false;
  }
}

function htmlTitle(body: string): string | null {
  const match = /<title>([^<]{1,200})<\/title>/i.exec(body);
  return match ? match[1]!.trim() || null : null;
}

const SNIPPET_CHARS = 200;

/**
 * For the log only: what a non-Ollama answer said. A Cloudflare page's title names the tunnel's hostname
 * ("502: Bad gateway | ollama.example.com | Cloudflare") and a proxy's text may name internal hosts, so neither
 * goes into a client's message. Quoted as JSON, so a body cannot forge log lines. Null when there is nothing
 * to tell.
 */
function upstreamDetail(status: number, contentType: string, body: string, title: string | null): string | null {
  const what = `upstream HTTP ${status}${contentType ? ` (${contentType})` : ""}`;
  if (title !== null) return `${what}, HTML page titled ${JSON.stringify(title)}`;
  const snippet = body.trim().slice(0, SNIPPET_CHARS);
  return snippet ? `${what}, body: ${JSON.stringify(snippet)}` : null;
}

/**
 * An upstream HTTP error (before any byte of an answer) → our error. Ollama's own errors keep their message;
 * what the tunnel, Access or Ollama's Host check answer becomes a message that says what to fix, naming no host
 * and quoting no body: the page's title or the body's start is the error's `detail`, for the log.
 */
export function mapUpstreamError(status: number, contentType: string, body: string): ApiError {
  if (status >= 300 && status < 400) {
    const redirected = backendUnavailable(
      502,
      `The tunnel redirected the gateway (HTTP ${status}), most likely to a Cloudflare Access login: ` +
        "check CF_ACCESS_CLIENT_ID, CF_ACCESS_CLIENT_SECRET and that the Access policy's action is Service Auth.",
    );
    return withDetail(redirected, upstreamDetail(status, contentType, body, htmlTitle(body)));
  }
  const native = backendErrorMessage(body);
  if (native !== null) {
    if (status === 404 && MODEL_NOT_FOUND.test(native)) return modelNotFound(`The model does not exist on the backend: ${native}.`);
    if (status === 503) return backendUnavailable(503, `The backend is busy or loading a model: ${native}`, RETRY_AFTER_SECONDS);
    // The client's request was at fault: keep the status. Anything else Ollama refused (a 401 from a cloud model,
    // a 499) is the backend's problem, not the caller's credentials.
    if (CLIENT_FAULT.has(status)) return new ApiError(status, native, "invalid_request_error", overLongPrompt(body) ? "context_length_exceeded" : null);
    return new ApiError(502, `The backend failed: ${native}`, "server_error", "backend_error");
  }
  if (status === 403 && body.trim() === "") {
    return backendUnavailable(
      502,
      "Ollama refused the request (HTTP 403, empty body): its Host check rejected the tunnel's Host header. " +
        'Set originRequest.httpHostHeader: "localhost:11434" on the cloudflared ingress rule.',
    );
  }
  const html = contentType.includes("text/html") || body.trimStart().startsWith("<");
  const detail = upstreamDetail(status, contentType, body, html ? htmlTitle(body) : null);
  return withDetail(publicMessage(status, html), detail);
}

/** The client's side of a non-Ollama failure: the status and what to check, nothing the upstream wrote. */
function publicMessage(status: number, html: boolean): ApiError {
  if (html) {
    const what = `The tunnel or backend answered HTTP ${status} with an HTML page`;
    if (status === 524 || status === 504) return backendTimeout(`${what}: the backend took too long to answer.`);
    if (status === 401 || status === 403) return backendUnavailable(502, `${what}: check CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET.`);
    return backendUnavailable(502, `${what}: check that the home machine, Ollama and cloudflared are running.`);
  }
  if (status === 503) return backendUnavailable(503, "The backend is busy or loading a model.", RETRY_AFTER_SECONDS);
  if (status === 504 || status === 524) return backendTimeout(`The backend timed out (HTTP ${status}).`);
  if (status === 401 || status === 403) {
    return backendUnavailable(502, `The tunnel refused the gateway (HTTP ${status}): check CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET.`);
  }
  return backendUnavailable(502, `The backend answered HTTP ${status}.`);
}
