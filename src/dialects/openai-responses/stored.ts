import { invalidRequest } from "../../core/errors.ts";
import { type ItemPrefix, itemId, type ResponseObject } from "./response-object.ts";
import type { ResponsesInputItem, ResponsesRequest } from "./schema.ts";

/**
 * Stored responses, the pure part: what is kept of a response (`store`), how a later request continues from it
 * (`previous_response_id`), and the `input_items` list. Reading and writing the store is the route's job.
 */

/** An input item as kept and listed: every one has an `id`, as OpenAI's `input_items` shows them. */
export type StoredItem = ResponsesInputItem & { id: string };

/** What the store keeps of one response: the Response object and every input item it was made from. */
export interface StoredResponse {
  response: ResponseObject;
  /** The items the model saw, oldest first: those of the responses it continues, then this request's input. */
  items: StoredItem[];
}

const ITEM_PREFIXES: Record<string, string> = {
  message: "msg",
  function_call: "fc",
  function_call_output: "fco",
  custom_tool_call: "ctc",
  custom_tool_call_output: "ctco",
  reasoning: "rs",
};

/**
 * The request's input as items with ids (a string is one user message; a message's string content becomes one
 * text part, as OpenAI lists it). Ids the client sent are kept.
 */
export function inputItemsOf(body: ResponsesRequest): StoredItem[] {
  const input = body.input;
  if (input === null || input === undefined) return [];
  if (typeof input === "string") return [{ type: "message", id: itemId("msg"), role: "user", content: [{ type: "input_text", text: input }] }];
  return input.map((item) => {
    const id = "id" in item && typeof item.id === "string" && item.id ? item.id : itemId((ITEM_PREFIXES[item.type ?? "message"] ?? "item") as ItemPrefix);
    if ("role" in item && typeof item.content === "string") {
      const type = item.role === "assistant" ? "output_text" : "input_text";
      return { ...item, type: "message", id, content: [{ type, text: item.content }] } as StoredItem;
    }
    return { ...item, ...(item.type === undefined && { type: "message" }), id } as StoredItem;
  });
}

/**
 * The conversation a request continues: the previous response's own items, then its output (each output item is
 * also a valid input item). Its instructions and tools are not carried over, as at OpenAI: a request sends its own.
 */
export function continuation(previous: StoredResponse): StoredItem[] {
  return [...previous.items, ...(previous.response.output as StoredItem[])];
}

export interface ItemListQuery {
  limit: number;
  order: "asc" | "desc";
  after: string | null;
}

/** `GET /v1/responses/{id}/input_items`'s query: limit 1–100 (default 20), order (default desc), after. */
export function itemListQuery(params: URLSearchParams): ItemListQuery {
  const rawLimit = params.get("limit");
  const limit = rawLimit === null ? 20 : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalidRequest("limit must be a whole number from 1 to 100.", "limit");
  const order = params.get("order") ?? "desc";
  if (order !== "asc" && order !== "desc") throw invalidRequest('order must be "asc" or "desc".', "order");
  return { limit, order, after: params.get("after") };
}

/** One page of a response's input items, in OpenAI's list shape. */
export function itemList(items: readonly StoredItem[], query: ItemListQuery) {
  const ordered = query.order === "asc" ? items : [...items].reverse();
  let start = 0;
  if (query.after !== null) {
    const at = ordered.findIndex((item) => item.id === query.after);
    if (at < 0) throw invalidRequest(`No input item with id '${query.after}' in this response.`, "after");
    start = at + 1;
  }
  const data = ordered.slice(start, start + query.limit);
  return {
    object: "list",
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + query.limit < ordered.length,
  };
}

/** `DELETE /v1/responses/{id}`'s answer. */
export const deletedResponse = (id: string) => ({ id, object: "response", deleted: true });
