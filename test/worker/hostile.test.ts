/**
 * Hostile inputs, one by one: bodies too large to read, too deep to serialise, not UTF-8; numbers JSON cannot
 * hold; keys that would pollute prototypes; CR/LF where headers are made; absurd caps; very long conversations
 * and names; image URLs that are not images, loop, or never finish. Each is refused cleanly (a 4xx in the
 * route's own error shape) or served, never a 5xx, a crash or an unbounded wait.
 */
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import { requestIdFor } from "../../src/http/request-id.ts";
import { ADMIN_AUTH, createKey, emulator, gateway, gatewayWith, IMAGE_SERVER_URL, postJson, postJsonWith, testKey, user } from "./helpers.ts";

beforeEach(() => emulator.reset());

const MiB = 1024 ** 2;
const DEFAULT_MAX_BODY = 20 * MiB;

async function openaiError(res: Response): Promise<{ message: string; type: string; param: string | null; code: string | null }> {
  expect(res.headers.get("content-type")).toBe("application/json");
  const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  return body.error;
}

async function nativeError(res: Response): Promise<string> {
  const body = (await res.json()) as { error: string };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(typeof body.error).toBe("string");
  return body.error;
}

/** POST a body given as raw text (JSON.stringify cannot write 1e400 or an own `__proto__` key). */
function postRaw(path: string, text: string, headers: Record<string, string> = {}): Promise<Response> {
  return gateway(path, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: text });
}

/** A body stream that makes its bytes only when read, counting them; `total` bytes at most. */
function lazyBody(total: number, chunk = 64 * 1024): { stream: ReadableStream<Uint8Array>; pulled(): number; cancelled(): boolean } {
  let pulled = 0;
  let cancelled = false;
  const block = new Uint8Array(chunk).fill(0x20); // spaces: valid JSON whitespace, whatever the reader makes of it
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled >= total) return controller.close();
        const size = Math.min(chunk, total - pulled);
        pulled += size;
        controller.enqueue(size === chunk ? block.slice() : block.slice(0, size));
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulled, cancelled: () => cancelled };
}

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
const chatWith = (extra: string) => `{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]${extra}}`;

describe("body size", () => {
  it("a 1 GB body streamed without a length is refused with 413, reading little past the cap", async () => {
    const body = lazyBody(1024 ** 3);
    const started = Date.now();
    const res = await exports.default.fetch(
      new Request("https://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${await testKey()}`, "content-type": "application/json" },
        body: body.stream,
      }),
    );
    expect(res.status).toBe(413);
    expect(await openaiError(res)).toMatchObject({ code: "request_too_large", message: `Request body is larger than the limit of ${DEFAULT_MAX_BODY} bytes.` });
    expect(Date.now() - started).toBeLessThan(5000);
    // The runtime pipes the body to the Worker a little ahead of what it reads: some slack, nowhere near 1 GB.
    expect(body.pulled()).toBeGreaterThan(DEFAULT_MAX_BODY);
    expect(body.pulled()).toBeLessThan(DEFAULT_MAX_BODY + MiB);
    expect(await emulator.requests()).toEqual([]);
  });

  it("called directly, the reader stops one chunk past the cap and cancels the stream (v1, native and admin routes)", async () => {
    const cases: [path: string, vars: Record<string, string>, cap: number, authorization: string | undefined][] = [
      ["/v1/embeddings", { MAX_BODY_BYTES: "1MiB" }, MiB, undefined],
      ["/api/chat", { MAX_BODY_BYTES: "256KiB" }, 256 * 1024, undefined],
      ["/admin/keys", {}, 64 * 1024, ADMIN_AUTH], // the admin API's own cap
    ];
    for (const [path, vars, cap, authorization] of cases) {
      const body = lazyBody(1024 ** 3, 16 * 1024);
      const headers: Record<string, string> = authorization ? { authorization } : {};
      const res = await gatewayWith(vars, path, { method: "POST", headers, body: body.stream });
      expect(res.status, path).toBe(413);
      expect(body.pulled(), path).toBeLessThanOrEqual(cap + 16 * 1024);
      expect(body.cancelled(), path).toBe(true);
    }
  });

  it("a declared Content-Length over the cap is refused before a single byte is read", async () => {
    for (const path of ["/v1/chat/completions", "/api/generate"]) {
      const body = lazyBody(1024 ** 3);
      const res = await gatewayWith({}, path, { method: "POST", headers: { "content-length": String(2 ** 40) }, body: body.stream });
      expect(res.status, path).toBe(413);
      expect(body.pulled(), path).toBe(0);
    }
    // Through the runtime too: at most what it buffers ahead, never the body.
    const body = lazyBody(1024 ** 3);
    const res = await exports.default.fetch(
      new Request("https://gateway.test/v1/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${await testKey()}`, "content-length": String(DEFAULT_MAX_BODY + 1) },
        body: body.stream,
      }),
    );
    expect(res.status).toBe(413);
    expect(body.pulled()).toBeLessThanOrEqual(MiB);
  });
});

describe("deep nesting", () => {
  it("100,000 levels of JSON are a 400, on every route that reads a body, and nothing reaches Ollama", async () => {
    const deep = nested(100_000);
    const cases: [path: string, text: string, headers: Record<string, string>][] = [
      ["/v1/chat/completions", chatWith(`,"options":{"a":${deep}}`), {}],
      ["/v1/chat/completions", deep, {}],
      ["/v1/completions", `{"model":"llama3.2","prompt":"x","stop":${deep}}`, {}],
      ["/v1/embeddings", `{"model":"nomic-embed-text","input":"x","options":${deep}}`, {}],
      ["/admin/keys", `{"name":${nested(20_000)}}`, { authorization: ADMIN_AUTH }],
    ];
    for (const [path, text, headers] of cases) {
      const res = await postRaw(path, text, headers);
      expect(res.status, path).toBe(400);
      expect((await openaiError(res)).message, path).toBe("The JSON body is nested more than 512 levels deep.");
    }
    for (const path of ["/api/chat", "/api/generate", "/api/embed", "/api/show"]) {
      const res = await postRaw(path, `{"model":"llama3.2","messages":[{"role":"user","content":"x","extra":${deep}}],"prompt":"x","input":"x"}`);
      expect(res.status, path).toBe(400);
      expect(await nativeError(res), path).toBe("The JSON body is nested more than 512 levels deep.");
    }
    const pull = await postRaw("/api/pull", `{"model":"llama3.2","insecure":${deep}}`, { authorization: ADMIN_AUTH });
    expect([pull.status, await nativeError(pull)]).toEqual([400, "The JSON body is nested more than 512 levels deep."]);
    expect(await emulator.requests()).toEqual([]);
  });

  it("512 levels pass (and reach Ollama intact), 513 do not", async () => {
    // The body is level 1 and options level 2, so `a` adds 510 or 511 levels of arrays.
    const ok = await postRaw("/v1/chat/completions", chatWith(`,"options":{"a":${nested(510)}}`));
    expect(ok.status).toBe(200);
    const [chat] = await emulator.requests("/api/chat");
    expect(JSON.stringify(chat!.body.options.a)).toBe(nested(510));
    expect((await postRaw("/v1/chat/completions", chatWith(`,"options":{"a":${nested(511)}}`))).status).toBe(400);
  });

  it("deep JSON inside a JSON string (tool-call arguments) is a 400 naming the field", async () => {
    const args = JSON.stringify(`{"a":${nested(100_000)}}`);
    const text = `{"model":"llama3.2","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":${args}}}]},{"role":"user","content":"hi"}]}`;
    const res = await postRaw("/v1/chat/completions", text);
    expect(res.status).toBe(400);
    expect(await openaiError(res)).toMatchObject({
      param: "messages[0].tool_calls[0].function.arguments",
      message: "Tool call arguments are nested more than 512 levels deep.",
    });
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });
});

describe("encodings and numbers", () => {
  const INVALID_UTF8: [string, number[]][] = [
    ["a lone continuation byte", [0x80]],
    ["an overlong '/'", [0xc0, 0xaf]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["a truncated 4-byte sequence", [0xf0, 0x9f, 0x98]],
    ["0xFF", [0xff]],
  ];
  const withBytes = (before: string, bad: number[], after: string) =>
    new Uint8Array([...new TextEncoder().encode(before), ...bad, ...new TextEncoder().encode(after)]);

  it("invalid UTF-8 is a 400 on /v1 (OpenAI's envelope) and on /api (Ollama's shape)", async () => {
    for (const [what, bad] of INVALID_UTF8) {
      const v1 = await gateway("/v1/chat/completions", {
        method: "POST",
        body: withBytes('{"model":"llama3.2","messages":[{"role":"user","content":"', bad, '"}]}'),
      });
      expect(v1.status, what).toBe(400);
      expect((await openaiError(v1)).message, what).toBe("The request body is not valid UTF-8.");
      const native = await gateway("/api/generate", { method: "POST", body: withBytes('{"model":"llama3.2","prompt":"', bad, '"}') });
      expect(native.status, what).toBe(400);
      expect(await nativeError(native), what).toBe("The request body is not valid UTF-8.");
    }
    expect(await emulator.requests()).toEqual([]);
  });

  it("a UTF-8 byte-order mark is accepted; UTF-16 is not UTF-8", async () => {
    const bom = await gateway("/v1/chat/completions", { method: "POST", body: withBytes("", [0xef, 0xbb, 0xbf], chatWith("")) });
    expect(bom.status).toBe(200);
    const utf16 = new Uint8Array([0xff, 0xfe, ...[...chatWith("")].flatMap((c) => [c.charCodeAt(0), 0])]);
    expect((await gateway("/v1/chat/completions", { method: "POST", body: utf16 })).status).toBe(400);
  });

  it("numbers JSON cannot hold, or integers past 2^53, are a 400 naming the field", async () => {
    const cases: [path: string, text: string, param: string][] = [
      ["/v1/chat/completions", chatWith(`,"max_tokens":1e400`), "max_tokens"],
      ["/v1/chat/completions", chatWith(`,"max_tokens":18446744073709551616`), "max_tokens"],
      ["/v1/chat/completions", chatWith(`,"max_completion_tokens":9007199254740993`), "max_completion_tokens"],
      ["/v1/chat/completions", chatWith(`,"temperature":1e400`), "temperature"],
      ["/v1/chat/completions", chatWith(`,"seed":-1e400`), "seed"],
      ["/v1/chat/completions", chatWith(`,"top_logprobs":1e400,"logprobs":true`), "top_logprobs"],
      ["/v1/completions", `{"model":"llama3.2","prompt":"x","max_tokens":1e400}`, "max_tokens"],
      ["/v1/completions", `{"model":"llama3.2","prompt":"x","logprobs":18446744073709551616}`, "logprobs"],
      ["/v1/embeddings", `{"model":"nomic-embed-text","input":"x","dimensions":1e400}`, "dimensions"],
      ["/admin/keys", `{"name":"n","rpm":18446744073709551616}`, "rpm"],
    ];
    for (const [path, text, param] of cases) {
      const res = await postRaw(path, text, path === "/admin/keys" ? { authorization: ADMIN_AUTH } : {});
      expect(res.status, text).toBe(400);
      expect((await openaiError(res)).param, text).toBe(param);
    }
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("tiny and huge but finite numbers are passed on; an infinite num_predict on /api cannot reserve more than the key's limit", async () => {
    const fine = await postRaw("/v1/chat/completions", chatWith(`,"temperature":1e-400,"top_p":4.9e-324,"presence_penalty":-1.7976931348623157e308`));
    expect(fine.status).toBe(200);
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.options).toEqual({ temperature: 0, top_p: 4.9e-324, presence_penalty: -1.7976931348623157e308, num_predict: 8192 });

    const created = await createKey({ name: "infinite", tpm: 5000 });
    const native = await postRaw("/api/generate", `{"model":"llama3.2","prompt":"hi","stream":false,"options":{"num_predict":1e400}}`, {
      authorization: `Bearer ${created.key}`,
    });
    expect(native.status).toBe(200);
    expect(native.headers.get("x-ratelimit-remaining-tokens")).toBe("0"); // the whole minute reserved, no more
    const [generate] = await emulator.requests("/api/generate");
    // Infinity is no cap: the answer's ceiling takes its place (and Infinity has no JSON form anyway).
    expect(generate!.body.options).toEqual({ num_predict: 8192 });
  });
});

describe("prototype keys", () => {
  const EVIL = `"__proto__":{"polluted":"yes","model":"evil","num_predict":1},"constructor":{"prototype":{"polluted":"yes"}},"prototype":{"polluted":"yes"}`;

  function expectUnpolluted(): void {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  }

  it("__proto__, constructor and prototype keys in /v1 bodies and options pollute nothing and reach Ollama as plain data at most", async () => {
    const text = `{"model":"llama3.2",${EVIL},"messages":[{"role":"user","content":"hi",${EVIL}}],"options":{${EVIL},"temperature":0.5},"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{${EVIL},"type":"object"}}}}`;
    const res = await postRaw("/v1/chat/completions", text);
    expect(res.status).toBe(200);
    expectUnpolluted();
    const [chat] = await emulator.requests("/api/chat");
    const native = chat!.body;
    expect(native.model).toBe("llama3.2:latest");
    expect(native.messages).toEqual([{ role: "user", content: "hi" }]);
    expect(Object.hasOwn(native, "polluted")).toBe(false);
    // zod drops a record's __proto__ key; constructor and prototype are ordinary option names to Ollama.
    // The answer cap is the gateway's ceiling (DEFAULT_MAX_TOKENS), never the 1 hidden behind __proto__.
    expect(native.options).toEqual({ constructor: { prototype: { polluted: "yes" } }, prototype: { polluted: "yes" }, temperature: 0.5, num_predict: 8192 });
    expect(Object.getPrototypeOf(native.options)).toBe(Object.prototype);

    for (const [path, body] of [
      ["/v1/completions", `{"model":"llama3.2","prompt":"hi",${EVIL},"options":{${EVIL}}}`],
      ["/v1/embeddings", `{"model":"nomic-embed-text","input":"hi",${EVIL},"options":{${EVIL}}}`],
    ] as const) {
      expect((await postRaw(path, body)).status, path).toBe(200);
      expectUnpolluted();
    }
  });

  it("on /api the body is passed on as sent: the keys stay data, the model is still resolved and checked", async () => {
    const text = `{"model":"llama3.2",${EVIL},"stream":false,"messages":[{"role":"user","content":"hi"}],"options":{${EVIL}}}`;
    const res = await postRaw("/api/chat", text);
    expect(res.status).toBe(200);
    expectUnpolluted();
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.model).toBe("llama3.2:latest");
    expect(Object.hasOwn(chat!.body, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(chat!.body)).toBe(Object.prototype);
    expect(chat!.body.polluted).toBeUndefined();

    // A key limited to one model cannot reach another by hiding `model` behind __proto__.
    const limited = await createKey({ name: "qwen only", models: ["qwen3"] });
    const sneaky = await postRaw("/api/chat", `{"__proto__":{"model":"qwen3:8b"},"model":"llama3.2","messages":[]}`, {
      authorization: `Bearer ${limited.key}`,
    });
    expect(sneaky.status).toBe(404);
  });

  it("admin bodies and query strings with such keys are refused or ignored", async () => {
    const created = await postRaw("/admin/keys", `{"name":"proto",${EVIL}}`, { authorization: ADMIN_AUTH });
    expect(created.status).toBe(400); // the admin schema is strict: unknown keys are refused
    expectUnpolluted();
    const query = await gateway("/v1/models?__proto__[polluted]=yes&__proto__.polluted=yes&constructor[prototype][polluted]=yes");
    expect(query.status).toBe(200);
    expectUnpolluted();
  });

  it("model names that are Object.prototype's own keys are unknown models, not a crash", async () => {
    for (const name of ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty"]) {
      const v1 = await postJson("/v1/chat/completions", { model: name, messages: [user("hi")] });
      expect(v1.status, name).toBe(404);
      expect((await openaiError(v1)).code, name).toBe("model_not_found");
      expect((await gateway(`/v1/models/${name}`)).status, name).toBe(404);
      const native = await postJson("/api/chat", { model: name, messages: [] });
      expect(native.status, name).toBe(404);
    }
  });

  it("a non-string prompt on /api/generate reaches Ollama's own 400 instead of breaking the token estimate", async () => {
    for (const prompt of [{ toString: 1, valueOf: 1 }, { toString: "x" }, [1, 2]]) {
      const res = await postJson("/api/generate", { model: "llama3.2", prompt, system: { valueOf: null, toString: null } });
      expect(res.status, JSON.stringify(prompt)).toBe(400);
      expect(await nativeError(res)).toMatch(/^json: cannot unmarshal/);
    }
  });
});

describe("CR/LF and control characters", () => {
  const INJECTED = "llama3.2\r\nX-Injected: yes\r\n\r\n<html>";

  function expectCleanHeaders(res: Response): void {
    expect(res.headers.has("x-injected")).toBe(false);
    for (const [, value] of res.headers) expect(value).not.toMatch(/[\r\n]|X-Injected/i);
  }

  it("in model names: a 404 whose JSON message holds the name as sent, never a header", async () => {
    const v1 = await postJson("/v1/chat/completions", { model: INJECTED, messages: [user("hi")] });
    expect(v1.status).toBe(404);
    expectCleanHeaders(v1);
    const error = await openaiError(v1);
    expect(error).toMatchObject({ code: "model_not_found", param: "model" });
    expect(error.message).toContain(`'${INJECTED}'`);

    for (const path of ["/v1/completions", "/v1/embeddings"]) {
      const res = await postJson(path, { model: INJECTED, prompt: "x", input: "x" });
      expect(res.status, path).toBe(404);
      expectCleanHeaders(res);
    }
    const native = await postJson("/api/chat", { model: INJECTED, messages: [] });
    expect(native.status).toBe(404);
    expectCleanHeaders(native);
    expect(await nativeError(native)).toContain(INJECTED);

    const path = await gateway(`/v1/models/${encodeURIComponent(INJECTED)}`);
    expect(path.status).toBe(404);
    expectCleanHeaders(path);
    expect((await openaiError(path)).message).toContain(INJECTED);

    const nul = await postJson("/v1/chat/completions", { model: "llama3.2\u0000", messages: [user("hi")] });
    expect(nul.status).toBe(404);
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("in x-request-id: the runtime refuses CR/LF in a header, and anything unsafe is replaced, never echoed", async () => {
    expect(() => new Headers({ "x-request-id": "abc\r\nSet-Cookie: a=b" })).toThrow(TypeError);
    // Had one got through (another runtime, a raw socket), the id is still not taken.
    const smuggled = { headers: new Map([["x-request-id", "abc\r\nSet-Cookie: a=b"]]) } as unknown as Request;
    expect(requestIdFor(smuggled)).toMatch(/^req_[0-9a-f]{32}$/);

    for (const id of ["abc%0d%0aSet-Cookie:%20a=b", "tab\there", "a b", "id\u0001", "x".repeat(129), "<script>", "a;b"]) {
      const res = await gateway("/v1/models", { headers: { "x-request-id": id } });
      expect(res.status, id).toBe(200);
      expect(res.headers.get("x-request-id"), id).toMatch(/^req_[0-9a-f]{32}$/);
    }
    const safe = await gateway("/nowhere", { headers: { "x-request-id": "trace-1:a.b_c" } });
    expect(safe.headers.get("x-request-id")).toBe("trace-1:a.b_c");
  });
});

describe("absurd sizes", () => {
  it("max_tokens 1e12 is held to what the context window leaves, and reserves no more than the key's tokens per minute", async () => {
    const created = await createKey({ name: "absurd", tpm: 1000 });
    const auth = { authorization: `Bearer ${created.key}` };
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("hi")], max_tokens: 1e12 }, auth);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-ratelimit-remaining-tokens")).toBe("0");
    const [chat] = await emulator.requests("/api/chat");
    // A 32,768-token window (OLLAMA_CONTEXT_LENGTH in the test setup) less the prompt's estimate: Ollama could not
    // generate more without shifting its context.
    expect(chat!.body.options).toEqual({ num_predict: 32756 });

    // Settled at the real count: the minute has room again, but a whole-minute reservation only fits an empty one.
    const bindings = env as Env;
    const hash = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(created.key)))]
      .map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    const slots = bindings.KEYS.get(bindings.KEYS.idFromName(hash));
    await expect.poll(() => slots.inFlight()).toBe(0);
    const again = await postJson("/v1/completions", { model: "llama3.2", prompt: "hi", max_tokens: 1e12 }, auth);
    expect(again.status).toBe(429);
    expect((await openaiError(again)).message).toBe("Token limit reached: 1000 tokens per minute for this key (this request needs up to 1000).");
    const modest = await postJson("/v1/completions", { model: "llama3.2", prompt: "hi", max_tokens: 500 }, auth);
    expect(modest.status).toBe(200);
    const fresh = await createKey({ name: "absurd native" });
    const native = await postJson(
      "/api/generate",
      { model: "llama3.2", prompt: "hi", stream: false, options: { num_predict: 1e12 } },
      { authorization: `Bearer ${fresh.key}` },
    );
    expect(native.status).toBe(200);
    const [, generate] = await emulator.requests("/api/generate");
    // Held to the 32,768-token window less the prompt's estimate, on the native route too.
    expect(generate!.body.options).toEqual({ num_predict: 32759 });
  });

  it("5,000 messages are answered, in full and streamed", async () => {
    const messages = Array.from({ length: 5000 }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `message ${i}` }));
    const res = await postJson("/v1/chat/completions", { model: "llama3.2", messages });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).choices[0].message.content).toBe("Hello! You said: message 4998");
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.messages).toHaveLength(5000);
    const streamed = await postJson("/v1/chat/completions", { model: "llama3.2", messages, stream: true });
    expect((await streamed.text()).endsWith("data: [DONE]\n\n")).toBe(true);
    const native = await postJson("/api/chat", { model: "llama3.2", messages, stream: false });
    expect(native.status).toBe(200);
  });

  it("a model name of megabytes is a quick 404 (the closest-name search does not grow with its square)", async () => {
    for (const [path, body] of [
      ["/v1/chat/completions", { model: "m".repeat(8 * MiB), messages: [user("hi")] }],
      ["/api/chat", { model: "m".repeat(8 * MiB), messages: [] }],
    ] as const) {
      const started = Date.now();
      const res = await postJson(path, body);
      expect(res.status, path).toBe(404);
      expect(Date.now() - started, path).toBeLessThan(2000);
    }
  });
});

describe("image URLs", () => {
  const withImages = (...urls: string[]) => ({
    model: "llava:7b",
    messages: [{ role: "user", content: [{ type: "text", text: "what is this?" }, ...urls.map((url) => ({ type: "image_url", image_url: { url } }))] }],
  });
  const TIMEOUT = { IMAGE_FETCH_TIMEOUT: "500ms" };

  it("not an image, a redirect loop, a redirect out of http(s): clear 400s naming the part", async () => {
    const cases: [path: string, message: RegExp][] = [
      ["/page.html", /its content type is "text\/html", not PNG, JPEG, WebP or GIF\.$/],
      ["/fake.png", /its content type is "application\/octet-stream", not PNG, JPEG, WebP or GIF\.$/],
      ["/loop", /it redirects more than 10 times\.$/],
      ["/to-file", /it redirects to a URL that is not http\(s\)\.$/],
    ];
    for (const [path, message] of cases) {
      const started = Date.now();
      const res = await postJsonWith(TIMEOUT, "/v1/chat/completions", withImages(`${IMAGE_SERVER_URL}${path}`));
      expect(res.status, path).toBe(400);
      const error = await openaiError(res);
      expect(error, path).toMatchObject({ param: "messages[0].content[1].image_url", code: "invalid_image_url" });
      expect(error.message, path).toMatch(message);
      expect(Date.now() - started, path).toBeLessThan(2000);
    }
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("a server that never answers, one that drips forever: 400 once IMAGE_FETCH_TIMEOUT has passed, not later", async () => {
    const cases: [path: string, message: string][] = [
      ["/hang", "no answer within 500 ms"],
      ["/drip.png", "it did not arrive within 500 ms"],
      ["/slow.png", "it did not arrive within 500 ms"],
    ];
    for (const [path, message] of cases) {
      const started = Date.now();
      const res = await postJsonWith(TIMEOUT, "/v1/chat/completions", withImages(`${IMAGE_SERVER_URL}${path}`));
      const elapsed = Date.now() - started;
      expect(res.status, path).toBe(400);
      expect((await openaiError(res)).message, path).toBe(`Could not use the image at "${IMAGE_SERVER_URL}${path}": ${message}.`);
      expect(elapsed, path).toBeGreaterThanOrEqual(450);
      expect(elapsed, path).toBeLessThan(2000);
    }
  });

  it("several slow images are fetched side by side: one timeout, not one each", async () => {
    const started = Date.now();
    const res = await postJsonWith(TIMEOUT, "/v1/chat/completions", withImages(...Array.from({ length: 6 }, () => `${IMAGE_SERVER_URL}/hang`)));
    expect(res.status).toBe(400);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("blob uploads", () => {
  it("the client's Content-Type is not forwarded (a control character in it once made a 502)", async () => {
    const data = new TextEncoder().encode("blob bytes");
    const hex = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))].map((b) => b.toString(16).padStart(2, "0")).join("");
    const res = await gateway(`/api/blobs/sha256:${hex}`, { method: "POST", headers: { authorization: ADMIN_AUTH, "content-type": "\u0001" }, body: data });
    expect(res.status).toBe(201);
    const [upload] = await emulator.requests(`/api/blobs/sha256:${hex}`);
    expect(upload!.headers["content-type"]).toBe("application/octet-stream");
  });
});
