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

  constructor(
    status: number,
    message: string,
    type: ErrorType,
    code: string | null = null,
    param: string | null = null,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
    this.headers = headers;
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, message, "invalid_request_error", code, param);

export const modelNotFound = (message: string) => new ApiError(404, message, "invalid_request_error", "model_not_found", "model");

export const routeNotFound = (method: string, path: string) =>
  new ApiError(404, `Unknown request URL: ${method} ${path}. Please check the URL and method.`, "invalid_request_error", "unknown_url");

export const unauthorized = (message: string) => new ApiError(401, message, "invalid_request_error", "invalid_api_key");

export const requestTooLarge = (limit: number) =>
  new ApiError(413, `Request body is larger than the limit of ${limit} bytes.`, "invalid_request_error", "request_too_large");

export const backendUnavailable = (status: 502 | 503, message: string, retryAfterSeconds?: number) =>
  new ApiError(status, message, "server_error", "backend_unavailable", null,
    retryAfterSeconds === undefined ? {} : { "retry-after": String(retryAfterSeconds) });

export const backendTimeout = (message: string) => new ApiError(504, message, "server_error", "backend_timeout");

export const backendStalled = (ms: number) => backendTimeout(`The backend sent nothing for ${ms} ms; the request was stopped.`);

export const backendBroke = () => new ApiError(502, "The connection to the backend broke during the answer.", "server_error", "backend_error");

/** The same error with more response headers (the x-ratelimit-* set once a request was admitted). */
export function withExtraHeaders(error: unknown, headers: Record<string, string>): unknown {
  if (!(error instanceof ApiError)) return error;
  return new ApiError(error.status, error.message, error.type, error.code, error.param, { ...headers, ...error.headers });
}

/** Anything that is not an ApiError is our bug (or a bad setting): report it without leaking internals. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof Error && error.name === "ConfigError") {
    return new ApiError(500, `The gateway is misconfigured. ${error.message}`, "server_error", "invalid_configuration");
  }
  return new ApiError(500, "The gateway hit an unexpected error.", "server_error", "internal_error");
}

export function errorResponse(error: ApiError): Response {
  return new Response(JSON.stringify(error.toBody()), {
    status: error.status,
    headers: { "content-type": "application/json", ...error.headers },
  });
}
