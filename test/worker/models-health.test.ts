import { beforeEach, describe, expect, it } from "vitest";
import { emulator, gateway, gatewayWith } from "./helpers.ts";

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
  it("reports ok without auth", async () => {
    const res = await gateway("/health", { headers: { authorization: "" } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toEqual({ status: "ok", backends: [{ name: "ollama", kind: "ollama", status: "ok", latency_ms: expect.any(Number) }] });
  });

  it("reports down with 503 when the backend does not answer", async () => {
    const res = await gatewayWith({ OLLAMA_URL: "http://127.0.0.1:9" }, "/health");
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).status).toBe("down");
  });
});
