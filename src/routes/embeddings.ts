import type { Candidate } from "../backends/routing.ts";
import { limitsFor, modelDefaultsFor } from "../core/model-settings.ts";
import type { NativeEmbedResponse } from "../core/native.ts";
import { estimateTextTokens } from "../core/usage.ts";
import { toNativeEmbed, toOpenAIEmbeddings } from "../dialects/openai/embeddings/mapping.ts";
import { type EmbeddingRequest, validateEmbeddingRequest } from "../dialects/openai/embeddings/schema.ts";
import { readJsonBody } from "../http/body.ts";
import { json } from "../http/respond.ts";
import type { Caller } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import { type AttemptContext, beforeAnswer, routed } from "../pipeline/failover.ts";
import { finish } from "../pipeline/generation.ts";

/** POST /v1/embeddings → native /api/embed (or llama-server's /v1/embeddings): the whole batch in one call. */
export async function embeddings(request: Request, app: AppContext, caller: Caller): Promise<Response> {
  const { config } = app;
  const body = validateEmbeddingRequest(await readJsonBody(request, config.maxBodyBytes), {
    maxInputs: config.maxEmbeddingInputs,
    maxBytes: config.maxEmbeddingBytes,
  });
  const route = await app.catalog.route(body.model, caller.allowsModel);
  const inputs = typeof body.input === "string" ? [body.input] : body.input;
  const estimatedTokens = inputs.reduce((n, text) => n + estimateTextTokens(text), 0);
  return routed(request, app, caller, route, { estimatedTokens }, null, async (candidate, context) => {
    const answer = await embed(request, app, body, candidate, context);
    const list = toOpenAIEmbeddings(answer, inputs.length, body.model, body.encoding_format ?? "float");
    finish(context.admission, context.release, { prompt_tokens: list.usage.prompt_tokens, completion_tokens: 0, total_tokens: list.usage.total_tokens });
    return json(list, 200, context.admission.headers);
  });
}

/** The vectors in the internal form (Ollama's shape), whichever kind of backend computed them. */
function embed(request: Request, app: AppContext, body: EmbeddingRequest, candidate: Candidate, { retries }: AttemptContext): Promise<NativeEmbedResponse> {
  const native = toNativeEmbed(
    body,
    candidate.model,
    modelDefaultsFor(app.config, body.model, candidate.model),
    limitsFor(app.config, body.model, candidate.model),
  );
  // A cold embedding model loads before it answers: allow the full headers timeout, not the short default.
  const options = { signal: request.signal, retries, headersTimeoutMs: app.config.upstreamHeadersTimeoutMs };
  return app.backend(candidate.backend).embed(native, options, beforeAnswer);
}
