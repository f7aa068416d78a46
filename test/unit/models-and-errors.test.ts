import { afterEach, describe, expect, it, vi } from "vitest";
import { mapUpstreamError, nativeErrorMessage } from "../../src/backends/ollama/errors.ts";
import { ConfigError } from "../../src/config/index.ts";
import { ApiError, errorResponse, publicError, toApiError, withDetail, withExtraHeaders } from "../../src/core/errors.ts";
import { closestNames, editDistance, resolveModel } from "../../src/core/names.ts";
import { ownerOf, toModelList, toOpenAIModel, unixSeconds } from "../../src/dialects/openai/models.ts";

const INSTALLED = ["llama3.2:latest", "llama3.2:1b", "qwen3:8b", "qwen3:14b", "mistral:7b", "hf.co/unsloth/gemma-3-4b-it-GGUF:Q4_K_M"];

describe("resolveModel", () => {
  it("MODEL_ALIASES `*` patterns: an exact alias wins over a pattern, the longest pattern over a shorter one", () => {
    const aliases = { "gpt-5*": "qwen3:8b", "gpt-5-codex*": "llama3.2", "gpt-5-mini": "mistral:7b", "claude-*": "qwen3:8b" };
    expect(resolveModel("gpt-5.1", INSTALLED, aliases)).toStrictEqual({ ok: true, name: "qwen3:8b" });
    expect(resolveModel("gpt-5-codex-max", INSTALLED, aliases)).toStrictEqual({ ok: true, name: "llama3.2:latest" });
    expect(resolveModel("gpt-5-mini", INSTALLED, aliases)).toStrictEqual({ ok: true, name: "mistral:7b" });
    expect(resolveModel("claude-sonnet-4-5", INSTALLED, aliases)).toStrictEqual({ ok: true, name: "qwen3:8b" });
    expect(resolveModel("gpt-4o", INSTALLED, aliases).ok).toBe(false);
  });

  it("follows an alias to its target, exactly or through :latest", () => {
    expect(resolveModel("gpt-4o-mini", INSTALLED, { "gpt-4o-mini": "qwen3:8b" })).toStrictEqual({ ok: true, name: "qwen3:8b" });
    expect(resolveModel("gpt-4o-mini", INSTALLED, { "gpt-4o-mini": "llama3.2" })).toStrictEqual({ ok: true, name: "llama3.2:latest" });
    expect(resolveModel("qwen3:8b", INSTALLED, { "gpt-4o-mini": "llama3.2" })).toStrictEqual({ ok: true, name: "qwen3:8b" });
  });

  it("an alias that shadows an installed name wins", () => {
    expect(resolveModel("qwen3:8b", INSTALLED, { "qwen3:8b": "mistral:7b" })).toStrictEqual({ ok: true, name: "mistral:7b" });
    expect(resolveModel("toString", INSTALLED, {}).ok).toBe(false);
  });

  it("an untagged name takes :latest, else the only installed tag", () => {
    expect(resolveModel("llama3.2", INSTALLED, {})).toStrictEqual({ ok: true, name: "llama3.2:latest" });
    expect(resolveModel("mistral", INSTALLED, {})).toStrictEqual({ ok: true, name: "mistral:7b" });
    expect(resolveModel("hf.co/unsloth/gemma-3-4b-it-GGUF", INSTALLED, {})).toStrictEqual({ ok: true, name: "hf.co/unsloth/gemma-3-4b-it-GGUF:Q4_K_M" });
    expect(resolveModel("llama3.2:latest", ["llama3.2"], {})).toStrictEqual({ ok: true, name: "llama3.2" });
  });

  it("matches names case-insensitively after an exact match", () => {
    expect(resolveModel("Qwen3:8B", INSTALLED, {})).toStrictEqual({ ok: true, name: "qwen3:8b" });
    expect(resolveModel("Mistral", INSTALLED, {})).toStrictEqual({ ok: false, message: expect.stringContaining("mistral:7b") });
  });

  it("several tags and no :latest is an error listing them", () => {
    expect(resolveModel("qwen3", INSTALLED, {})).toStrictEqual({
      ok: false,
      message: "The model 'qwen3' is ambiguous: several tags are installed (qwen3:8b, qwen3:14b). Name one of them.",
    });
  });

  it("an unknown name gets the closest installed names; a tag is not mistaken for a prefix match", () => {
    expect(resolveModel("qwen3:4b", INSTALLED, {})).toStrictEqual({
      ok: false,
      message: "The model 'qwen3:4b' does not exist on the backend. Closest installed models: qwen3:14b, qwen3:8b, llama3.2:1b.",
    });
    expect(resolveModel("mistral:7", INSTALLED, {})).toMatchObject({ ok: false });
    const llama = resolveModel("llama3.1:70b", ["qwen3:8b", "phi3:mini", "gemma3:4b", "llama3.1:8b-instruct-q4_K_M"], {});
    expect(llama.ok).toBe(false);
    expect(!llama.ok && llama.message).toMatch(
      /^The model 'llama3\.1:70b' does not exist on the backend\. Closest installed models: llama3\.1:8b-instruct-q4_K_M, /,
    );
  });

  it("names the alias target when an alias points nowhere, and says when nothing is installed", () => {
    const result = resolveModel("gpt-4o", ["mistral:7b"], { "gpt-4o": "gpt-oss:20b" });
    expect(result).toStrictEqual({
      ok: false,
      message: "The model 'gpt-4o' (alias of 'gpt-oss:20b') does not exist on the backend. Closest installed models: mistral:7b.",
    });
    expect(resolveModel("x", [], {})).toStrictEqual({ ok: false, message: "The model 'x' does not exist on the backend. No models are installed." });
  });

  it("editDistance and closestNames", () => {
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
    expect(editDistance("same", "same")).toBe(0);
    expect(closestNames("Llama3.2", ["qwen3:8b", "llama3.2:1b", "llama3.2:latest"], 2)).toStrictEqual(["llama3.2:1b", "llama3.2:latest"]);
    expect(closestNames("a", [], 3)).toStrictEqual([]);
  });
});

describe("/v1/models list", () => {
  it("maps tags: id from model (else name), created in unix seconds, owner from the name", () => {
    const list = toModelList(
      [
        { name: "test-model", model: "test-model", modified_at: "2023-06-16T10:03:22-07:00" },
        { name: "namespace/exposed-model:latest", model: "namespace/exposed-model:latest", modified_at: "2024-06-04T14:38:26.6104529-07:00" },
        { name: "hf.co/unsloth/gemma-3-4b-it-GGUF:Q4_K_M", modified_at: "2025-07-07T20:32:53.844124Z" },
        { name: "old-name", model: "new-id:latest" },
      ],
      {},
    );
    expect(list).toStrictEqual({
      object: "list",
      data: [
        { id: "test-model", object: "model", created: 1686935002, owned_by: "library" },
        { id: "namespace/exposed-model:latest", object: "model", created: 1717537106, owned_by: "namespace" },
        { id: "hf.co/unsloth/gemma-3-4b-it-GGUF:Q4_K_M", object: "model", created: 1751920373, owned_by: "unsloth" },
        { id: "new-id:latest", object: "model", created: 0, owned_by: "library" },
      ],
    });
  });

  it("an empty list is data: [] (not null)", () => {
    expect(JSON.stringify(toModelList([], { "gpt-4o": "llama3.2" }))).toBe('{"object":"list","data":[]}');
  });

  it("appends aliases whose target is installed, with the target's date and owner", () => {
    const models = [
      { name: "llama3.2:latest", modified_at: "2023-06-16T17:03:22Z" },
      { name: "hf.co/bartowski/Qwen2.5-7B-GGUF:Q4_K_M", modified_at: "2023-06-16T17:03:23Z" },
    ];
    const list = toModelList(models, {
      "gpt-4o-mini": "llama3.2",
      "gpt-4o": "hf.co/bartowski/Qwen2.5-7B-GGUF:Q4_K_M",
      "gpt-5": "not-installed",
      "llama3.2:latest": "hf.co/bartowski/Qwen2.5-7B-GGUF:Q4_K_M",
    });
    expect(list.data).toStrictEqual([
      { id: "llama3.2:latest", object: "model", created: 1686935002, owned_by: "library" },
      { id: "hf.co/bartowski/Qwen2.5-7B-GGUF:Q4_K_M", object: "model", created: 1686935003, owned_by: "bartowski" },
      { id: "gpt-4o-mini", object: "model", created: 1686935002, owned_by: "library" },
      { id: "gpt-4o", object: "model", created: 1686935003, owned_by: "bartowski" },
    ]);
  });

  it("lists an alias whose untagged target resolves to the only installed tag", () => {
    const list = toModelList([{ name: "qwen3:8b", modified_at: "2026-01-01T00:00:00Z" }], { fast: "qwen3", gone: "nothing" });
    expect(list.data.map((model) => model.id)).toEqual(["qwen3:8b", "fast"]);
  });

  it("helpers: ownerOf, unixSeconds, toOpenAIModel (retrieve echoes the id as sent)", () => {
    expect(ownerOf("llama3.2:3b")).toBe("library");
    expect(ownerOf("jmorganca/test:1")).toBe("jmorganca");
    expect(ownerOf("registry.ollama.ai/library/llama3")).toBe("library");
    expect(unixSeconds(undefined)).toBe(0);
    expect(unixSeconds("yesterday")).toBe(0);
    expect(unixSeconds("1970-01-01T00:00:01.999Z")).toBe(1);
    expect(toOpenAIModel("gpt-4o", { name: "x", modified_at: "2023-06-16T17:03:22Z" }, "ns/x:1")).toStrictEqual({
      id: "gpt-4o",
      object: "model",
      created: 1686935002,
      owned_by: "ns",
    });
  });
});

describe("mapUpstreamError", () => {
  const map = (status: number, contentType: string, body: string) => {
    const error: ApiError = mapUpstreamError(status, contentType, body);
    return { status: error.status, headers: error.headers, body: error.toBody() };
  };

  it("both model-not-found wordings → 404 model_not_found", () => {
    for (const native of ["model 'llama9' not found", 'model "llama9" not found, try pulling it first']) {
      expect(map(404, "application/json; charset=utf-8", JSON.stringify({ error: native }))).toStrictEqual({
        status: 404,
        headers: {},
        body: {
          error: { message: `The model does not exist on the backend: ${native}.`, type: "invalid_request_error", param: "model", code: "model_not_found" },
        },
      });
    }
  });

  it("llama-server's exceed_context_size_error → 400 context_length_exceeded with its message (both counts)", () => {
    const message = "request (14429 tokens) exceeds the available context size (8192 tokens), try increasing it";
    const body = JSON.stringify({ error: { code: 400, message, type: "exceed_context_size_error", n_prompt_tokens: 14429, n_ctx: 8192 } });
    expect(map(400, "application/json; charset=utf-8", body)).toStrictEqual({
      status: 400,
      headers: {},
      body: { error: { message, type: "invalid_request_error", param: null, code: "context_length_exceeded" } },
    });
  });

  it("503 → 503 backend_unavailable with retry-after, with or without a JSON body", () => {
    const busy = map(503, "application/json", '{"error":"server busy, please try again.  maximum pending requests exceeded"}');
    expect(busy).toStrictEqual({
      status: 503,
      headers: { "retry-after": "5" },
      body: {
        error: {
          message: "The backend is busy or loading a model: server busy, please try again.  maximum pending requests exceeded",
          type: "server_error",
          param: null,
          code: "backend_unavailable",
        },
      },
    });
    const bare = map(503, "text/plain", "");
    expect(bare.status).toBe(503);
    expect(bare.headers).toStrictEqual({ "retry-after": "5" });
    expect(bare.body.error.code).toBe("backend_unavailable");
  });

  it("a native 400 keeps its message as an invalid_request_error", () => {
    expect(map(400, "application/json", '{"error":"registry.ollama.ai/library/deepseek-r1:1.5b does not support tools"}')).toStrictEqual({
      status: 400,
      headers: {},
      body: {
        error: { message: "registry.ollama.ai/library/deepseek-r1:1.5b does not support tools", type: "invalid_request_error", param: null, code: null },
      },
    });
  });

  it("native 4xx errors that are the caller's fault keep their status; others become 502", () => {
    const notFound = mapUpstreamError(404, "application/json", '{"error":"unknown endpoint"}');
    expect([notFound.status, notFound.type, notFound.message]).toEqual([404, "invalid_request_error", "unknown endpoint"]);
    const cloud = mapUpstreamError(401, "application/json", '{"error":"unauthorized"}');
    expect([cloud.status, cloud.type, cloud.code]).toEqual([502, "server_error", "backend_error"]);
  });

  it("a native 500 → 502 backend_error with the message", () => {
    expect(map(500, "application/json", '{"error":"llama runner process has terminated: exit status 2"}').body).toStrictEqual({
      error: { message: "The backend failed: llama runner process has terminated: exit status 2", type: "server_error", param: null, code: "backend_error" },
    });
  });

  it("403 with an empty body → 502 explaining httpHostHeader", () => {
    const result = map(403, "", "");
    expect(result.status).toBe(502);
    expect(result.body.error.type).toBe("server_error");
    expect(result.body.error.code).toBe("backend_unavailable");
    expect(result.body.error.message).toContain('originRequest.httpHostHeader: "localhost:11434"');
  });

  it("an HTML error page → 502 with advice for its status; 524 → 504 backend_timeout", () => {
    const page = "<!DOCTYPE html>\n<html><head><title>Origin DNS error | ollama.example.com | Cloudflare</title></head><body>…</body></html>";
    expect(map(530, "text/html; charset=UTF-8", page)).toStrictEqual({
      status: 502,
      headers: {},
      body: {
        error: {
          message: "The tunnel or backend answered HTTP 530 with an HTML page: check that the home machine, Ollama and cloudflared are running.",
          type: "server_error",
          param: null,
          code: "backend_unavailable",
        },
      },
    });
    const timeout = map(524, "text/html", "<html><head><title>ollama.example.com | 524: A timeout occurred</title></head></html>");
    expect(timeout.status).toBe(504);
    expect(timeout.body.error).toStrictEqual({
      message: "The tunnel or backend answered HTTP 524 with an HTML page: the backend took too long to answer.",
      type: "server_error",
      param: null,
      code: "backend_timeout",
    });
    expect(map(524, "text/plain", "error code: 524").body.error).toStrictEqual({
      message: "The backend timed out (HTTP 524).",
      type: "server_error",
      param: null,
      code: "backend_timeout",
    });
    const access = map(403, "text/html", "<html><title>Access denied</title></html>");
    expect([access.status, access.body.error.code]).toStrictEqual([502, "backend_unavailable"]);
    expect(access.body.error.message).toContain("CF_ACCESS_CLIENT_ID");
  });

  it("a redirect (Access login) → 502 pointing at the service token", () => {
    const result = map(302, "text/html", "");
    expect([result.status, result.body.error.code]).toStrictEqual([502, "backend_unavailable"]);
    expect(result.body.error.message).toContain("CF_ACCESS_CLIENT_SECRET");
  });

  it("anything else → 502 naming the status only (the body is for the log)", () => {
    expect(map(502, "text/plain", "  Bad gateway  ").body.error.message).toBe("The backend answered HTTP 502.");
    expect(map(418, "", "").body.error.message).toBe("The backend answered HTTP 418.");
  });

  it("nativeErrorMessage reads only {error: string}", () => {
    expect(nativeErrorMessage('{"error":"x"}')).toBe("x");
    expect(nativeErrorMessage('{"error":{"message":"x"}}')).toBeNull();
    expect(nativeErrorMessage("null")).toBeNull();
    expect(nativeErrorMessage("<html>")).toBeNull();
  });
});

/** A Cloudflare error page as the tunnel sends it: the hostname is in the title and all over the body. */
function cloudflarePage(status: number, name: string): string {
  return (
    `<!DOCTYPE html><html lang="en-US"><head><title>${status}: ${name} | ollama.example.com | Cloudflare</title></head><body>` +
    `<div id="cf-error-details"><h1><span>Error code ${status}</span></h1><h2>${name}</h2>` +
    `<div class="cf-host">ollama.example.com <span>Host</span> Error</div>` +
    `<p>Ray ID: 8f1e2d3c4b5a6978 &bull; 2026-01-02 03:04:05 UTC</p></div></body></html>`
  );
}

/** What a client would see of an error, and what only the log gets. */
function seen(error: ApiError) {
  return { status: error.status, headers: error.headers, body: error.toBody(), detail: error.detail };
}

/** Nothing the upstream wrote reaches the client, whatever path the error takes to the wire. */
async function expectNoLeak(error: ApiError, secrets: string[]) {
  const wire = [JSON.stringify(error.toBody()), JSON.stringify(error), await errorResponse(error).text(), error.message];
  for (const text of wire) for (const secret of secrets) expect(text).not.toContain(secret);
}

describe("upstream errors name no host and quote no body (the details are for the log)", () => {
  const HTML = "text/html; charset=UTF-8";

  it("Cloudflare 502/521/530 pages → 502 with the status and what to check; the title goes to detail", async () => {
    for (const [status, name] of [
      [502, "Bad gateway"],
      [521, "Web server is down"],
      [530, "Origin is unreachable"],
    ] as const) {
      const error = mapUpstreamError(status, HTML, cloudflarePage(status, name));
      expect(seen(error)).toStrictEqual({
        status: 502,
        headers: {},
        body: {
          error: {
            message: `The tunnel or backend answered HTTP ${status} with an HTML page: check that the home machine, Ollama and cloudflared are running.`,
            type: "server_error",
            param: null,
            code: "backend_unavailable",
          },
        },
        detail: `upstream HTTP ${status} (text/html; charset=UTF-8), HTML page titled "${status}: ${name} | ollama.example.com | Cloudflare"`,
      });
      await expectNoLeak(error, ["example.com", name, "Cloudflare", "Ray ID", "8f1e2d3c4b5a6978"]);
    }
  });

  it("a Cloudflare 524 page → 504 backend_timeout, title in detail only", async () => {
    const error = mapUpstreamError(524, HTML, cloudflarePage(524, "A timeout occurred"));
    expect(seen(error)).toStrictEqual({
      status: 504,
      headers: {},
      body: {
        error: {
          message: "The tunnel or backend answered HTTP 524 with an HTML page: the backend took too long to answer.",
          type: "server_error",
          param: null,
          code: "backend_timeout",
        },
      },
      detail: 'upstream HTTP 524 (text/html; charset=UTF-8), HTML page titled "524: A timeout occurred | ollama.example.com | Cloudflare"',
    });
    await expectNoLeak(error, ["example.com", "A timeout occurred", "Cloudflare"]);
  });

  it("an Access HTML 403 → 502 pointing at the service token, title in detail only", async () => {
    const page =
      "<html><head><title>Forbidden | ollama.example.com | Cloudflare Access</title></head><body>ollama.example.com: you do not have access</body></html>";
    const error = mapUpstreamError(403, "text/html", page);
    expect(seen(error)).toStrictEqual({
      status: 502,
      headers: {},
      body: {
        error: {
          message: "The tunnel or backend answered HTTP 403 with an HTML page: check CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET.",
          type: "server_error",
          param: null,
          code: "backend_unavailable",
        },
      },
      detail: 'upstream HTTP 403 (text/html), HTML page titled "Forbidden | ollama.example.com | Cloudflare Access"',
    });
    await expectNoLeak(error, ["example.com", "Forbidden", "you do not have access"]);
  });

  it("a plain-text 500 naming an internal host → 502 with the status only; the body's start goes to detail", async () => {
    const body = "upstream connect error or disconnect/reset before headers. reset reason: connection failure (internal.example.com:11434)\n";
    const error = mapUpstreamError(500, "text/plain", body);
    expect(seen(error)).toStrictEqual({
      status: 502,
      headers: {},
      body: { error: { message: "The backend answered HTTP 500.", type: "server_error", param: null, code: "backend_unavailable" } },
      detail:
        'upstream HTTP 500 (text/plain), body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure (internal.example.com:11434)"',
    });
    await expectNoLeak(error, ["internal.example.com", "upstream connect error", "reset reason"]);
  });

  it("an HTML page without a title, and text on 401/503/504: the body only in detail, cut at 200 characters", async () => {
    const nginx = mapUpstreamError(502, "text/html", "<html><body><h1>502 Bad Gateway</h1><center>nginx at internal.example.com</center></body></html>");
    expect(nginx.message).toBe("The tunnel or backend answered HTTP 502 with an HTML page: check that the home machine, Ollama and cloudflared are running.");
    expect(nginx.detail).toBe(
      'upstream HTTP 502 (text/html), body: "<html><body><h1>502 Bad Gateway</h1><center>nginx at internal.example.com</center></body></html>"',
    );
    await expectNoLeak(nginx, ["internal.example.com", "nginx"]);

    const cases: [number, string, string][] = [
      [401, "The tunnel refused the gateway (HTTP 401): check CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET.", "denied by internal.example.com"],
      [503, "The backend is busy or loading a model.", "no healthy upstream at internal.example.com"],
      [504, "The backend timed out (HTTP 504).", "gateway timeout from internal.example.com"],
    ];
    for (const [status, message, body] of cases) {
      const error = mapUpstreamError(status, "text/plain", body);
      expect([error.message, error.detail]).toStrictEqual([message, `upstream HTTP ${status} (text/plain), body: ${JSON.stringify(body)}`]);
      await expectNoLeak(error, ["internal.example.com"]);
    }

    const long = mapUpstreamError(500, "", `internal.example.com ${"x".repeat(300)}`);
    expect(long.detail).toBe(`upstream HTTP 500, body: "internal.example.com ${"x".repeat(179)}"`);
    expect(mapUpstreamError(500, "text/plain", "  \n").detail).toBeNull();
  });

  it("a redirect's page goes to detail; the backend's own JSON errors keep their message and have no detail", () => {
    const redirect = mapUpstreamError(302, "text/html", "<html><title>Sign in | ollama.example.com</title></html>");
    expect([redirect.status, redirect.detail]).toStrictEqual([502, 'upstream HTTP 302 (text/html), HTML page titled "Sign in | ollama.example.com"']);
    expect(redirect.message).not.toContain("example.com");

    const llama = mapUpstreamError(500, "application/json", '{"error":{"code":500,"message":"failed to load model","type":"server_error"}}');
    expect(seen(llama)).toStrictEqual({
      status: 502,
      headers: {},
      body: { error: { message: "The backend failed: failed to load model", type: "server_error", param: null, code: "backend_error" } },
      detail: null,
    });
    expect(mapUpstreamError(400, "application/json", '{"error":"invalid format"}').detail).toBeNull();
  });
});

describe("publicError: the error boundary's answer and its log line", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const quiet = () => vi.spyOn(console, "error").mockImplementation(() => {});

  it("logs the detail under the request id and ends a 5xx message with the request id", () => {
    const log = quiet();
    const error = publicError(mapUpstreamError(530, "text/html", cloudflarePage(530, "Origin is unreachable")), "req-abc");
    expect(seen(error)).toStrictEqual({
      status: 502,
      headers: {},
      body: {
        error: {
          message:
            "The tunnel or backend answered HTTP 530 with an HTML page: check that the home machine, Ollama and cloudflared are running. (request id: req-abc)",
          type: "server_error",
          param: null,
          code: "backend_unavailable",
        },
      },
      detail: 'upstream HTTP 530 (text/html), HTML page titled "530: Origin is unreachable | ollama.example.com | Cloudflare"',
    });
    expect(log.mock.calls).toStrictEqual([
      ['[req-abc] 502 backend_unavailable: upstream HTTP 530 (text/html), HTML page titled "530: Origin is unreachable | ollama.example.com | Cloudflare"'],
    ]);
  });

  it("keeps headers (retry-after, x-ratelimit-*) and the detail through withExtraHeaders", () => {
    const log = quiet();
    const busy = mapUpstreamError(503, "text/plain", "no healthy upstream");
    const admitted = withExtraHeaders(busy, { "x-ratelimit-limit-requests": "60" }) as ApiError;
    expect(admitted.detail).toBe('upstream HTTP 503 (text/plain), body: "no healthy upstream"');
    const error = publicError(admitted, "r1");
    expect([error.status, error.headers, error.message]).toStrictEqual([
      503,
      { "x-ratelimit-limit-requests": "60", "retry-after": "5" },
      "The backend is busy or loading a model. (request id: r1)",
    ]);
    expect(log.mock.calls).toStrictEqual([['[r1] 503 backend_unavailable: upstream HTTP 503 (text/plain), body: "no healthy upstream"']]);
  });

  it("a client error is returned as it is, unlogged; a 5xx without detail gets the suffix but no log line", () => {
    const log = quiet();
    const notFound = new ApiError(404, "The model 'x' does not exist on the backend.", "invalid_request_error", "model_not_found", "model");
    expect(publicError(notFound, "r2")).toBe(notFound);
    const stalled = publicError(new ApiError(504, "The backend sent nothing for 300 ms; the request was stopped.", "server_error", "backend_timeout"), "r3");
    expect(stalled.message).toBe("The backend sent nothing for 300 ms; the request was stopped. (request id: r3)");
    expect(log).not.toHaveBeenCalled();
  });

  it("our own bug is a generic 500 for the caller; its message and stack go to the log under the request id", () => {
    const log = quiet();
    const bug = publicError(new TypeError("cannot read properties of undefined (reading 'x')"), "r4");
    expect(bug.toBody()).toStrictEqual({
      error: { message: "The gateway hit an unexpected error. (request id: r4)", type: "server_error", param: null, code: "internal_error" },
    });
    expect(log).toHaveBeenCalledTimes(1);
    expect(String(log.mock.calls[0]![0])).toMatch(/^\[r4\] 500 internal_error: unexpected TypeError: cannot read properties of undefined \(reading 'x'\)\n/);
  });

  it("a ConfigError is a generic 500 for the caller; the variable and its problem go to the log", async () => {
    const log = quiet();
    const config = new ConfigError("MODEL_ALIASES", "not valid JSON");
    expect(seen(toApiError(config))).toStrictEqual({
      status: 500,
      headers: {},
      body: {
        error: {
          message: "The gateway is misconfigured (MODEL_ALIASES); the operator can find the details in the Worker's log.",
          type: "server_error",
          param: null,
          code: "invalid_configuration",
        },
      },
      detail: "Invalid configuration MODEL_ALIASES: not valid JSON",
    });
    const error = publicError(config, "req-cfg");
    const response = errorResponse(error);
    expect(response.status).toBe(500);
    expect(await response.json()).toStrictEqual({
      error: {
        message: "The gateway is misconfigured (MODEL_ALIASES); the operator can find the details in the Worker's log. (request id: req-cfg)",
        type: "server_error",
        param: null,
        code: "invalid_configuration",
      },
    });
    expect(log.mock.calls).toStrictEqual([["[req-cfg] 500 invalid_configuration: Invalid configuration MODEL_ALIASES: not valid JSON"]]);
  });

  it("the detail is never serialized, and a body cannot forge a second log line", async () => {
    const log = quiet();
    const forged = mapUpstreamError(500, "text/plain", "oops\n[req-x] 200 ok: all fine");
    const error = publicError(forged, "r5");
    expect(JSON.stringify(error)).not.toContain("oops");
    expect(await errorResponse(error).text()).toBe(
      '{"error":{"message":"The backend answered HTTP 500. (request id: r5)","type":"server_error","param":null,"code":"backend_unavailable"}}',
    );
    expect(log.mock.calls).toStrictEqual([['[r5] 502 backend_unavailable: upstream HTTP 500 (text/plain), body: "oops\\n[req-x] 200 ok: all fine"']]);
    expect(withDetail(error, null).detail).toBeNull();
  });
});
