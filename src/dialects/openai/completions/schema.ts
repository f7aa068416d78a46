import * as z from "zod";
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
function singlePrompt(value: string | unknown[], ctx: z.RefinementCtx): string {
  if (typeof value === "string") return value;
  if (value.length === 1 && typeof value[0] === "string") return value[0];
  let message: string;
  if (value.length === 0) message = "expected a string, got an empty array.";
  else if (value.every((item) => typeof item === "string")) {
    message = `an array of ${value.length} prompts is not supported: Ollama answers one prompt per request, so send one request per prompt.`;
  } else message = "token arrays are not supported: Ollama takes text only. Send the prompt as a string.";
  ctx.addIssue({ code: "custom", message });
  return z.NEVER;
}

const prompt = z
  .union([z.string(), z.array(z.unknown())], { error: (issue) => (issue.input == null ? "prompt is required" : undefined) })
  .transform(singlePrompt);

const count = z.number().int().positive();

export const completionRequestSchema = z.object({
  model: z.string().min(1, "model is required"),
  prompt,
  suffix: z.string().nullish(),
  max_tokens: z.number().int().nonnegative().nullish(),
  ...samplingFields,
  echo: z.boolean().nullish(),
  logprobs: z.number().int().min(0).max(20).nullish(),
  n: count.nullish(),
  best_of: count.nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  ...ollamaExtras,
  raw: z.boolean().optional(),
  system: z.string().optional(),
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
