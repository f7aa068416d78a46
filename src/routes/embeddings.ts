import { admit, modelNotAllowed } from "../http/auth.ts";
import { readJsonBody } from "../http/body.ts";
import { withExtraHeaders } from "../http/errors.ts";
import { json } from "../http/respond.ts";
import { validateEmbeddingRequest } from "../openai/embeddings-schema.ts";
import type { NativeEmbedResponse } from "../ollama/types.ts";
import type { Usage } from "../translate/chat-common.ts";
import { toNativeEmbed, toOpenAIEmbeddings } from "../translate/embeddings.ts";
import { type AppContext, modelDefaultsFor } from "./context.ts";
import { estimateTextTokens } from "./generation.ts";

/** POST /v1/embeddings → native /api/embed: the whole batch in one upstream call. */
export async function embeddings(request: Request, app: AppContext): Promise<Response> {
  const { config } = app;
  const body = validateEmbeddingRequest(await readJsonBody(request, config.maxBodyBytes), {
    maxInputs: config.maxEmbeddingInputs,
    maxBytes: config.maxEmbeddingBytes,
  });
  const inputs = typeof body.input === "string" ? [body.input] : body.input;
  const admission = await admit(request, app, { model: body.model, estimatedTokens: inputs.reduce((n, text) => n + estimateTextTokens(text), 0) });
  let usage: Usage | null = null;
  try {
    const { name } = await app.catalog.resolve(body.model);
    if (!admission.allowsModel(name)) throw modelNotAllowed(body.model);
    const native = toNativeEmbed(body, name, modelDefaultsFor(config, body.model, name));
    // A cold embedding model loads before it answers: allow the full headers timeout, not json()'s short default.
    const answer = await app.ollama.json<NativeEmbedResponse>("POST", "/api/embed", native, config.upstreamHeadersTimeoutMs);
    const list = toOpenAIEmbeddings(answer, inputs.length, body.model, body.encoding_format ?? "float");
    usage = { prompt_tokens: list.usage.prompt_tokens, completion_tokens: 0, total_tokens: list.usage.total_tokens };
    return json(list, 200, admission.headers);
  } catch (error) {
    throw withExtraHeaders(error, admission.headers);
  } finally {
    admission.settle(usage);
  }
}
