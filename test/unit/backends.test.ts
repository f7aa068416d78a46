import { describe, expect, it } from "vitest";
import { type BackendConfig, parseBackends } from "../../src/backends/config.ts";
import { candidatesFor, rankCandidates, servedModels } from "../../src/backends/routing.ts";
import { ConfigError } from "../../src/config-parse.ts";

const ACCESS = { "CF-Access-Client-Id": "id", "CF-Access-Client-Secret": "secret" };

function configError(raw: string, env: Record<string, unknown> = {}): string {
  try {
    parseBackends(raw, "http://127.0.0.1:11434", {}, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("BACKENDS", () => {
  it("without BACKENDS, OLLAMA_URL is one Ollama backend with the Access headers", () => {
    expect(parseBackends(undefined, "https://ollama.example.com", ACCESS, {})).toEqual([
      { name: "ollama", kind: "ollama", url: "https://ollama.example.com", models: null, maxConcurrency: null, apiKey: null, headers: ACCESS },
    ]);
  });

  it("parses the interface's example, resolving $NAME from vars and secrets", () => {
    const raw = JSON.stringify([
      { name: "desk", kind: "ollama", url: "https://desk.example.com/", headers: { "CF-Access-Client-Id": "$DESK_ID", "CF-Access-Client-Secret": "$DESK_SECRET" } },
      { name: "laptop", kind: "llamacpp", url: "https://laptop.example.com", api_key: "$LAPTOP_KEY", models: ["qwen2.5"], max_concurrency: 2 },
    ]);
    const env = { DESK_ID: "desk-id", DESK_SECRET: "desk-secret", LAPTOP_KEY: "llama-key" };
    expect(parseBackends(raw, "ignored", ACCESS, env)).toEqual([
      {
        name: "desk",
        kind: "ollama",
        url: "https://desk.example.com",
        models: null,
        maxConcurrency: null,
        apiKey: null,
        headers: { "CF-Access-Client-Id": "desk-id", "CF-Access-Client-Secret": "desk-secret" },
      },
      { name: "laptop", kind: "llamacpp", url: "https://laptop.example.com", models: ["qwen2.5"], maxConcurrency: 2, apiKey: "llama-key", headers: ACCESS },
    ]);
  });

  it("fails loudly, naming BACKENDS and the place", () => {
    expect(configError("[oops")).toBe("Invalid configuration BACKENDS: not valid JSON");
    expect(configError("[]")).toBe("Invalid configuration BACKENDS: list at least one backend");
    expect(configError('[{"name":"a","kind":"vllm","url":"http://x"}]')).toMatch(/^Invalid configuration BACKENDS: .* at \[0\]\.kind$/);
    expect(configError('[{"name":"a","kind":"ollama","url":"http://x","extra":1}]')).toMatch(/^Invalid configuration BACKENDS: /);
    expect(configError('[{"name":"a","kind":"ollama","url":"http://x"},{"name":"a","kind":"ollama","url":"http://y"}]')).toBe(
      'Invalid configuration BACKENDS: the name "a" is used twice',
    );
    expect(configError('[{"name":"a","kind":"llamacpp","url":"http://x","api_key":"$MISSING"}]')).toBe(
      "Invalid configuration BACKENDS: [0].api_key refers to $MISSING, which is not set (add it as a var or a secret)",
    );
    expect(configError('[{"name":"a","kind":"ollama","url":"ftp://x"}]')).toBe("Invalid configuration BACKENDS[0].url: must be an http(s) URL");
  });
});

const backend = (name: string, models: string[] | null = null): BackendConfig => ({
  name,
  kind: "ollama",
  url: `http://${name}`,
  models,
  maxConcurrency: null,
  apiKey: null,
  headers: {},
});

describe("routing", () => {
  const desk = backend("desk");
  const laptop = backend("laptop");
  const served = new Map([
    ["desk", ["llama3.2:latest", "qwen3:8b"]],
    ["laptop", ["qwen3:8b", "phi4:14b"]],
  ]);

  it("narrows a backend's list to its `models` setting (untagged entries allow every tag)", () => {
    expect(servedModels(backend("x", ["qwen3", "phi4:14b"]), ["qwen3:8b", "qwen3:14b", "phi4:14b", "phi4:3b", "llama3.2:latest"])).toEqual([
      "qwen3:8b",
      "qwen3:14b",
      "phi4:14b",
    ]);
    expect(servedModels(backend("x"), ["a:1"])).toEqual(["a:1"]);
  });

  it("finds every backend that has a model, each with its own resolved name", () => {
    expect(candidatesFor("qwen3", [desk, laptop], served, {})).toEqual([
      { backend: desk, model: "qwen3:8b" },
      { backend: laptop, model: "qwen3:8b" },
    ]);
    expect(candidatesFor("phi", [desk, laptop], served, { phi: "phi4" })).toEqual([{ backend: laptop, model: "phi4:14b" }]);
    expect(candidatesFor("mistral", [desk, laptop], served, {})).toEqual([]);
  });

  it("ranks healthy before down, more free capacity first, and rotates ties", () => {
    const both = candidatesFor("qwen3", [desk, laptop], served, {});
    const free = (b: BackendConfig) => (b.name === "laptop" ? 3 : 1);
    expect(rankCandidates(both, free, () => false).map((c) => c.backend.name)).toEqual(["laptop", "desk"]);
    expect(rankCandidates(both, free, (b) => b.name === "laptop").map((c) => c.backend.name)).toEqual(["desk", "laptop"]);
    const even = () => 2;
    expect([0, 1, 2, 3].map((turn) => rankCandidates(both, even, () => false, turn)[0]!.backend.name)).toEqual(["desk", "laptop", "desk", "laptop"]);
  });
});
