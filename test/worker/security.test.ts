/**
 * Security properties as tests: API keys are never stored or logged in clear; the admin API cannot be reached
 * without its token; secrets are compared in constant time; the client's credentials never travel upstream;
 * CORS never admits credentials.
 */

import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env.ts";
import { generateKey } from "../../src/keys/key-format.ts";
import { ADMIN_AUTH, createKey, emulator, freshState, gateway, gatewayWith, postJson, postJsonWith, testKey, user } from "./helpers.ts";

const bindings = env as Env;
const ADMIN_TOKEN = ADMIN_AUTH.slice("Bearer ".length);
const ACCESS = { CF_ACCESS_CLIENT_ID: "access-id.access", CF_ACCESS_CLIENT_SECRET: "cfast-secret-0123456789abcdef" };

beforeEach(() => emulator.reset());
afterEach(() => {
  vi.restoreAllMocks();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function admin(method: string, path: string, body?: unknown, authorization = ADMIN_AUTH): Promise<Response> {
  const headers: Record<string, string> = { authorization };
  if (body !== undefined) headers["content-type"] = "application/json";
  return exports.default.fetch(new Request(`https://gateway.test${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }));
}

async function hashOf(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** A key with one character changed and its checksum intact only by chance: the usual typo. */
function tampered(key: string): string {
  return key.slice(0, 10) + (key[10] === "A" ? "B" : "A") + key.slice(11);
}

/** Everything one Durable Object holds: its KV pairs and the rows of its own SQLite tables. */
async function dumpStorage(stub: DurableObjectStub): Promise<string> {
  return runInDurableObject(stub, async (_instance: unknown, state: DurableObjectState) => {
    const kv = [...state.storage.kv.list()];
    const tables = state.storage.sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .toArray()
      .map((row) => row.name)
      .filter((name) => !name.startsWith("_cf_") && !name.startsWith("sqlite_"));
    const rows = Object.fromEntries(tables.map((name) => [name, state.storage.sql.exec(`SELECT * FROM "${name}"`).toArray()]));
    return JSON.stringify({ kv, rows });
  });
}

/** Every object of every namespace the Worker binds, dumped. */
async function dumpAllStorage(): Promise<{ objects: number; text: string }> {
  const dumps: string[] = [];
  for (const namespace of [bindings.KEYS, bindings.KEY_REGISTRY, bindings.BACKEND_GATE] as unknown as DurableObjectNamespace[]) {
    for (const id of await listDurableObjectIds(namespace)) dumps.push(await dumpStorage(namespace.get(id)));
  }
  return { objects: dumps.length, text: dumps.join("\n") };
}

/** Every console call made while `work` runs, as text (errors with their stacks). */
async function captureLogs(work: () => Promise<void>): Promise<string> {
  const lines: string[] = [];
  const render = (value: unknown) =>
    value instanceof Error
      ? `${value.name}: ${value.message}\n${value.stack ?? ""}`
      : typeof value === "string"
        ? value
        : (JSON.stringify(value) ?? String(value));
  for (const level of ["log", "info", "warn", "error", "debug", "trace"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(`${level}: ${args.map(render).join(" ")}`);
    });
  }
  try {
    await work();
  } finally {
    vi.restoreAllMocks();
  }
  return lines.join("\n");
}

/** A whole key's life, used well and badly: every path that touches a key or the admin token. */
async function keyLifecycle(): Promise<{ kept: string; revoked: string }> {
  const kept = (await createKey({ name: "kept", models: ["llama3.2"] })).key as string;
  const doomed = await createKey({ name: "doomed" });
  const revoked = doomed.key as string;
  for (const key of [kept, revoked]) {
    expect((await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("hi")] }, bearer(key))).status).toBe(200);
    await (await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("hi")], stream: true }, bearer(key))).text();
    expect((await postJson("/api/chat", { model: "llama3.2", messages: [user("hi")], stream: false }, bearer(key))).status).toBe(200);
    expect((await gateway("/v1/models", { headers: bearer(key) })).status).toBe(200);
    expect((await gateway("/v1/models", { headers: bearer(tampered(key)) })).status).toBe(401);
    expect((await admin("GET", "/admin/keys", undefined, `Bearer ${key}`)).status).toBe(401);
    expect((await admin("POST", "/api/pull", { model: "x" }, `Bearer ${key}`)).status).toBe(401);
  }
  expect((await postJson("/v1/chat/completions", { model: "qwen3", messages: [user("hi")] }, bearer(kept))).status).toBe(404);
  expect((await gateway("/v1/models", { headers: bearer(generateKey()) })).status).toBe(401); // well-formed, unknown
  expect((await gateway("/v1/models", { headers: bearer(ADMIN_TOKEN) })).status).toBe(401);
  expect((await admin("GET", "/admin/keys", undefined, "Bearer test-admin-tokeN")).status).toBe(401);
  expect((await admin("GET", "/admin/keys")).status).toBe(200);
  expect((await admin("DELETE", `/admin/keys/${doomed.id}`)).status).toBe(200);
  expect((await gateway("/v1/models", { headers: bearer(revoked) })).status).toBe(401);
  // Our own failure paths log: a bad setting, with the Access secret configured and the key in the request.
  const misconfigured = await gatewayWith({ CF_ACCESS_CLIENT_SECRET: ACCESS.CF_ACCESS_CLIENT_SECRET }, "/v1/models", { headers: bearer(kept) });
  expect(misconfigured.status).toBe(500);
  expect(await misconfigured.text()).not.toContain(ACCESS.CF_ACCESS_CLIENT_SECRET);
  // The Access token in use, with the tunnel refusing it: the messages name the settings, never their values.
  await emulator.fault({ fault: { kind: "access-redirect" }, times: 1 });
  const redirected = await postJsonWith(ACCESS, "/v1/chat/completions", { model: "llama3.2", messages: [user("hi")] }, bearer(kept));
  expect(redirected.status).toBe(502);
  expect(await redirected.text()).not.toContain(ACCESS.CF_ACCESS_CLIENT_SECRET);
  return { kept, revoked };
}

describe("keys at rest and in logs", () => {
  it("no Durable Object stores a key in clear, only its SHA-256", async () => {
    const { kept, revoked } = await keyLifecycle();
    // The backend gate too: one request through it so it holds state.
    expect(
      (await postJsonWith({ BACKEND_MAX_CONCURRENCY: "2" }, "/v1/chat/completions", { model: "llama3.2", messages: [user("hi")] }, bearer(kept))).status,
    ).toBe(200);
    const { objects, text } = await dumpAllStorage();
    expect(objects).toBeGreaterThanOrEqual(3); // key objects, the registry, the gate
    expect(text).toContain(await hashOf(kept)); // the dump does see the keys' records
    for (const key of [kept, revoked, await testKey()]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(key.slice(3)); // without its prefix
      expect(text).not.toContain(key.slice(3, 35)); // its random part alone
    }
    expect(text).not.toContain(ADMIN_TOKEN);
  });

  it("nothing logged while keys are created, used, misused and revoked holds a key, the admin token or the Access secret", async () => {
    let keys = { kept: "", revoked: "" };
    const logs = await captureLogs(async () => {
      keys = await keyLifecycle();
    });
    expect(logs).toContain("Invalid configuration"); // the capture works: our failure path did log
    for (const secret of [keys.kept, keys.revoked, keys.kept.slice(3, 35), keys.revoked.slice(3, 35), ADMIN_TOKEN, ACCESS.CF_ACCESS_CLIENT_SECRET]) {
      expect(logs).not.toContain(secret);
    }
  });
});

describe("the admin API", () => {
  const ADMIN_ROUTES: [method: string, path: string, body?: unknown][] = [
    ["POST", "/admin/keys", { name: "intruder" }],
    ["GET", "/admin/keys"],
    ["GET", "/admin/gate"],
    ["GET", "/admin/usage"],
    ["GET", "/admin/models"],
    ["DELETE", "/admin/keys/KEY_ID"],
    ["POST", "/api/pull", { model: "llama3.2" }],
    ["POST", "/api/push", { model: "llama3.2" }],
    ["POST", "/api/create", { model: "mine", from: "llama3.2" }],
    ["POST", "/api/copy", { source: "llama3.2", destination: "stolen" }],
    ["DELETE", "/api/delete", { model: "llama3.2" }],
    ["HEAD", `/api/blobs/sha256:${"a".repeat(64)}`],
    ["POST", `/api/blobs/sha256:${"a".repeat(64)}`, "bytes"],
  ];

  function send(
    vars: Record<string, string> | null,
    [method, path, body]: (typeof ADMIN_ROUTES)[number],
    keyId: string,
    authorization?: string,
  ): Promise<Response> {
    const headers: Record<string, string> = authorization === undefined ? { authorization: "" } : { authorization };
    const init: RequestInit = { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) };
    const target = path.replace("KEY_ID", keyId);
    return vars ? gatewayWith(vars, target, init) : exports.default.fetch(new Request(`https://gateway.test${target}`, init));
  }

  it("answers 401 to no token, a wrong one, a near miss and a user key, on every admin route; nothing is done", async () => {
    const victim = await createKey({ name: "victim" });
    const user = (await createKey({ name: "user" })).key as string;
    const before = ((await (await admin("GET", "/admin/keys")).json()) as { data: unknown[] }).data.length;
    const attempts: (string | undefined)[] = [
      undefined,
      "",
      "Bearer",
      "Bearer wrong",
      "Bearer test-admin-token-0123456789abcdeF",
      "Bearer test-admin-token-0123456789abcde",
      "Bearer test-admin-token-0123456789abcdef2",
      "Bearer test-admin-token-0123456789abcdef\u0001",
      `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}`,
      ADMIN_TOKEN,
      `Token ${ADMIN_TOKEN}`,
      `Bearer ${user}`,
    ];
    for (const route of ADMIN_ROUTES) {
      for (const authorization of attempts) {
        const res = await send(null, route, victim.id, authorization);
        const what = `${route[0]} ${route[1]} with ${JSON.stringify(authorization)}`;
        expect(res.status, what).toBe(401);
        if (route[0] === "HEAD") continue;
        const body = (await res.json()) as { error: unknown };
        if (route[1].startsWith("/api/")) expect(typeof body.error, what).toBe("string");
        else expect(body.error, what).toMatchObject({ type: "invalid_request_error", code: expect.stringMatching(/^invalid_(admin_token|api_key)$/) });
      }
    }
    expect(await emulator.requests()).toEqual([]);
    expect(((await (await admin("GET", "/admin/keys")).json()) as { data: unknown[] }).data.length).toBe(before);
    expect((await gateway("/v1/models", { headers: bearer(victim.key) })).status).toBe(200);
  });

  it("does not exist (404) when ADMIN_TOKEN is unset or blank, whatever the caller sends", async () => {
    const victim = await createKey({ name: "victim" });
    for (const unset of ["", "   "]) {
      for (const route of ADMIN_ROUTES) {
        for (const authorization of [undefined, ADMIN_AUTH, "Bearer ", `Bearer ${victim.key}`]) {
          const res = await send({ ADMIN_TOKEN: unset }, route, victim.id, authorization);
          expect(res.status, `${route[0]} ${route[1]} (ADMIN_TOKEN=${JSON.stringify(unset)}) with ${JSON.stringify(authorization)}`).toBe(404);
        }
      }
    }
    expect(await emulator.requests()).toEqual([]);
    expect((await gateway("/v1/models", { headers: bearer(victim.key) })).status).toBe(200);
  });

  it("the console page (GET /admin) is served to anyone, holds no secret, and does not exist without ADMIN_TOKEN", async () => {
    const victim = await createKey({ name: "victim" });
    const page = await exports.default.fetch(new Request("https://gateway.test/admin"));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    const html = await page.text();
    for (const secret of [ADMIN_TOKEN, victim.key, victim.id]) expect(html).not.toContain(secret);
    for (const unset of ["", "   "]) {
      const absent = await gatewayWith({ ADMIN_TOKEN: unset }, "/admin", { headers: { authorization: ADMIN_AUTH } });
      expect(absent.status).toBe(404);
      expect(((await absent.json()) as any).error.type).toBe("invalid_request_error");
    }
    expect(await emulator.requests()).toEqual([]);
  });

  it("the admin token is not an API key", async () => {
    for (const path of ["/v1/models", "/api/tags"]) expect((await gateway(path, { headers: { authorization: ADMIN_AUTH } })).status, path).toBe(401);
    expect((await postJson("/v1/chat/completions", { model: "llama3.2", messages: [user("hi")] }, { authorization: ADMIN_AUTH })).status).toBe(401);
  });
});

describe("constant-time comparisons", () => {
  it("the admin token is compared with crypto.subtle.timingSafeEqual, over digests of equal length whatever was sent", async () => {
    const spy = vi.spyOn(crypto.subtle, "timingSafeEqual");
    for (const token of [ADMIN_TOKEN, "t", "test-admin-token-0123456789abcdeF", "x".repeat(500)]) {
      spy.mockClear();
      const res = await admin("GET", "/admin/keys", undefined, `Bearer ${token}`);
      expect(res.status, token).toBe(token === ADMIN_TOKEN ? 200 : 401);
      expect(spy, token).toHaveBeenCalledTimes(1);
      const [left, right] = spy.mock.calls[0]! as unknown as [ArrayBufferView, ArrayBufferView];
      expect([left.byteLength, right.byteLength], token).toEqual([32, 32]);
    }
  });

  it("an API key's hash is compared with crypto.subtle.timingSafeEqual", async () => {
    const key = (await createKey({ name: "timed" })).key as string;
    const spy = vi.spyOn(crypto.subtle, "timingSafeEqual");
    expect((await gateway("/v1/models", { headers: bearer(key) })).status).toBe(200);
    expect(spy).toHaveBeenCalled();
    const [left, right] = spy.mock.calls.at(-1)! as unknown as [ArrayBufferView, ArrayBufferView];
    expect(left.byteLength).toBe(right.byteLength);
    expect(left.byteLength).toBe(64); // the hex SHA-256 of the key
  });
});

describe("the client's credentials stay at the edge", () => {
  const CLIENT_HEADERS = (key: string): Record<string, string> => ({
    authorization: `Bearer ${key}`,
    cookie: "session=client-cookie-value",
    origin: "https://evil.example",
    "x-api-key": key,
    "proxy-authorization": "Basic Y2xpZW50OnNlY3JldA==",
    "cf-connecting-ip": "203.0.113.9",
    "cf-ipcountry": "XX",
    "cf-ray": "0123456789abcdef-AMS",
    "cf-access-client-id": "client-supplied-id",
    "cf-access-client-secret": "client-supplied-secret",
    "cf-access-jwt-assertion": "client.jwt.value",
  });
  const SECRET_VALUES = ["client-cookie-value", "Y2xpZW50OnNlY3JldA==", "client-supplied", "client.jwt.value", "evil.example", "203.0.113.9"];
  const FORBIDDEN_NAMES = ["authorization", "cookie", "origin", "x-api-key", "proxy-authorization"];

  async function expectCleanUpstream(secrets: string[], access: boolean): Promise<void> {
    const requests = await emulator.requests();
    expect(requests.length).toBeGreaterThan(0);
    for (const recorded of requests) {
      const names = Object.keys(recorded.headers);
      const where = `${recorded.method} ${recorded.path}`;
      for (const name of FORBIDDEN_NAMES) expect(names, where).not.toContain(name);
      // workerd adds cf-worker to every subrequest; the Access pair is ours when configured, never the client's.
      const cf = names.filter((name) => name.startsWith("cf-") && name !== "cf-worker").sort();
      expect(cf, where).toEqual(access ? ["cf-access-client-id", "cf-access-client-secret"] : []);
      if (access) expect(recorded.headers["cf-access-client-secret"], where).toBe(ACCESS.CF_ACCESS_CLIENT_SECRET);
      const dump = JSON.stringify(recorded);
      for (const secret of secrets) expect(dump, where).not.toContain(secret);
    }
  }

  const ROUTES = (blobDigest: string): [method: string, path: string, body: unknown, asAdmin: boolean][] => [
    ["POST", "/v1/chat/completions", { model: "llama3.2", messages: [user("hi")] }, false],
    ["POST", "/v1/chat/completions", { model: "llama3.2", messages: [user("hi")], stream: true }, false],
    ["POST", "/v1/completions", { model: "llama3.2", prompt: "hi" }, false],
    ["POST", "/v1/completions", { model: "llama3.2", prompt: "hi", stream: true }, false],
    ["POST", "/v1/embeddings", { model: "nomic-embed-text", input: ["a", "b"] }, false],
    ["GET", "/v1/models", undefined, false],
    ["GET", "/v1/models/llama3.2", undefined, false],
    ["GET", "/health", undefined, false],
    ["GET", "/api/tags", undefined, false],
    ["HEAD", "/api/tags", undefined, false],
    ["GET", "/api/version", undefined, false],
    ["GET", "/api/ps", undefined, false],
    ["POST", "/api/show", { model: "llama3.2" }, false],
    ["POST", "/api/chat", { model: "llama3.2", messages: [user("hi")] }, false],
    ["POST", "/api/generate", { model: "llama3.2", prompt: "hi", stream: false }, false],
    ["POST", "/api/embed", { model: "nomic-embed-text", input: "hi" }, false],
    ["POST", "/api/pull", { model: "llama3.2" }, true],
    ["POST", "/api/push", { model: "llama3.2", stream: false }, true],
    ["POST", "/api/create", { model: "mine", from: "llama3.2" }, true],
    ["POST", "/api/copy", { source: "llama3.2", destination: "copied" }, true],
    ["DELETE", "/api/delete", { model: "llama3.2" }, true],
    ["HEAD", `/api/blobs/${blobDigest}`, undefined, true],
    ["POST", `/api/blobs/${blobDigest}`, "blob", true],
  ];

  for (const access of [false, true]) {
    it(`are never forwarded, on any route, native and admin ones included${access ? " (with an Access service token configured)" : ""}`, async () => {
      const key = await testKey();
      const digest = `sha256:${await hashOf("blob")}`;
      for (const [method, path, body, asAdmin] of ROUTES(digest)) {
        await emulator.reset();
        freshState(); // /health reuses its probes for a few seconds
        const headers = CLIENT_HEADERS(asAdmin ? ADMIN_TOKEN : key);
        const init: RequestInit = { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) };
        const res = await gatewayWith(access ? ACCESS : {}, path, init);
        await res.arrayBuffer();
        // A foreign Origin reaching Ollama would be its empty 403, which the gateway reports as a 502. (HEAD of a
        // blob not uploaded yet is Ollama's own 404.)
        const expected = method === "HEAD" && path.startsWith("/api/blobs/") ? [404] : [200, 201];
        expect(expected, `${method} ${path} answered ${res.status}`).toContain(res.status);
        await expectCleanUpstream([key, ADMIN_TOKEN, ...SECRET_VALUES], access);
      }
    });
  }

  it("the admin key routes never call the backend at all", async () => {
    const created = await admin("POST", "/admin/keys", { name: "quiet" });
    const { id } = (await created.json()) as { id: string };
    await admin("GET", "/admin/keys");
    await admin("DELETE", `/admin/keys/${id}`);
    expect(await emulator.requests()).toEqual([]);
  });
});

describe("CORS", () => {
  const ORIGIN = "https://app.example";

  async function answers(vars: Record<string, string> | null, origin: string): Promise<Response[]> {
    const key = await testKey();
    const send = (path: string, init: RequestInit) =>
      vars ? gatewayWith(vars, path, init) : exports.default.fetch(new Request(`https://gateway.test${path}`, init));
    const withOrigin = (headers: Record<string, string>) => ({ ...headers, origin });
    return Promise.all([
      send("/v1/chat/completions", {
        method: "OPTIONS",
        headers: withOrigin({ "access-control-request-method": "POST", "access-control-request-headers": "authorization, cookie, content-type" }),
      }),
      send("/v1/models", { headers: withOrigin({ authorization: `Bearer ${key}`, cookie: "a=b" }) }),
      send("/v1/models", { headers: withOrigin({ authorization: "Bearer wrong" }) }),
      send("/api/tags", { headers: withOrigin({ authorization: `Bearer ${key}` }) }),
      send("/nowhere", { headers: withOrigin({}) }),
      send("/health", { headers: withOrigin({}) }),
    ]);
  }

  // The admin API and the console serve the console's own page, on this origin; CORS_ORIGINS is for the keys' clients.
  it("never opens the admin API or the console to another origin, whatever CORS_ORIGINS says", async () => {
    const admin = { authorization: ADMIN_AUTH, origin: ORIGIN };
    for (const vars of [{}, { CORS_ORIGINS: ORIGIN }]) {
      for (const path of ["/admin", "/admin/keys", "/admin/usage", "/admin/gate"]) {
        const res = await gatewayWith(vars, path, { headers: admin });
        expect(res.status, path).toBe(200);
        expect(res.headers.get("access-control-allow-origin"), path).toBeNull();
        await res.arrayBuffer();
        const preflight = await gatewayWith(vars, path, { method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": "POST" } });
        expect(preflight.headers.get("access-control-allow-origin"), path).toBeNull();
        expect(preflight.headers.get("access-control-allow-methods"), path).toBeNull();
      }
    }
  });

  it("never allows credentials, and with CORS_ORIGINS=* never echoes the caller's origin", async () => {
    for (const origin of [ORIGIN, "null", "https://evil.example"]) {
      for (const res of await answers(null, origin)) {
        expect(res.headers.get("access-control-allow-credentials"), origin).toBeNull();
        expect(res.headers.get("access-control-allow-origin"), origin).toBe("*");
        await res.arrayBuffer();
      }
    }
  });

  it("with CORS_ORIGINS set, echoes only an exact listed origin, and never a foreign one or credentials", async () => {
    const vars = { CORS_ORIGINS: `${ORIGIN}, https://b.example` };
    for (const res of await answers(vars, ORIGIN)) {
      expect(res.headers.get("access-control-allow-origin")).toBe(ORIGIN);
      expect(res.headers.get("vary")).toContain("Origin");
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
      await res.arrayBuffer();
    }
    const foreign = [
      "https://evil.example",
      "null",
      "https://app.example.evil.example",
      "https://evil.example/https://app.example",
      "https://app.exampl",
      "HTTPS://APP.EXAMPLE",
      "https://app.example/",
      "http://app.example",
      "https://app.example:443",
      `${ORIGIN}, https://evil.example`,
      "*",
    ];
    for (const origin of foreign) {
      for (const res of await answers(vars, origin)) {
        expect(res.headers.get("access-control-allow-origin"), origin).toBeNull();
        expect(res.headers.get("access-control-allow-credentials"), origin).toBeNull();
        expect(res.headers.get("access-control-allow-methods"), origin).toBeNull();
        await res.arrayBuffer();
      }
    }
  });
});
