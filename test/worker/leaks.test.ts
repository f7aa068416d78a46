import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { OllamaClient } from "../../src/backends/ollama/client.ts";
import { upstreamTarget } from "../../src/backends/target.ts";
import { parseConfig } from "../../src/config/index.ts";
import { ApiError } from "../../src/core/errors.ts";
import type { EnvVars } from "../../src/env.ts";
import { emulator, gatewayWith, postJsonWith, user } from "./helpers.ts";

/**
 * The tunnel's hostname and whatever an upstream wrote (a Cloudflare page's title, a proxy's text) never reach a
 * client: the client gets the status and what to check, the operator's log gets the rest under the request id.
 */

beforeEach(() => emulator.reset());
afterEach(() => {
  vi.restoreAllMocks();
});

/** A tunnel hostname the upstream stubs below answer for; Workers' fetch of it never leaves the test. */
const TUNNEL = "https://ollama.internal.example.com";
const PROXY_TEXT = "upstream connect error or disconnect/reset before headers. reset reason: connection failure (internal.example.com:11434)";
const ACCESS_PAGE =
  "<!DOCTYPE html><html><head><title>Forbidden | ollama.internal.example.com | Cloudflare Access</title></head>" +
  "<body><h1>ollama.internal.example.com</h1><p>You do not have access to this application.</p></body></html>";
/** What the emulator's Cloudflare pages (tools/emulator/faults.ts) are titled: `<name> | example.com | Cloudflare`. */
const PAGE_NAMES: Record<number, string> = { 502: "Bad gateway", 521: "Web server is down", 530: "Origin is unreachable" };

/** Every upstream request to TUNNEL gets `answer`; anything else (the emulator's control routes) goes out as usual. */
function stubTunnel(answer: () => Response): void {
  const real = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation((input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    return url.startsWith(TUNNEL) ? Promise.resolve(answer()) : real(input, init);
  });
}

const plainText500 = () => new Response(PROXY_TEXT, { status: 500, headers: { "content-type": "text/plain" } });
const accessDenied = () => new Response(ACCESS_PAGE, { status: 403, headers: { "content-type": "text/html; charset=UTF-8" } });

/** The body as text, which must hold none of `secrets` (nor any HTML). */
async function cleanText(res: Response, secrets: string[]): Promise<string> {
  const text = await res.text();
  for (const secret of secrets) expect(text, `leaked ${JSON.stringify(secret)}`).not.toContain(secret);
  expect(text).not.toMatch(/<[a-z!/]/i);
  return text;
}

const chat = (vars: EnvVars, requestId: string, extra: Record<string, unknown> = {}) =>
  postJsonWith(vars, "/v1/chat/completions", { model: "llama3.2", messages: [user("hi")], ...extra }, { "x-request-id": requestId });
const nativeChat = (vars: EnvVars, requestId: string) =>
  gatewayWith(vars, "/api/chat", {
    method: "POST",
    headers: { "content-type": "application/json", "x-request-id": requestId },
    body: JSON.stringify({ model: "llama3.2", stream: false, messages: [user("hi")] }),
  });
const get = (vars: EnvVars, path: string, requestId: string) => gatewayWith(vars, path, { headers: { "x-request-id": requestId } });

const ADVICE_DOWN = "check that the home machine, Ollama and cloudflared are running.";
const ACCESS_ADVICE = "check CF_ACCESS_CLIENT_ID and CF_ACCESS_CLIENT_SECRET.";
const MISCONFIGURED = "The gateway is misconfigured (MODEL_ALIASES); the operator can find the details in the Worker's log.";

describe("no hostname and no upstream text in what the client gets", () => {
  // What is logged is the next block's business.
  beforeEach(() => {
    vi.spyOn(console, "error").mockImplementation(() => {});
  });

  it("a tunnel's Cloudflare 502/521/530 page: the status and what to check, never the page's title", async () => {
    for (const status of [502, 521, 530]) {
      await emulator.fault({ fault: { kind: "html", status } });
      for (const stream of [false, true]) {
        const res = await chat({}, `leak-html-${status}`, { stream });
        expect(res.status).toBe(502);
        const body = JSON.parse(await cleanText(res, ["example.com", "Cloudflare", PAGE_NAMES[status]!, "Ray ID", "Error code"]));
        expect(body.error.code).toBe("backend_unavailable");
        expect(body.error.message.startsWith(`The tunnel or backend answered HTTP ${status} with an HTML page: ${ADVICE_DOWN}`)).toBe(true);
      }
    }
    await emulator.fault({ fault: { kind: "html", status: 530 }, paths: ["/api/chat"] });
    const native = await nativeChat({}, "leak-html-native");
    expect(native.status).toBe(502);
    const body = JSON.parse(await cleanText(native, ["example.com", "Cloudflare", "Origin is unreachable"]));
    expect(body.error.startsWith(`The tunnel or backend answered HTTP 530 with an HTML page: ${ADVICE_DOWN}`)).toBe(true);
  });

  it("a plain-text 500 naming an internal host: the status only, on the OpenAI and the native routes", async () => {
    stubTunnel(plainText500);
    const vars = { OLLAMA_URL: TUNNEL };
    for (const [res, read] of [
      [await get(vars, "/v1/models", "leak-text-openai"), (body: any) => body.error.message],
      [await get(vars, "/api/tags", "leak-text-native"), (body: any) => body.error],
      [await chat(vars, "leak-text-chat"), (body: any) => body.error.message],
    ] as const) {
      expect(res.status).toBe(502);
      const message: string = read(JSON.parse(await cleanText(res, ["internal.example.com", "upstream connect error", "reset reason", "11434"])));
      expect(message.startsWith("The backend answered HTTP 500.")).toBe(true);
    }
  });

  it("Cloudflare Access's HTML 403: the service-token hint, never the application's hostname", async () => {
    stubTunnel(accessDenied);
    const res = await get({ OLLAMA_URL: TUNNEL }, "/v1/models", "leak-access");
    expect(res.status).toBe(502);
    const body = JSON.parse(await cleanText(res, ["internal.example.com", "Forbidden", "Cloudflare Access", "You do not have access"]));
    expect(body.error.message.startsWith(`The tunnel or backend answered HTTP 403 with an HTML page: ${ACCESS_ADVICE}`)).toBe(true);
  });

  it("a backend that cannot be reached: its address is not named", async () => {
    const res = await chat({ OLLAMA_URL: "http://127.0.0.1:9", UPSTREAM_RETRY_BACKOFF: "10ms" }, "leak-connect");
    expect(res.status).toBe(502);
    const body = JSON.parse(await cleanText(res, ["127.0.0.1", ":9/"]));
    expect(body.error.message.startsWith("Could not connect to the Ollama backend: is the tunnel up and Ollama running?")).toBe(true);
  });

  it("a bad setting: a 500 that names the variable, never its value or its problem", async () => {
    const res = await chat({ MODEL_ALIASES: '{"gpt-4o": "internal.example.com/model"' }, "leak-config");
    expect(res.status).toBe(500);
    const body = JSON.parse(await cleanText(res, ["JSON", "internal.example.com", "gpt-4o"]));
    expect(body.error.code).toBe("invalid_configuration");
    expect(body.error.message.startsWith(MISCONFIGURED)).toBe(true);
  });
});

/** Each console.error line logged while `work` runs. */
async function errorLog(work: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    lines.push(args.map(String).join(" "));
  });
  await work();
  return lines;
}

// These need the error boundaries (src/app.ts, src/routes/native.ts) to answer with publicError(error, requestId).
describe("the error boundary: the request id in the message, the details in the log", () => {
  it("a Cloudflare 530 page: exact envelope, and the page's title logged under the request id", async () => {
    await emulator.fault({ fault: { kind: "html", status: 530 } });
    let res!: Response;
    const log = await errorLog(async () => {
      res = await chat({}, "leak-1");
    });
    expect(res.status).toBe(502);
    expect(res.headers.get("x-request-id")).toBe("leak-1");
    expect(await res.json()).toStrictEqual({
      error: {
        message: `The tunnel or backend answered HTTP 530 with an HTML page: ${ADVICE_DOWN} (request id: leak-1)`,
        type: "server_error",
        param: null,
        code: "backend_unavailable",
      },
    });
    expect(log).toContain(
      '[leak-1] 502 backend_unavailable: upstream HTTP 530 (text/html; charset=UTF-8), HTML page titled "Origin is unreachable | example.com | Cloudflare"',
    );
  });

  it("a plain-text 500: exact envelopes (OpenAI and native), the body's start logged", async () => {
    stubTunnel(plainText500);
    const vars = { OLLAMA_URL: TUNNEL };
    let openai!: Response;
    let native!: Response;
    const log = await errorLog(async () => {
      openai = await get(vars, "/v1/models", "leak-2");
      native = await get(vars, "/api/tags", "leak-3");
    });
    expect([openai.status, await openai.json()]).toStrictEqual([
      502,
      { error: { message: "The backend answered HTTP 500. (request id: leak-2)", type: "server_error", param: null, code: "backend_unavailable" } },
    ]);
    expect([native.status, await native.json()]).toStrictEqual([502, { error: "The backend answered HTTP 500. (request id: leak-3)" }]);
    const logged = `502 backend_unavailable: upstream HTTP 500 (text/plain), body: ${JSON.stringify(PROXY_TEXT)}`;
    expect(log).toContain(`[leak-2] ${logged}`);
    expect(log).toContain(`[leak-3] ${logged}`);
  });

  it("Access's HTML 403: exact envelope, the title logged", async () => {
    stubTunnel(accessDenied);
    let res!: Response;
    const log = await errorLog(async () => {
      res = await get({ OLLAMA_URL: TUNNEL }, "/v1/models", "leak-4");
    });
    expect([res.status, await res.json()]).toStrictEqual([
      502,
      {
        error: {
          message: `The tunnel or backend answered HTTP 403 with an HTML page: ${ACCESS_ADVICE} (request id: leak-4)`,
          type: "server_error",
          param: null,
          code: "backend_unavailable",
        },
      },
    ]);
    expect(log).toContain(
      '[leak-4] 502 backend_unavailable: upstream HTTP 403 (text/html; charset=UTF-8), HTML page titled "Forbidden | ollama.internal.example.com | Cloudflare Access"',
    );
  });

  it("a backend that cannot be reached: exact envelope, its host logged", async () => {
    let res!: Response;
    const log = await errorLog(async () => {
      res = await chat({ OLLAMA_URL: "http://127.0.0.1:9", UPSTREAM_RETRY_BACKOFF: "10ms" }, "leak-5");
    });
    expect([res.status, await res.json()]).toStrictEqual([
      502,
      {
        error: {
          message: "Could not connect to the Ollama backend: is the tunnel up and Ollama running? (request id: leak-5)",
          type: "server_error",
          param: null,
          code: "backend_unavailable",
        },
      },
    ]);
    expect(
      log.some((line) => /^\[leak-5\] 502 backend_unavailable: GET 127\.0\.0\.1:9\/api\/tags: \d attempt\(s\), last: ".+"$/.test(line)),
      log.join("\n"),
    ).toBe(true);
  });

  it("a bad setting: exact envelope, the variable and its problem logged", async () => {
    let res!: Response;
    const log = await errorLog(async () => {
      res = await chat({ MODEL_ALIASES: "{not json" }, "leak-6");
    });
    expect([res.status, await res.json()]).toStrictEqual([
      500,
      { error: { message: `${MISCONFIGURED} (request id: leak-6)`, type: "server_error", param: null, code: "invalid_configuration" } },
    ]);
    expect(log).toContain("[leak-6] 500 invalid_configuration: Invalid configuration MODEL_ALIASES: not valid JSON");
  });
});

describe("OllamaClient: a failed connection names no URL", () => {
  it("the client gets the generic 502; the host (never the URL's credentials) and the cause go to detail", async () => {
    const cause = new TypeError("fetch failed: getaddrinfo ENOTFOUND ollama.internal.example.com");
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockRejectedValue(cause);
    const config = parseConfig({ OLLAMA_URL: "https://ops:hunter2@ollama.internal.example.com", UPSTREAM_RETRIES: "1", UPSTREAM_RETRY_BACKOFF: "1ms" });
    const failure = await new OllamaClient(config, upstreamTarget(config.backends[0]!, {}))
      .call("GET", "/api/tags", undefined)
      .response.catch((error: unknown) => error);
    expect(fetchSpy).toHaveBeenCalledTimes(2);
    expect(failure).toBeInstanceOf(ApiError);
    const error = failure as ApiError;
    expect({ status: error.status, headers: error.headers, body: error.toBody(), detail: error.detail }).toStrictEqual({
      status: 502,
      headers: {},
      body: {
        error: {
          message: "Could not connect to the Ollama backend: is the tunnel up and Ollama running?",
          type: "server_error",
          param: null,
          code: "backend_unavailable",
        },
      },
      detail: 'GET ollama.internal.example.com/api/tags: 2 attempt(s), last: "TypeError: fetch failed: getaddrinfo ENOTFOUND ollama.internal.example.com"',
    });
    expect(error.detail).not.toContain("hunter2");
  });
});
