import type { AppContext } from "./context.ts";
import { authenticate } from "../http/auth.ts";
import { json } from "../http/respond.ts";
import type { NativeShow } from "../ollama/types.ts";
import { toModelList, toOpenAIModel } from "../translate/models.ts";

/** GET /v1/models: installed models plus the aliases that point at one. */
export async function listModels(request: Request, app: AppContext): Promise<Response> {
  authenticate(request);
  const models = await app.catalog.list();
  return json(toModelList(models, app.config.modelAliases));
}

/** GET /v1/models/{model}: ids may contain ':' and '/' (hf.co/org/name:tag); the id is echoed as sent. */
export async function retrieveModel(request: Request & { params?: Record<string, string> }, app: AppContext): Promise<Response> {
  authenticate(request);
  const id = decodeURIComponent(request.params?.model ?? "");
  const { name } = await app.catalog.resolve(id);
  const show = await app.ollama.json<NativeShow>("POST", "/api/show", { model: name });
  return json(toOpenAIModel(id, { name, modified_at: show.modified_at }, name));
}
