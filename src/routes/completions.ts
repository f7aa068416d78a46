import { readJsonBody } from "../http/body.ts";
import { type CompletionRequest, validateCompletionRequest } from "../openai/completions-schema.ts";
import type { NativeGenerateChunk } from "../ollama/types.ts";
import { CompletionsAggregator } from "../translate/completions-aggregate.ts";
import { toNativeCompletion } from "../translate/completions-request.ts";
import { CompletionsSseEncoder } from "../translate/completions-stream.ts";
import type { AppContext } from "./context.ts";
import { estimateTextTokens, type GenerationSpec, runGeneration } from "./generation.ts";

/** Without max_tokens, reserve this many answer tokens for token limits; the real count settles it. */
const DEFAULT_ANSWER_ESTIMATE = 1024;

const echoOf = (body: CompletionRequest): string => (body.echo ? body.prompt : "");
const wantsLogprobs = (body: CompletionRequest): boolean => body.logprobs !== undefined && body.logprobs !== null;

const completionsSpec: GenerationSpec<CompletionRequest, NativeGenerateChunk> = {
  upstreamPath: "/api/generate",
  openaiPath: "/v1/completions",
  idPrefix: "cmpl",
  estimateTokens: (body) => ({
    prompt: estimateTextTokens(body.prompt + (body.suffix ?? "") + (body.system ?? "")),
    answer: body.max_tokens ?? DEFAULT_ANSWER_ESTIMATE,
  }),
  toNative: (body, { model, defaults }) => toNativeCompletion(body, { model, defaults }),
  encoder: (meta, body) =>
    new CompletionsSseEncoder(meta, {
      includeUsage: body.stream_options?.include_usage === true,
      echo: echoOf(body),
      logprobs: wantsLogprobs(body),
    }),
  aggregator: (meta, body) => new CompletionsAggregator(meta, echoOf(body), wantsLogprobs(body)),
};

/** POST /v1/completions (legacy) → native /api/generate. */
export async function completions(request: Request, app: AppContext): Promise<Response> {
  const raw = await readJsonBody(request, app.config.maxBodyBytes);
  const body = validateCompletionRequest(raw);
  return runGeneration(request, app, body, completionsSpec, raw as Record<string, unknown>);
}
