import { modelDefaultsFor, type AppContext } from "./context.ts";
import { admit, authenticate } from "../http/auth.ts";
import { readJsonBody } from "../http/body.ts";
import { json, withHeaders } from "../http/respond.ts";
import { chatRequestSchema, type ChatRequest } from "../openai/chat-schema.ts";
import { validate } from "../openai/validate.ts";
import { ChatAggregator } from "../translate/chat-aggregate.ts";
import { completionId, type CompletionMeta } from "../translate/chat-common.ts";
import { remoteImageUrls, toNativeChat } from "../translate/chat-request.ts";
import { ChatSseEncoder } from "../translate/chat-stream.ts";
import { fetchImage } from "../translate/images.ts";
import { aggregateAnswer, streamAnswer } from "./upstream-answer.ts";

export const SYSTEM_FINGERPRINT = "fp_ollama_edge";

/** POST /v1/chat/completions: validate → resolve model → admit → translate → upstream (always streamed) → answer. */
export async function chatCompletions(request: Request, app: AppContext): Promise<Response> {
  const principal = authenticate(request);
  const body = validate(chatRequestSchema, await readJsonBody(request, app.config.maxBodyBytes));
  const { name } = await app.catalog.resolve(body.model);
  const admission = await admit(principal, { model: name, estimatedTokens: 0 });
  let settled = false;
  const settleOnce = (usage: Parameters<typeof admission.settle>[0]) => {
    if (!settled) admission.settle(usage);
    settled = true;
  };
  try {
    const native = toNativeChat(body, {
      model: name,
      defaults: modelDefaultsFor(app.config, body.model, name),
      remoteImages: await fetchRemoteImages(body, app, request.signal),
    });
    const meta: CompletionMeta = {
      id: completionId("chatcmpl"),
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      systemFingerprint: SYSTEM_FINGERPRINT,
    };
    const call = app.ollama.call("POST", "/api/chat", native, request.signal);
    if (body.stream) {
      const encoder = new ChatSseEncoder(meta, body.stream_options?.include_usage === true);
      const response = await streamAnswer(call, encoder, app.config, () => settleOnce(null));
      return withHeaders(response, admission.headers);
    }
    const aggregator = new ChatAggregator(meta, body.logprobs === true);
    await aggregateAnswer(call, aggregator, app.config);
    const completion = aggregator.result();
    settleOnce(completion.usage);
    return json(completion, 200, admission.headers);
  } catch (error) {
    settleOnce(null);
    throw error;
  }
}

async function fetchRemoteImages(body: ChatRequest, app: AppContext, signal: AbortSignal): Promise<Map<string, string>> {
  const wanted = remoteImageUrls(body.messages);
  const limits = { maxBytes: app.config.maxImageBytes, timeoutMs: app.config.imageFetchTimeoutMs };
  const fetched = await Promise.all(wanted.map(({ url, param }) => fetchImage(url, param, limits, signal)));
  return new Map(wanted.map(({ url }, i) => [url, fetched[i]!]));
}
