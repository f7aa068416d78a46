/**
 * Context windows inside workerd, against the Ollama emulator, which cuts a prompt longer than its window silently
 * (keeping the last num_ctx tokens, as Ollama does, and reporting the window as prompt_eval_count). The gateway must
 * refuse such a prompt, or drop its oldest turns when asked to, and hold the answer cap to what the window leaves.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { ADMIN_AUTH, emulator, gatewayWith, postJsonWith, user } from "./helpers.ts";

beforeEach(() => emulator.reset());

const words = (count: number, word = "lorem") => Array.from({ length: count }, () => word).join(" ");
/** A window of 512 tokens for llama3.2, set by the operator. */
const SMALL = { MODEL_DEFAULTS: JSON.stringify({ "llama3.2": { options: { num_ctx: 512 } } }) };
const TRIM = { MODEL_DEFAULTS: JSON.stringify({ "llama3.2": { options: { num_ctx: 512 }, truncate: "oldest" } }) };

describe("a prompt longer than the window", () => {
  it("chat completions: 400 context_length_exceeded naming both numbers and `messages`; nothing reaches the backend", async () => {
    const res = await postJsonWith(SMALL, "/v1/chat/completions", { model: "llama3.2", messages: [user(words(600))] });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as any;
    expect(error).toMatchObject({ type: "invalid_request_error", param: "messages", code: "context_length_exceeded" });
    expect(error.message).toMatch(/^This model's maximum context length is 512 tokens\. However, your request has about \d+ prompt tokens/);
    expect(Number(/about (\d+)/.exec(error.message)![1])).toBeGreaterThan(600);
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("the client's own num_ctx sets the window too; legacy completions name `prompt`; Responses name `input`", async () => {
    const chat = await postJsonWith({}, "/v1/chat/completions", { model: "llama3.2", messages: [user(words(300))], options: { num_ctx: 256 } });
    expect(chat.status).toBe(400);
    const completion = await postJsonWith(SMALL, "/v1/completions", { model: "llama3.2", prompt: words(600) });
    expect(completion.status).toBe(400);
    expect(((await completion.json()) as any).error).toMatchObject({ param: "prompt", code: "context_length_exceeded" });
    const responses = await postJsonWith(SMALL, "/v1/responses", { model: "llama3.2", input: words(600) });
    expect(responses.status).toBe(400);
    expect(((await responses.json()) as any).error).toMatchObject({ param: "input", code: "context_length_exceeded" });
    expect(await emulator.requests("/api/chat")).toEqual([]);
    expect(await emulator.requests("/api/generate")).toEqual([]);
  });

  it("a prompt that fits goes through with its answer cap held to what the window leaves", async () => {
    const res = await postJsonWith(SMALL, "/v1/chat/completions", { model: "llama3.2", messages: [user(words(50))], max_tokens: 100_000 });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-context-truncated")).toBeNull();
    const [chat] = await emulator.requests("/api/chat");
    const predict = chat!.body.options.num_predict;
    // 512 less the prompt's estimate (50 words of 6 bytes: about 100 tokens, plus the template's).
    expect(predict).toBeLessThan(512 - 100);
    expect(predict).toBeGreaterThan(512 - 150);
  });
});

describe("dropping the oldest turns", () => {
  const conversation = [
    { role: "system", content: "You are terse." },
    user(`first ${words(200)}`),
    { role: "assistant", content: "", tool_calls: [{ id: "c1", type: "function", function: { name: "look", arguments: "{}" } }] },
    { role: "tool", tool_call_id: "c1", content: `seen ${words(100)}` },
    { role: "assistant", content: "first answer" },
    user(`second ${words(200)}`),
    { role: "assistant", content: "second answer" },
    user("third and last"),
  ];
  const tools = [{ type: "function", function: { name: "look", parameters: { type: "object", properties: {} } } }];

  it('MODEL_DEFAULTS truncate: "oldest" drops whole turns (a tool call with its result), never the system prompt or the last turn', async () => {
    const res = await postJsonWith(TRIM, "/v1/chat/completions", { model: "llama3.2", messages: conversation, tools });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-context-truncated")).toBe("1");
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.messages.map((message: any) => [message.role, message.content.split(" ")[0]])).toEqual([
      ["system", "You"],
      ["user", "second"],
      ["assistant", "second"],
      ["user", "third"],
    ]);
    // What the backend counted fits its window: nothing was cut there.
    expect(((await res.json()) as any).usage.prompt_tokens).toBeLessThan(512);
  });

  it("drops as many turns as needed, and refuses when the system prompt and the last turn alone do not fit", async () => {
    const longer = [...conversation.slice(0, -1), user(`third ${words(150)}`)];
    const two = await postJsonWith(TRIM, "/v1/chat/completions", { model: "llama3.2", messages: longer, tools });
    expect(two.status).toBe(200);
    expect(two.headers.get("x-context-truncated")).toBe("2");
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.messages.map((message: any) => [message.role, message.content.split(" ")[0]])).toEqual([
      ["system", "You"],
      ["user", "third"],
    ]);

    const hopeless = await postJsonWith(TRIM, "/v1/chat/completions", { model: "llama3.2", messages: [...conversation, user(words(700))] });
    expect(hopeless.status).toBe(400);
    expect(((await hopeless.json()) as any).error.code).toBe("context_length_exceeded");
  });

  it('Responses: truncation "auto" drops the oldest items; "disabled" (the default) refuses', async () => {
    const input = [
      { role: "developer", content: "Be terse." },
      { role: "user", content: `old ${words(400)}` },
      { role: "assistant", content: "old answer" },
      { role: "user", content: "new question" },
    ];
    const refused = await postJsonWith(SMALL, "/v1/responses", { model: "llama3.2", input });
    expect(refused.status).toBe(400);
    const auto = await postJsonWith(SMALL, "/v1/responses", { model: "llama3.2", input, truncation: "auto" });
    expect(auto.status).toBe(200);
    expect(auto.headers.get("x-context-truncated")).toBe("1");
    expect(((await auto.json()) as any).truncation).toBe("auto");
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.messages).toEqual([
      { role: "system", content: "Be terse." },
      { role: "user", content: "new question" },
    ]);
  });
});

describe("the estimate learns from the backend's counts", () => {
  it("a prompt the backend cut (its count filled the window) is logged, and the same prompt is refused next time", async () => {
    // One-letter words: 2 bytes each, so the estimate (a third of the bytes) is below the emulator's count (a word each).
    const sneaky = { model: "llama3.2", messages: [user(words(560, "a"))] };
    const first = await postJsonWith(SMALL, "/v1/chat/completions", sneaky);
    expect(first.status).toBe(200);
    expect(((await first.json()) as any).usage.prompt_tokens).toBe(512);
    const again = await postJsonWith(SMALL, "/v1/chat/completions", sneaky);
    expect(again.status).toBe(400);
    expect(await emulator.requests("/api/chat")).toHaveLength(1);
    // Counted for the operator, per backend and model, in /health's detail.
    const health = await gatewayWith(SMALL, "/health", { headers: { authorization: ADMIN_AUTH } });
    expect(((await health.json()) as any).backends[0].context_cuts).toEqual({ "llama3.2:latest": 1 });
  });

  it("after a few answers an estimate that ran high is lowered, so a prompt that fits is not refused", async () => {
    // Ten-letter words: the estimate (11 bytes ÷ 3 ≈ 3.7 a word) is far above the emulator's count (one a word).
    const small = { model: "llama3.2", messages: [user(words(40, "abcdefghij"))] };
    for (let i = 0; i < 3; i++) expect((await postJsonWith(SMALL, "/v1/chat/completions", small)).status).toBe(200);
    // About 580 tokens by the raw estimate, about 160 by the backend's count: it fits 512 once the estimate learned.
    const res = await postJsonWith(SMALL, "/v1/chat/completions", { model: "llama3.2", messages: [user(words(150, "abcdefghij"))] });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).usage.prompt_tokens).toBeLessThan(512);
  });
});

describe("the native API", () => {
  it("/api/chat and /api/generate refuse a prompt longer than the window in Ollama's shape, with no call to Ollama", async () => {
    const chat = await postJsonWith({}, "/api/chat", { model: "llama3.2", messages: [user(words(400))], options: { num_ctx: 256 } });
    expect(chat.status).toBe(400);
    expect(((await chat.json()) as any).error).toMatch(
      /^the input length exceeds the context length: about \d+ prompt tokens \(the gateway's estimate\) for a window of 256$/,
    );
    const generate = await postJsonWith(SMALL, "/api/generate", { model: "llama3.2", prompt: words(400), options: { num_ctx: 256 } });
    expect(generate.status).toBe(400);
    expect(await emulator.requests("/api/chat")).toEqual([]);
    expect(await emulator.requests("/api/generate")).toEqual([]);
  });

  it("a prompt that fits is forwarded with its answer cap held to what the window leaves", async () => {
    const res = await postJsonWith({}, "/api/chat", { model: "llama3.2", messages: [user("hi")], options: { num_ctx: 256, num_predict: 5000 }, stream: false });
    expect(res.status).toBe(200);
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.options.num_ctx).toBe(256);
    expect(chat!.body.options.num_predict).toBeLessThan(256);
    expect(chat!.body.options.num_predict).toBeGreaterThan(200);
  });
});
