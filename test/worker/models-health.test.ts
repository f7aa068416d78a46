import { beforeEach, describe, expect, it } from "vitest";
import { ADMIN_AUTH, emulator, freshState, gateway, gatewayWith, testKey } from "./helpers.ts";

beforeEach(() => emulator.reset());

describe("GET /v1/models", () => {
  it("lists installed models, then the aliases whose target is installed", async () => {
    const res = await gateway("/v1/models");
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.object).toBe("list");
    expect(body.data.map((model: any) => model.id)).toEqual([
      "llama3.2:latest",
      "llama3.3:70b-instruct-q4_K_M",
      "qwen3:8b",
      "llava:7b",
      "nomic-embed-text:latest",
      "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M",
      "gpt-4o-mini",
      "thinker",
    ]);
    expect(body.data[0]).toEqual({ id: "llama3.2:latest", object: "model", created: Date.parse("2026-10-06T12:00:00+02:00") / 1000, owned_by: "library" });
    expect(body.data[5].owned_by).toBe("unsloth");
    expect(body.data[6]).toMatchObject({ id: "gpt-4o-mini", owned_by: "library", created: body.data[0].created });
  });
});

describe("GET /v1/models/{model}", () => {
  it("retrieves ids containing ':' and '/' and echoes the id as sent", async () => {
    const res = await gateway("/v1/models/hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M",
      object: "model",
      created: expect.any(Number),
      owned_by: "unsloth",
    });
    const [show] = await emulator.requests("/api/show");
    expect(show!.body).toEqual({ model: "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M" });
  });

  it("resolves aliases and untagged names, and accepts a percent-encoded id", async () => {
    expect(((await (await gateway("/v1/models/gpt-4o-mini")).json()) as any).id).toBe("gpt-4o-mini");
    expect(((await (await gateway("/v1/models/llama3.3")).json()) as any).id).toBe("llama3.3");
    expect(((await (await gateway("/v1/models/qwen3%3A8b")).json()) as any).id).toBe("qwen3:8b");
    expect((await emulator.requests("/api/show")).map((r) => r.body.model)).toEqual(["llama3.2:latest", "llama3.3:70b-instruct-q4_K_M", "qwen3:8b"]);
  });

  it("400 for a model id that is not valid percent-encoding", async () => {
    const res = await gateway("/v1/models/bad%E0%A4%A");
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ param: "model", type: "invalid_request_error" });
  });

  it("404 model_not_found for an unknown model", async () => {
    const res = await gateway("/v1/models/mistral:7b");
    expect(res.status).toBe(404);
    expect(((await res.json()) as any).error).toMatchObject({ code: "model_not_found", type: "invalid_request_error" });
  });
});

describe("GET /health", () => {
  const anonymous = { authorization: "" };
  const version = async () => (await emulator.requests("/api/version")).length;

  it("tells anyone only the overall status", async () => {
    const res = await gatewayWith({}, "/health", { headers: anonymous });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ status: "ok" });
  });

  it("shows each backend to the admin token only; a wrong token or an API key gets the anonymous answer", async () => {
    const res = await gatewayWith({}, "/health", { headers: { authorization: ADMIN_AUTH } });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await res.json()).toEqual({ status: "ok", backends: [{ name: "ollama", kind: "ollama", status: "ok", latency_ms: expect.any(Number) }] });
    for (const authorization of [`${ADMIN_AUTH}x`, ADMIN_AUTH.slice(0, -1), "Bearer wrong", `Bearer ${await testKey()}`]) {
      const other = await gatewayWith({}, "/health", { headers: { authorization } });
      expect(other.status, authorization).toBe(200);
      expect(await other.json(), authorization).toEqual({ status: "ok" });
    }
  });

  it("10 anonymous calls in a row, or 10 at once, probe the backend at most once", async () => {
    for (let i = 0; i < 10; i++) expect(await (await gatewayWith({}, "/health", { headers: anonymous })).json()).toEqual({ status: "ok" });
    expect(await version()).toBe(1);
    freshState();
    await emulator.reset();
    const answers = await Promise.all(Array.from({ length: 10 }, () => gatewayWith({}, "/health", { headers: anonymous })));
    for (const res of answers) expect(await res.json()).toEqual({ status: "ok" });
    expect(await version()).toBe(1);
  });

  it("reports down with 503 when the backend does not answer, to anyone", async () => {
    const res = await gatewayWith({ OLLAMA_URL: "http://127.0.0.1:9" }, "/health", { headers: anonymous });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "down" });
    const admin = await gatewayWith({ OLLAMA_URL: "http://127.0.0.1:9" }, "/health", { headers: { authorization: ADMIN_AUTH } });
    expect(admin.status).toBe(503);
    expect(await admin.json()).toMatchObject({ status: "down", backends: [{ name: "ollama", status: "down" }] });
  });
});
