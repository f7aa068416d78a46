import { answerCap } from "../core/model-settings.ts";
import type { NativeGenerateChunk } from "../core/native.ts";
import { estimateTextTokens } from "../core/usage.ts";
import { CompletionsAggregator } from "../dialects/openai/completions/aggregate.ts";
import { toNativeCompletion } from "../dialects/openai/completions/request.ts";
import { type CompletionRequest, validateCompletionRequest } from "../dialects/openai/completions/schema.ts";
import { CompletionsSseEncoder } from "../dialects/openai/completions/stream.ts";
import { readJsonBody } from "../http/body.ts";
import type { Caller } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import { openaiTooLong } from "../pipeline/context-fit.ts";
import { type GenerationSpec, runGeneration, withAnswerCeiling } from "../pipeline/generation.ts";

const echoOf = (body: CompletionRequest): string => (body.echo ? body.prompt : "");
const wantsLogprobs = (body: CompletionRequest): boolean => body.logprobs !== undefined && body.logprobs !== null;

const completionsSpec: GenerationSpec<CompletionRequest, NativeGenerateChunk> = {
  kind: "completion",
  idPrefix: "cmpl",
  tooLong: openaiTooLong("prompt"),
  estimateTokens: (body) => ({
    prompt: estimateTextTokens(body.prompt + (body.suffix ?? "") + (body.system ?? "")),
    answer: body.max_tokens ?? answerCap(body.options),
  }),
  toNative: (body, { model, defaults, limits, ceiling }) => withAnswerCeiling(toNativeCompletion(body, { model, defaults, limits }), ceiling),
  encoder: (meta, body) =>
    new CompletionsSseEncoder(meta, {
      includeUsage: body.stream_options?.include_usage === true,
      echo: echoOf(body),
      logprobs: wantsLogprobs(body),
    }),
  aggregator: (meta, body) => new CompletionsAggregator(meta, echoOf(body), wantsLogprobs(body)),
};

/** POST /v1/completions (legacy) → native /api/generate. */
export async function completions(request: Request, app: AppContext, caller: Caller): Promise<Response> {
  const raw = await readJsonBody(request, app.config.maxBodyBytes);
  const body = validateCompletionRequest(raw);
  return runGeneration(request, app, caller, body, completionsSpec, raw as Record<string, unknown>);
}
