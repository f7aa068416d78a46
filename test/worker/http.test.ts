import { beforeEach, describe, expect, it } from "vitest";
import { emulator, gateway, gatewayWith, postJson, postJsonWith, testKey, user } from "./helpers.ts";

beforeEach(() => emulator.reset());

describe("request ids", () => {
  it("echoes a safe x-request-id and makes one otherwise, on errors too", async () => {
    expect((await gateway("/v1/models", { headers: { "x-request-id": "abc-123" } })).headers.get("x-request-id")).toBe("abc-123");
    const unsafe = await gateway("/v1/models", { headers: { "x-request-id": "bad id\twith spaces" } });
    expect(unsafe.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    expect((await gateway("/nope")).headers.get("x-request-id")).toMatch(/^req_/);
  });
});

describe("CORS", () => {
  it("answers preflights without auth and never allows credentials", async () => {
    const res = await gateway("/v1/chat/completions", {
      method: "OPTIONS",
      headers: { authorization: "", origin: "https://app.example", "access-control-request-headers": "authorization, content-type, x-stainless-os" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-headers")).toBe("authorization, content-type, x-stainless-os");
    expect(res.headers.get("access-control-allow-methods")).toBe("GET, POST, DELETE, OPTIONS");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("adds CORS headers to answers and errors, exposing the request id", async () => {
    const res = await gateway("/v1/nothing", { headers: { origin: "https://app.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-expose-headers")).toContain("x-request-id");
  });

  it("with CORS_ORIGINS set, allows only the listed origins and varies on Origin", async () => {
    const vars = { CORS_ORIGINS: "https://a.example, https://b.example" };
    const allowed = await gatewayWith(vars, "/health", { headers: { origin: "https://b.example" } });
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://b.example");
    expect(allowed.headers.get("vary")).toBe("Origin");
    const other = await gatewayWith(vars, "/health", { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("upstream hygiene", () => {
  it("never forwards the client's Authorization, Cookie, Origin or CF-* headers", async () => {
    const key = await testKey();
    const res = await postJson(
      "/v1/chat/completions",
      { model: "llama3.2", messages: [user("x")] },
      {
        authorization: `Bearer ${key}`,
        cookie: "session=abc",
        origin: "https://evil.example",
        "cf-access-client-id": "client-supplied",
        "cf-connecting-ip": "203.0.113.9",
      },
    );
    expect(res.status).toBe(200); // the emulator answers an empty 403 to any foreign Origin, as Ollama does
    for (const recorded of await emulator.requests()) {
      const names = Object.keys(recorded.headers);
      expect(names).not.toContain("authorization");
      expect(names).not.toContain("cookie");
      expect(names).not.toContain("origin");
      // (workerd itself adds CF-Worker to every subrequest; that is the runtime, not the client)
      expect(names.filter((name) => name.startsWith("cf-") && name !== "cf-worker")).toEqual([]);
      expect(JSON.stringify(recorded)).not.toContain(key);
    }
  });

  it("sends the Access service-token headers when configured", async () => {
    const vars = { CF_ACCESS_CLIENT_ID: "id.access", CF_ACCESS_CLIENT_SECRET: "cfast_secret" };
    const res = await postJsonWith(vars, "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
    expect(res.status).toBe(200);
    const requests = await emulator.requests();
    // The model list, the model's facts (its context window, looked up once per isolate) and the chat.
    expect(requests.map((recorded) => recorded.path)).toEqual(["/api/tags", "/api/show", "/api/chat"]);
    for (const recorded of requests) {
      expect(recorded.headers["cf-access-client-id"]).toBe("id.access");
      expect(recorded.headers["cf-access-client-secret"]).toBe("cfast_secret");
    }
  });

  it("explains Ollama's empty 403 (Host check) instead of passing it on", async () => {
    // A Host the emulator's Host check rejects, exactly like a tunnel without httpHostHeader.
    const res = await postJsonWith({ OLLAMA_URL: "http://ollama.example.com" }, "/v1/chat/completions", { model: "llama3.2", messages: [user("x")] });
    expect([502]).toContain(res.status);
  });
});
