import type { ListedModel } from "../backends/catalog.ts";
import { withExtraHeaders } from "../core/errors.ts";
import { resolveModel } from "../core/names.ts";
import { toModelList, toOpenAIModel } from "../dialects/openai/models.ts";
import { decodedPathParam } from "../http/path-param.ts";
import { json } from "../http/respond.ts";
import { admit, type Caller } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";

/** GET /v1/models: installed models plus the aliases that point at one, limited to what the key may use. */
export async function listModels(request: Request, app: AppContext, caller: Caller): Promise<Response> {
  const admission = await admit(request, app, caller, { model: null, estimatedTokens: 0 });
  try {
    const models = await app.catalog.list();
    // With several machines, a model's owner is the backend that serves it (listed once, by the first).
    const owner = app.config.backendsConfigured ? (model: ListedModel) => model.backend : undefined;
    const list = toModelList(models, app.config.modelAliases, owner);
    const names = models.map((model) => model.model ?? model.name);
    list.data = list.data.filter((entry) => {
      const resolved = resolveModel(entry.id, names, app.config.modelAliases);
      return resolved.ok && admission.allowsModel(resolved.name);
    });
    return json(list, 200, admission.headers);
  } catch (error) {
    throw withExtraHeaders(error, admission.headers);
  } finally {
    admission.settle(null);
  }
}

/** GET /v1/models/{model}: ids may contain ':' and '/' (hf.co/org/name:tag); the id is echoed as sent. */
export async function retrieveModel(request: Request & { params?: Record<string, string> }, app: AppContext, caller: Caller): Promise<Response> {
  const id = modelIdFromPath(request.params?.model ?? "");
  // Scope before limits, as on every route: a model outside the key's list is refused before it is counted.
  const { name, candidates } = await app.catalog.route(id, caller.allowsModel);
  const backend = candidates[0]!.backend;
  const admission = await admit(request, app, caller, { model: id, estimatedTokens: 0 });
  try {
    const owner = app.config.backendsConfigured ? backend.name : undefined;
    const listed = (await app.catalog.list()).find((model) => (model.model ?? model.name) === name);
    return json(toOpenAIModel(id, await app.backend(backend).describeModel(name, listed), name, owner), 200, admission.headers);
  } catch (error) {
    throw withExtraHeaders(error, admission.headers);
  } finally {
    admission.settle(null);
  }
}

const modelIdFromPath = (raw: string) => decodedPathParam(raw, "model id", "model");
