import { type ApiError, invalidRequest } from "../../core/errors.ts";

/**
 * Anthropic's error shape, `{"type":"error","error":{"type":…,"message":…}}`, with its types: what its SDK turns
 * into its error classes and what Claude Code decides to retry on.
 */
export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

export interface AnthropicErrorBody {
  type: "error";
  error: { type: AnthropicErrorType; message: string };
}

export function anthropicErrorBody(type: AnthropicErrorType, message: string): AnthropicErrorBody {
  return { type: "error", error: { type, message } };
}

/**
 * The status and type for one of our errors. A backend busy or loading its model, or a full queue at its gate, is
 * Anthropic's 529 `overloaded_error` (its clients wait and retry; `retry-after` is kept); the key's own limits are
 * 429 `rate_limit_error`; every other status keeps its number.
 */
export function anthropicStatus(error: ApiError): { status: number; type: AnthropicErrorType } {
  if (error.overloaded) return { status: 529, type: "overloaded_error" };
  const status = error.status;
  if (status === 401) return { status, type: "authentication_error" };
  if (status === 403) return { status, type: "permission_error" };
  if (status === 404) return { status, type: "not_found_error" };
  if (status === 429) return { status, type: "rate_limit_error" };
  if (status >= 500) return { status, type: "api_error" };
  return { status, type: "invalid_request_error" };
}

/** The error boundary's answer on the Anthropic routes: the shape above, with the error's headers (retry-after, …). */
export function anthropicErrorResponse(error: ApiError): Response {
  const { status, type } = anthropicStatus(error);
  return new Response(JSON.stringify(anthropicErrorBody(type, error.message)), {
    status,
    headers: { "content-type": "application/json", ...error.headers },
  });
}

/** A prompt longer than the model's context window, in Anthropic's words (both numbers, as its API gives them). */
export const promptTooLong = (tokens: number, window: number): ApiError =>
  invalidRequest(`prompt is too long: ${tokens} tokens > ${window} maximum`, "messages", "context_length_exceeded");
