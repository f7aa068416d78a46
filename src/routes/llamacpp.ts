import { responseJson } from "../backends/ollama/client.ts";
import type { BackendConfig } from "../config/backends.ts";
import { ApiError, invalidRequest, routeNotFound, withExtraHeaders } from "../core/errors.ts";
import { readJsonBody } from "../http/body.ts";
import { withHeaders } from "../http/respond.ts";
import { admit } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import type { Handler, KeyHandler } from "../pipeline/stages.ts";

/**
 * llama-server's own endpoints on a `llamacpp` backend: /props, /tokenize and /detokenize for any key; /slots and
 * /metrics for the admin token only. With several llama.cpp backends, `?backend=<name>` or a `model` field in the
 * body picks one. The answer is llama-server's, passed through. The router has authenticated the caller already:
 * whether llama.cpp backends exist is not for anonymous callers to learn.
 */
function llamaBackends(request: Request, app: AppContext, method: "GET" | "POST"): { path: string; llamas: BackendConfig[] } {
  const url = new URL(request.url);
  const llamas = app.config.backends.filter((backend) => backend.kind === "llamacpp");
  if (!llamas.length) throw routeNotFound(request.method, url.pathname);
  if (request.method !== method) throw new ApiError(405, `${url.pathname} takes ${method}.`, "invalid_request_error", "method_not_allowed");
  return { path: url.pathname, llamas };
}

const bodyOf = (request: Request, app: AppContext, method: "GET" | "POST") =>
  method === "POST" ? readJsonBody(request, app.config.maxBodyBytes) : Promise.resolve(undefined);

/** /props, /tokenize, /detokenize for a key: within its scope, admitted like any request, machine paths hidden. */
export const llamaKeyRoute =
  (method: "GET" | "POST"): KeyHandler =>
  async (request, app, caller) => {
    const { path, llamas } = llamaBackends(request, app, method);
    const url = new URL(request.url);
    const body = await bodyOf(request, app, method);
    const model = modelOf(url, body);
    // A key limited to some models names one of them, and reaches only a backend that serves it.
    if (caller.models.length && model === undefined) {
      throw invalidRequest("This key may use only some models: name one with a model field or ?model=<name>.", "model");
    }
    const backend = await pick(app, llamas, url, model, caller.allowsModel);
    const admission = await admit(request, app, caller, { model: model ?? null, estimatedTokens: 0, backend });
    try {
      return withHeaders(await forward(app, backend, path, body, request.signal, { hidePaths: true }), admission.headers);
    } catch (error) {
      throw withExtraHeaders(error, admission.headers);
    } finally {
      admission.settle(null);
    }
  };

/** /slots and /metrics, for the admin token. */
export const llamaAdminRoute =
  (method: "GET" | "POST"): Handler =>
  async (request, app) => {
    const { path, llamas } = llamaBackends(request, app, method);
    const body = await bodyOf(request, app, method);
    return forward(app, await pick(app, llamas, new URL(request.url), undefined, () => true), path, body, request.signal);
  };

/** The model a key's request names: the body's `model`, or `?model=` (for GET /props). */
function modelOf(url: URL, body: unknown): string | undefined {
  const field = body && typeof body === "object" ? (body as { model?: unknown }).model : undefined;
  if (typeof field === "string") return field;
  return url.searchParams.get("model") ?? undefined;
}

/** The llama.cpp backend a request is for: named, serving its `model`, or the only one. */
async function pick(app: AppContext, llamas: BackendConfig[], url: URL, model: string | undefined, allows: (name: string) => boolean): Promise<BackendConfig> {
  const named = url.searchParams.get("backend");
  if (model !== undefined) {
    const { candidates } = await app.catalog.route(model, allows);
    const served = candidates.filter((candidate) => candidate.backend.kind === "llamacpp" && (named === null || candidate.backend.name === named));
    if (!served.length) throw invalidRequest(`The model '${model}' is not served by ${named === null ? "a" : "that"} llama.cpp backend.`, "model");
    return served[0]!.backend;
  }
  if (named !== null) {
    const backend = llamas.find((candidate) => candidate.name === named);
    if (!backend) throw invalidRequest(`No llama.cpp backend is named ${JSON.stringify(named)}.`, "backend");
    return backend;
  }
  if (llamas.length > 1) {
    throw invalidRequest(
      `There are several llama.cpp backends (${llamas.map((b) => b.name).join(", ")}): pick one with ?backend=<name> or a model field.`,
      "backend",
    );
  }
  return llamas[0]!;
}

/**
 * llama-server's answer, passed through; for keys, /props loses the fields that describe the home machine rather
 * than the model (`model_path`: a filesystem path).
 */
async function forward(
  app: AppContext,
  backend: BackendConfig,
  path: string,
  body: unknown,
  signal: AbortSignal,
  { hidePaths = false } = {},
): Promise<Response> {
  const machine = app.backend(backend);
  if (!machine.extension) throw routeNotFound(body === undefined ? "GET" : "POST", path);
  const upstream = await machine.extension(path, body as Record<string, unknown> | undefined, signal);
  const headers = { "content-type": upstream.headers.get("content-type") ?? "application/json" };
  if (!(hidePaths && path === "/props")) return new Response(upstream.body, { status: upstream.status, headers });
  const props = await responseJson<Record<string, unknown>>(upstream, path);
  return new Response(JSON.stringify(withoutMachinePaths(props)), { status: upstream.status, headers });
}

/** Every `model_path` (top level, and in llama-server's per-model entries) removed. */
function withoutMachinePaths(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutMachinePaths);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== "model_path")
      .map(([key, item]) => [key, withoutMachinePaths(item)]),
  );
}
