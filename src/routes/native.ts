import type { OllamaClient } from "../backends/ollama/client.ts";
import { OLLAMA_JSON, relayAnswer, upstreamAnswer } from "../backends/ollama/passthrough.ts";
import type { BackendConfig } from "../config/backends.ts";
import { backendBroke, invalidRequest, modelNotFound, toApiError, withExtraHeaders } from "../core/errors.ts";
import { answerCap, applyNativeLimits, limitsFor } from "../core/model-settings.ts";
import type { NativeChatRequest, NativeGenerateRequest } from "../core/native.ts";
import { estimateTextTokens, NOTHING_GENERATED } from "../core/usage.ts";
import { goTopLevel, NATIVE_FIELDS } from "../dialects/ollama/go-fields.ts";
import { checkEmbeddingInputCaps } from "../dialects/openai/embeddings/schema.ts";
import { readJson, readJsonBody } from "../http/body.ts";
import { type Admission, admit } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import { type Fitted, fitToWindow, observing } from "../pipeline/context-fit.ts";
import { answerCeilingFor, withAnswerCeiling } from "../pipeline/generation.ts";
import type { Handler, KeyHandler } from "../pipeline/stages.ts";
import { clientLeft } from "../pipeline/upstream-answer.ts";

/**
 * /api/* → Ollama's native API, under the gateway's auth (the router's stages run first). Read-only and
 * generation routes are open to API keys (model names resolved like everywhere else, the key's scope applied,
 * usage settled from Ollama's counts); routes that change what is installed need ADMIN_TOKEN. Answers go back
 * byte for byte; every error is Ollama's shape, `{"error":"<message>"}` (the router's boundary for /api).
 */

const DIGEST = /^sha256[:-][0-9a-fA-F]{64}$/;
const pathOf = (request: Request) => new URL(request.url).pathname;

/**
 * Forward to Ollama and relay the answer; settles the admission exactly once, however the answer ends. Errors
 * after admission keep the x-ratelimit headers.
 */
async function relay(
  request: Request,
  app: AppContext,
  path: string,
  upstream: { body?: string | ReadableStream<Uint8Array> | null; contentType?: string; contentLength?: number },
  admission: Admission | null,
  idleTimeoutMs: number | null,
  client: OllamaClient = firstOllama(app),
): Promise<Response> {
  const call = client.forward(request.method, path, { ...upstream, clientSignal: request.signal });
  try {
    const answer = await upstreamAnswer(call, request.method);
    return relayAnswer(request.method, answer, call, {
      idleTimeoutMs,
      headers: admission?.headers,
      onEnd: (usage) => admission?.settle(usage),
    });
  } catch (error) {
    // A client that left before Ollama's first byte still had its prompt evaluated (a `stream:false` answer, or a
    // long prompt); anything else that failed before an answer used nothing.
    admission?.settle(clientLeft(call) ? NOTHING_GENERATED : null);
    throw admission ? withExtraHeaders(error, admission.headers) : error;
  }
}

/** The Ollama that answers the native routes naming no model: the first one configured. */
function firstOllama(app: AppContext): OllamaClient {
  return app.clientFor(app.config.backends.find((backend) => backend.kind === "ollama") ?? app.config.backends[0]!);
}

/** GET /api/version, HEAD /api/tags: passed through as is. */
export const readOnly: KeyHandler = async (request, app, caller) => {
  const admission = await admit(request, app, caller, { model: null, estimatedTokens: 0 });
  return relay(request, app, pathOf(request), {}, admission, app.config.upstreamIdleTimeoutMs);
};

/** /api/tags and /api/ps list only the models this key may use; an unfiltered list is passed on byte for byte. */
export const listFiltered: KeyHandler = async (request, app, caller) => {
  const path = pathOf(request);
  const admission = await admit(request, app, caller, { model: null, estimatedTokens: 0 });
  try {
    const ollamas = app.config.backends.filter((backend) => backend.kind === "ollama");
    if (ollamas.length > 1) return await mergedList(request, app, path, ollamas, admission);
    const call = firstOllama(app).forward("GET", path, { clientSignal: request.signal });
    const answer = await upstreamAnswer(call, "GET");
    const text = await answer.text().catch(() => {
      throw backendBroke();
    });
    const headers = { "content-type": answer.headers.get("content-type") ?? OLLAMA_JSON, ...admission.headers };
    return new Response(answer.ok ? filterModels(text, admission) : text, { status: answer.status, headers });
  } catch (error) {
    throw withExtraHeaders(error, admission.headers);
  } finally {
    admission.settle(null);
  }
};

/**
 * With several Ollama machines, /api/tags and /api/ps list every machine's models (each once): what a native client
 * can use through the gateway. Machines that do not answer are left out.
 */
async function mergedList(request: Request, app: AppContext, path: string, ollamas: BackendConfig[], admission: Admission): Promise<Response> {
  const lists = await Promise.allSettled(
    ollamas.map(async (backend) => {
      const answer = await upstreamAnswer(app.clientFor(backend).forward("GET", path, { clientSignal: request.signal }), "GET");
      const list = (await answer.json()) as { models?: unknown };
      return Array.isArray(list.models) ? (list.models as { model?: string; name?: string }[]) : [];
    }),
  );
  const seen = new Set<string>();
  const models = lists
    .flatMap((result) => (result.status === "fulfilled" ? result.value : []))
    .filter((entry) => {
      const name = entry.model ?? entry.name ?? "";
      if (seen.has(name)) return false;
      seen.add(name);
      return true;
    });
  if (lists.every((result) => result.status === "rejected")) throw toApiError((lists[0] as PromiseRejectedResult).reason);
  return new Response(filterModels(JSON.stringify({ models }), admission), { headers: { "content-type": OLLAMA_JSON, ...admission.headers } });
}

function filterModels(text: string, admission: Admission): string {
  let list: { models?: unknown };
  try {
    list = JSON.parse(text) as { models?: unknown };
  } catch {
    return text;
  }
  if (!Array.isArray(list.models)) return text;
  const allowed = list.models.filter((entry: { model?: unknown; name?: unknown }) => {
    const name = typeof entry?.model === "string" ? entry.model : entry?.name;
    return typeof name === "string" && admission.allowsModel(name);
  });
  return allowed.length === list.models.length ? text : JSON.stringify({ ...list, models: allowed });
}

type ModelRoute = "show" | "chat" | "generate" | "embed";

/**
 * show, chat, generate, embed: the body is read the way Ollama's Go decoder will read it (field names match
 * case-insensitively, the last one wins), the model name resolved (aliases, untagged names) within the key's scope,
 * MODEL_LIMITS applied, and the body forwarded as the gateway re-serialises it: exactly the fields it checked, so
 * `{"model":"a","Model":"b"}` cannot run `b`.
 */
export function withModel(kind: ModelRoute): KeyHandler {
  return async (request, app, caller) => {
    const { text, value } = await readJson(request, app.config.maxBodyBytes);
    if (!isObject(value)) throw invalidRequest("The request body must be a JSON object.");
    const fields = goTopLevel(text, NATIVE_FIELDS[kind], value);
    // /api/show still accepts the legacy `name`.
    const requested = fields.model || (kind === "show" ? fields.name : undefined);
    if (requested === undefined || requested === "" || requested === null) throw invalidRequest("model is required");
    if (typeof requested !== "string") throw invalidRequest("model must be a string");
    if (kind === "embed") checkEmbeddingInputCaps(fields.input, { maxInputs: app.config.maxEmbeddingInputs, maxBytes: app.config.maxEmbeddingBytes });
    // The native API is Ollama's: only Ollama machines can take it.
    const route = await app.catalog.route(requested, caller.allowsModel);
    const target = route.candidates.find((candidate) => candidate.backend.kind === "ollama");
    if (!target) throw modelNotFound(`The model '${requested}' is not on an Ollama backend; use the /v1 API for it.`);
    const { name: _legacy, ...rest } = fields;
    let forwarded = limitedNativeBody(kind, { ...rest, model: target.model }, app, requested);
    let fitted: Fitted<NativeChatRequest | NativeGenerateRequest> | null = null;
    if ((kind === "chat" || kind === "generate") && promptIsText(forwarded)) {
      // The same window check as /v1, in Ollama's error shape: Ollama itself would cut the prompt silently.
      fitted = await fitToWindow(forwarded as unknown as NativeChatRequest | NativeGenerateRequest, app.backend(target.backend), target.model, {
        defaultNumCtx: app.config.ollamaContextLength,
        truncate: false,
        tooLong: nativeTooLong,
      });
      forwarded = fitted.request as unknown as Record<string, unknown>;
    }
    const prompt = estimatePrompt(kind, forwarded);
    const ceiling = kind === "chat" || kind === "generate" ? (answerCap(forwarded.options as Record<string, unknown> | undefined) ?? 0) : 0;
    const admitted = await admit(request, app, caller!, {
      model: requested,
      estimatedTokens: prompt + ceiling,
      promptTokens: prompt,
      backend: target.backend,
    });
    const admission = fitted ? observing(admitted, fitted, app.requestId) : admitted;
    const idle = kind === "show" ? null : app.config.upstreamIdleTimeoutMs;
    const answer = await relay(request, app, pathOf(request), { body: JSON.stringify(forwarded) }, admission, idle, app.clientFor(target.backend));
    return kind === "show" ? withoutMachinePaths(answer, target.model) : answer;
  };
}

/** A Modelfile line naming a file on the home machine (`FROM /home/alice/.ollama/models/blobs/sha256-…`). */
const FROM_PATH = /^FROM (?:\/|[A-Za-z]:[\\/]|~).*$/gm;

/**
 * /api/show's Modelfile names the model's blob by its path on the home machine (the user's name, the disk
 * layout): callers get `FROM <model>` instead, which is also what `ollama show` suggests to rebuild it. Anything
 * else is passed on as Ollama sent it.
 */
async function withoutMachinePaths(answer: Response, model: string): Promise<Response> {
  if (!answer.ok) return answer;
  const text = await answer.text();
  let show: Record<string, unknown>;
  try {
    show = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return new Response(text, answer);
  }
  const modelfile = typeof show.modelfile === "string" ? show.modelfile.replace(FROM_PATH, `FROM ${model}`) : show.modelfile;
  return new Response(modelfile === show.modelfile ? text : JSON.stringify({ ...show, modelfile }), answer);
}

/**
 * MODEL_LIMITS over the client's values; a generation also gets its answer ceiling (what its admission reserves)
 * when it set none, so one request cannot spend without bound.
 */
function limitedNativeBody(kind: ModelRoute, body: Record<string, unknown>, app: AppContext, requested: string): Record<string, unknown> {
  if (kind === "show") return body;
  const limits = limitsFor(app.config, requested, body.model as string);
  const limited = applyNativeLimits(body, limits, { answer: kind !== "embed" });
  if (kind === "embed") return limited;
  const options = isObject(limited.options) ? limited.options : undefined;
  return withAnswerCeiling({ ...limited, options }, answerCeilingFor(answerCap(options), limits, app.config));
}

/** Ollama's wording for a prompt longer than the window (its own, from `truncate: false`, names no numbers). */
const nativeTooLong = (tokens: number, window: number) =>
  invalidRequest(`the input length exceeds the context length: about ${tokens} prompt tokens (the gateway's estimate) for a window of ${window}`);

/**
 * Whether the prompt is what Ollama would accept (string contents, a string prompt): only then is it measured.
 * Anything else Ollama refuses itself, with its own message.
 */
function promptIsText(body: Record<string, unknown>): boolean {
  if (Array.isArray(body.messages))
    return body.messages.every((message) => isObject(message) && (message.content === undefined || typeof message.content === "string"));
  return (
    body.messages === undefined &&
    (body.prompt === undefined || typeof body.prompt === "string") &&
    (body.system === undefined || typeof body.system === "string")
  );
}

/** Prompt tokens (rough), for token limits reserved up front. */
function estimatePrompt(kind: ModelRoute, body: Record<string, unknown>): number {
  switch (kind) {
    case "chat":
      return estimateTextTokens(JSON.stringify(body.messages ?? ""));
    case "generate":
      return estimateTextTokens(textOf(body.system) + textOf(body.prompt));
    case "embed":
      return estimateTextTokens(JSON.stringify(body.input ?? ""));
    default:
      return 0;
  }
}

/** pull, push, create, copy, delete: the body as sent (size-capped), no name resolution. */
export const adminBody: Handler = async (request, app) => {
  const body = await readJsonBody(request, app.config.maxBodyBytes);
  // No idle limit: a pull can be silent for minutes while Ollama verifies a large download.
  return relay(request, app, pathOf(request), { body: JSON.stringify(body) }, null, null);
};

/** HEAD/POST /api/blobs/:digest: a blob upload is streamed through, never buffered or size-capped here. */
export const nativeBlob: Handler = async (request, app) => {
  let digest: string;
  try {
    digest = decodeURIComponent(pathOf(request).slice("/api/blobs/".length));
  } catch {
    digest = "";
  }
  if (!DIGEST.test(digest)) throw invalidRequest("invalid digest format");
  const upstreamPath = `/api/blobs/${digest}`;
  if (request.method === "HEAD") return relay(request, app, upstreamPath, {}, null, null);
  const declared = Number(request.headers.get("content-length") ?? NaN);
  return relay(
    request,
    app,
    upstreamPath,
    {
      body: request.body,
      // Never the client's own Content-Type: Ollama ignores it for blobs, and a value its HTTP parser refuses (a
      // control character) came back as Ollama's bare 400, which the gateway could only report as a 502.
      contentType: "application/octet-stream",
      contentLength: Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined,
    },
    null,
    null,
  );
};

/**
 * Only strings count: Ollama refuses anything else (400), and String() on a hostile object such as
 * `{"toString":1}` throws, which turned that body into a 500 before this estimate ever reached Ollama.
 */
const textOf = (value: unknown): string => (typeof value === "string" ? value : "");

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
