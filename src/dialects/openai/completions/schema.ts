import * as z from "zod/mini";
import { invalidRequest } from "../../../core/errors.ts";
import { validate } from "../../../core/validate.ts";
import { ollamaExtras, samplingFields } from "../chat/schema.ts";

/**
 * The public legacy /v1/completions request, as OpenAI documents it plus Ollama's extras.
 * Unknown fields are stripped; wrong types are 400s naming the path.
 */

/**
 * `prompt`: a string, or an array holding exactly one string (what some SDKs send). Several prompts would need
 * several generations, and token arrays have no native equivalent: both are 400s rather than silent surprises.
 */
function singlePrompt(value: string | unknown[], ctx: z.core.ParsePayload): string {
  if (typeof value === "string") return value;
  if (value.length === 1 && typeof value[0] === "string") return value[0];
  let message: string;
  if (value.length === 0) message = "expected a string, got an empty array.";
  else if (value.every((item) => typeof item === "string")) {
    message = `an array of ${value.length} prompts is not supported: Ollama answers one prompt per request, so send one request per prompt.`;
  } else message = "token arrays are not supported: Ollama takes text only. Send the prompt as a string.";
  ctx.issues.push({ code: "custom", message, input: value }); // zod/mini's transform gets the bare payload: no addIssue
  return z.NEVER;
}

const prompt = z.pipe(
  z.union([z.string(), z.array(z.unknown())], { error: (issue) => (issue.input == null ? "prompt is required" : undefined) }),
  z.transform(singlePrompt),
);

const count = z.int().check(z.positive());

export const completionRequestSchema = z.object({
  model: z.string().check(z.minLength(1, "model is required")),
  prompt,
  suffix: z.nullish(z.string()),
  max_tokens: z.nullish(z.int().check(z.nonnegative())),
  ...samplingFields,
  echo: z.nullish(z.boolean()),
  logprobs: z.nullish(z.int().check(z.minimum(0), z.maximum(20))),
  n: z.nullish(count),
  best_of: z.nullish(count),
  stream: z.nullish(z.boolean()),
  stream_options: z.nullish(z.object({ include_usage: z.nullish(z.boolean()) })),
  ...ollamaExtras,
  raw: z.optional(z.boolean()),
  system: z.optional(z.string()),
});

export type CompletionRequest = z.infer<typeof completionRequestSchema>;

/** Parse and check a /v1/completions body: schema errors, then what Ollama cannot serve (`n`, `best_of` > 1). */
export function validateCompletionRequest(body: unknown): CompletionRequest {
  const request = validate(completionRequestSchema, body);
  for (const field of ["n", "best_of"] as const) {
    const value = request[field];
    if (value !== undefined && value !== null && value > 1) {
      throw invalidRequest(
        `${field} > 1 is not supported: Ollama returns one completion per request. Send separate requests instead.`,
        field,
        "unsupported_parameter",
      );
    }
  }
  return request;
}
