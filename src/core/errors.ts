/** OpenAI's error envelope, and the one error type every layer throws. */

export type ErrorType = "invalid_request_error" | "permission_error" | "rate_limit_exceeded" | "server_error";

export interface ErrorBody {
  error: { message: string; type: ErrorType | string; param: string | null; code: string | null };
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly code: string | null;
  readonly param: string | null;
  readonly headers: Record<string, string>;
  /**
   * The backend side turned the request away for now — a backend busy or loading its model, or the queue at its
   * gate full — rather than the key's own limits: a dialect with a word for that (Anthropic's 529
   * `overloaded_error`) says so; the OpenAI shape keeps the status.
   */
  readonly overloaded: boolean;
  /**
   * For the operator only: what the client must not see (an upstream page's title, a snippet of a body, a
   * setting's error). `publicError` logs it; it is never serialized. A private field behind a getter, so not even
   * JSON.stringify of the error itself can carry it.
   */
  readonly #detail: string | null;

  constructor(
    status: number,
    message: string,
    type: ErrorType,
    code: string | null = null,
    param: string | null = null,
    headers: Record<string, string> = {},
    detail: string | null = null,
    overloaded = false,
  ) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
    this.headers = headers;
    this.#detail = detail;
    this.overloaded = overloaded;
  }

  get detail(): string | null {
    return this.#detail;
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, message, "invalid_request_error", code, param);

export const notFound = (message: string, param: string | null, code: string) => new ApiError(404, message, "invalid_request_error", code, param);

export const modelNotFound = (message: string) => new ApiError(404, message, "invalid_request_error", "model_not_found", "model");

export const routeNotFound = (method: string, path: string) =>
  new ApiError(404, `Unknown request URL: ${method} ${path}. Please check the URL and method.`, "invalid_request_error", "unknown_url");

export const unauthorized = (message: string) => new ApiError(401, message, "invalid_request_error", "invalid_api_key");

export const requestTooLarge = (limit: number) =>
  new ApiError(413, `Request body is larger than the limit of ${limit} bytes.`, "invalid_request_error", "request_too_large");

/** 503: the backend is busy or loading a model (overloaded, for now); 502: it cannot be reached or answered wrongly. */
export const backendUnavailable = (status: 502 | 503, message: string, retryAfterSeconds?: number) =>
  new ApiError(
    status,
    message,
    "server_error",
    "backend_unavailable",
    null,
    retryAfterSeconds === undefined ? {} : { "retry-after": String(retryAfterSeconds) },
    null,
    status === 503,
  );

export const backendTimeout = (message: string) => new ApiError(504, message, "server_error", "backend_timeout");

export const backendStalled = (ms: number) => backendTimeout(`The backend sent nothing for ${ms} ms; the request was stopped.`);

/** The backend reported an error in the middle of its answer (Ollama's `{"error"}` line, llama-server's error event). */
export const failedDuringGeneration = (message: string) =>
  new ApiError(502, `The backend failed during generation: ${message}`, "server_error", "backend_error");

/** The backend's stream ended before its final line: the answer is incomplete. */
export const closedEarly = () => new ApiError(502, "The backend closed the stream before the answer was complete.", "server_error", "backend_error");

export const backendBroke = () => new ApiError(502, "The connection to the backend broke during the answer.", "server_error", "backend_error");

/** The same error with an operator-only detail (logged by `publicError`, never sent). */
export function withDetail(error: ApiError, detail: string | null): ApiError {
  return new ApiError(error.status, error.message, error.type, error.code, error.param, error.headers, detail, error.overloaded);
}

/** The same error with more response headers (the x-ratelimit-* set once a request was admitted). */
export function withExtraHeaders(error: unknown, headers: Record<string, string>): unknown {
  if (!(error instanceof ApiError)) return error;
  const merged = { ...headers, ...error.headers };
  return new ApiError(error.status, error.message, error.type, error.code, error.param, merged, error.detail, error.overloaded);
}

/** The caller learns which setting is wrong (the names are public, in the README), never its value or problem. */
export const misconfigured = (variable: string) => `The gateway is misconfigured (${variable}); the operator can find the details in the Worker's log.`;

/**
 * Anything that is not an ApiError is our bug (or a bad setting): report it without leaking internals. A bad
 * setting's text names variables and values, so it goes to `detail` (the log), not to an anonymous caller; so do
 * our own bug's message and stack (never request data, which may hold keys).
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof Error && error.name === "ConfigError") {
    const variable = (error as Error & { variable?: unknown }).variable;
    return new ApiError(
      500,
      misconfigured(typeof variable === "string" ? variable : "a setting"),
      "server_error",
      "invalid_configuration",
      null,
      {},
      error.message,
    );
  }
  const detail = error instanceof Error ? `unexpected ${error.name}: ${error.message}\n${error.stack ?? ""}` : `unexpected ${String(error)}`;
  return new ApiError(500, "The gateway hit an unexpected error.", "server_error", "internal_error", null, {}, detail);
}

/**
 * What an error boundary sends: `toApiError(error)`, its operator-only detail logged under the request id (the
 * detail only, never request data), and every 5xx message ending in ` (request id: <id>)` so the caller can
 * quote it and the operator can find that log line.
 */
export function publicError(error: unknown, requestId: string): ApiError {
  const apiError = toApiError(error);
  if (apiError.detail !== null) {
    console.error(`[${requestId}] ${apiError.status} ${apiError.code ?? apiError.type}: ${apiError.detail}`);
  }
  if (apiError.status < 500) return apiError;
  return new ApiError(
    apiError.status,
    `${apiError.message} (request id: ${requestId})`,
    apiError.type,
    apiError.code,
    apiError.param,
    apiError.headers,
    apiError.detail,
    apiError.overloaded,
  );
}

export function errorResponse(error: ApiError): Response {
  return new Response(JSON.stringify(error.toBody()), {
    status: error.status,
    headers: { "content-type": "application/json", ...error.headers },
  });
}
