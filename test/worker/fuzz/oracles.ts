/**
 * What every answer must look like, per dialect: the error envelope a path's clients parse, and the framing of its
 * streams. The dialect of a path is decided as src/app.ts routes it: `/api` and below are Ollama's, `/v1/messages`
 * and below Anthropic's, everything else OpenAI's (itty-router matches a route with any trailing slashes).
 *
 * Each check is given `bad`, which throws with the reason; the callers add the request and the answer to it.
 */

export type Dialect = "openai" | "anthropic" | "native";
type Bad = (why: string) => never;

export function dialectOf(pathname: string): Dialect {
  if (pathname === "/api" || pathname.startsWith("/api/")) return "native";
  if (pathname === "/v1/messages" || pathname.startsWith("/v1/messages/")) return "anthropic";
  return "openai";
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);
const keysAre = (value: Record<string, unknown>, keys: string) => Object.keys(value).sort().join() === keys;

/** The message of an exact `{"error": string}` body, else null. */
export function nativeError(text: string): string | null {
  const body = parseJson(text);
  if (body === null || typeof body !== "object" || Array.isArray(body)) return null;
  const keys = Object.keys(body);
  const error = (body as { error?: unknown }).error;
  return keys.length === 1 && typeof error === "string" ? error : null;
}

const nullableString = (value: unknown) => value === null || typeof value === "string";

export function isOpenAIError(body: unknown): boolean {
  if (body === null || typeof body !== "object" || Array.isArray(body) || Object.keys(body).join() !== "error") return false;
  const error = (body as { error: unknown }).error;
  if (error === null || typeof error !== "object" || Array.isArray(error)) return false;
  const fields = error as Record<string, unknown>;
  return (
    Object.keys(fields).sort().join() === "code,message,param,type" &&
    typeof fields.message === "string" &&
    typeof fields.type === "string" &&
    nullableString(fields.param) &&
    nullableString(fields.code)
  );
}

const ANTHROPIC_ERROR_TYPES = new Set([
  "invalid_request_error",
  "authentication_error",
  "permission_error",
  "not_found_error",
  "rate_limit_error",
  "api_error",
  "overloaded_error",
]);

/** The `error.type` of an exact `{"type":"error","error":{"type","message"}}` body with a known type, else null. */
export function anthropicErrorType(body: unknown): string | null {
  if (!isObject(body) || !keysAre(body, "error,type") || body.type !== "error") return null;
  const error = body.error;
  if (!isObject(error) || !keysAre(error, "message,type") || typeof error.message !== "string") return null;
  return typeof error.type === "string" && ANTHROPIC_ERROR_TYPES.has(error.type) ? error.type : null;
}

/** The Anthropic error type each status is answered with (README, Errors: 413 and 405 stay invalid_request_error). */
export function anthropicTypeFor(status: number): string {
  const named: Record<number, string> = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
  };
  return named[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
}

/**
 * An error answer in its dialect's envelope: Ollama's `{"error": string}` on /api, Anthropic's shape with the type
 * its status calls for on /v1/messages, OpenAI's elsewhere (a 401 with the code of a key or of the admin token).
 * 429 and 529 say when to come back.
 */
export function checkErrorAnswer(dialect: Dialect, status: number, headers: Headers, text: string, bad: Bad): void {
  if ((status === 429 || status === 529) && !headers.has("retry-after")) bad(`a ${status} without retry-after`);
  if (dialect === "native") {
    if (nativeError(text) === null) bad('a native error that is not {"error": string}');
    return;
  }
  if (headers.get("content-type") !== "application/json") bad("an error that is not application/json");
  const body = parseJson(text);
  if (dialect === "anthropic") {
    const type = anthropicErrorType(body);
    if (type === null) bad("an error on an Anthropic route that is not Anthropic's shape");
    if (type !== anthropicTypeFor(status)) bad(`a ${status} of type ${type} on an Anthropic route, not ${anthropicTypeFor(status)}`);
    return;
  }
  if (!isOpenAIError(body)) bad("an error that is not OpenAI's envelope");
  const { type, code } = (body as { error: { type: string; code: string | null } }).error;
  if (status === 401 && (type !== "invalid_request_error" || (code !== "invalid_api_key" && code !== "invalid_admin_token")))
    bad(`a 401 with type ${type} and code ${JSON.stringify(code)}`);
}

/** The 401 of a key route in its dialect: OpenAI's invalid_api_key, Anthropic's authentication_error, Ollama's shape. */
export function checkKeyRefused(dialect: Dialect, text: string, bad: Bad): void {
  if (dialect === "native") {
    if (nativeError(text) === null) bad('a native 401 that is not {"error": string}');
  } else if (dialect === "anthropic") {
    if (anthropicErrorType(parseJson(text)) !== "authentication_error") bad("an Anthropic 401 that is not an authentication_error");
  } else {
    const code = (parseJson(text) as { error?: { code?: unknown } } | undefined)?.error?.code;
    if (code !== "invalid_api_key") bad(`a 401 with code ${JSON.stringify(code)}`);
  }
}

/** The stream's framing for a path: Responses' and Anthropic's named events, else OpenAI's `data:` lines. */
export function checkStream(pathname: string, text: string, bad: Bad): void {
  if (dialectOf(pathname) === "anthropic") checkAnthropicSse(text, bad);
  else if (/^\/v1\/responses\/*$/.test(pathname)) checkResponsesSse(text, bad);
  else checkChatSse(text, bad);
}

/** SSE blocks: the text must end with a whole one; comments (`:` lines) are kept apart from events. */
function blocksOf(text: string, bad: Bad): string[] {
  if (!text.endsWith("\n\n")) bad("an SSE stream that does not end with a whole event");
  return text.slice(0, -2).split("\n\n");
}

/** OpenAI chat and completions: comments or `data:` JSON; the last data event is [DONE] or an error envelope. */
function checkChatSse(text: string, bad: Bad): void {
  const data: string[] = [];
  for (const event of blocksOf(text, bad)) {
    if (event.startsWith(":")) continue;
    if (!event.startsWith("data: ")) bad(`a malformed SSE event ${JSON.stringify(event.slice(0, 100))}`);
    data.push(event.slice("data: ".length));
  }
  const last = data.pop();
  if (last === undefined) bad("an SSE stream without data");
  if (last !== "[DONE]" && !isOpenAIError(parseJson(last!))) bad("an SSE stream that ends with neither [DONE] nor an error event");
  for (const chunk of data) {
    const parsed = parseJson(chunk);
    if (parsed === null || typeof parsed !== "object" || "error" in parsed) bad("an SSE chunk that is not a JSON chunk");
  }
}

/** One named event, `event: <type>\ndata: <one line of JSON whose type is that type>`. */
function namedEvent(block: string, bad: Bad): { event: string; data: Record<string, unknown> } {
  const match = /^event: ([^\n]+)\ndata: ([^\n]*)$/.exec(block);
  if (!match) bad(`a malformed SSE event ${JSON.stringify(block.slice(0, 120))}`);
  const [, event, json] = match!;
  const data = parseJson(json!);
  if (!isObject(data)) bad(`an event whose data is not a JSON object: ${json!.slice(0, 120)}`);
  if (data.type !== event) bad(`an event named ${event} whose data has type ${JSON.stringify(data.type)}`);
  return { event: event!, data: data as Record<string, unknown> };
}

const RESPONSES_TERMINAL: Record<string, string> = {
  "response.completed": "completed",
  "response.incomplete": "incomplete",
  "response.failed": "failed",
};

/**
 * OpenAI Responses: `: keep-alive` comments and named events numbered 0, 1, 2, … (`sequence_number`), from
 * `response.created` to exactly one terminal event (completed, incomplete or failed, with that status), nothing
 * after it and no `[DONE]`; every Response object in it is the same response.
 */
function checkResponsesSse(text: string, bad: Bad): void {
  let sequence = 0;
  let terminal: string | null = null;
  let id: unknown;
  for (const block of blocksOf(text, bad)) {
    if (block.startsWith(":")) continue;
    const { event, data } = namedEvent(block, bad);
    if (terminal !== null) bad(`${event} after ${terminal}`);
    if (sequence === 0 && event !== "response.created") bad(`a Responses stream that starts with ${event}`);
    if (data.sequence_number !== sequence) bad(`${event} has sequence_number ${JSON.stringify(data.sequence_number)}, not ${sequence}`);
    sequence++;
    if (data.response !== undefined) {
      const response = data.response as { id?: unknown; status?: unknown };
      id ??= response.id;
      if (typeof response.id !== "string" || response.id !== id) bad(`${event} is about response ${JSON.stringify(response.id)}, not ${JSON.stringify(id)}`);
      if (event in RESPONSES_TERMINAL && response.status !== RESPONSES_TERMINAL[event]) bad(`${event} with status ${JSON.stringify(response.status)}`);
    }
    if (event in RESPONSES_TERMINAL) terminal = event;
  }
  if (terminal === null) bad("a Responses stream without response.completed, response.incomplete or response.failed");
}

/**
 * Anthropic: named events only (its keep-alive is the `ping` event, anywhere), in the order its SDK's MessageStream
 * accumulates them: `message_start`, then blocks (`content_block_start`, deltas, `content_block_stop`, numbered from
 * 0), `message_delta`, `message_stop`. An `error` event (Anthropic's error object) may end it at any point instead.
 */
function checkAnthropicSse(text: string, bad: Bad): void {
  type State = "start" | "message" | "block" | "delta" | "done";
  let state: State = "start";
  let index = 0;
  for (const block of blocksOf(text, bad)) {
    if (block.startsWith(":")) bad("a comment on an Anthropic stream: its keep-alive is the ping event");
    const { event, data } = namedEvent(block, bad);
    if (event === "ping") {
      if (!keysAre(data, "type")) bad("a ping with more than its type");
      continue;
    }
    if (state === "done") bad(`${event} after the end of the stream`);
    const expectIndex = () => {
      if (data.index !== index) bad(`${event} for block ${JSON.stringify(data.index)}, not ${index}`);
    };
    const step: Record<string, [from: State[], to: State]> = {
      message_start: [["start"], "message"],
      content_block_start: [["message"], "block"],
      content_block_delta: [["block"], "block"],
      content_block_stop: [["block"], "message"],
      message_delta: [["message"], "delta"],
      message_stop: [["delta"], "done"],
    };
    if (event === "error") {
      if (anthropicErrorType(data) === null) bad(`an error event that is not Anthropic's error object: ${JSON.stringify(data).slice(0, 200)}`);
      state = "done";
      continue;
    }
    const rule = step[event];
    if (!rule) bad(`an event Anthropic does not send: ${event}`);
    if (!rule![0].includes(state)) bad(`${event} where the stream is at ${state}`);
    if (event.startsWith("content_block_")) expectIndex();
    if (event === "content_block_stop") index++;
    state = rule![1];
  }
  if (state !== "done") bad("an Anthropic stream that ends with neither message_stop nor an error event");
}

/** Whole JSON lines; an error line can only be the last. */
export function checkNdjson(text: string, bad: Bad): void {
  const lines = text.split("\n").filter((line) => line !== "");
  lines.forEach((line, i) => {
    const parsed = parseJson(line);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) bad(`an NDJSON line that is not a JSON object: ${line.slice(0, 100)}`);
    if ("error" in (parsed as object) && i !== lines.length - 1) bad("an NDJSON error line before the end");
  });
}
