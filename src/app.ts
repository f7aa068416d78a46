import { Router } from "itty-router";
import { ModelCatalog } from "./backends/catalog.ts";
import { OllamaClient } from "./backends/ollama/client.ts";
import { upstreamTarget } from "./backends/target.ts";
import type { BackendConfig } from "./config/backends.ts";
import { getConfig } from "./config/index.ts";
import { errorResponse, publicError, routeNotFound, withExtraHeaders } from "./core/errors.ts";
import type { Env } from "./env.ts";
import { corsHeaders, preflightResponse } from "./http/cors.ts";
import { requestIdFor } from "./http/request-id.ts";
import { withHeaders } from "./http/respond.ts";
import { authenticate, type Caller } from "./pipeline/auth.ts";
import type { AppContext } from "./pipeline/context.ts";
import { createKey, gateStatus, listKeys, revokeKey } from "./routes/admin.ts";
import { chatCompletions } from "./routes/chat.ts";
import { completions } from "./routes/completions.ts";
import { embeddings } from "./routes/embeddings.ts";
import { health } from "./routes/health.ts";
import { llamaExtension } from "./routes/llamacpp.ts";
import { listModels, retrieveModel } from "./routes/models.ts";
import { nativeApi } from "./routes/native.ts";

type Handler = (request: Request, app: AppContext) => Promise<Response>;
type KeyHandler = (request: Request & { params: Record<string, string> }, app: AppContext, caller: Caller) => Promise<Response>;

/**
 * The first stage of every key route: the key is checked before the handler reads the body or asks any backend
 * anything, so a request without a valid key costs the home machine nothing.
 */
const withKey =
  (handler: KeyHandler): Handler =>
  async (request, app) => {
    const caller = await authenticate(request, app);
    try {
      return await handler(request as Request & { params: Record<string, string> }, app, caller);
    } catch (error) {
      // Every authenticated answer carries the key's rate-limit headers, refusals before admission included.
      throw withExtraHeaders(error, caller.headers);
    }
  };

const router = Router<Request & { params: Record<string, string> }, [AppContext]>();
router
  .get("/health", health as Handler)
  .get("/v1/models", withKey(listModels))
  .get("/v1/models/:model+", withKey(retrieveModel))
  .post("/v1/chat/completions", withKey(chatCompletions))
  .post("/v1/completions", withKey(completions))
  .post("/v1/embeddings", withKey(embeddings))
  .all("/api/*", nativeApi as Handler)
  .post("/admin/keys", createKey as Handler)
  .get("/admin/keys", listKeys as Handler)
  .delete("/admin/keys/:id", revokeKey as Handler)
  .get("/admin/gate", gateStatus as Handler)
  .all("/props", llamaExtension as Handler)
  .all("/tokenize", llamaExtension as Handler)
  .all("/detokenize", llamaExtension as Handler)
  .all("/slots", llamaExtension as Handler)
  .all("/metrics", llamaExtension as Handler)
  .all("*", (request: Request) => {
    throw routeNotFound(request.method, new URL(request.url).pathname);
  });

/** The Worker's fetch: CORS preflight, routing, and the headers and error envelope every response gets. */
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
      const app: AppContext = {
        env,
        config,
        clientFor,
        catalog: new ModelCatalog(config, clientFor),
        requestId,
        waitUntil: (promise) => (ctx ? ctx.waitUntil(promise) : void promise.catch(() => {})),
      };
      response = (await router.fetch(request, app)) as Response;
    }
  } catch (error) {
    response = errorResponse(publicError(error, requestId));
  }
  return withHeaders(response, { ...cors, "x-request-id": requestId });
}
