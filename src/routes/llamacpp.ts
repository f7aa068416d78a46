import type { BackendConfig } from "../backends/config.ts";
import { requireAdmin } from "../http/admin-auth.ts";
import { admit } from "../http/auth.ts";
import { readJsonBody } from "../http/body.ts";
import { ApiError, invalidRequest, routeNotFound, withExtraHeaders } from "../http/errors.ts";
import { withHeaders } from "../http/respond.ts";
import type { AppContext } from "./context.ts";

/**
 * llama-server's own endpoints on a `llamacpp` backend: /props, /tokenize and /detokenize for any key; /slots and
 * /metrics for the admin token only. With several llama.cpp backends, `?backend=<name>` or a `model` field in the
 * body picks one. The answer is llama-server's, passed through.
 */
type Access = "key" | "admin";

const ROUTES: Record<string, { method: "GET" | "POST"; access: Access }> = {
  "/props": { method: "GET", access: "key" },
  "/tokenize": { method: "POST", access: "key" },
  "/detokenize": { method: "POST", access: "key" },
  "/slots": { method: "GET", access: "admin" },
  "/metrics": { method: "GET", access: "admin" },
};

export async function llamaExtension(request: Request, app: AppContext): Promise<Response> {
  const url = new URL(request.url);
  const route = ROUTES[url.pathname];
  const llamas = app.config.backends.filter((backend) => backend.kind === "llamacpp");
  if (!route || !llamas.length) throw routeNotFound(request.method, url.pathname);
  if (request.method !== route.method) {
    throw new ApiError(405, `${url.pathname} takes ${route.method}.`, "invalid_request_error", "method_not_allowed");
  }
  const body = route.method === "POST" ? await readJsonBody(request, app.config.maxBodyBytes) : undefined;
  if (route.access === "admin") {
    await requireAdmin(request, app.config);
    return forward(app, await pick(app, llamas, url, undefined), url.pathname, body, request.signal);
  }
  const model = body && typeof body === "object" && typeof (body as { model?: unknown }).model === "string" ? (body as { model: string }).model : undefined;
  const admission = await admit(request, app, { model: model ?? null, estimatedTokens: 0 });
  try {
    const backend = await pick(app, llamas, url, model);
    return withHeaders(await forward(app, backend, url.pathname, body, request.signal), admission.headers);
  } catch (error) {
    throw withExtraHeaders(error, admission.headers);
  } finally {
    admission.settle(null);
  }
}

/** The llama.cpp backend a request is for: named, serving its `model`, or the only one. */
async function pick(app: AppContext, llamas: BackendConfig[], url: URL, model: string | undefined): Promise<BackendConfig> {
  const named = url.searchParams.get("backend");
  if (named !== null) {
    const backend = llamas.find((candidate) => candidate.name === named);
    if (!backend) throw invalidRequest(`No llama.cpp backend is named ${JSON.stringify(named)}.`, "backend");
    return backend;
  }
  if (model !== undefined) {
    const { candidates } = await app.catalog.route(model);
    const backend = candidates.find((candidate) => candidate.backend.kind === "llamacpp")?.backend;
    if (!backend) throw invalidRequest(`The model '${model}' is not served by a llama.cpp backend.`, "model");
    return backend;
  }
  if (llamas.length > 1) {
    throw invalidRequest(`There are several llama.cpp backends (${llamas.map((b) => b.name).join(", ")}): pick one with ?backend=<name> or a model field.`, "backend");
  }
  return llamas[0]!;
}

async function forward(app: AppContext, backend: BackendConfig, path: string, body: unknown, signal: AbortSignal): Promise<Response> {
  const { model: _model, ...payload } = (body ?? {}) as Record<string, unknown>;
  const call = app.clientFor(backend).call(body === undefined ? "GET" : "POST", path, body === undefined ? undefined : payload, { signal });
  const upstream = await call.response;
  return new Response(upstream.body, {
    status: upstream.status,
    headers: { "content-type": upstream.headers.get("content-type") ?? "application/json" },
  });
}
