import { beforeEach, describe, expect, it } from "vitest";
import { chunksOf, emulator, gateway, postJson, readSse } from "./helpers.ts";

beforeEach(() => emulator.reset());

const errorOf = async (res: Response) => ((await res.json()) as any).error;

const streamEnvelope = { object: "text_completion", model: "llama3.2", system_fingerprint: "fp_ollama_edge" };

describe("POST /v1/completions, non-stream", () => {
  it("answers with OpenAI's text_completion shape, assembled from the native stream", async () => {
    const res = await postJson("/v1/completions", { model: "llama3.2", prompt: "hi there" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    const body = (await res.json()) as any;
    expect(body.id).toMatch(/^cmpl-[0-9a-f]{24}$/);
    expect(body.created).toBeCloseTo(Date.now() / 1000, -1);
    expect(body).toStrictEqual({
      id: body.id,
      object: "text_completion",
      created: body.created,
      model: "llama3.2",
      system_fingerprint: "fp_ollama_edge",
      choices: [{ text: "Hello! You said: hi there", index: 0, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
    });
  });

  it("sends /api/generate, always streamed, with the resolved name and nothing injected but the answer's ceiling", async () => {
    await postJson("/v1/completions", { model: "llama3.2", prompt: ["x"], stream: false, user: "u", logit_bias: {} });
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.method).toBe("POST");
    expect(generate!.body).toStrictEqual({ model: "llama3.2:latest", prompt: "x", stream: true, options: { num_predict: 8192 } });
  });

  it("maps the sampling fields and Ollama's extras into the native request", async () => {
    await postJson("/v1/completions", {
      model: "llama3.2",
      prompt: "p",
      suffix: "end",
      max_tokens: 50,
      temperature: 0.2,
      top_p: 0.9,
      seed: 7,
      stop: "\n",
      presence_penalty: 0.5,
      frequency_penalty: 0.25,
      options: { num_ctx: 4096 },
      keep_alive: "10m",
      system: "Be brief.",
    });
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.body).toStrictEqual({
      model: "llama3.2:latest",
      prompt: "p",
      suffix: "end",
      system: "Be brief.",
      options: { num_ctx: 4096, temperature: 0.2, top_p: 0.9, seed: 7, presence_penalty: 0.5, frequency_penalty: 0.25, num_predict: 50, stop: ["\n"] },
      stream: true,
      keep_alive: "10m",
    });
  });

  it("passes suffix (fill-in-the-middle) and echoes an alias as the model", async () => {
    const body = (await (await postJson("/v1/completions", { model: "gpt-4o-mini", prompt: "def f(", suffix: "return x" })).json()) as any;
    expect(body.model).toBe("gpt-4o-mini");
    expect(body.choices[0].text).toBe("Hello! You said: def f( [suffix: return x]");
  });

  it("applies MODEL_DEFAULTS (num_ctx, keep_alive) under the client's options", async () => {
    await postJson("/v1/completions", { model: "llama3.3", prompt: "p", options: { top_k: 20 } });
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.body).toMatchObject({ model: "llama3.3:70b-instruct-q4_K_M", options: { num_ctx: 16384, top_k: 20 }, keep_alive: "30m" });
  });

  it("echo prepends the prompt to the text", async () => {
    const body = (await (await postJson("/v1/completions", { model: "llama3.2", prompt: "Q: x\nA:", echo: true })).json()) as any;
    expect(body.choices[0].text).toBe("Q: x\nA:Hello! You said: Q: x\nA:");
  });

  it("max_tokens → num_predict, and finish_reason length when it is hit", async () => {
    const body = (await (await postJson("/v1/completions", { model: "llama3.2", prompt: "a b c", max_tokens: 2 })).json()) as any;
    expect(body.choices[0]).toMatchObject({ text: "Hello! You", finish_reason: "length" });
    expect(body.usage.completion_tokens).toBe(2);
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.body.options).toStrictEqual({ num_predict: 2 });
  });

  it("maps logprobs to the legacy shape (tokens, token_logprobs, top_logprobs, text_offset)", async () => {
    const body = (await (await postJson("/v1/completions", { model: "llama3.2", prompt: "x", logprobs: 2 })).json()) as any;
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.body).toMatchObject({ logprobs: true, top_logprobs: 2 });
    expect(body.choices[0].logprobs).toStrictEqual({
      tokens: ["Hello!", " You", " said:", " x"],
      token_logprobs: [-0.1, -0.2, -0.3, -0.4],
      top_logprobs: [
        { "Hello!": -0.1, alt1: -1.1 },
        { " You": -0.2, alt1: -1.2 },
        { " said:": -0.3, alt1: -1.3 },
        { " x": -0.4, alt1: -1.4 },
      ],
      text_offset: [0, 6, 10, 16],
    });
  });

  it("logprobs 0 asks only for the chosen tokens; with echo the offsets count the prompt", async () => {
    const body = (await (await postJson("/v1/completions", { model: "llama3.2", prompt: "yo", logprobs: 0, echo: true })).json()) as any;
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.body.logprobs).toBe(true);
    expect(generate!.body.top_logprobs).toBeUndefined();
    expect(body.choices[0].text).toBe("yoHello! You said: yo");
    expect(body.choices[0].logprobs).toStrictEqual({
      tokens: ["Hello!", " You", " said:", " yo"],
      token_logprobs: [-0.1, -0.2, -0.3, -0.4],
      top_logprobs: [{ "Hello!": -0.1 }, { " You": -0.2 }, { " said:": -0.3 }, { " yo": -0.4 }],
      text_offset: [2, 8, 12, 18],
    });
  });

  it("drops a thinking model's reasoning; its tokens still count as completion tokens", async () => {
    const body = (await (await postJson("/v1/completions", { model: "thinker", prompt: "q" })).json()) as any;
    expect(body.choices[0].text).toBe("Hello! You said: q");
    expect(body.usage).toStrictEqual({ prompt_tokens: 2, completion_tokens: 9, total_tokens: 11 });
    await postJson("/v1/completions", { model: "thinker", prompt: "q", think: false });
    const requests = await emulator.requests("/api/generate");
    expect(requests[1]!.body.think).toBe(false);
  });
});

describe("POST /v1/completions, stream", () => {
  it("frames text_completion chunks exactly, then a finish chunk and [DONE]", async () => {
    const res = await postJson("/v1/completions", { model: "llama3.2", prompt: "hi", stream: true });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache, no-transform");
    const { data, events } = await readSse(res);
    expect(events.every((event) => event.startsWith("data: "))).toBe(true);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = chunksOf(data);
    const { id, created } = chunks[0];
    expect(id).toMatch(/^cmpl-[0-9a-f]{24}$/);
    const frame = (text: string, finish: string | null = null) => ({
      id,
      ...streamEnvelope,
      created,
      choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
    });
    expect(chunks).toStrictEqual([frame("Hello!"), frame(" You"), frame(" said:"), frame(" hi"), frame("", "stop")]);
    const [generate] = await emulator.requests("/api/generate");
    expect(generate!.body.stream).toBe(true);
  });

  it("include_usage: usage:null on every chunk and a final choices:[] usage chunk", async () => {
    const res = await postJson("/v1/completions", { model: "llama3.2", prompt: "hi", stream: true, stream_options: { include_usage: true } });
    const { data } = await readSse(res);
    const chunks = chunksOf(data);
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
    expect(chunks.at(-1)).toStrictEqual({
      id: chunks[0].id,
      ...streamEnvelope,
      created: chunks[0].created,
      choices: [],
      usage: { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 },
    });
    expect(data.at(-1)).toBe("[DONE]");
  });

  it("echo is the first streamed text; each chunk carries its own legacy logprobs", async () => {
    const res = await postJson("/v1/completions", { model: "llama3.2", prompt: "yo", stream: true, echo: true, logprobs: 1 });
    const chunks = chunksOf((await readSse(res)).data);
    expect(chunks.map((chunk) => chunk.choices[0].text)).toEqual(["yo", "Hello!", " You", " said:", " yo", ""]);
    expect(chunks[0].choices[0].logprobs).toBeNull();
    expect(chunks[1].choices[0].logprobs).toStrictEqual({ tokens: ["Hello!"], token_logprobs: [-0.1], top_logprobs: [{ "Hello!": -0.1 }], text_offset: [2] });
    expect(chunks[4].choices[0].logprobs).toStrictEqual({ tokens: [" yo"], token_logprobs: [-0.4], top_logprobs: [{ " yo": -0.4 }], text_offset: [18] });
    expect(chunks[5].choices[0]).toStrictEqual({ text: "", index: 0, logprobs: null, finish_reason: "stop" });
  });

  it("finish_reason length on the finish chunk when max_tokens is hit", async () => {
    const chunks = chunksOf((await readSse(await postJson("/v1/completions", { model: "llama3.2", prompt: "a", stream: true, max_tokens: 1 }))).data);
    expect(chunks.map((chunk) => [chunk.choices[0].text, chunk.choices[0].finish_reason])).toEqual([
      ["Hello!", null],
      ["", "length"],
    ]);
  });

  it("thinking is not streamed", async () => {
    const chunks = chunksOf((await readSse(await postJson("/v1/completions", { model: "qwen3:8b", prompt: "q", stream: true }))).data);
    expect(chunks.map((chunk) => chunk.choices[0].text).join("")).toBe("Hello! You said: q");
  });

  it("an {error} line mid-stream ends the stream with an error event and no [DONE]", async () => {
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 2, message: "boom" }, paths: ["/api/generate"] });
    const { data } = await readSse(await postJson("/v1/completions", { model: "llama3.2", prompt: "one two", stream: true }));
    const chunks = chunksOf(data);
    expect(chunks.slice(0, 2).map((chunk) => chunk.choices[0].text)).toEqual(["Hello!", " You"]);
    expect(chunks.at(-1)).toStrictEqual({
      error: { message: "The backend failed during generation: boom", type: "server_error", param: null, code: "backend_error" },
    });
    expect(data).not.toContain("[DONE]");
  });
});

describe("POST /v1/completions, errors", () => {
  it.each([
    [{ model: "llama3.2", prompt: ["a", "b"] }, "prompt", null],
    [{ model: "llama3.2", prompt: [1, 2, 3] }, "prompt", null],
    [{ model: "llama3.2" }, "prompt", null],
    [{ model: "llama3.2", prompt: "x", n: 2 }, "n", "unsupported_parameter"],
    [{ model: "llama3.2", prompt: "x", best_of: 3 }, "best_of", "unsupported_parameter"],
    [{ model: "llama3.2", prompt: "x", logprobs: 21 }, "logprobs", null],
    [{ model: "llama3.2", prompt: "x", stop: [1] }, "stop[0]", null],
  ])("%j → 400 param %s, before any upstream call", async (body, param, code) => {
    const res = await postJson("/v1/completions", body);
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ type: "invalid_request_error", param, code });
    expect(await emulator.requests("/api/generate")).toEqual([]);
  });

  it("an unknown model is a 404 model_not_found", async () => {
    const res = await postJson("/v1/completions", { model: "nope", prompt: "x" });
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ code: "model_not_found", param: "model" });
  });

  it("Ollama's own 400s keep their status and message (raw with system, a model without completion)", async () => {
    const raw = await postJson("/v1/completions", { model: "llama3.2", prompt: "x", raw: true, system: "s", stream: true });
    expect(raw.status).toBe(400);
    expect(await errorOf(raw)).toMatchObject({ message: "raw mode does not support template, system, or context", type: "invalid_request_error" });
    const embedOnly = await postJson("/v1/completions", { model: "nomic-embed-text", prompt: "x" });
    expect(embedOnly.status).toBe(400);
    expect((await errorOf(embedOnly)).message).toBe('"nomic-embed-text:latest" does not support generate');
  });

  it("a 502 when the backend fails mid-answer on a non-stream request", async () => {
    await emulator.fault({ fault: { kind: "error-midstream", afterLines: 1, message: "crashed" }, paths: ["/api/generate"] });
    const res = await postJson("/v1/completions", { model: "llama3.2", prompt: "x" });
    expect(res.status).toBe(502);
    expect(await errorOf(res)).toMatchObject({
      message: expect.stringMatching(/^The backend failed during generation: crashed \(request id: /),
      code: "backend_error",
    });
  });

  it("401 without a key", async () => {
    const res = await gateway("/v1/completions", { method: "POST", headers: { authorization: "" }, body: JSON.stringify({ model: "llama3.2", prompt: "x" }) });
    expect(res.status).toBe(401);
  });
});
