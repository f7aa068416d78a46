import { describe, expect, it } from "vitest";
import { candidatesFor, rankCandidates, servedModels } from "../../src/backends/routing.ts";
import { type BackendConfig, bindingBaseUrl, parseBackends } from "../../src/config/backends.ts";
import { ConfigError } from "../../src/config/parse.ts";

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
      {
        name: "ollama",
        kind: "ollama",
        url: "https://ollama.example.com",
        binding: null,
        models: null,
        maxConcurrency: null,
        apiKey: null,
        contextLength: null,
        headers: ACCESS,
      },
    ]);
  });

  it("parses the interface's example, resolving $NAME from vars and secrets", () => {
    const raw = JSON.stringify([
      {
        name: "desk",
        kind: "ollama",
        url: "https://desk.example.com/",
        headers: { "CF-Access-Client-Id": "$DESK_ID", "CF-Access-Client-Secret": "$DESK_SECRET" },
      },
      { name: "laptop", kind: "llamacpp", url: "https://laptop.example.com", api_key: "$LAPTOP_KEY", models: ["qwen2.5"], max_concurrency: 2 },
    ]);
    const env = { DESK_ID: "desk-id", DESK_SECRET: "desk-secret", LAPTOP_KEY: "llama-key" };
    expect(parseBackends(raw, "ignored", ACCESS, env)).toEqual([
      {
        name: "desk",
        kind: "ollama",
        url: "https://desk.example.com",
        binding: null,
        models: null,
        maxConcurrency: null,
        apiKey: null,
        contextLength: null,
        headers: { "CF-Access-Client-Id": "desk-id", "CF-Access-Client-Secret": "desk-secret" },
      },
      {
        name: "laptop",
        kind: "llamacpp",
        url: "https://laptop.example.com",
        binding: null,
        models: ["qwen2.5"],
        maxConcurrency: 2,
        apiKey: "llama-key",
        contextLength: null,
        headers: ACCESS,
      },
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

describe("BACKENDS entries reached through a Workers binding", () => {
  const vpc = { fetch: async (_request: Request) => new Response("") };
  const env = { OLLAMA: vpc, LLAMA_VPC: vpc, BOX_KEY: "llama-key", DESK_SECRET: "s3cret-value", KEYS: { idFromName() {} }, NOT_A_FUNCTION: { fetch: "no" } };

  it("takes a binding name in place of a url; the url becomes the placeholder http://<name>.internal", () => {
    const raw = JSON.stringify([
      { name: "desk", kind: "ollama", binding: "OLLAMA" },
      { name: "Big_Box.2", kind: "llamacpp", binding: "LLAMA_VPC", api_key: "$BOX_KEY", headers: { "x-extra": "1" }, models: ["qwen2.5"] },
      { name: "laptop", kind: "ollama", url: "https://laptop.example.com" },
    ]);
    expect(parseBackends(raw, "ignored", ACCESS, env)).toStrictEqual([
      {
        name: "desk",
        kind: "ollama",
        url: "http://desk.internal",
        binding: "OLLAMA",
        models: null,
        maxConcurrency: null,
        apiKey: null,
        contextLength: null,
        headers: ACCESS,
      },
      {
        name: "Big_Box.2",
        kind: "llamacpp",
        url: "http://big-box-2.internal",
        binding: "LLAMA_VPC",
        models: ["qwen2.5"],
        maxConcurrency: null,
        apiKey: "llama-key",
        contextLength: null,
        headers: { ...ACCESS, "x-extra": "1" },
      },
      {
        name: "laptop",
        kind: "ollama",
        url: "https://laptop.example.com",
        binding: null,
        models: null,
        maxConcurrency: null,
        apiKey: null,
        contextLength: null,
        headers: ACCESS,
      },
    ]);
  });

  it("gives the placeholder a host that Ollama's Host check accepts and a URL parser keeps as written", () => {
    expect(bindingBaseUrl("desk")).toBe("http://desk.internal");
    expect(bindingBaseUrl("GPU.box_1")).toBe("http://gpu-box-1.internal");
    expect(new URL(`${bindingBaseUrl("GPU.box_1")}/api/chat`).host).toBe("gpu-box-1.internal");
  });

  it("wants exactly one of url and binding", () => {
    expect(configError('[{"name":"a","kind":"ollama"}]', env)).toBe('Invalid configuration BACKENDS: give exactly one of "url" and "binding" at [0]');
    expect(configError('[{"name":"a","kind":"ollama","url":"http://x"},{"name":"b","kind":"ollama","url":"http://y","binding":"OLLAMA"}]', env)).toBe(
      'Invalid configuration BACKENDS: give exactly one of "url" and "binding" at [1]',
    );
  });

  it("names BACKENDS and the binding when it is not on env, or cannot fetch, and never echoes a value", () => {
    expect(configError('[{"name":"a","kind":"ollama","binding":"OLLAMA_VPC"}]', env)).toBe(
      'Invalid configuration BACKENDS: [0].binding: there is no binding named OLLAMA_VPC (declare it in wrangler.toml, e.g. [[vpc_services]] binding = "OLLAMA_VPC")',
    );
    expect(configError('[{"name":"a","kind":"ollama","url":"http://x"},{"name":"b","kind":"ollama","binding":"KEYS"}]', env)).toBe(
      "Invalid configuration BACKENDS: [1].binding: KEYS has no fetch method (name a VPC service or a service binding)",
    );
    expect(configError('[{"name":"a","kind":"ollama","binding":"NOT_A_FUNCTION"}]', env)).toBe(
      "Invalid configuration BACKENDS: [0].binding: NOT_A_FUNCTION has no fetch method (name a VPC service or a service binding)",
    );
    // A secret's name: the message names it, and leaves its value out.
    const secret = configError('[{"name":"a","kind":"ollama","binding":"DESK_SECRET"}]', env);
    expect(secret).toBe("Invalid configuration BACKENDS: [0].binding: DESK_SECRET has no fetch method (name a VPC service or a service binding)");
    expect(secret).not.toContain("s3cret-value");
  });

  it("takes the binding's name literally: a $reference is refused without resolving it", () => {
    const message = configError('[{"name":"a","kind":"ollama","binding":"$DESK_SECRET"}]', env);
    expect(message).toBe("Invalid configuration BACKENDS: a binding is named as in wrangler.toml: letters, digits and '_', not a $reference at [0].binding");
    expect(message).not.toContain("s3cret-value");
    expect(configError('[{"name":"a","kind":"ollama","binding":"my-vpc"}]', env)).toBe(
      "Invalid configuration BACKENDS: a binding is named as in wrangler.toml: letters, digits and '_', not a $reference at [0].binding",
    );
  });
});

const backend = (name: string, models: string[] | null = null): BackendConfig => ({
  name,
  kind: "ollama",
  url: `http://${name}`,
  binding: null,
  models,
  maxConcurrency: null,
  apiKey: null,
  headers: {},
  contextLength: null,
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
