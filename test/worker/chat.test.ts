import { beforeEach, describe, expect, it } from "vitest";
import { chunksOf, emulator, postJson, readSse, user } from "./helpers.ts";

beforeEach(() => emulator.reset());

describe("POST /v1/chat/completions, non-stream", () => {
  it("answers with OpenAI's chat.completion shape, built from the native stream", async () => {
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("hi there")] });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    const body = (await res.json()) as any;
    expect(body.id).toMatch(/^chatcmpl-[0-9a-f]{24}$/);
    expect(body.created).toBeCloseTo(Date.now() / 1000, -1);
    expect(body).toMatchObject({
      object: "chat.completion",
      model: "llama3.2",
      system_fingerprint: "fp_ollama_edge",
      choices: [{ index: 0, message: { role: "assistant", content: "Hello! You said: hi there", refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
    });
    expect(Object.keys(body.choices[0].message)).toEqual(["role", "content", "refusal"]);
  });

  it("thinking asked of a model that cannot think is dropped, not an error; a thinking model keeps it", async () => {
    for (const extra of [{ think: true }, { reasoning_effort: "high" }, { reasoning: { effort: "medium" } }]) {
      await emulator.reset();
      const res = await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("x")], ...extra });
      expect(res.status, JSON.stringify(extra)).toBe(200);
      await res.text();
      const [chat] = await emulator.requests("/api/chat");
      expect(chat!.body.think, JSON.stringify(extra)).toBeUndefined();
    }
    await emulator.reset();
    await (await postJson("/v1/chat/completions", { model: "qwen3:8b", messages: [user("x")], reasoning_effort: "low" })).text();
    const [thinking] = await emulator.requests("/api/chat");
    expect(thinking!.body.think).toBe("low");
  });

  it("always streams upstream and resolves the untagged name; the answer's ceiling (DEFAULT_MAX_TOKENS) is the only option added", async () => {
    await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("x")], stream: false });
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body).toEqual({ model: "llama3.2:latest", messages: [{ role: "user", content: "x" }], stream: true, options: { num_predict: 8192 } });
  });

  it("echoes an alias as the model while sending the target upstream", async () => {
    const res = await postJson("/v1/chat/completions", { model: "gpt-4o-mini", messages: [user("x")] });
    expect(((await res.json()) as any).model).toBe("gpt-4o-mini");
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.model).toBe("llama3.2:latest");
  });

  it("applies MODEL_DEFAULTS under the client's own options (num_ctx, keep_alive)", async () => {
    await postJson("/v1/chat/completions", {
      model: "llama3.3",
      messages: [user("x")],
      temperature: 0.2,
      options: { num_ctx: 4096, top_k: 20 },
    });
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.model).toBe("llama3.3:70b-instruct-q4_K_M");
    // The 8192-token ceiling held to what the 4096-token window leaves after the prompt's estimate.
    expect(chat!.body.options).toEqual({ num_ctx: 4096, top_k: 20, temperature: 0.2, num_predict: 4073 });
    expect(chat!.body.keep_alive).toBe("30m");
  });

  it("returns tool calls with content null and finish_reason tool_calls", async () => {
    const res = await postJson("/v1/chat/completions", {
      model: "llama3.2",
      messages: [user("weather in Paris?")],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
    });
    const body = (await res.json()) as any;
    expect(body.choices[0].finish_reason).toBe("tool_calls");
    expect(body.choices[0].message.content).toBeNull();
    expect(body.choices[0].message.tool_calls).toEqual([
      { id: expect.stringMatching(/^call_[a-z0-9]{8}$/), type: "function", function: { name: "get_weather", arguments: '{"city":"text"}' } },
    ]);
  });

  it("reports reasoning as reasoning_content and reasoning, and honours reasoning_effort none", async () => {
    const thinking = (await (await postJson("/v1/chat/completions", { model: "qwen3:8b", messages: [user("q")] })).json()) as any;
    expect(thinking.choices[0].message).toMatchObject({
      content: "Hello! You said: q",
      reasoning_content: "Let me think about that.",
      reasoning: "Let me think about that.",
    });
    const off = (await (await postJson("/v1/chat/completions", { model: "thinker", reasoning_effort: "none", messages: [user("q")] })).json()) as any;
    expect(off.choices[0].message.reasoning_content).toBeUndefined();
    const chats = await emulator.requests("/api/chat");
    expect(chats[1]!.body.think).toBe(false);
  });

  it("maps max_tokens to num_predict and reports finish_reason length", async () => {
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", max_completion_tokens: 2, messages: [user("a b c")] });
    const body = (await res.json()) as any;
    expect(body.choices[0]).toMatchObject({ message: { content: "Hello! You" }, finish_reason: "length" });
    expect(body.usage.completion_tokens).toBe(2);
  });

  it("maps logprobs both ways", async () => {
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", logprobs: true, top_logprobs: 2, messages: [user("x")] });
    const body = (await res.json()) as any;
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body).toMatchObject({ logprobs: true, top_logprobs: 2 });
    const content = body.choices[0].logprobs.content;
    expect(content.map((entry: any) => entry.token).join("")).toBe("Hello! You said: x");
    expect(content[0]).toMatchObject({ token: "Hello!", bytes: [72, 101, 108, 108, 111, 33] });
    expect(content[0].top_logprobs).toHaveLength(2);
    expect(body.choices[0].logprobs.refusal).toBeNull();
  });

  it("sends json_schema response formats as the native format", async () => {
    const schema = { type: "object", properties: { city: { type: "string" }, temp: { type: "integer" } }, required: ["city", "temp"] };
    const res = await postJson("/v1/chat/completions", {
      model: "llama3.2",
      messages: [user("x")],
      response_format: { type: "json_schema", json_schema: { name: "w", schema } },
    });
    expect(JSON.parse(((await res.json()) as any).choices[0].message.content)).toEqual({ city: "text", temp: 42 });
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.format).toEqual(schema);
  });
});

describe("POST /v1/chat/completions, stream", () => {
  it("frames SSE exactly like OpenAI, chunk by chunk", async () => {
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", stream: true, messages: [user("hi")] });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache, no-transform");
    const { data, events } = await readSse(res);
    expect(events.every((event) => event.startsWith("data: "))).toBe(true);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = chunksOf(data);
    const ids = new Set(chunks.map((chunk) => chunk.id));
    const created = new Set(chunks.map((chunk) => chunk.created));
    expect(ids.size).toBe(1);
    expect(created.size).toBe(1);
    expect(chunks.map((chunk) => chunk.choices[0].delta)).toEqual([
      { role: "assistant", content: "Hello!" },
      { content: " You" },
      { content: " said:" },
      { content: " hi" },
      {},
    ]);
    expect(chunks.map((chunk) => chunk.choices[0].finish_reason)).toEqual([null, null, null, null, "stop"]);
    expect(chunks.every((chunk) => chunk.object === "chat.completion.chunk" && chunk.model === "llama3.2" && !("usage" in chunk))).toBe(true);
  });

  it("adds usage:null to every chunk and a final usage chunk with include_usage", async () => {
    const res = await postJson("/v1/chat/completions", {
      model: "llama3.2",
      stream: true,
      stream_options: { include_usage: true },
      messages: [user("hi")],
    });
    const chunks = chunksOf((await readSse(res)).data);
    const last = chunks.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it("streams tool calls with an index, id and JSON-string arguments, then finish_reason tool_calls", async () => {
    const tools = ["a", "b"].map((name) => ({ type: "function", function: { name, parameters: { type: "object", properties: { n: { type: "integer" } } } } }));
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", stream: true, tools, messages: [user("call both")] });
    const chunks = chunksOf((await readSse(res)).data);
    const deltas = chunks.map((chunk) => chunk.choices[0].delta);
    expect(deltas[0].role).toBe("assistant");
    expect(deltas[0].tool_calls).toEqual([{ index: 0, id: expect.stringMatching(/^call_/), type: "function", function: { name: "a", arguments: '{"n":42}' } }]);
    expect(deltas[1].tool_calls[0]).toMatchObject({ index: 1, function: { name: "b" } });
    expect(chunks.at(-1).choices[0].finish_reason).toBe("tool_calls");
  });

  it("sends only the chosen tool for a named tool_choice, and none for tool_choice none", async () => {
    const tools = ["a", "b"].map((name) => ({ type: "function", function: { name } }));
    await postJson("/v1/chat/completions", { model: "llama3.2", tools, tool_choice: { type: "function", function: { name: "b" } }, messages: [user("x")] });
    await postJson("/v1/chat/completions", { model: "llama3.2", tools, tool_choice: "none", messages: [user("x")] });
    const [named, none] = await emulator.requests("/api/chat");
    expect(named!.body.tools.map((tool: any) => tool.function.name)).toEqual(["b"]);
    expect(none!.body.tools).toBeUndefined();
  });
});
