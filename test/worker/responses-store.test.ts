/**
 * Stored responses inside workerd: `store` (default true), `previous_response_id`, GET / DELETE /v1/responses/{id}
 * and its input_items, owned by the key that created them, expiring after RESPONSES_TTL, within the size caps.
 */
import { env as bindings } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import { ADMIN_AUTH, createKey, emulator, gateway, gatewayWith, postJson, postJsonWith } from "./helpers.ts";

beforeEach(() => emulator.reset());

const env = bindings as Env;

const asKey = (key: string) => ({ authorization: `Bearer ${key}` });

async function created(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<any> {
  const res = await postJson("/v1/responses", { model: "llama3.2", ...body }, headers);
  expect(res.status).toBe(200);
  return res.json();
}

/** The `data` of each event of a Responses stream. */
async function streamed(res: Response): Promise<{ event: string; data: any }[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((block) => block.startsWith("event: "))
    .map((block) => {
      const [event, data] = block.split("\n");
      return { event: event!.slice(7), data: JSON.parse(data!.slice(6)) };
    });
}

describe("stored responses", () => {
  it("store defaults to true: GET answers the same Response object, input_items lists the input with ids, DELETE forgets it", async () => {
    const response = await created({ input: "hi there" });
    expect(response.store).toBe(true);

    const got = await gateway(`/v1/responses/${response.id}`);
    expect(got.status).toBe(200);
    expect(got.headers.get("x-ratelimit-limit-requests")).not.toBeNull();
    expect(await got.json()).toStrictEqual(response);

    const items = (await (await gateway(`/v1/responses/${response.id}/input_items`)).json()) as any;
    expect(items).toStrictEqual({
      object: "list",
      data: [{ type: "message", id: expect.stringMatching(/^msg_[0-9a-f]{32}$/), role: "user", content: [{ type: "input_text", text: "hi there" }] }],
      first_id: items.data[0].id,
      last_id: items.data[0].id,
      has_more: false,
    });

    const deleted = await gateway(`/v1/responses/${response.id}`, { method: "DELETE" });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toStrictEqual({ id: response.id, object: "response", deleted: true });

    for (const [path, method] of [
      [`/v1/responses/${response.id}`, "GET"],
      [`/v1/responses/${response.id}/input_items`, "GET"],
      [`/v1/responses/${response.id}`, "DELETE"],
    ] as const) {
      const gone = await gateway(path, { method });
      expect(gone.status, `${method} ${path}`).toBe(404);
      expect(await gone.json()).toStrictEqual({
        error: {
          message: `No response with id '${response.id}' is stored for this key.`,
          type: "invalid_request_error",
          param: null,
          code: "response_not_found",
        },
      });
    }
  });

  it("an id in the URL that is not valid percent-encoding is a 400 naming it, on all three routes (was a 500)", async () => {
    for (const [path, method] of [
      ["/v1/responses/%", "GET"],
      ["/v1/responses/resp_%zz/input_items", "GET"],
      ["/v1/responses/%E2%82", "DELETE"],
    ] as const) {
      const res = await gateway(path, { method });
      expect(res.status, `${method} ${path}`).toBe(400);
      expect(await res.json()).toStrictEqual({
        error: { message: "The response id in the URL is not valid percent-encoding.", type: "invalid_request_error", param: "response_id", code: null },
      });
    }
    // Still after the key: without one, the same paths are a 401.
    expect((await gateway("/v1/responses/%", { headers: { authorization: "" } })).status).toBe(401);
  });

  it("previous_response_id continues the stored conversation: its items and its answer come before the new input", async () => {
    const first = await created({ instructions: "Be brief.", input: [{ role: "user", content: "My name is Ada." }] });
    const second = await created({ previous_response_id: first.id, input: "What is my name?" });
    expect(second.previous_response_id).toBe(first.id);

    const chats = await emulator.requests("/api/chat");
    expect(chats).toHaveLength(2);
    // Instructions are not carried over (as at OpenAI): only the conversation is.
    expect(chats[1]!.body.messages).toStrictEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: first.output[0].content[0].text },
      { role: "user", content: "What is my name?" },
    ]);

    // The second response's input items are the whole conversation it was made from, newest first by default.
    const items = (await (await gateway(`/v1/responses/${second.id}/input_items`)).json()) as any;
    expect(items.data.map((item: any) => [item.role, item.content[0].text])).toStrictEqual([
      ["user", "What is my name?"],
      ["assistant", first.output[0].content[0].text],
      ["user", "My name is Ada."],
    ]);
    expect(items.data[1].id).toBe(first.output[0].id);

    // A chain of three: the third sees both earlier turns.
    await created({ previous_response_id: second.id, input: "Thanks." });
    const third = (await emulator.requests("/api/chat"))[2]!;
    expect(third.body.messages.map((message: any) => message.role)).toStrictEqual(["user", "assistant", "user", "assistant", "user"]);
  });

  it("a function call answer continues with its function_call_output", async () => {
    const tools = [{ type: "function", name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }];
    const first = await created({ input: "call get_weather for Paris", tools });
    const call = first.output.find((item: any) => item.type === "function_call");
    expect(call).toBeDefined();
    await created({ previous_response_id: first.id, tools, input: [{ type: "function_call_output", call_id: call.call_id, output: "18C" }] });
    const messages = (await emulator.requests("/api/chat"))[1]!.body.messages;
    expect(messages.at(-2)).toMatchObject({ role: "assistant", tool_calls: [{ function: { name: "get_weather", arguments: JSON.parse(call.arguments) } }] });
    expect(messages.at(-1)).toMatchObject({ role: "tool", content: "18C" });
  });

  it("a streamed response is stored as its final event shows it", async () => {
    const res = await postJson("/v1/responses", { model: "llama3.2", input: "hi there", stream: true });
    const events = await streamed(res);
    const completed = events.at(-1)!;
    expect(completed.event).toBe("response.completed");
    expect(events[0]!.data.response.store).toBe(true);
    const got = await gateway(`/v1/responses/${completed.data.response.id}`);
    expect(await got.json()).toStrictEqual(completed.data.response);
  });

  it("store: false stores nothing", async () => {
    const response = await created({ input: "hi", store: false });
    expect(response.store).toBe(false);
    expect((await gateway(`/v1/responses/${response.id}`)).status).toBe(404);
    const next = await postJson("/v1/responses", { model: "llama3.2", input: "again", previous_response_id: response.id });
    expect(next.status).toBe(404);
    expect(((await next.json()) as any).error).toMatchObject({ param: "previous_response_id", code: "previous_response_not_found" });
    expect(await emulator.requests("/api/chat")).toHaveLength(1);
  });

  it("belongs to the key that created it: another key gets 404 for it, as for an unknown id, and cannot continue or delete it", async () => {
    const response = await created({ input: "secret plans" });
    const other = asKey((await createKey({ name: "other" })).key);
    for (const [path, method] of [
      [`/v1/responses/${response.id}`, "GET"],
      [`/v1/responses/${response.id}/input_items`, "GET"],
      [`/v1/responses/${response.id}`, "DELETE"],
    ] as const) {
      expect((await gateway(path, { method, headers: other })).status, `${method} ${path}`).toBe(404);
    }
    const continued = await postJson("/v1/responses", { model: "llama3.2", input: "x", previous_response_id: response.id }, other);
    expect(continued.status).toBe(404);
    expect(await emulator.requests("/api/chat")).toHaveLength(1);
    // Still there for its owner.
    expect((await gateway(`/v1/responses/${response.id}`)).status).toBe(200);
  });

  it("input_items pages: limit, order and after, with has_more", async () => {
    const input = ["one", "two", "three"].map((text) => ({ role: "user", content: text }));
    const response = await created({ input });
    const page = async (query: string) => (await (await gateway(`/v1/responses/${response.id}/input_items${query}`)).json()) as any;
    const texts = (list: any) => list.data.map((item: any) => item.content[0].text);

    const first = await page("?limit=2&order=asc");
    expect(texts(first)).toStrictEqual(["one", "two"]);
    expect(first.has_more).toBe(true);
    const rest = await page(`?limit=2&order=asc&after=${first.last_id}`);
    expect(texts(rest)).toStrictEqual(["three"]);
    expect(rest.has_more).toBe(false);
    expect(texts(await page(""))).toStrictEqual(["three", "two", "one"]);

    const bad = await gateway(`/v1/responses/${response.id}/input_items?limit=0`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error).toMatchObject({ param: "limit", type: "invalid_request_error" });
  });

  it("expires after RESPONSES_TTL", async () => {
    const vars = { RESPONSES_TTL: "300ms" };
    const res = await postJsonWith(vars, "/v1/responses", { model: "llama3.2", input: "short-lived" });
    const { id } = (await res.json()) as any;
    expect((await gatewayWith(vars, `/v1/responses/${id}`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await gatewayWith(vars, `/v1/responses/${id}`)).status).toBe(404);
  });

  it("a response over RESPONSES_MAX_BYTES is not stored, and says so with store: false", async () => {
    const vars = { RESPONSES_MAX_BYTES: "200" };
    const res = await postJsonWith(vars, "/v1/responses", { model: "llama3.2", input: "x".repeat(300) });
    const response = (await res.json()) as any;
    expect(response.store).toBe(false);
    expect((await gatewayWith(vars, `/v1/responses/${response.id}`)).status).toBe(404);
  });

  it("over RESPONSES_MAX_KEY_BYTES, the key's oldest responses make room for the new one", async () => {
    const { id: keyId, key } = await createKey({ name: "capped" });
    const store = env.RESPONSES.get(env.RESPONSES.idFromName(keyId));
    const create = async (vars: Record<string, string>, i: number) => {
      const init = { method: "POST", headers: { ...asKey(key), "content-type": "application/json" } };
      const res = await gatewayWith(vars, "/v1/responses", { ...init, body: JSON.stringify({ model: "llama3.2", input: `turn ${i} ${"y".repeat(400)}` }) });
      return ((await res.json()) as any).id as string;
    };
    const ids = [await create({}, 0)];
    const size = new TextEncoder().encode((await store.get(ids[0]!))!).byteLength;
    // Room for two and a half of these responses: each new one past two evicts the oldest.
    const capped = { RESPONSES_MAX_KEY_BYTES: String(Math.floor(size * 2.5)) };
    for (let i = 1; i < 4; i++) ids.push(await create(capped, i));
    const kept = [];
    for (const id of ids) kept.push((await store.get(id)) !== null);
    expect(kept).toStrictEqual([false, false, true, true]);
  });

  it("revoking the key deletes its stored responses", async () => {
    const created_ = await createKey({ name: "short" });
    const response = await created({ input: "to be forgotten" }, asKey(created_.key));
    expect(await env.RESPONSES.get(env.RESPONSES.idFromName(created_.id)).get(response.id)).not.toBeNull();
    const revoked = await gateway(`/admin/keys/${created_.id}`, { method: "DELETE", headers: { authorization: ADMIN_AUTH } });
    expect(revoked.status).toBe(200);
    expect(await env.RESPONSES.get(env.RESPONSES.idFromName(created_.id)).get(response.id)).toBeNull();
  });
});
