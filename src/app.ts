import { Router } from "itty-router";
import { backendFor } from "./backends/backend.ts";
import { ModelCatalog } from "./backends/catalog.ts";
import { OllamaClient } from "./backends/ollama/client.ts";
import { nativeErrorResponse } from "./backends/ollama/passthrough.ts";
import { upstreamTarget } from "./backends/target.ts";
import type { BackendConfig } from "./config/backends.ts";
import { getConfig } from "./config/index.ts";
import { type ApiError, errorResponse, publicError, routeNotFound } from "./core/errors.ts";
import { anthropicErrorResponse } from "./dialects/anthropic/errors.ts";
import type { Env } from "./env.ts";
import { corsHeaders, preflightResponse } from "./http/cors.ts";
import { requestIdFor } from "./http/request-id.ts";
import { withHeaders } from "./http/respond.ts";
import type { AppContext } from "./pipeline/context.ts";
import { type Handler, methodNotAllowed, type RoutedRequest, withAdmin, withKey } from "./pipeline/stages.ts";
import { createKey, gateStatus, listBackendModels, listKeys, revokeKey } from "./routes/admin.ts";
import { ANTHROPIC_KEY, countTokens, messages } from "./routes/anthropic.ts";
import { chatCompletions } from "./routes/chat.ts";
import { completions } from "./routes/completions.ts";
import { adminConsole } from "./routes/console.ts";
import { embeddings } from "./routes/embeddings.ts";
import { health } from "./routes/health.ts";
import { llamaAdminRoute, llamaKeyRoute } from "./routes/llamacpp.ts";
import { listModels, retrieveModel } from "./routes/models.ts";
import { adminBody, listFiltered, nativeBlob, readOnly, withModel } from "./routes/native.ts";
import { responses } from "./routes/responses.ts";
import { deleteResponse, listInputItems, retrieveResponse } from "./routes/stored-responses.ts";
import { usageReport } from "./routes/usage.ts";

/**
 * Every route, in one table of nested routers: the OpenAI-shaped public API (/v1, /admin, /health and llama-server's
 * extras), Anthropic's Messages API (/v1/messages) and Ollama's native API (/api). Each route names its first stage — `withKey` or `withAdmin` — so nothing
 * runs before authentication; each nested router has the error boundary of its dialect.
 */
const unknownRoute: Handler = async (request) => {
  throw routeNotFound(request.method, new URL(request.url).pathname);
};

/** A nested router whose errors are answered in one dialect's shape. */
function boundary(router: { fetch: (request: RoutedRequest, app: AppContext) => Promise<unknown> }, render: (error: ApiError) => Response): Handler {
  return async (request, app) => {
    try {
      return (await router.fetch(request, app)) as Response;
    } catch (error) {
      return render(publicError(error, app.requestId));
    }
  };
}

const NATIVE_405 = "method not allowed";

/** Ollama's native API, for keys (reads and generation) and the admin token (what changes the installed models). */
const native = Router<RoutedRequest, [AppContext]>({ base: "/api" });
// HEAD where Ollama registers it too.
native.get("/tags", withKey(listFiltered)).head("/tags", withKey(readOnly));
native.get("/version", withKey(readOnly)).head("/version", withKey(readOnly));
native.get("/ps", withKey(listFiltered));
for (const kind of ["show", "chat", "generate", "embed"] as const) native.post(`/${kind}`, withKey(withModel(kind)));
for (const path of ["/pull", "/push", "/create", "/copy"]) native.post(path, withAdmin(adminBody));
native.delete("/delete", withAdmin(adminBody));
native.head("/blobs/:digest", withAdmin(nativeBlob)).post("/blobs/:digest", withAdmin(nativeBlob));
// The same paths with any other method: 405, after the path's own authentication.
const NATIVE_METHODS: [path: string, methods: string[], access: "key" | "admin"][] = [
  ["/tags", ["GET", "HEAD"], "key"],
  ["/version", ["GET", "HEAD"], "key"],
  ["/ps", ["GET"], "key"],
  ...(["/show", "/chat", "/generate", "/embed"].map((path) => [path, ["POST"], "key"]) as [string, string[], "key"][]),
  ...(["/pull", "/push", "/create", "/copy"].map((path) => [path, ["POST"], "admin"]) as [string, string[], "admin"][]),
  ["/delete", ["DELETE"], "admin"],
  ["/blobs/:digest", ["HEAD", "POST"], "admin"],
];
for (const [path, methods, access] of NATIVE_METHODS) native.all(path, methodNotAllowed(methods, access, NATIVE_405));
native.all("*", unknownRoute);

/** The OpenAI-shaped API, the admin API, /health, and llama-server's own endpoints on llama.cpp backends. */
const openai = Router<RoutedRequest, [AppContext]>()
  .get("/health", health)
  .get("/v1/models", withKey(listModels))
  .get("/v1/models/:model+", withKey(retrieveModel))
  .post("/v1/chat/completions", withKey(chatCompletions))
  .post("/v1/completions", withKey(completions))
  .post("/v1/embeddings", withKey(embeddings))
  .post("/v1/responses", withKey(responses))
  .get("/v1/responses/:id", withKey(retrieveResponse))
  .get("/v1/responses/:id/input_items", withKey(listInputItems))
  .delete("/v1/responses/:id", withKey(deleteResponse))
  .post("/admin/keys", withAdmin(createKey))
  .get("/admin/keys", withAdmin(listKeys))
  .delete("/admin/keys/:id", withAdmin(revokeKey))
  .get("/admin/gate", withAdmin(gateStatus))
  .get("/admin/models", withAdmin(listBackendModels))
  .get("/admin/usage", withAdmin(usageReport))
  // The console page is served without the token (a browser cannot send it on navigation, and the page holds no
  // secret); it exists only where the admin API does. Its data calls go through withAdmin.
  .get("/admin", adminConsole);
const LLAMA_ROUTES: [path: string, method: "GET" | "POST", access: "key" | "admin"][] = [
  ["/props", "GET", "key"],
  ["/tokenize", "POST", "key"],
  ["/detokenize", "POST", "key"],
  ["/slots", "GET", "admin"],
  ["/metrics", "GET", "admin"],
];
for (const [path, method, access] of LLAMA_ROUTES) {
  // Any method reaches the handler: a wrong one is refused only after authentication and the backends check.
  openai.all(path, access === "key" ? withKey(llamaKeyRoute(method)) : withAdmin(llamaAdminRoute(method)));
}
openai.all("*", unknownRoute);

/**
 * Anthropic's Messages API, at the paths its clients use (Claude Code's base URL has no /v1 and adds `?beta=true`),
 * with the key in `x-api-key` or `Authorization: Bearer`, and errors in Anthropic's shape.
 */
const ANTHROPIC_405 = "This path takes POST.";
const anthropic = Router<RoutedRequest, [AppContext]>()
  .post("/v1/messages", withKey(messages, ANTHROPIC_KEY))
  .post("/v1/messages/count_tokens", withKey(countTokens, ANTHROPIC_KEY))
  .all("/v1/messages", methodNotAllowed(["POST"], "key", ANTHROPIC_405, ANTHROPIC_KEY))
  .all("/v1/messages/count_tokens", methodNotAllowed(["POST"], "key", ANTHROPIC_405, ANTHROPIC_KEY))
  .all("*", unknownRoute);
const anthropicApi = boundary(anthropic, anthropicErrorResponse);

const router = Router<RoutedRequest, [AppContext]>()
  .all("/api/*", boundary(native, nativeErrorResponse))
  .all("/v1/messages", anthropicApi)
  .all("/v1/messages/*", anthropicApi)
  .all("*", boundary(openai, errorResponse));

/** The Worker's fetch: CORS preflight, routing, and the headers every response gets. */
export async function handle(request: Request, env: Env, ctx?: ExecutionContext): Promise<Response> {
  const requestId = requestIdFor(request);
  let response: Response;
  let cors: Record<string, string> = {};
  try {
    const config = getConfig(env);
    cors = corsHeaders(config, request);
    if (request.method === "OPTIONS") {
      response = preflightResponse(config, request);
    } else {
      const clientFor = (backend: BackendConfig) => new OllamaClient(config, upstreamTarget(backend, env));
      const backend = (backendConfig: BackendConfig) => backendFor(backendConfig, clientFor(backendConfig));
      const app: AppContext = {
        env,
        config,
        clientFor,
        backend,
        catalog: new ModelCatalog(config, backend),
        requestId,
        waitUntil: (promise) => (ctx ? ctx.waitUntil(promise) : void promise.catch(() => {})),
      };
      response = (await router.fetch(request as RoutedRequest, app)) as Response;
    }
  } catch (error) {
    // Before routing (a bad setting): OpenAI's envelope, the shape most callers parse.
    response = errorResponse(publicError(error, requestId));
  }
  return withHeaders(response, { ...cors, "x-request-id": requestId });
}
