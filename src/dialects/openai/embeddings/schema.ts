import * as z from "zod/mini";
import { invalidRequest } from "../../../core/errors.ts";
import { validate } from "../../../core/validate.ts";
import { ollamaExtras } from "../chat/schema.ts";

/** The public /v1/embeddings request, plus Ollama's extras. Unknown fields (`user`, …) are stripped. */

const TEXT_ONLY = "token arrays are not supported: Ollama takes text only. Send the input as a string or an array of strings.";

const isTokens = (item: unknown): boolean => typeof item === "number" || (Array.isArray(item) && item.every((t) => typeof t === "number"));

/** number[] (one tokenised input) or number[][] (several). */
const isTokenArray = (value: unknown[]): boolean => value.length > 0 && value.every(isTokens);

/** `input`: a non-empty string, or a non-empty array of non-empty strings; the issue names the bad element. */
function textInput(value: string | unknown[], ctx: z.core.ParsePayload): string | string[] {
  // zod/mini's transform gets the bare parse payload (no addIssue): the issue is pushed as zod would record it.
  const fail = (message: string, path: PropertyKey[] = []) => ctx.issues.push({ code: "custom", message, input: value, path });
  if (typeof value === "string") {
    if (value === "") fail("must not be an empty string.");
    return value;
  }
  if (value.length === 0) fail("must not be an empty array.");
  else if (isTokenArray(value)) fail(TEXT_ONLY);
  else {
    const bad = value.findIndex((item) => typeof item !== "string" || item === "");
    if (bad >= 0) fail(typeof value[bad] === "string" ? "must not be an empty string." : "expected a string.", [bad]);
  }
  return value as string[];
}

const input = z.pipe(
  z.union([z.string(), z.array(z.unknown())], { error: (issue) => (issue.input == null ? "input is required" : undefined) }),
  z.transform(textInput),
);

const encodingFormat = z.pipe(
  z.string(),
  z.transform((value: string, ctx) => {
    const format = value.toLowerCase();
    if (format === "float" || format === "base64") return format;
    ctx.issues.push({ code: "custom", message: `${JSON.stringify(value)} is not supported. Supported values: 'float', 'base64'.`, input: value });
    return z.NEVER;
  }),
);

export const embeddingRequestSchema = z.object({
  model: z.string().check(z.minLength(1, "model is required")),
  input,
  dimensions: z.nullish(z.int().check(z.positive())),
  encoding_format: z.nullish(encodingFormat),
  options: ollamaExtras.options,
  keep_alive: ollamaExtras.keep_alive,
  truncate: z.optional(z.boolean()),
});

export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>;

export interface EmbeddingLimits {
  maxInputs: number;
  maxBytes: number;
}

const utf8 = new TextEncoder();

/**
 * Parse and check a /v1/embeddings body, including the batch caps (MAX_EMBEDDING_INPUTS, MAX_EMBEDDING_BYTES)
 * that keep one request from holding the home GPU for minutes.
 */
export function validateEmbeddingRequest(body: unknown, limits: EmbeddingLimits): EmbeddingRequest {
  const request = validate(embeddingRequestSchema, body);
  checkEmbeddingInputCaps(request.input, limits);
  return request;
}

/**
 * The batch caps on an embedding `input` (a string or an array of strings), for /v1/embeddings and the native
 * /api/embed alike: more items than `maxInputs`, or more UTF-8 bytes of text in total than `maxBytes`, is a 400
 * (param `input`) naming the setting. Anything else (absent, not text) is left to the caller's own checks; an
 * array's items count whatever they are, its strings' bytes count.
 */
export function checkEmbeddingInputCaps(input: unknown, limits: EmbeddingLimits): void {
  const inputs: readonly unknown[] = typeof input === "string" ? [input] : Array.isArray(input) ? input : [];
  if (inputs.length > limits.maxInputs) {
    throw invalidRequest(
      `input holds ${inputs.length} items; at most ${limits.maxInputs} are allowed per request (MAX_EMBEDDING_INPUTS). Split the batch.`,
      "input",
    );
  }
  let bytes = 0;
  for (const text of inputs) {
    if (typeof text !== "string") continue;
    bytes += utf8.encode(text).length;
    if (bytes > limits.maxBytes) {
      throw invalidRequest(
        `input is larger than ${limits.maxBytes} bytes of UTF-8 text in total, the limit per request (MAX_EMBEDDING_BYTES). Split the batch.`,
        "input",
      );
    }
  }
}
