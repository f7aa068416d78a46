import { describe, expect, it } from "vitest";
import type { ModelDefaults } from "../../src/config/index.ts";
import { ApiError } from "../../src/core/errors.ts";
import type { NativeGenerateChunk, NativeLogprob } from "../../src/core/native.ts";
import type { CompletionMeta } from "../../src/dialects/openai/common.ts";
import { CompletionsAggregator } from "../../src/dialects/openai/completions/aggregate.ts";
import { appendLegacyLogprobs, codePoints, emptyLegacyLogprobs } from "../../src/dialects/openai/completions/common.ts";
import { toNativeCompletion } from "../../src/dialects/openai/completions/request.ts";
import { validateCompletionRequest } from "../../src/dialects/openai/completions/schema.ts";
import { type CompletionStreamOptions, CompletionsSseEncoder } from "../../src/dialects/openai/completions/stream.ts";
import { ndjsonToSse } from "../../tools/ndjson-to-sse.ts";
import { failure, sseFrames } from "./helpers.ts";

const m = "test-model";

function translate(body: Record<string, unknown>, defaults?: ModelDefaults) {
  return toNativeCompletion(validateCompletionRequest({ model: m, ...body }), { model: m, defaults });
}

const invalid = (body: Record<string, unknown>) => failure(() => validateCompletionRequest({ model: m, prompt: "x", ...body }));

describe("§6 vectors 9–10, adapted: no injected sampling defaults, upstream always streamed", () => {
  it("9: prompt, suffix, temperature and stop map; nothing else is invented", () => {
    expect(translate({ prompt: "Hello", temperature: 0.8, stop: ["\n", "stop"], suffix: "suffix" })).toStrictEqual({
      model: m,
      prompt: "Hello",
      suffix: "suffix",
      options: { temperature: 0.8, stop: ["\n", "stop"] },
      stream: true,
    });
  });

  it("9: a bare request has no options at all, whatever stream says", () => {
    expect(translate({ prompt: "Hello" })).toStrictEqual({ model: m, prompt: "Hello", stream: true });
    expect(translate({ prompt: "Hello", stream: false })).toStrictEqual({ model: m, prompt: "Hello", stream: true });
    expect(translate({ prompt: "Hello", stream: true, stream_options: { include_usage: true } })).toStrictEqual({
      model: m,
      prompt: "Hello",
      stream: true,
    });
  });

  it("10: stop with numbers is a 400 naming the element", () => {
    const { status, body } = invalid({ stop: [1, 2] });
    expect(status).toBe(400);
    expect(body.error.param).toBe("stop[0]");
    expect(body.error.type).toBe("invalid_request_error");
  });

  it("10: logprobs N>0 → logprobs:true, top_logprobs:N; 0 → logprobs:true only", () => {
    expect(translate({ prompt: "x", logprobs: 5 })).toMatchObject({ logprobs: true, top_logprobs: 5 });
    const zero = translate({ prompt: "x", logprobs: 0 });
    expect(zero.logprobs).toBe(true);
    expect("top_logprobs" in zero).toBe(false);
    expect("logprobs" in translate({ prompt: "x", logprobs: null })).toBe(false);
  });
});

describe("completion request mapping", () => {
  it("maps every sampling field, max_tokens and a string stop", () => {
    expect(
      translate({ prompt: "p", max_tokens: 999, seed: 123, stop: "END", temperature: 3, frequency_penalty: 4, presence_penalty: 5, top_p: 6 }).options,
    ).toStrictEqual({ num_predict: 999, seed: 123, stop: ["END"], temperature: 3, frequency_penalty: 4, presence_penalty: 5, top_p: 6 });
  });

  it("accepts a one-string array prompt", () => {
    expect(translate({ prompt: ["only"] }).prompt).toBe("only");
  });

  it("passes Ollama's extras: options, keep_alive, think, raw, system", () => {
    expect(translate({ prompt: "p", options: { num_ctx: 4096 }, keep_alive: "5m", think: false, raw: true, system: "S" })).toStrictEqual({
      model: m,
      prompt: "p",
      system: "S",
      raw: true,
      options: { num_ctx: 4096 },
      stream: true,
      keep_alive: "5m",
      think: false,
    });
  });

  it("puts MODEL_DEFAULTS under the body's options and the OpenAI fields on top", () => {
    const defaults: ModelDefaults = { options: { num_ctx: 8192, temperature: 0.1 }, keep_alive: "30m", think: false };
    expect(translate({ prompt: "p", options: { num_ctx: 2048 }, temperature: 0.5 }, defaults)).toStrictEqual({
      model: m,
      prompt: "p",
      options: { num_ctx: 2048, temperature: 0.5 },
      stream: true,
      keep_alive: "30m",
      think: false,
    });
  });

  it("ignores unknown and OpenAI-only fields (user, logit_bias)", () => {
    expect(translate({ prompt: "p", user: "u1", logit_bias: { "50256": -100 }, whatever: 1 })).toStrictEqual({ model: m, prompt: "p", stream: true });
  });
});

describe("completion request: 400s with their param", () => {
  it.each([
    [{ prompt: ["a", "b"] }, "prompt", /one request per prompt/],
    [{ prompt: [1, 2, 3] }, "prompt", /Ollama takes text only/],
    [{ prompt: [[1, 2], [3]] }, "prompt", /Ollama takes text only/],
    [{ prompt: [] }, "prompt", /empty array/],
    [{ prompt: 5 }, "prompt", /expected string or array/],
    [{ prompt: undefined }, "prompt", /./],
    [{ model: "" }, "model", /model is required/],
    [{ suffix: 3 }, "suffix", /expected string/],
    [{ max_tokens: -1 }, "max_tokens", /./],
    [{ max_tokens: 1.5 }, "max_tokens", /./],
    [{ temperature: "hot" }, "temperature", /expected number/],
    [{ echo: "yes" }, "echo", /expected boolean/],
    [{ logprobs: 21 }, "logprobs", /./],
    [{ logprobs: -1 }, "logprobs", /./],
    [{ logprobs: true }, "logprobs", /expected number/],
    [{ stream_options: { include_usage: "yes" } }, "stream_options.include_usage", /./],
    [{ raw: "true" }, "raw", /./],
    [{ system: ["a"] }, "system", /./],
    [{ think: "extreme" }, "think", /./],
  ])("%j → param %s", (body, param, message) => {
    const { status, body: error } = invalid(body);
    expect(status).toBe(400);
    expect(error.error.param).toBe(param);
    expect(error.error.type).toBe("invalid_request_error");
    expect(error.error.message).toMatch(message);
  });

  it.each(["n", "best_of"])("%s > 1 → 400 unsupported_parameter; 1 is fine", (field) => {
    const { status, body } = invalid({ [field]: 2 });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ param: field, code: "unsupported_parameter", type: "invalid_request_error" });
    expect(translate({ prompt: "p", [field]: 1 })).toStrictEqual({ model: m, prompt: "p", stream: true });
  });

  it("a body that is not an object is a 400", () => {
    expect(failure(() => validateCompletionRequest([1])).status).toBe(400);
  });
});

const meta: CompletionMeta = { id: "cmpl-abc", created: 1700000000, model: "gpt-3.5-turbo-instruct", systemFingerprint: "fp_test" };
const envelope = { id: "cmpl-abc", object: "text_completion", created: 1700000000, model: "gpt-3.5-turbo-instruct", system_fingerprint: "fp_test" };

function chunk(text: string, finish: string | null = null, usage = false, logprobs: unknown = null) {
  return { ...envelope, choices: [{ text, index: 0, logprobs, finish_reason: finish }], ...(usage && { usage: null }) };
}
const usageChunk = (prompt: number, completion: number) => ({
  ...envelope,
  choices: [],
  usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
});

const frames = sseFrames;

const options = (extra: Partial<CompletionStreamOptions> = {}): CompletionStreamOptions => ({ includeUsage: false, echo: "", logprobs: false, ...extra });

function run(lines: NativeGenerateChunk[], extra: Partial<CompletionStreamOptions> = {}): unknown[] {
  const encoder = new CompletionsSseEncoder(meta, options(extra));
  return frames(lines.map((line) => encoder.line(line)).join(""));
}

const tok = (response: string, extra: Partial<NativeGenerateChunk> = {}): NativeGenerateChunk => ({ response, done: false, ...extra });
const done = (reason = "stop", extra: Partial<NativeGenerateChunk> = {}): NativeGenerateChunk => ({
  response: "",
  done: true,
  done_reason: reason,
  context: [1, 2, 3],
  ...extra,
});

/** Deterministic native logprobs: the chosen token first among the alternatives, like Ollama. */
const lp = (token: string, logprob: number, alternatives: [string, number][] = [[token, logprob]]): NativeLogprob => ({
  token,
  logprob,
  bytes: [...new TextEncoder().encode(token)],
  top_logprobs: alternatives.map(([t, l]) => ({ token: t, logprob: l, bytes: [...new TextEncoder().encode(t)] })),
});

describe("CompletionsSseEncoder", () => {
  it("one chunk per token, a final text:'' chunk with the finish_reason, then [DONE]", () => {
    expect(run([tok("Hello"), tok(" world"), done("stop", { prompt_eval_count: 3, eval_count: 2 })])).toStrictEqual([
      chunk("Hello"),
      chunk(" world"),
      chunk("", "stop"),
      "[DONE]",
    ]);
  });

  it("the exact bytes of a frame (escaped text spliced into the envelope)", () => {
    const encoder = new CompletionsSseEncoder(meta, options());
    expect(encoder.line(tok('say "hi"\n'))).toBe(
      'data: {"id":"cmpl-abc","object":"text_completion","created":1700000000,"model":"gpt-3.5-turbo-instruct","system_fingerprint":"fp_test",' +
        '"choices":[{"text":"say \\"hi\\"\\n","index":0,"logprobs":null,"finish_reason":null}]}\n\n',
    );
  });

  it("include_usage: usage:null on every chunk, then a choices:[] usage chunk before [DONE]", () => {
    expect(run([tok("Hi"), done("stop", { prompt_eval_count: 10, eval_count: 20, total_duration: 5 })], { includeUsage: true })).toStrictEqual([
      chunk("Hi", null, true),
      chunk("", "stop", true),
      usageChunk(10, 20),
      "[DONE]",
    ]);
  });

  it("finish_reason is length when num_predict was hit, stop for anything else (load, unload, empty)", () => {
    expect(run([tok("Hi"), done("length")])[1]).toStrictEqual(chunk("", "length"));
    for (const reason of ["stop", "load", "unload", ""]) expect(run([done(reason)])).toStrictEqual([chunk("", "stop"), "[DONE]"]);
  });

  it("text in the done line is sent before the finish chunk", () => {
    expect(run([{ response: "All", done: true, done_reason: "stop" }])).toStrictEqual([chunk("All"), chunk("", "stop"), "[DONE]"]);
  });

  it("thinking is dropped, but counted as generated until the counts arrive", () => {
    const encoder = new CompletionsSseEncoder(meta, options());
    expect(encoder.line({ response: "", thinking: "hmm", done: false })).toBe("");
    expect(encoder.usage()).toStrictEqual({ prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 });
    expect(frames(encoder.line(tok("A")) + encoder.line(done("stop", { prompt_eval_count: 4, eval_count: 9 })))).toStrictEqual([
      chunk("A"),
      chunk("", "stop"),
      "[DONE]",
    ]);
    expect(encoder.usage()).toStrictEqual({ prompt_tokens: 4, completion_tokens: 9, total_tokens: 13 });
  });

  it("echo: the prompt is the first streamed text, before the first token", () => {
    expect(run([tok("Hello"), done()], { echo: "Say hi: " })).toStrictEqual([chunk("Say hi: "), chunk("Hello"), chunk("", "stop"), "[DONE]"]);
    expect(run([done()], { echo: "P" })).toStrictEqual([chunk("P"), chunk("", "stop"), "[DONE]"]);
  });

  it("logprobs: each chunk carries its tokens in the legacy shape, offsets counting the echo", () => {
    const out = run(
      [
        tok("Hi", {
          logprobs: [
            lp("Hi", -0.1, [
              ["Hi", -0.1],
              ["Hey", -1.1],
            ]),
          ],
        }),
        tok(" there", { logprobs: [lp(" there", -0.2, [[" you", -0.15]])] }),
        done(),
      ],
      { echo: "é🙂 ", logprobs: true },
    );
    expect(out).toStrictEqual([
      chunk("é🙂 "),
      chunk("Hi", null, false, { tokens: ["Hi"], token_logprobs: [-0.1], top_logprobs: [{ Hi: -0.1, Hey: -1.1 }], text_offset: [3] }),
      chunk(" there", null, false, {
        tokens: [" there"],
        token_logprobs: [-0.2],
        top_logprobs: [{ " you": -0.15, " there": -0.2 }],
        text_offset: [5],
      }),
      chunk("", "stop"),
      "[DONE]",
    ]);
  });

  it("logprobs not asked for are not sent, even if the backend sends them", () => {
    expect(run([tok("Hi", { logprobs: [lp("Hi", -0.1)] }), done()])).toStrictEqual([chunk("Hi"), chunk("", "stop"), "[DONE]"]);
  });

  it("an error line becomes OpenAI's error event, with no [DONE]; later lines are ignored", () => {
    const encoder = new CompletionsSseEncoder(meta, options());
    const out = encoder.line(tok("Hi")) + encoder.line({ error: "model runner has unexpectedly stopped" }) + encoder.line(tok("more"));
    expect(frames(out)).toStrictEqual([
      chunk("Hi"),
      {
        error: {
          message: "The backend failed during generation: model runner has unexpectedly stopped",
          type: "server_error",
          param: null,
          code: "backend_error",
        },
      },
    ]);
    expect(encoder.finished).toBe(true);
    expect(encoder.usage()).toStrictEqual({ prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 });
  });

  it("an upstream body that ends without done is reported, not silently cut", () => {
    const encoder = new CompletionsSseEncoder(meta, options());
    encoder.line(tok("Hi"));
    expect(frames(encoder.end())).toStrictEqual([
      { error: { message: "The backend closed the stream before the answer was complete.", type: "server_error", param: null, code: "backend_error" } },
    ]);
    expect(encoder.end()).toBe("");
  });

  it("works inside ndjsonToSse: NDJSON bytes split anywhere → the same frames", async () => {
    const ndjson = `${[tok("Grüße"), tok(" 🙂"), done("stop", { prompt_eval_count: 2, eval_count: 2 })].map((l) => JSON.stringify(l)).join("\n")}\n`;
    const bytes = new TextEncoder().encode(ndjson);
    let at = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (at < bytes.length) controller.enqueue(bytes.subarray(at, (at += 3)));
        else controller.close();
      },
    });
    const sse = await new Response(source.pipeThrough(ndjsonToSse(new CompletionsSseEncoder(meta, options({ includeUsage: true }))))).text();
    expect(frames(sse)).toStrictEqual([chunk("Grüße", null, true), chunk(" 🙂", null, true), chunk("", "stop", true), usageChunk(2, 2), "[DONE]"]);
  });
});

describe("CompletionsAggregator", () => {
  const aggregate = (lines: NativeGenerateChunk[], echo = "", logprobs = false) => {
    const aggregator = new CompletionsAggregator(meta, echo, logprobs);
    for (const line of lines) {
      if (aggregator.done) break;
      aggregator.line(line);
    }
    return aggregator.result();
  };

  it("assembles OpenAI's text_completion", () => {
    expect(
      aggregate([tok("Hello"), tok(" world"), { response: "", thinking: "x", done: false }, done("stop", { prompt_eval_count: 3, eval_count: 2 })]),
    ).toStrictEqual({
      ...envelope,
      choices: [{ text: "Hello world", index: 0, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    });
  });

  it("echo prepends the prompt; length is reported", () => {
    const result = aggregate([tok("A"), done("length", { eval_count: 1 })], "Q: ");
    expect(result.choices[0]).toStrictEqual({ text: "Q: A", index: 0, logprobs: null, finish_reason: "length" });
    expect(result.usage).toStrictEqual({ prompt_tokens: 0, completion_tokens: 1, total_tokens: 1 });
  });

  it("maps logprobs to the legacy shape with exact values and offsets in the returned text", () => {
    const result = aggregate(
      [
        tok("Hello", {
          logprobs: [
            lp("Hello", -0.1, [
              ["Hello", -0.1],
              ["Hi", -1.1],
            ]),
          ],
        }),
        tok(" wörld", {
          logprobs: [
            lp(" wö", -0.2, [
              [" wö", -0.2],
              [" we", -1.2],
            ]),
            lp("rld", -0.3, []),
          ],
        }),
        tok("!", {
          logprobs: [
            lp("!", -0.4, [
              ["!", -0.4],
              ["!", -9],
              [".", -1.4],
            ]),
          ],
        }),
        done(),
      ],
      "🙂 ",
      true,
    );
    expect(result.choices[0].text).toBe("🙂 Hello wörld!");
    expect(result.choices[0].logprobs).toStrictEqual({
      tokens: ["Hello", " wö", "rld", "!"],
      token_logprobs: [-0.1, -0.2, -0.3, -0.4],
      top_logprobs: [{ Hello: -0.1, Hi: -1.1 }, { " wö": -0.2, " we": -1.2 }, { rld: -0.3 }, { "!": -0.4, ".": -1.4 }],
      text_offset: [2, 7, 10, 13],
    });
  });

  it("logprobs asked for but none sent → empty legacy arrays, not null", () => {
    expect(aggregate([tok("x"), done()], "", true).choices[0].logprobs).toStrictEqual({ tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] });
  });

  it("an error line throws a 502; a stream without done throws a 502", () => {
    const aggregator = new CompletionsAggregator(meta, "", false);
    aggregator.line(tok("x"));
    expect(() => aggregator.line({ error: "boom" })).toThrow(ApiError);
    expect(() => aggregator.result()).toThrow(/closed the stream/);
    const thrown = failure(() => new CompletionsAggregator(meta, "", false).line({ error: "boom" }));
    expect(thrown).toStrictEqual({
      status: 502,
      body: { error: { message: "The backend failed during generation: boom", type: "server_error", param: null, code: "backend_error" } },
    });
  });
});

describe("legacy logprobs helpers", () => {
  it("counts characters as code points", () => {
    expect(codePoints("")).toBe(0);
    expect(codePoints("abc")).toBe(3);
    expect(codePoints("é🙂x")).toBe(3);
    expect(codePoints("\ud83d")).toBe(1);
  });

  it("keeps a token string like __proto__ as an ordinary key", () => {
    const into = emptyLegacyLogprobs();
    appendLegacyLogprobs(into, [lp("__proto__", -0.5)], 0);
    expect(JSON.stringify(into.top_logprobs)).toBe('[{"__proto__":-0.5}]');
  });
});

describe("the official openai SDK reads our answers", () => {
  const ndjson = (lines: NativeGenerateChunk[]) => `${lines.map((line) => JSON.stringify(line)).join("\n")}\n`;
  const lines = [
    tok("Hi", {
      logprobs: [
        lp("Hi", -0.1, [
          ["Hi", -0.1],
          ["Yo", -2],
        ]),
      ],
    }),
    tok(" there", { logprobs: [lp(" there", -0.2)] }),
    done("stop", { prompt_eval_count: 3, eval_count: 2 }),
  ];

  async function sdk(respond: (body: any) => Response) {
    const { default: OpenAI } = await import("openai");
    return new OpenAI({
      apiKey: "sk-test",
      baseURL: "http://gateway.invalid/v1",
      fetch: async (_url: unknown, init?: RequestInit) => respond(JSON.parse(String(init?.body))),
    });
  }

  it("a streamed completion: text, logprobs, finish_reason and the usage chunk", async () => {
    const client = await sdk((body) => {
      const request = validateCompletionRequest(body);
      const encoder = new CompletionsSseEncoder(meta, { includeUsage: request.stream_options?.include_usage === true, echo: "", logprobs: true });
      const source = new Response(ndjson(lines)).body!;
      return new Response(source.pipeThrough(ndjsonToSse(encoder)), { headers: { "content-type": "text/event-stream" } });
    });
    const stream = await client.completions.create({ model: "m", prompt: "p", stream: true, logprobs: 1, stream_options: { include_usage: true } });
    const seen: any[] = [];
    for await (const part of stream) seen.push(part);
    expect(seen.map((part) => part.choices[0]?.text ?? null)).toEqual(["Hi", " there", "", null]);
    expect(seen[0].choices[0].logprobs.top_logprobs).toEqual([{ Hi: -0.1, Yo: -2 }]);
    expect(seen[2].choices[0].finish_reason).toBe("stop");
    expect(seen[3].usage).toEqual({ prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
  });

  it("a non-stream completion", async () => {
    const client = await sdk(() => {
      const aggregator = new CompletionsAggregator(meta, "", false);
      for (const line of lines) aggregator.line(line);
      return new Response(JSON.stringify(aggregator.result()), { headers: { "content-type": "application/json" } });
    });
    const completion = await client.completions.create({ model: "m", prompt: "p" });
    expect(completion.choices[0]).toEqual({ text: "Hi there", index: 0, logprobs: null, finish_reason: "stop" });
  });
});

describe("the plain-token fast path of completions", () => {
  const fastMeta: CompletionMeta = { id: "cmpl-fast", created: 1700000000, model: "m", systemFingerprint: "fp" };
  const line = (text: string, extra = "") => `{"model":"m","created_at":"2026-11-28T12:00:00Z","response":${JSON.stringify(text)}${extra},"done":false}`;

  it("frames plain tokens byte for byte like the parsing path, echo first", () => {
    const options = { includeUsage: true, echo: "Say: ", logprobs: false };
    const fast = new CompletionsSseEncoder(fastMeta, options);
    const slow = new CompletionsSseEncoder(fastMeta, options);
    for (const text of ["Hi", " 🌍", ' "q"', "\n"]) {
      const raw = fast.rawLine(line(text));
      expect(raw).not.toBeNull();
      expect(raw).toBe(slow.line(JSON.parse(line(text)) as NativeGenerateChunk));
    }
  });

  it("takes the parsing path for logprobs, thinking and anything unusual", () => {
    expect(new CompletionsSseEncoder(fastMeta, { includeUsage: false, echo: "", logprobs: true }).rawLine(line("x"))).toBeNull();
    const encoder = new CompletionsSseEncoder(fastMeta, { includeUsage: false, echo: "", logprobs: false });
    expect(encoder.rawLine(line("x", ',"thinking":"t"'))).toBeNull();
    expect(encoder.rawLine(line("x").replace("false", "true"))).toBeNull();
  });
});
