/**
 * Order of checks: authentication comes first on every route. A request without a valid key gets its 401 before its
 * body is read or validated and causes no call to any backend; then the key's scope, where a model the key may not
 * use answers exactly like a model that does not exist.
 */
import { exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { generateKey } from "../../src/keys/key-format.ts";
import { ADMIN_AUTH, createKey, EMULATOR_URL, emulator, gatewayWith, postJson, user } from "./helpers.ts";

beforeEach(() => emulator.reset());

const LLAMA_BACKENDS = JSON.stringify([
  { name: "desk", kind: "ollama", url: EMULATOR_URL },
  { name: "laptop", kind: "llamacpp", url: "http://127.0.0.1:9" },
]);

/** Every route a key may call, with a body that would be refused (400) or would make the gateway look for models. */
const KEY_ROUTES: [method: string, path: string, body?: string][] = [
  ["POST", "/v1/chat/completions", "{}"],
  ["POST", "/v1/chat/completions", JSON.stringify({ model: "no-such-model-1", messages: [user("x")] })],
  ["POST", "/v1/completions", JSON.stringify({ model: "no-such-model-2", prompt: "x" })],
  ["POST", "/v1/embeddings", JSON.stringify({ model: "no-such-model-3", input: "x" })],
  ["POST", "/v1/embeddings", "not json"],
  [
    "POST",
    "/v1/responses",
    JSON.stringify({ model: "no-such-model-7", input: [{ role: "user", content: [{ type: "input_image", image_url: "https://example.com/a.png" }] }] }),
  ],
  ["POST", "/v1/responses", JSON.stringify({ model: "llama3.2", input: "x", previous_response_id: "resp_0" })],
  ["GET", "/v1/responses/resp_0"],
  ["GET", "/v1/responses/resp_0/input_items"],
  ["DELETE", "/v1/responses/resp_0"],
  ["POST", "/v1/messages?beta=true", JSON.stringify({ model: "no-such-model-8", max_tokens: 10, messages: [user("x")] })],
  [
    "POST",
    "/v1/messages",
    JSON.stringify({
      model: "no-such-model-9",
      max_tokens: 10,
      messages: [user([{ type: "image", source: { type: "url", url: "https://example.com/a.png" } }])],
    }),
  ],
  ["POST", "/v1/messages/count_tokens", JSON.stringify({ model: "no-such-model-10", messages: [user("x")] })],
  ["GET", "/v1/models"],
  ["GET", "/v1/models/no-such-model-4"],
  ["GET", "/api/tags"],
  ["HEAD", "/api/tags"],
  ["GET", "/api/version"],
  ["GET", "/api/ps"],
  ["POST", "/api/show", JSON.stringify({ model: "no-such-model-5" })],
  ["POST", "/api/chat", JSON.stringify({ model: "no-such-model-6", messages: [user("x")] })],
  ["POST", "/api/generate", "{}"],
  ["POST", "/api/embed", JSON.stringify({ model: "nomic-embed-text", input: Array.from({ length: 5000 }, () => "x") })],
  ["GET", "/props"],
  ["POST", "/tokenize", JSON.stringify({ content: "x" })],
  ["POST", "/detokenize", JSON.stringify({ tokens: [1] })],
];

function send(method: string, path: string, body: string | undefined, authorization: string | null, vars = {}): Promise<Response> {
  const headers: Record<string, string> = { authorization: authorization ?? "" };
  if (body !== undefined) headers["content-type"] = "application/json";
  return gatewayWith({ BACKENDS: LLAMA_BACKENDS, ...vars }, path, { method, headers, body });
}

async function revokedKey(): Promise<string> {
  const created = await createKey({ name: "revoked soon" });
  const res = await exports.default.fetch(
    new Request(`https://gateway.test/admin/keys/${created.id}`, { method: "DELETE", headers: { authorization: ADMIN_AUTH } }),
  );
  expect(res.status).toBe(200);
  return created.key;
}

describe("a request without a valid key", () => {
  it("gets 401 on every key route, whatever its body, and nothing reaches any backend", async () => {
    const revoked = await revokedKey();
    const credentials: [label: string, authorization: string | null][] = [
      ["no key", null],
      ["made-up key", `Bearer ${generateKey()}`],
      ["malformed key", "Bearer sk-not-a-key"],
      ["revoked key", `Bearer ${revoked}`],
      ["the admin token as a key", ADMIN_AUTH],
    ];
    for (const [method, path, body] of KEY_ROUTES) {
      for (const [label, authorization] of credentials) {
        const res = await send(method, path, body, authorization);
        expect(res.status, `${method} ${path} with ${label}`).toBe(401);
        if (method === "HEAD") continue;
        const text = await res.text();
        if (path.startsWith("/api/")) expect(JSON.parse(text).error, `${method} ${path}`).toMatch(/API key/);
        else if (path.startsWith("/v1/messages")) expect(JSON.parse(text).error.type, `${method} ${path}`).toBe("authentication_error");
        else expect(JSON.parse(text).error.code, `${method} ${path}`).toBe("invalid_api_key");
      }
    }
    expect(await emulator.requests()).toEqual([]);
  });

  it("on the Anthropic routes, in x-api-key too: 401 whatever its body, and nothing reaches any backend", async () => {
    const revoked = await revokedKey();
    for (const [method, path, body] of KEY_ROUTES.filter(([, path]) => path.startsWith("/v1/messages"))) {
      for (const key of [generateKey(), "sk-not-a-key", revoked, ADMIN_AUTH.slice("Bearer ".length)]) {
        const res = await gatewayWith({ BACKENDS: LLAMA_BACKENDS }, path, {
          method,
          headers: { authorization: "", "x-api-key": key, "content-type": "application/json" },
          body,
        });
        expect(res.status, `${path} with x-api-key ${key.slice(0, 8)}`).toBe(401);
        expect(((await res.json()) as any).error.type).toBe("authentication_error");
      }
    }
    expect(await emulator.requests()).toEqual([]);
  });

  it("is refused before its body is read: a body over MAX_BODY_BYTES is a 401, not a 413", async () => {
    const huge = JSON.stringify({ model: "llama3.2", messages: [user("x".repeat(4096))] });
    for (const path of ["/v1/chat/completions", "/api/chat", "/tokenize", "/v1/messages", "/v1/messages/count_tokens"]) {
      const res = await send("POST", path, huge, `Bearer ${generateKey()}`, { MAX_BODY_BYTES: "1KiB" });
      expect(res.status, path).toBe(401);
    }
    // With a valid key, the same body is measured and refused.
    const { key } = await createKey({ name: "measured" });
    expect((await send("POST", "/v1/chat/completions", huge, `Bearer ${key}`, { MAX_BODY_BYTES: "1KiB" })).status).toBe(413);
  });

  it("20 requests with a made-up key and unknown model names cause no /api/tags call at the home machine", async () => {
    for (let i = 0; i < 20; i++) {
      const res = await postJson("/v1/chat/completions", { model: `guess-${i}`, messages: [user("x")] }, { authorization: `Bearer ${generateKey()}` });
      expect(res.status).toBe(401);
    }
    expect(await emulator.requests()).toEqual([]);
  });

  it("does not learn whether llama.cpp backends exist: 401 with or without them; the admin-only extras need the admin token", async () => {
    for (const vars of [{}, { BACKENDS: "" }]) {
      expect((await send("GET", "/props", undefined, null, vars)).status).toBe(401);
      expect((await send("GET", "/slots", undefined, null, vars)).status).toBe(401);
      expect((await send("GET", "/metrics", undefined, `Bearer ${generateKey()}`, vars)).status).toBe(401);
    }
    const { key } = await createKey({ name: "no llama" });
    expect((await send("GET", "/props", undefined, `Bearer ${key}`, { BACKENDS: "" })).status).toBe(404);
    expect((await send("GET", "/slots", undefined, `Bearer ${key}`)).status).toBe(401);
  });

  it("admin-only native routes refuse keys before reading anything", async () => {
    const { key } = await createKey({ name: "not admin" });
    const res = await send("POST", "/api/pull", "{", `Bearer ${key}`);
    expect(res.status).toBe(401);
    expect(await emulator.requests()).toEqual([]);
  });
});

describe("a scoped key", () => {
  const scoped = () => createKey({ name: "scoped", models: ["llama3.2"], rpm: 1000 });

  it("gets the same 404 for a model that exists outside its list as for one that does not, with hints from its own list only", async () => {
    const { key } = await scoped();
    const auth = { authorization: `Bearer ${key}` };
    const outside = await postJson("/v1/chat/completions", { model: "qwen3:8b", messages: [user("x")] }, auth);
    const missing = await postJson("/v1/chat/completions", { model: "qwen3:9b", messages: [user("x")] }, auth);
    expect(outside.status).toBe(404);
    expect(missing.status).toBe(404);
    const [outsideError, missingError] = [((await outside.json()) as any).error, ((await missing.json()) as any).error];
    expect(outsideError).toStrictEqual({
      message: "The model 'qwen3:8b' does not exist or this key may not use it. Closest available models: llama3.2:latest.",
      type: "invalid_request_error",
      param: "model",
      code: "model_not_found",
    });
    expect(missingError).toStrictEqual({ ...outsideError, message: outsideError.message.replace("qwen3:8b", "qwen3:9b") });
    // An alias whose target is outside the list does not name that target either.
    const alias = await postJson("/v1/chat/completions", { model: "thinker", messages: [user("x")] }, auth);
    expect(((await alias.json()) as any).error.message).toBe(
      "The model 'thinker' does not exist or this key may not use it. Closest available models: llama3.2:latest.",
    );
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("is refused at its scope before its limits: the 404 is not counted, and carries the key's rate-limit headers", async () => {
    const { key } = await createKey({ name: "scoped rpm", models: ["llama3.2"], rpm: 2 });
    const auth = { authorization: `Bearer ${key}` };
    for (let i = 0; i < 3; i++) {
      const outside = await gatewayWith({}, "/v1/models/qwen3:8b", { headers: auth });
      expect(outside.status).toBe(404);
      expect(outside.headers.get("x-ratelimit-limit-requests")).toBe("2");
      expect(outside.headers.get("x-ratelimit-remaining-requests")).toBe("2");
      await outside.text();
    }
    const allowed = await gatewayWith({}, "/v1/models/llama3.2", { headers: auth });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get("x-ratelimit-remaining-requests")).toBe("1");
  });

  it("native routes and /v1/models/{id} answer that same 404 for a model outside the list", async () => {
    const { key } = await scoped();
    const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    for (const path of ["/api/chat", "/api/show", "/api/generate"]) {
      const res = await gatewayWith({}, path, { method: "POST", headers: auth, body: JSON.stringify({ model: "qwen3:8b", prompt: "x", messages: [] }) });
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as any).error, path).toBe(
        "The model 'qwen3:8b' does not exist or this key may not use it. Closest available models: llama3.2:latest.",
      );
    }
    const model = await gatewayWith({}, "/v1/models/qwen3:8b", { headers: auth });
    expect(model.status).toBe(404);
    expect(((await model.json()) as any).error.code).toBe("model_not_found");
    expect((await emulator.requests()).filter((request) => request.path !== "/api/tags")).toEqual([]);
  });

  it("cannot run another model by repeating `model` in another letter case on native routes (Go decodes keys case-insensitively, last wins)", async () => {
    const { key } = await scoped();
    const variants = [
      '{"model":"llama3.2","Model":"qwen3:8b","stream":false,"messages":[{"role":"user","content":"x"}]}',
      '{"model":"llama3.2","MODEL":"qwen3:8b","stream":false,"messages":[{"role":"user","content":"x"}]}',
      '{"model":"llama3.2","stream":false,"messages":[{"role":"user","content":"x"}],"moDel":"qwen3:8b"}',
    ];
    for (const body of variants) {
      const res = await gatewayWith({}, "/api/chat", { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body });
      // Go would run the last match, qwen3:8b, which this key may not use.
      expect(res.status, body).toBe(404);
      await res.text();
    }
    const allowed = '{"Model":"qwen3:8b","model":"llama3.2","stream":false,"messages":[{"role":"user","content":"x"}]}';
    const res = await gatewayWith({}, "/api/chat", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: allowed,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).model).toBe("llama3.2:latest");
    const forwarded = await emulator.requests("/api/chat");
    expect(forwarded).toHaveLength(1);
    expect(Object.keys(forwarded[0]!.body).filter((name) => name.toLowerCase() === "model")).toEqual(["model"]);
    expect(forwarded[0]!.body.model).toBe("llama3.2:latest");
  });
});
