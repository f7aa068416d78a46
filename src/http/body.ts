import { invalidRequest, requestTooLarge } from "../core/errors.ts";
import { MAX_JSON_DEPTH, nestedDeeperThan } from "../core/json.ts";
import { readCapped, TooLargeError } from "./read-capped.ts";

const EMPTY = "The request body is empty; expected a JSON object.";

/**
 * Reads the request body as JSON, refusing it with 413 as soon as it passes `limit` bytes —
 * while reading, so a huge body is never buffered whole.
 */
export async function readJsonBody(request: Request, limit: number): Promise<unknown> {
  return (await readJson(request, limit)).value;
}

/** The same, keeping the text as sent: where key order and duplicate keys matter (Go decodes them differently). */
export async function readJson(request: Request, limit: number): Promise<{ text: string; value: unknown }> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw requestTooLarge(limit);
  if (!request.body) throw invalidRequest(EMPTY);

  let bytes: Uint8Array;
  try {
    bytes = await readCapped(request.body, limit);
  } catch (error) {
    if (error instanceof TooLargeError) throw requestTooLarge(limit);
    throw invalidRequest("The request body could not be read.");
  }
  if (bytes.byteLength === 0) throw invalidRequest(EMPTY);

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw invalidRequest("The request body is not valid UTF-8.");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : "parse error";
    throw invalidRequest(`We could not parse the JSON body of your request (${detail}). Send valid JSON.`);
  }
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) {
    throw invalidRequest(`The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep.`);
  }
  return { text, value };
}
