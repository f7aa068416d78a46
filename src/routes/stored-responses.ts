import { invalidRequest, notFound } from "../core/errors.ts";
import { deletedResponse, itemList, itemListQuery, type StoredResponse } from "../dialects/openai-responses/stored.ts";
import { decodedPathParam } from "../http/path-param.ts";
import { json } from "../http/respond.ts";
import type { Caller } from "../pipeline/auth.ts";
import type { AppContext } from "../pipeline/context.ts";
import type { RoutedRequest } from "../pipeline/stages.ts";
import { responseStore } from "../storage/response-store.ts";

/**
 * The stored Responses of the calling key: `GET /v1/responses/{id}`, `GET /v1/responses/{id}/input_items`,
 * `DELETE /v1/responses/{id}`. A key reaches only its own store, so another key's id is a 404 like an unknown
 * one. These read or delete what is stored and generate nothing: they are not counted against the key's limits.
 */

/** The stored response `id` of this key's store, or the 404 that names `param` (null: the path's id). */
export async function storedResponse(store: ReturnType<typeof responseStore>, id: string, param: string | null): Promise<StoredResponse> {
  const document = await store.get(id);
  if (document === null) {
    throw notFound(`No response with id '${id}' is stored for this key.`, param, param ? "previous_response_not_found" : "response_not_found");
  }
  return JSON.parse(document) as StoredResponse;
}

/** The path's response id, decoded; an escape that decodes to nothing is the client's mistake, not a 500. */
const idOf = (request: RoutedRequest) => decodedPathParam(request.params.id ?? "", "response id", "response_id");

export async function retrieveResponse(request: RoutedRequest, app: AppContext, caller: Caller): Promise<Response> {
  // A stored response is finished: there is nothing to stream again (OpenAI streams only background responses).
  if (new URL(request.url).searchParams.get("stream") === "true") throw invalidRequest("A stored response cannot be streamed again.", "stream");
  const { response } = await storedResponse(responseStore(app.env, caller.id), idOf(request), null);
  return json(response, 200, caller.headers);
}

export async function listInputItems(request: RoutedRequest, app: AppContext, caller: Caller): Promise<Response> {
  const query = itemListQuery(new URL(request.url).searchParams);
  const { items } = await storedResponse(responseStore(app.env, caller.id), idOf(request), null);
  return json(itemList(items, query), 200, caller.headers);
}

export async function deleteResponse(request: RoutedRequest, app: AppContext, caller: Caller): Promise<Response> {
  const id = idOf(request);
  if (!(await responseStore(app.env, caller.id).delete(id))) throw notFound(`No response with id '${id}' is stored for this key.`, null, "response_not_found");
  return json(deletedResponse(id), 200, caller.headers);
}
