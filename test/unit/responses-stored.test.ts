import { describe, expect, it } from "vitest";
import { responsesRequestSchema } from "../../src/dialects/openai-responses/schema.ts";
import { continuation, inputItemsOf, itemList, itemListQuery, type StoredItem } from "../../src/dialects/openai-responses/stored.ts";

const body = (input: unknown) => responsesRequestSchema.parse({ model: "m", input });
const ID = /^[a-z]+_[0-9a-f]{32}$/;

describe("inputItemsOf", () => {
  it("a string is one user message with an input_text part and a fresh msg_ id", () => {
    const [item, ...rest] = inputItemsOf(body("hi"));
    expect(rest).toEqual([]);
    expect(item).toStrictEqual({
      type: "message",
      id: expect.stringMatching(/^msg_[0-9a-f]{32}$/),
      role: "user",
      content: [{ type: "input_text", text: "hi" }],
    });
  });

  it("string contents become one text part (output_text for the assistant); ids sent are kept; each kind gets its prefix", () => {
    const items = inputItemsOf(
      body([
        { role: "developer", content: "rules" },
        { type: "message", id: "msg_mine", role: "assistant", content: "earlier" },
        { type: "function_call", call_id: "c1", name: "f", arguments: "{}" },
        { type: "function_call_output", call_id: "c1", output: "ok" },
        { type: "reasoning", summary: [] },
        { type: "web_search_call" },
      ]),
    );
    expect(items[0]).toMatchObject({ type: "message", role: "developer", content: [{ type: "input_text", text: "rules" }] });
    expect(items[1]).toStrictEqual({ type: "message", id: "msg_mine", role: "assistant", content: [{ type: "output_text", text: "earlier" }] });
    expect(items.map((item) => item.id.split("_")[0])).toStrictEqual(["msg", "msg", "fc", "fco", "rs", "item"]);
    for (const item of items) expect(item.id).toMatch(item.id === "msg_mine" ? /^msg_mine$/ : ID);
  });

  it("no input: no items", () => {
    expect(inputItemsOf(responsesRequestSchema.parse({ model: "m" }))).toEqual([]);
  });
});

describe("continuation", () => {
  it("the previous response's items, then its output", () => {
    const items = inputItemsOf(body("first"));
    const output = [
      { type: "message", id: "msg_a", status: "completed", role: "assistant", content: [{ type: "output_text", text: "ok", annotations: [], logprobs: [] }] },
    ];
    const response = {
      id: "resp_1",
      object: "response",
      created_at: 0,
      status: "completed",
      error: null,
      incomplete_details: null,
      model: "m",
      output,
      usage: null,
    } as never;
    expect(continuation({ response, items })).toStrictEqual([...items, ...output]);
  });
});

describe("input_items pages", () => {
  const items = ["a", "b", "c"].map((id) => ({ type: "message", id, role: "user", content: [] }) as unknown as StoredItem);
  const query = (text: string) => itemListQuery(new URLSearchParams(text));

  it("newest first by default, 20 at most", () => {
    expect(query("")).toStrictEqual({ limit: 20, order: "desc", after: null });
    expect(itemList(items, query(""))).toStrictEqual({ object: "list", data: [items[2], items[1], items[0]], first_id: "c", last_id: "a", has_more: false });
  });

  it("limit, order and after", () => {
    expect(itemList(items, query("limit=1&order=asc&after=a"))).toStrictEqual({
      object: "list",
      data: [items[1]],
      first_id: "b",
      last_id: "b",
      has_more: true,
    });
    expect(itemList(items, query("after=a"))).toMatchObject({ data: [], first_id: null, last_id: null, has_more: false });
  });

  it("refuses a bad limit, order or cursor with the parameter's name", () => {
    for (const [text, param] of [
      ["limit=0", "limit"],
      ["limit=101", "limit"],
      ["limit=2.5", "limit"],
      ["order=up", "order"],
    ]) {
      expect(() => query(text!), text).toThrow(expect.objectContaining({ status: 400, param }));
    }
    expect(() => itemList(items, query("after=zzz"))).toThrow(expect.objectContaining({ status: 400, param: "after" }));
  });
});
