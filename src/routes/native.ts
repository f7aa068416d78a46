import type { BackendConfig } from "../backends/config.ts";
import { requireAdmin } from "../http/admin-auth.ts";
import { type Admission, admit, modelNotAllowed } from "../http/auth.ts";
import { readJsonBody } from "../http/body.ts";
import { ApiError, backendBroke, invalidRequest, modelNotFound, routeNotFound, toApiError, withExtraHeaders } from "../http/errors.ts";
import type { OllamaClient } from "../ollama/client.ts";
import { nativeErrorResponse, OLLAMA_JSON, relayAnswer, upstreamAnswer } from "../ollama/passthrough.ts";
import type { AppContext } from "./context.ts";
import { estimateTextTokens } from "./generation.ts";

/**
 * /api/* → Ollama's native API, under the gateway's auth. Read-only and generation routes are open to API keys
 * (model names resolved like everywhere else, the key's model allow-list applied, usage settled from Ollama's
 * counts); routes that change what is installed need ADMIN_TOKEN. Bodies and streams go through unchanged but
 * for the resolved `model`; every error is Ollama's shape, `{"error":"<message>"}`.
 */
export async function nativeApi(request: Request, app: AppContext): Promise<Response> {
  try {
    return await dispatch(request, app);
  } catch (error) {
    if (!(error instanceof ApiError)) logUnexpected(app.requestId, error);
    return nativeErrorResponse(toApiError(error));
  }
}

type Handler = (request: Request, app: AppContext, path: string) => Promise<Response>;

interface Route {
  admin: boolean;
  methods: Record<string, Handler>;
}

/** Without an answer cap in the request, reserve this many answer tokens for token limits. */
const DEFAULT_ANSWER_ESTIMATE = 1024;
const DIGEST = /^sha256[:-][0-9a-fA-F]{64}$/;

const ROUTES: Record<string, Route> = {
  // HEAD where Ollama registers it too.
  "/api/tags": { admin: false, methods: { GET: listFiltered, HEAD: readOnly } },
  "/api/version": { admin: false, methods: { GET: readOnly, HEAD: readOnly } },
  "/api/ps": { admin: false, methods: { GET: listFiltered } },
  "/api/show": { admin: false, methods: { POST: withModel("show") } },
  "/api/chat": { admin: false, methods: { POST: withModel("chat") } },
  "/api/generate": { admin: false, methods: { POST: withModel("generate") } },
  "/api/embed": { admin: false, methods: { POST: withModel("embed") } },
  "/api/pull": { admin: true, methods: { POST: adminJson } },
  "/api/push": { admin: true, methods: { POST: adminJson } },
  "/api/create": { admin: true, methods: { POST: adminJson } },
  "/api/copy": { admin: true, methods: { POST: adminJson } },
  "/api/delete": { admin: true, methods: { DELETE: adminJson } },
};
const BLOBS: Route = { admin: true, methods: { HEAD: blob, POST: blob } };

function routeFor(path: string): Route | undefined {
  return Object.hasOwn(ROUTES, path) ? ROUTES[path] : path.startsWith("/api/blobs/") && !path.slice(11).includes("/") ? BLOBS : undefined;
}

async function dispatch(request: Request, app: AppContext): Promise<Response> {
  const path = new URL(request.url).pathname;
  const route = routeFor(path);
  if (!route) throw routeNotFound(request.method, path);
  // Without ADMIN_TOKEN the admin routes do not exist, whatever the method.
  if (route.admin) await requireAdmin(request, app.config);
  const handler = route.methods[request.method];
  if (!handler) {
    return new Response(JSON.stringify({ error: "method not allowed" }), {
      status: 405,
      headers: { "content-type": OLLAMA_JSON, allow: Object.keys(route.methods).join(", ") },
    });
  }
  return handler(request, app, path);
}

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
  client: OllamaClient = app.ollama,
): Promise<Response> {
  let handedOver = false;
  try {
    const call = client.forward(request.method, path, { ...upstream, clientSignal: request.signal });
    const answer = await upstreamAnswer(call, request.method);
    handedOver = true;
    return relayAnswer(request.method, answer, call, {
      idleTimeoutMs,
      headers: admission?.headers,
      onEnd: (usage) => admission?.settle(usage),
    });
  } catch (error) {
    throw admission ? withExtraHeaders(error, admission.headers) : error;
  } finally {
    if (!handedOver) admission?.settle(null);
  }
}

/** GET /api/version, HEAD /api/tags: passed through as is. */
async function readOnly(request: Request, app: AppContext, path: string): Promise<Response> {
  const admission = await admit(request, app, { model: null, estimatedTokens: 0 });
  return relay(request, app, path, {}, admission, app.config.upstreamIdleTimeoutMs);
}

/** /api/tags and /api/ps list only the models this key may use; an unfiltered list is passed on byte for byte. */
async function listFiltered(request: Request, app: AppContext, path: string): Promise<Response> {
  const admission = await admit(request, app, { model: null, estimatedTokens: 0 });
  try {
    const ollamas = app.config.backends.filter((backend) => backend.kind === "ollama");
    if (ollamas.length > 1) return await mergedList(request, app, path, ollamas, admission);
    const call = app.ollama.forward("GET", path, { clientSignal: request.signal });
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
}

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

/** show, chat, generate, embed: the model name is resolved (aliases, untagged names) and checked against the key. */
function withModel(kind: ModelRoute): Handler {
  return async (request, app, path) => {
    const body = await readJsonBody(request, app.config.maxBodyBytes);
    const fields = isObject(body) ? body : null;
    // /api/show still accepts the legacy `name`.
    const requested = fields?.model || (kind === "show" ? fields?.name : undefined);
    const model = typeof requested === "string" && requested !== "" ? requested : null;
    const estimate = fields ? estimateTokens(kind, fields) : { prompt: 0, answer: 0 };
    const admission = await admit(request, app, { model, estimatedTokens: estimate.prompt + estimate.answer, promptTokens: estimate.prompt });
    let forwarded: string;
    let client: OllamaClient;
    try {
      if (!fields) throw invalidRequest("The request body must be a JSON object.");
      if (model === null) throw invalidRequest(requested === undefined || requested === "" ? "model is required" : "model must be a string");
      // The native API is Ollama's: only Ollama machines can take it.
      const target = (await app.catalog.route(model)).candidates.find((candidate) => candidate.backend.kind === "ollama");
      if (!target) throw modelNotFound(`The model '${model}' is not on an Ollama backend; use the /v1 API for it.`);
      const name = target.model;
      if (!admission.allowsModel(name)) throw modelNotAllowed(model);
      const { name: _legacy, ...rest } = fields;
      forwarded = JSON.stringify(kind === "show" ? { ...rest, model: name } : { ...fields, model: name });
      client = app.clientFor(target.backend);
    } catch (error) {
      admission.settle(null);
      throw withExtraHeaders(error, admission.headers);
    }
    const idle = kind === "show" ? null : app.config.upstreamIdleTimeoutMs;
    return relay(request, app, path, { body: forwarded }, admission, idle, client);
  };
}

/** Prompt tokens (rough) and the most the answer may use, for token limits reserved up front. */
function estimateTokens(kind: ModelRoute, body: Record<string, unknown>): { prompt: number; answer: number } {
  const options = isObject(body.options) ? body.options : {};
  const cap = typeof options.num_predict === "number" && options.num_predict >= 0 ? options.num_predict : DEFAULT_ANSWER_ESTIMATE;
  switch (kind) {
    case "chat":
      return { prompt: estimateTextTokens(JSON.stringify(body.messages ?? "")), answer: cap };
    case "generate":
      return { prompt: estimateTextTokens(textOf(body.system) + textOf(body.prompt)), answer: cap };
    case "embed":
      return { prompt: estimateTextTokens(JSON.stringify(body.input ?? "")), answer: 0 };
    default:
      return { prompt: 0, answer: 0 };
  }
}

/** pull, push, create, copy, delete: the body as sent (size-capped), no name resolution. */
async function adminJson(request: Request, app: AppContext, path: string): Promise<Response> {
  const body = await readJsonBody(request, app.config.maxBodyBytes);
  // No idle limit: a pull can be silent for minutes while Ollama verifies a large download.
  return relay(request, app, path, { body: JSON.stringify(body) }, null, null);
}

/** HEAD/POST /api/blobs/:digest: a blob upload is streamed through, never buffered or size-capped here. */
async function blob(request: Request, app: AppContext, path: string): Promise<Response> {
  let digest: string;
  try {
    digest = decodeURIComponent(path.slice("/api/blobs/".length));
  } catch {
    digest = "";
  }
  if (!DIGEST.test(digest)) throw invalidRequest("invalid digest format");
  const upstreamPath = `/api/blobs/${digest}`;
  if (request.method === "HEAD") return relay(request, app, upstreamPath, {}, null, null);
  const declared = Number(request.headers.get("content-length") ?? NaN);
  return relay(request, app, upstreamPath, {
    body: request.body,
    // Never the client's own Content-Type: Ollama ignores it for blobs, and a value its HTTP parser refuses (a
    // control character) came back as Ollama's bare 400, which the gateway could only report as a 502.
    contentType: "application/octet-stream",
    contentLength: Number.isSafeInteger(declared) && declared >= 0 ? declared : undefined,
  }, null, null);
}

/**
 * Only strings count: Ollama refuses anything else (400), and String() on a hostile object such as
 * `{"toString":1}` throws, which turned that body into a 500 before this estimate ever reached Ollama.
 */
const textOf = (value: unknown): string => (typeof value === "string" ? value : "");

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Our own bug: log the message and stack (never request data, which may hold keys). */
function logUnexpected(requestId: string, error: unknown): void {
  const detail = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ""}` : String(error);
  console.error(`[${requestId}] unexpected error in the native API: ${detail}`);
}
