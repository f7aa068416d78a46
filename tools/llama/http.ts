// llama-server's response shapes: JSON with its Content-Type, and errors as {"error":{"code","message","type"}}.
import type { ServerResponse } from "node:http";

export const JSON_TYPE = "application/json; charset=utf-8";
export const SSE_TYPE = "text/event-stream";
export const METRICS_TYPE = "text/plain; version=0.0.4";

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "not_found_error"
  | "server_error"
  | "unavailable_error"
  | "not_supported_error";

// format_error_response: each error type has one HTTP status.
const STATUS: Record<ErrorType, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  server_error: 500,
  unavailable_error: 503,
  not_supported_error: 501,
};

export type Json = Record<string, unknown>;

/** Ordinary errors: {"error":{"code","message","type"}}, status from the type. */
export function errorBody(type: ErrorType, message: string): { status: number; body: Json } {
  const status = STATUS[type];
  return { status, body: { error: { code: status, message, type } } };
}

// The HTTP middlewares and the 404 handler build their bodies themselves, with the keys in another order.
export const LOADING = { status: 503, body: { error: { message: "Loading model", type: "unavailable_error", code: 503 } } };
export const INVALID_API_KEY = { status: 401, body: { error: { message: "Invalid API Key", type: "authentication_error", code: 401 } } };
export const NOT_FOUND = { status: 404, body: { error: { message: "File Not Found", type: "not_found_error", code: 404 } } };
export const NO_SLOT = errorBody("unavailable_error", "no slot available");

export function sendText(res: ServerResponse, status: number, text: string, type: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body), JSON_TYPE);
}

export function sendReply(res: ServerResponse, reply: { status: number; body: unknown }): void {
  sendJson(res, reply.status, reply.body);
}

export function sendLlamaError(res: ServerResponse, type: ErrorType, message: string): void {
  sendReply(res, errorBody(type, message));
}

/** A JSON body as llama-server parses it: nlohmann's parse error is not an invalid_argument, so it is a 500. */
export function parseBody(raw: string): { ok: true; value: unknown } | { ok: false; status: number; body: Json } {
  try {
    return { ok: true, value: JSON.parse(raw) };
  } catch (error) {
    const detail = raw.trim() === "" ? "attempting to parse an empty input" : (error as Error).message;
    return { ok: false, ...errorBody("server_error", `[json.exception.parse_error.101] parse error: ${detail}`) };
  }
}
