import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env.ts";
import { KeyObject } from "../../src/keys/key-object.ts";
import { LIMITER_WRITE_DELAY_MS } from "../../src/limits/deferred-write.ts";
import { ADMIN_AUTH, createKey, emulator, gateway, gatewayWith, postJson, user } from "./helpers.ts";

const bindings = env as Env;

beforeEach(() => emulator.reset());

function admin(method: string, path: string, body?: unknown, authorization = ADMIN_AUTH): Promise<Response> {
  const headers: Record<string, string> = { authorization };
  if (body !== undefined) headers["content-type"] = "application/json";
  return exports.default.fetch(new Request(`https://gateway.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function hashOf(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

describe("admin API", () => {
  it("creates a key, shown once, with the configured default limits", async () => {
    const res = await admin("POST", "/admin/keys", { name: "laptop" });
    expect(res.status).toBe(201);
    const created = (await res.json()) as any;
    expect(created.key).toMatch(/^sk-[0-9A-Za-z]{38}$/);
    expect(created).toEqual({
      id: expect.stringMatching(/^key_[0-9A-Za-z]{16}$/),
      key: created.key,
      name: "laptop",
      prefix: created.key.slice(0, 9),
      models: [],
      rpm: 60,
      tpm: 200000,
      max_concurrency: 4,
      expires_at: null,
      created_at: expect.any(String),
    });
  });

  it("lists keys with limits and usage, never the secret or its hash", async () => {
    const created = await createKey({ name: "phone", models: ["llama3.2"], rpm: 5, tpm: 5000, max_concurrency: 2 });
    await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("hi")] }, bearer(created.key));
    await expect
      .poll(async () => {
        const list = (await (await admin("GET", "/admin/keys")).json()) as any;
        return list.data.find((key: any) => key.id === created.id)?.usage;
      })
      .toEqual({ requests: 1, prompt_tokens: 2, completion_tokens: 4 });
    const list = (await (await admin("GET", "/admin/keys")).json()) as any;
    const entry = list.data.find((key: any) => key.id === created.id);
    expect(entry).toEqual({
      id: created.id,
      name: "phone",
      prefix: created.prefix,
      models: ["llama3.2"],
      rpm: 5,
      tpm: 5000,
      max_concurrency: 2,
      expires_at: null,
      created_at: created.created_at,
      last_used_at: expect.any(String),
      usage: { requests: 1, prompt_tokens: 2, completion_tokens: 4 },
      in_flight: 0,
    });
    const text = JSON.stringify(list);
    expect(text).not.toContain(created.key);
    expect(text).not.toContain(await hashOf(created.key));
  });

  it("revokes a key at once: the very next request gets 401", async () => {
    const created = await createKey({ name: "old" });
    expect((await gateway("/v1/models", { headers: bearer(created.key) })).status).toBe(200);
    const res = await admin("DELETE", `/admin/keys/${created.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: created.id, object: "api_key", deleted: true });
    const after = await gateway("/v1/models", { headers: bearer(created.key) });
    expect(after.status).toBe(401);
    expect(((await after.json()) as any).error).toMatchObject({ code: "invalid_api_key", message: "Incorrect API key provided." });
    expect((await admin("DELETE", `/admin/keys/${created.id}`)).status).toBe(404);
  });

  it("revoking empties the key before unlisting it: a failed revoke leaves the key listed, and a retry finishes it", async () => {
    const created = await createKey({ name: "stubborn" });
    const listed = async () => ((await (await admin("GET", "/admin/keys")).json()) as any).data.some((key: any) => key.id === created.id);
    const revoke = vi.spyOn(KeyObject.prototype, "revoke").mockRejectedValueOnce(new Error("storage is unavailable"));
    try {
      const failed = await admin("DELETE", `/admin/keys/${created.id}`);
      expect(failed.status).toBeGreaterThanOrEqual(500);
      expect(revoke).toHaveBeenCalledTimes(1);
    } finally {
      revoke.mockRestore();
    }
    // The key still works, so the admin must still see it, and be able to revoke it.
    expect(await listed()).toBe(true);
    expect((await gateway("/v1/models", { headers: bearer(created.key) })).status).toBe(200);
    expect((await admin("DELETE", `/admin/keys/${created.id}`)).status).toBe(200);
    expect(await listed()).toBe(false);
    expect((await gateway("/v1/models", { headers: bearer(created.key) })).status).toBe(401);
    expect((await admin("DELETE", `/admin/keys/${created.id}`)).status).toBe(404);
  });

  it("validates the body, with param paths", async () => {
    const cases: [unknown, string][] = [
      [{}, "name"],
      [{ name: "x", rpm: 0 }, "rpm"],
      [{ name: "x", models: [""] }, "models[0]"],
      [{ name: "x", expires_at: "tomorrow" }, "expires_at"],
      [{ name: "x", expires_at: "2001-01-01T00:00:00Z" }, "expires_at"],
      [{ name: "x", admin: true }, ""],
    ];
    for (const [body, param] of cases) {
      const res = await admin("POST", "/admin/keys", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as any).error.param ?? "").toBe(param);
    }
  });

  it("needs the admin token (compared in constant time) and does not exist without one", async () => {
    expect((await admin("GET", "/admin/keys", undefined, "")).status).toBe(401);
    const wrong = await admin("GET", "/admin/keys", undefined, "Bearer test-admin-token-0123456789abcdeF");
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as any).error.code).toBe("invalid_admin_token");
    const created = await createKey({ name: "user" });
    expect((await admin("GET", "/admin/keys", undefined, `Bearer ${created.key}`)).status).toBe(401);
    const absent = await gatewayWith({ ADMIN_TOKEN: "" }, "/admin/keys", { headers: { authorization: ADMIN_AUTH } });
    expect(absent.status).toBe(404);
  });
});

describe("keys at request time", () => {
  it("stores only the SHA-256 of a key", async () => {
    const created = await createKey({ name: "stored" });
    const hash = await hashOf(created.key);
    const stub = bindings.KEYS.get(bindings.KEYS.idFromName(hash));
    const stored = await runInDurableObject(stub, async (_instance: KeyObject, state) => JSON.stringify([...state.storage.kv.list()]));
    expect(stored).toContain(hash);
    expect(stored).not.toContain(created.key);
    expect(stored).not.toContain(created.key.slice(3));
  });

  it("decides from memory and writes the limiter state within LIMITER_WRITE_DELAY_MS", async () => {
    const created = await createKey({ name: "written soon", rpm: 100 });
    const stub = bindings.KEYS.get(bindings.KEYS.idFromName(await hashOf(created.key)));
    const stored = () =>
      runInDurableObject(stub, async (_instance: KeyObject, state) => {
        const charges = state.storage.kv.get<{ requests: { amount: number }[] }>("state")?.requests ?? [];
        return charges.reduce((n, charge) => n + charge.amount, 0);
      });
    for (let i = 1; i <= 3; i++) {
      const res = await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("x")] }, bearer(created.key));
      expect(res.status).toBe(200);
      expect(res.headers.get("x-ratelimit-remaining-requests")).toBe(String(100 - i));
      await res.text();
    }
    await new Promise((resolve) => setTimeout(resolve, LIMITER_WRITE_DELAY_MS + 50));
    expect(await stored()).toBe(3);
  });

  it("401 for missing, malformed, unknown and expired keys", async () => {
    expect((await gateway("/v1/models", { headers: { authorization: "" } })).status).toBe(401);
    expect((await gateway("/v1/models", { headers: bearer("sk-not-a-real-key") })).status).toBe(401);
    const real = await createKey({ name: "real" });
    const tampered = real.key.slice(0, 10) + (real.key[10] === "A" ? "B" : "A") + real.key.slice(11);
    expect((await gateway("/v1/models", { headers: bearer(tampered) })).status).toBe(401);

    const soon = await createKey({ name: "soon", expires_at: new Date(Date.now() + 1200).toISOString() });
    expect((await gateway("/v1/models", { headers: bearer(soon.key) })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1300));
    const expired = await gateway("/v1/models", { headers: bearer(soon.key) });
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as any).error).toMatchObject({ code: "invalid_api_key", message: "This API key has expired." });
    // The next request is refused from the isolate's memory of refused keys, with the same answer.
    const again = await gateway("/v1/models", { headers: bearer(soon.key) });
    expect(again.status).toBe(401);
    expect(((await again.json()) as any).error).toMatchObject({ code: "invalid_api_key", message: "This API key has expired." });
  });

  it("404 model_not_found outside the key's allow-list, as for a missing model; the model list shows only allowed models", async () => {
    const created = await createKey({ name: "qwen only", models: ["qwen3"] });
    const denied = await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("x")] }, bearer(created.key));
    expect(denied.status).toBe(404);
    expect(((await denied.json()) as any).error).toStrictEqual({
      message: "The model 'llama3.2' does not exist or this key may not use it. Closest available models: qwen3:8b.",
      type: "invalid_request_error",
      code: "model_not_found",
      param: "model",
    });
    expect(await emulator.requests("/api/chat")).toEqual([]);
    const allowed = await postJson("/v1/chat/completions", { model: "qwen3:8b", messages: [user("x")] }, bearer(created.key));
    expect(allowed.status).toBe(200);
    const list = (await (await gateway("/v1/models", { headers: bearer(created.key) })).json()) as any;
    expect(list.data.map((model: any) => model.id)).toEqual(["qwen3:8b", "thinker"]);
  });
});
