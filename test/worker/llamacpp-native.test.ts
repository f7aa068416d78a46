/**
 * Dialects built on the internal form (POST /v1/responses, POST /v1/messages) served by llama-server backends inside workerd:
 * the chat request llama-server gets, the exact events a client sees (reasoning, a function call), usage settled
 * from llama-server's counts, failures mid-stream, and failover between an Ollama and a llama-server.
 */
import { beforeEach, describe, expect, inject, it } from "vitest";
import { ADMIN_AUTH, createKey, EMULATOR_URL, emulatorAt, gateway, gatewayWith, IMAGE_SERVER_URL, namedFrames, testKey } from "./helpers.ts";

const LLAMA_URL = inject("llamaEmulatorUrl");
const THINKER_URL = inject("llamaThinkerUrl");

const desk = emulatorAt(EMULATOR_URL);
const box = emulatorAt(LLAMA_URL);
const thinker = emulatorAt(THINKER_URL);

const BOX = { name: "box", kind: "llamacpp", url: LLAMA_URL, api_key: "$BOX_KEY" };
/** A thinking model, `qwen3:8b`: the name the Ollama emulator (desk) has it by too. */
const THINKER = { name: "thinker", kind: "llamacpp", url: THINKER_URL };
const DESK = { name: "desk", kind: "ollama", url: EMULATOR_URL };

const vars = (backends: unknown[]) => ({
  BACKENDS: JSON.stringify(backends),
  BOX_KEY: "llama-secret",
  BACKEND_COOLDOWN: "30s",
  UPSTREAM_RETRY_BACKOFF: "10ms",
});
const responses = (body: unknown, backends: unknown[] = [BOX, THINKER], headers: Record<string, string> = {}) =>
  gatewayWith(vars(backends), "/v1/responses", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

async function usageOf(id: string): Promise<{ requests: number; prompt_tokens: number; completion_tokens: number }> {
  const res = await gateway("/admin/keys", { headers: { authorization: ADMIN_AUTH } });
  return ((await res.json()) as any).data.find((key: any) => key.id === id).usage;
}

const WEATHER = { type: "function", name: "get_weather", description: "Weather now", parameters: { type: "object", properties: { city: { type: "string" } } } };

beforeEach(async () => {
  await Promise.all([desk.reset(), box.reset(), thinker.reset()]);
});

describe("POST /v1/responses on llama-server", () => {
  it("non-stream: the Response object, and the chat completion llama-server got (exact), with its API key", async () => {
    const key = await testKey();
    const res = await responses({ model: "qwen2.5-7b-instruct", instructions: "Be brief.", input: "hi there", max_output_tokens: 50, temperature: 0.2 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ object: "response", status: "completed", model: "qwen2.5-7b-instruct", error: null, instructions: "Be brief." });
    expect(body.output).toStrictEqual([
      {
        type: "message",
        id: expect.stringMatching(/^msg_/),
        status: "completed",
        role: "assistant",
        content: [{ type: "output_text", text: "Hello from llama.cpp! You said: hi there", annotations: [], logprobs: [] }],
      },
    ]);
    // llama-server's counts: 2 messages of 2 words (+1 each), 7 answer tokens.
    expect(body.usage).toStrictEqual({
      input_tokens: 6,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 7,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 13,
    });
    const [sent] = await box.requests("/v1/chat/completions");
    expect(sent!.body).toStrictEqual({
      model: "qwen2.5-7b-instruct",
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hi there" },
      ],
      stream: true,
      stream_options: { include_usage: true },
      reasoning_format: "deepseek",
      temperature: 0.2,
      max_tokens: 50,
    });
    expect(sent!.headers.authorization).toBe("Bearer llama-secret");
    expect(JSON.stringify(sent)).not.toContain(key);
  });

  it("stream: reasoning, then a function call, in OpenAI's exact event order; the call goes back as a tool message", async () => {
    const res = await responses({ model: "qwen3:8b", input: "weather in Paris?", tools: [WEATHER], reasoning: { effort: "high" }, stream: true });
    expect(res.status).toBe(200);
    const { events } = await namedFrames(res);
    expect(events.map((frame) => frame.event)).toStrictEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.reasoning_summary_part.added",
      ...Array(6).fill("response.reasoning_summary_text.delta"),
      "response.reasoning_summary_text.done",
      "response.reasoning_summary_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    events.forEach((frame, i) => expect(frame.data.sequence_number).toBe(i));
    const thought = events.filter((frame) => frame.event === "response.reasoning_summary_text.delta").map((frame) => frame.data.delta);
    // llama-server's reasoning_content deltas, one each.
    expect(thought).toStrictEqual(["The", " user", " wrote:", " weather", " in", " Paris?"]);
    const call = events[16]!.data.item;
    expect(call).toStrictEqual({
      type: "function_call",
      id: expect.stringMatching(/^fc_/),
      // llama-server's own id for the call.
      call_id: expect.stringMatching(/^[A-Za-z0-9]{32}$/),
      name: "get_weather",
      arguments: '{"city":"text"}',
      status: "completed",
    });
    expect(events[14]!.data).toMatchObject({ delta: '{"city":"text"}', item_id: call.id, output_index: 1 });
    const done = events.at(-1)!.data.response;
    expect(done.status).toBe("completed");
    expect(done.output.map((item: any) => item.type)).toStrictEqual(["reasoning", "function_call"]);
    expect(done.output[0].summary).toStrictEqual([{ type: "summary_text", text: "The user wrote: weather in Paris?" }]);
    // llama-server's counts: 1 message of 3 words (+1); 6 thinking tokens, the call's head and its 2 argument pieces.
    expect(done.usage).toMatchObject({ input_tokens: 4, output_tokens: 9, total_tokens: 13 });
    const [sent] = await thinker.requests("/v1/chat/completions");
    expect(sent!.body).toMatchObject({
      tools: [{ type: "function", function: { name: "get_weather", description: "Weather now", parameters: WEATHER.parameters } }],
      chat_template_kwargs: { enable_thinking: true },
      reasoning_effort: "high",
    });

    // The next turn: the call and its output go back with llama-server's id, the reasoning as reasoning_content.
    const next = await responses({
      model: "qwen3:8b",
      tools: [WEATHER],
      input: [{ role: "user", content: "weather in Paris?" }, ...done.output, { type: "function_call_output", call_id: call.call_id, output: "sunny" }],
    });
    expect(((await next.json()) as any).output.at(-1).content[0].text).toBe("Hello from llama.cpp! You said: weather in Paris?");
    const [, second] = await thinker.requests("/v1/chat/completions");
    expect(second!.body.messages).toStrictEqual([
      { role: "user", content: "weather in Paris?" },
      {
        role: "assistant",
        content: null,
        reasoning_content: "The user wrote: weather in Paris?",
        tool_calls: [{ id: call.call_id, type: "function", function: { name: "get_weather", arguments: '{"city":"text"}' } }],
      },
      { role: "tool", content: "sunny", tool_call_id: call.call_id },
    ]);
  });

  it("images reach llama-server as data URIs, a downloaded one included", async () => {
    const res = await responses({
      model: "qwen2.5-7b-instruct",
      input: [
        {
          role: "user",
          content: [
            { type: "input_text", text: "what is it?" },
            { type: "input_image", image_url: `${IMAGE_SERVER_URL}/tiny.png` },
          ],
        },
      ],
    });
    expect(res.status).toBe(200);
    const [sent] = await box.requests("/v1/chat/completions");
    expect(sent!.body.messages).toStrictEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "what is it?" },
          { type: "image_url", image_url: { url: expect.stringMatching(/^data:image\/png;base64,iVBORw0KGgo/) } },
        ],
      },
    ]);
  });

  it("settles the key's usage with llama-server's counts, stream and non-stream", async () => {
    const created = await createKey({ name: "llama usage", tpm: 100000 });
    const auth = { authorization: `Bearer ${created.key}` };
    // A thinking model by default: 5 thinking tokens and 7 answer tokens for 2 messages (6 prompt tokens).
    const whole = (await (await responses({ model: "qwen3:8b", instructions: "Be brief.", input: "hi there" }, [THINKER], auth)).json()) as any;
    expect(whole.usage).toMatchObject({ input_tokens: 6, output_tokens: 12, output_tokens_details: { reasoning_tokens: 6 } });
    await expect.poll(() => usageOf(created.id)).toStrictEqual({ requests: 1, prompt_tokens: 6, completion_tokens: 12 });
    await namedFrames(await responses({ model: "qwen3:8b", input: "hi", stream: true, reasoning: { effort: "none" } }, [THINKER], auth));
    // Thinking off: 6 answer tokens for 1 message of 1 word.
    await expect.poll(() => usageOf(created.id)).toStrictEqual({ requests: 2, prompt_tokens: 8, completion_tokens: 18 });
    const [, off] = await thinker.requests("/v1/chat/completions");
    expect(off!.body).toMatchObject({ chat_template_kwargs: { enable_thinking: false }, reasoning_effort: "none" });
  });

  it("a failure mid-stream ends with response.failed (its error event, a cut connection), never response.completed", async () => {
    await box.fault({ fault: { kind: "error-midstream", afterLines: 3, message: "model runner crashed" }, times: 1 });
    const failed = (await namedFrames(await responses({ model: "qwen2.5-7b-instruct", input: "hi there", stream: true }))).events;
    expect(failed.map((frame) => frame.event).slice(-2)).toStrictEqual(["response.output_text.delta", "response.failed"]);
    expect(failed.at(-1)!.data.response).toMatchObject({
      status: "failed",
      error: { code: "server_error", message: "The backend failed during generation: model runner crashed" },
    });
    // What was said before the failure is in the failed response's output.
    expect(failed.filter((frame) => frame.event === "response.output_text.delta").map((frame) => frame.data.delta)).toStrictEqual(["Hello", " from"]);

    await box.fault({ fault: { kind: "drop", afterLines: 3 }, times: 1 });
    const cut = (await namedFrames(await responses({ model: "qwen2.5-7b-instruct", input: "hi there", stream: true }))).events;
    expect(cut.at(-1)!.event).toBe("response.failed");
    expect(cut.at(-1)!.data.response.error).toStrictEqual({ code: "backend_error", message: "The connection to the backend broke during the answer." });
    expect(cut.some((frame) => frame.event === "response.completed")).toBe(false);

    await box.fault({ fault: { kind: "error-midstream", afterLines: 3 }, times: 1 });
    const whole = await responses({ model: "qwen2.5-7b-instruct", input: "hi there" });
    expect(whole.status).toBe(502);
    expect(((await whole.json()) as any).error).toMatchObject({ code: "backend_error", message: expect.stringMatching(/model runner stopped/) });
  });

  it("a client that leaves mid-stream stops llama-server's generation", async () => {
    await box.fault({ fault: { kind: "stall", afterLines: 2 }, times: 1 });
    const res = await responses({ model: "qwen2.5-7b-instruct", input: "hi there", stream: true });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("response.output_text.delta")) text += decoder.decode((await reader.read()).value, { stream: true });
    await reader.cancel();
    await expect.poll(() => box.stats()).toMatchObject({ open: 0, aborted: 1 });
  });
});

describe("failover across kinds, for a dialect on the internal form", () => {
  it("from a down Ollama to llama-server, and from a loading llama-server to Ollama", async () => {
    // A backend with room for one request ranks after one without a limit: desk is tried first here.
    await desk.fault({ fault: { kind: "busy" } });
    const toLlama = await responses({ model: "qwen3:8b", input: "hi", stream: true }, [DESK, { ...THINKER, max_concurrency: 1 }]);
    expect(toLlama.status).toBe(200);
    const { events } = await namedFrames(toLlama);
    expect(events.at(-1)!.event).toBe("response.completed");
    expect(events.at(-1)!.data.response.output.at(-1).content[0].text).toBe("Hello from llama.cpp! You said: hi");
    expect(await desk.requests("/api/chat")).toHaveLength(1);
    expect(await thinker.requests("/v1/chat/completions")).toHaveLength(1);

    await desk.reset();
    await thinker.reset();
    await thinker.fault({ fault: { kind: "loading" } });
    const toOllama = await responses({ model: "qwen3:8b", input: "hi" }, [THINKER, { ...DESK, max_concurrency: 1 }]);
    expect(toOllama.status).toBe(200);
    expect(((await toOllama.json()) as any).output.at(-1).content[0].text).toBe("Hello! You said: hi");
    expect(await thinker.requests("/v1/chat/completions")).toHaveLength(1);
    const [native] = await desk.requests("/api/chat");
    expect(native!.body).toMatchObject({ model: "qwen3:8b", messages: [{ role: "user", content: "hi" }], stream: true });
  });
});

describe("POST /v1/messages (Anthropic) on llama-server", () => {
  const messages = (body: unknown, stream = false) =>
    gatewayWith(vars([BOX]), "/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ ...(body as object), stream }),
    });

  it("non-stream and stream: Anthropic's Message and events from a model only llama-server has, with its own counts", async () => {
    const res = await messages({ model: "qwen2.5-7b-instruct", max_tokens: 50, system: "Be brief.", messages: [{ role: "user", content: "hi there" }] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ type: "message", role: "assistant", model: "qwen2.5-7b-instruct", stop_reason: "end_turn" });
    expect(body.content).toStrictEqual([{ type: "text", text: "Hello from llama.cpp! You said: hi there" }]);
    expect(body.usage).toMatchObject({ input_tokens: 6, output_tokens: 7 });
    const [chat] = await box.requests("/v1/chat/completions");
    expect(chat!.body.messages).toStrictEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi there" },
    ]);

    const streamed = await messages({ model: "qwen2.5-7b-instruct", max_tokens: 50, messages: [{ role: "user", content: "hi there" }] }, true);
    expect(streamed.status).toBe(200);
    const events = (await streamed.text())
      .split("\n\n")
      .filter((block) => block.startsWith("event: "))
      .map((block) => block.split("\n")[0]!.slice(7));
    expect(events[0]).toBe("message_start");
    expect(events.slice(-2)).toStrictEqual(["message_delta", "message_stop"]);
    expect(events).toContain("content_block_delta");
  });
});

describe("context windows on llama-server", () => {
  it("its /props n_ctx is the window, and a long prompt is counted exactly by its own template and tokenizer", async () => {
    // 8192 tokens a slot (32768 over 4 slots). 7,000 one-letter words: about 4,700 tokens by the estimate (past half
    // the window, so the server is asked), but 14,000 by this server's byte-level tokenizer: refused, with that count.
    const res = await responses({ model: "qwen2.5-7b-instruct", input: Array.from({ length: 7000 }, () => "a").join(" ") });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as any;
    expect(error).toMatchObject({ code: "context_length_exceeded", param: "input" });
    const counted = Number(/about (\d+) prompt tokens/.exec(error.message)![1]);
    expect(error.message).toContain("maximum context length is 8192 tokens");
    const [template] = await box.requests("/apply-template");
    expect(template!.body.messages).toStrictEqual([{ role: "user", content: Array.from({ length: 7000 }, () => "a").join(" ") }]);
    const [tokenized] = await box.requests("/tokenize");
    // The count is the tokenizer's: one token a byte of the rendered prompt, plus BOS.
    expect(counted).toBe(new TextEncoder().encode(tokenized!.body.content).byteLength + 1);
    expect(await box.requests("/v1/chat/completions")).toEqual([]);
  });

  it("a short prompt is not sent to be counted: the estimate is far from the window", async () => {
    const res = await responses({ model: "qwen2.5-7b-instruct", input: "hi there" });
    expect(res.status).toBe(200);
    expect(await box.requests("/apply-template")).toEqual([]);
    expect(await box.requests("/tokenize")).toEqual([]);
  });
});
