import { Router } from "itty-router";
import { getConfig } from "./config.ts";
import type { Env } from "./env.ts";
import { corsHeaders, preflightResponse } from "./http/cors.ts";
import { ApiError, errorResponse, routeNotFound, toApiError } from "./http/errors.ts";
import { requestIdFor } from "./http/request-id.ts";
import { withHeaders } from "./http/respond.ts";
import { createKey, gateStatus, listKeys, revokeKey } from "./keys/admin.ts";
import type { BackendConfig } from "./backends/config.ts";
import { ModelCatalog } from "./models/catalog.ts";
import { OllamaClient, type UpstreamTarget } from "./ollama/client.ts";
import { chatCompletions } from "./routes/chat.ts";
import { completions } from "./routes/completions.ts";
import { embeddings } from "./routes/embeddings.ts";
import { nativeApi } from "./routes/native.ts";
import type { AppContext } from "./routes/context.ts";
import { health } from "./routes/health.ts";
import { listModels, retrieveModel } from "./routes/models.ts";
import { llamaExtension } from "./routes/llamacpp.ts";

type Handler = (request: Request, app: AppContext) => Promise<Response>;

const router = Router<Request & { params: Record<string, string> }, [AppContext]>();
router
  .get("/health", health as Handler)
  .get("/v1/models", listModels as Handler)
  .get("/v1/models/:model+", retrieveModel as Handler)
  .post("/v1/chat/completions", chatCompletions as Handler)
  .post("/v1/completions", completions as Handler)
  .post("/v1/embeddings", embeddings as Handler)
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
      const clientFor = (backend: BackendConfig) => new OllamaClient(config, upstreamTarget(backend));
      const app: AppContext = {
        env,
        config,
        ollama: clientFor(config.backends.find((backend) => backend.kind === "ollama") ?? config.backends[0]!),
        clientFor,
        catalog: new ModelCatalog(config, clientFor),
        requestId,
        waitUntil: (promise) => (ctx ? ctx.waitUntil(promise) : void promise.catch(() => {})),
      };
      response = (await router.fetch(request, app)) as Response;
    }
  } catch (error) {
    const apiError = toApiError(error);
    if (!(error instanceof ApiError)) logUnexpected(requestId, error);
    response = errorResponse(apiError);
  }
  return withHeaders(response, { ...cors, "x-request-id": requestId });
}

/** A backend's URL and headers; llama-server's own API key travels as its bearer token (never the client's). */
function upstreamTarget(backend: BackendConfig): UpstreamTarget {
  const headers = backend.apiKey ? { ...backend.headers, authorization: `Bearer ${backend.apiKey}` } : backend.headers;
  return { url: backend.url, headers };
}

/** Our own bug: log the message and stack (never request data, which may hold keys), answer a plain 500. */
function logUnexpected(requestId: string, error: unknown): void {
  const detail = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ""}` : String(error);
  console.error(`[${requestId}] unexpected error: ${detail}`);
}
