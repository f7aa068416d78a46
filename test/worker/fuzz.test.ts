/**
 * Property-based fuzzing of every route, inside workerd, against the emulator.
 *
 * Each case is one HTTP request: a route (or any path), a method, headers (random Authorization, Content-Type,
 * X-Request-Id, Origin, client credentials) and a body (valid-ish requests with mutated fields, arbitrary JSON,
 * arbitrary strings and bytes, deep nesting, huge numbers, `__proto__`/`constructor` keys, control characters).
 * The values come from ./fuzz/values.ts, the Responses and Anthropic bodies from ./fuzz/dialects.ts, and what an
 * answer must look like in each dialect from ./fuzz/oracles.ts. The properties, checked on every answer:
 *   - no 5xx (with the emulator healthy, any 5xx is the gateway's doing; the only exceptions are the emulator's
 *     own 500s on the admin management routes, passed through as Ollama would send them, and the 502 of a backend
 *     told to fail midway);
 *   - every error is in its dialect's envelope: Anthropic's `{"type":"error","error":{type,message}}` on
 *     /v1/messages and below (the type its status calls for), Ollama's {"error": string} on /api, OpenAI's
 *     elsewhere; a 429 or 529 says when to come back;
 *   - the answer, read to its end, arrives within REQUEST_DEADLINE_MS; a stream is framed as its dialect frames it
 *     (chat and completions: `data:` chunks ending with [DONE] or an error; Responses: named events numbered from 0,
 *     from response.created to exactly one terminal event; Anthropic: its events in its order, ending with
 *     message_stop or an error event), an NDJSON stream with whole JSON lines;
 *   - x-request-id is always safe, echoed only when the client's was safe; no CORS credentials, ever;
 *   - the client's credentials never reach a backend, and the key's concurrency slots all come back;
 *   - on the dialect routes: Anthropic's key source (x-api-key first, else a Bearer token) decides the 401, and
 *     another key's stored response is never reached (by id, by previous_response_id) nor shown, nor sent upstream.
 * And three properties of the order of checks, the key's scope and MODEL_LIMITS, each case against the gateway
 * built with its own settings (gatewayWith):
 *   - a request without a valid key (none, malformed, made-up, revoked, expired, another scheme, the admin token, a
 *     bad x-api-key beside a good Bearer token on Anthropic's routes, the key in x-api-key elsewhere) is a 401 in its
 *     dialect on every key route whatever its method and body, and no request at all reaches a backend or an image
 *     host during the whole property run;
 *   - a scoped key cannot run another model by repeating `model` in other letter cases on /api/chat and
 *     /api/generate: the last key Go's decoder binds decides, and the backend gets exactly one `model`;
 *   - with random allow-lists and MODEL_LIMITS, nothing forwarded exceeds a ceiling (in any letter case Go would
 *     read), and no 404 hint or model list names a model outside the key's list, in every dialect.
 *
 * Size: FUZZ_RUNS cases in total across the file (`npm run fuzz` sets 10,000), else the CASES counts with a fixed
 * seed for `npm test`. FUZZ_SEED replays a nightly failure (the seed is printed at the start).
 */
import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, inject, it } from "vitest";
import { handle } from "../../src/app.ts";
import type { Env } from "../../src/env.ts";
import { isWellFormedKey } from "../../src/keys/key-format.ts";
import { anthropicHeaders, countTokensBody, messagesBody, responsesBody, storedResponseId, storedResponsePath, withHostedImage } from "./fuzz/dialects.ts";
import { checkErrorAnswer, checkKeyRefused, checkNdjson, checkStream, dialectOf, nativeError, parseJson } from "./fuzz/oracles.ts";
import {
  alnum,
  anyJson,
  authorization,
  chatModel,
  EFFORTS,
  encode,
  encodeSegment,
  evilObject,
  extraHeaders,
  headersWith,
  headerText,
  hostileString,
  imageUrl,
  keyChecksum,
  longConversation,
  MODELS,
  madeUpKey,
  maxTokens,
  modelName,
  mutated,
  optionsObject,
  PNG_BASE64,
  schemaObject,
  THINKERS,
  TOOL_MODELS,
  toolArguments,
  toolName,
} from "./fuzz/values.ts";
import { ADMIN_AUTH, createKey, EMULATOR_URL, emulator, gatewayWith, IMAGE_SERVER_URL, testKey } from "./helpers.ts";

const settings = env as unknown as { FUZZ_RUNS?: string; FUZZ_SEED?: string };
const NIGHTLY_RUNS = Number(settings.FUZZ_RUNS);
const NIGHTLY = Number.isSafeInteger(NIGHTLY_RUNS) && NIGHTLY_RUNS > 0;
const FIXED_SEED = 20_261_128;
const SEED = settings.FUZZ_SEED ? Number(settings.FUZZ_SEED) : NIGHTLY ? Math.floor(Math.random() * 2 ** 31) : FIXED_SEED;

const REQUEST_DEADLINE_MS = 5000;
const SLOT_RELEASE_DEADLINE_MS = 2000;
const ADMIN_TOKEN = ADMIN_AUTH.slice("Bearer ".length);

/**
 * Cases each property runs in `npm test`, with the fixed seed (the whole file takes seconds on two cores); FUZZ_RUNS
 * scales them all to its total, in the same proportions.
 */
const CASES = {
  chat: 96,
  completions: 48,
  embeddings: 48,
  models: 38,
  native: 77,
  admin: 48,
  rawBodies: 48,
  anyRoute: 77,
  responses: 64,
  storedResponses: 28,
  messages: 64,
  countTokens: 28,
  unauthenticated: 58,
  nativeKeyCase: 36,
  scopesAndLimits: 50,
} as const;
type Property = keyof typeof CASES;
const DEFAULT_TOTAL_RUNS = Object.values(CASES).reduce((sum, n) => sum + n, 0);
const TOTAL_RUNS = NIGHTLY ? NIGHTLY_RUNS : DEFAULT_TOTAL_RUNS;

function runsFor(property: Property): number {
  return Math.max(5, Math.round((TOTAL_RUNS * CASES[property]) / DEFAULT_TOTAL_RUNS));
}

/** Generous: a case takes ~10 ms (a few requests: more); shrinking a failure needs room too. */
function timeoutFor(property: Property, perCaseMs = 200): number {
  return Math.max(60_000, runsFor(property) * perCaseMs);
}

/** Statuses seen per property, printed at the end: a property that only ever sees 400s is not testing much. */
const statuses = new Map<string, Map<number, number>>();
let current = "";

/** `resetEach: false` keeps what the emulator recorded across the cases, for properties about the whole run. */
async function check<Args extends [unknown, ...unknown[]]>(property: Property, prop: fc.IAsyncPropertyWithHooks<Args>, resetEach = true): Promise<void> {
  current = property;
  statuses.set(property, new Map());
  const reset = () => Promise.all([emulator.reset(), fetch(`${LLAMA_URL}/__emulator/reset`, { method: "POST" })]).then(() => {});
  await fc.assert(resetEach ? prop.beforeEach(reset) : prop, { numRuns: runsFor(property), seed: SEED });
}

function countStatus(status: number): void {
  const seen = statuses.get(current);
  seen?.set(status, (seen.get(status) ?? 0) + 1);
}

afterAll(() => {
  for (const [property, seen] of statuses) {
    const counts = [...seen]
      .sort(([a], [b]) => a - b)
      .map(([status, n]) => `${status}×${n}`)
      .join(" ");
    console.log(`fuzz ${property}: ${counts}`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// Requests

type BodySpec = { kind: "json"; value: unknown } | { kind: "text"; text: string } | { kind: "bytes"; bytes: Uint8Array };

interface Case {
  method: string;
  /** Starts with "/"; may hold a query string, and $STORED or $OTHER (see `fillStored`). */
  path: string;
  /** Values may hold $KEY and $ADMIN, replaced by the real test key and admin token when sent. */
  headers: [string, string][];
  /** Its text may hold $STORED or $OTHER. */
  body?: BodySpec;
  /** Settings of the gateway for this case (gatewayWith's), else the Worker as deployed. */
  vars?: Record<string, string>;
  /** Whether the credentials sent are the shared key's (where the generator knows): 401 exactly when they are not. */
  keyValid?: boolean;
  /** A failure the Ollama emulator puts into its next generation (a stream cut after some lines). */
  fault?: { kind: "error-midstream" | "drop" | "malformed"; afterLines: number };
}

const LLAMA_URL = inject("llamaEmulatorUrl");
/** The emulator and a llama-server, so that /props, /tokenize and /detokenize have a backend to reach. */
const WITH_LLAMA = JSON.stringify([
  { name: "desk", kind: "ollama", url: EMULATOR_URL },
  { name: "box", kind: "llamacpp", url: LLAMA_URL, api_key: "$BOX_KEY" },
]);

/** One environment per set of settings, kept for the whole file as an isolate keeps its state. */
const environments = new Map<string, Env>();
function environmentWith(vars: Record<string, string>): Env {
  const id = JSON.stringify(vars);
  let custom = environments.get(id);
  if (!custom) environments.set(id, (custom = { ...(env as Env), ...vars } as Env));
  return custom;
}

/**
 * Stored responses: those the shared key stored (most recent last, taken off when a DELETE succeeds), for `$STORED`;
 * and one another key stored, for `$OTHER`, whose conversation holds OTHER_SECRET. The shared key must never reach
 * it: not by its id on the stored-response routes, not as a `previous_response_id`.
 */
const stored: string[] = [];
const other = { key: "", keyId: "", id: "" };
const OTHER_SECRET = "other-key-secret-5f0c2a";
const NO_SUCH_RESPONSE = `resp_${"0".repeat(32)}`;

function fillStored(text: string): string {
  return text.replaceAll("$STORED", stored.at(-1) ?? NO_SUCH_RESPONSE).replaceAll("$OTHER", other.id || NO_SUCH_RESPONSE);
}

function bodyOf(spec: BodySpec): string | Uint8Array {
  switch (spec.kind) {
    case "json":
      return encode(spec.value);
    case "text":
      return spec.text;
    case "bytes":
      return spec.bytes;
  }
}

async function withDeadline<T>(ms: number, work: () => Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no complete answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work(), late]);
  } finally {
    if (timer !== null) clearTimeout(timer);
  }
}

async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

let key = "";
let keySlots: { inFlight(): Promise<number> } | undefined;

beforeAll(async () => {
  key = await testKey();
  const hash = await sha256Hex(key);
  const bindings = env as Env;
  keySlots = bindings.KEYS.get(bindings.KEYS.idFromName(hash)) as unknown as { inFlight(): Promise<number> };
  console.log(`fuzz: ${TOTAL_RUNS} cases in total, seed ${SEED}${NIGHTLY ? " (FUZZ_SEED replays it)" : ""}`);
});

async function runCase(c: Case): Promise<void> {
  const headers = new Headers();
  for (const [name, value] of c.headers) headers.set(name, value.replaceAll("$KEY", key).replaceAll("$ADMIN", ADMIN_TOKEN));
  const hasBody = c.body !== undefined && c.method !== "GET" && c.method !== "HEAD";
  const raw = hasBody ? bodyOf(c.body!) : undefined;
  const body = typeof raw === "string" ? fillStored(raw) : raw;
  const filled = fillStored(c.path);
  const path = filled.includes("$DIGEST") ? filled.replace("$DIGEST", `sha256:${await sha256Hex(body ?? "")}`) : filled;
  const request = new Request(`https://gateway.test${path}`, { method: c.method, headers, body });
  if (c.fault) await emulator.fault({ fault: c.fault, times: 1 });
  // Credentials that are not the key's: nothing may be called for them (the backends were reset before the case).
  if (c.keyValid === false) await fetch(`${IMAGE_SERVER_URL}/__reset`, { method: "POST" });
  const what = `${request.method} ${c.path.slice(0, 200)}${c.vars ? ` with ${JSON.stringify(c.vars).slice(0, 300)}` : ""}`;
  const { response, bytes } = await withDeadline(
    REQUEST_DEADLINE_MS,
    async () => {
      if (!c.vars) {
        const response = await exports.default.fetch(request.clone());
        return { response, bytes: new Uint8Array(await response.arrayBuffer()) };
      }
      const response = await handle(request.clone(), environmentWith(c.vars));
      const bytes = new Uint8Array(await response.arrayBuffer());
      // The runtime's HTTP layer drops the body of an answer to HEAD, which calling the Worker's handler skips.
      return { response, bytes: request.method === "HEAD" ? new Uint8Array() : bytes };
    },
    what,
  );
  countStatus(response.status);
  checkAnswer(request, response, bytes, c.fault !== undefined);
  checkDialectCase(c, request, typeof body === "string" ? body : "", response, bytes);
  if (c.keyValid === false) {
    const reached = await reachedAnything();
    if (reached.length) fail(request, response, "", `credentials that are not the key's made the gateway call out: ${reached.join(", ")}`);
  }
  await checkUpstream();
  await checkSlotsReleased(what);
}

/**
 * What the dialect properties add to every answer: the credentials' verdict where the generator knows it, stored
 * responses kept to their key (another key's never answered, its conversation never shown), and the ids of what the
 * shared key stored, for the next cases.
 */
function checkDialectCase(c: Case, request: Request, body: string, response: Response, bytes: Uint8Array): void {
  const text = new TextDecoder().decode(bytes);
  const bad = (why: string) => fail(request, response, text, `${why}${c.vars ? `\n  settings: ${JSON.stringify(c.vars)}` : ""}`);
  const { pathname } = new URL(request.url);
  const status = response.status;
  if (c.keyValid === false && status !== 401) bad("credentials that are not the key's were not refused with a 401");
  if (c.keyValid === true && status === 401) bad("the key's own credentials were refused");
  if (text.includes(OTHER_SECRET)) bad("the answer shows another key's stored conversation");
  const previous = (parseJson(body) as { previous_response_id?: unknown } | undefined)?.previous_response_id;
  const namesOther = other.id !== "" && (pathname.includes(other.id) || previous === other.id);
  // A CORS preflight is answered for any path, and says nothing about what is there.
  if (namesOther && status < 300 && request.method !== "OPTIONS") bad("another key's stored response was reached");
  if (status !== 200 || !/^\/v1\/responses(\/|$)/.test(pathname)) return;
  if (request.method === "DELETE") {
    const at = stored.indexOf(String((parseJson(text) as { id?: unknown }).id));
    if (at >= 0) stored.splice(at, 1);
  } else if (request.method === "POST") {
    for (const object of responsesIn(text)) if (object.store === true && typeof object.id === "string" && !stored.includes(object.id)) stored.push(object.id);
  }
}

/** The final Response objects of an answer: the JSON body, or a stream's terminal event. */
function responsesIn(text: string): { id?: unknown; store?: unknown }[] {
  const whole = parseJson(text) as { object?: unknown } | undefined;
  if (whole?.object === "response") return [whole as { id?: unknown; store?: unknown }];
  return text
    .split("\n")
    .filter((line) => line.startsWith("data: "))
    .map((line) => parseJson(line.slice("data: ".length)) as { type?: unknown; response?: { id?: unknown; store?: unknown } } | undefined)
    .filter((event) => ["response.completed", "response.incomplete", "response.failed"].includes(String(event?.type)))
    .map((event) => event!.response!);
}

// ---------------------------------------------------------------------------------------------------------------
// Properties of every answer

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The emulator's own 500s, which the native passthrough relays like Ollama's (a failed pull, a missing blob). */
const EMULATOR_500 =
  /^(pull model manifest: file does not exist|model '[\s\S]*' not found|open \/root\/\.ollama\/models\/blobs\/[\s\S]*: no such file or directory)$/;
const MANAGEMENT_ROUTES = new Set(["/api/pull", "/api/push", "/api/create"]);

class Violation extends Error {}

function fail(request: Request, response: Response, text: string, why: string): never {
  const url = new URL(request.url);
  throw new Violation(`${why}\n  ${request.method} ${url.pathname.slice(0, 300)}${url.search.slice(0, 200)} → ${response.status} ${text.slice(0, 500)}`);
}

/** `faulted`: the backend was told to fail this answer midway, so its 502 (backend_error) is the right answer. */
function checkAnswer(request: Request, response: Response, bytes: Uint8Array, faulted = false): void {
  const { pathname } = new URL(request.url);
  const dialect = dialectOf(pathname);
  const native = dialect === "native";
  const text = new TextDecoder().decode(bytes);
  const status = response.status;
  const bad = (why: string) => fail(request, response, text, why);

  if (status >= 500) {
    const passedThrough = native && status === 500 && MANAGEMENT_ROUTES.has(pathname) && EMULATOR_500.test(nativeError(text) ?? "");
    if (!passedThrough && !(faulted && status === 502)) bad("a 5xx from the gateway");
  }

  const sentId = request.headers.get("x-request-id");
  const id = response.headers.get("x-request-id");
  if (id === null || !SAFE_ID.test(id)) bad(`unsafe or missing x-request-id ${JSON.stringify(id)}`);
  if (sentId !== null && SAFE_ID.test(sentId) && id !== sentId) bad("a safe x-request-id was not echoed");
  if (sentId !== null && !SAFE_ID.test(sentId) && id === sentId) bad("an unsafe x-request-id was echoed");
  if (response.headers.has("access-control-allow-credentials")) bad("CORS credentials allowed");
  const origin = response.headers.get("access-control-allow-origin");
  if (origin !== null && origin !== "*") bad(`CORS origin ${origin} reflected with CORS_ORIGINS=*`);
  if (response.headers.has("x-injected")) bad("a header was injected from the request");

  if (request.method === "HEAD" || status === 204) {
    if (bytes.byteLength !== 0) bad("a body on a HEAD or 204 answer");
    return;
  }
  if (status >= 400) {
    checkErrorAnswer(dialect, status, response.headers, text, bad);
    return;
  }
  const type = response.headers.get("content-type") ?? "";
  if (type.startsWith("text/event-stream")) checkStream(pathname, text, bad);
  else if (type.includes("ndjson")) checkNdjson(text, bad);
  else if (type.startsWith("text/html")) {
    // The one HTML answer is the operator console, always under its Content-Security-Policy.
    if (!["/admin", "/admin/"].includes(pathname) || !response.headers.get("content-security-policy")) bad("an HTML answer that is not the console");
  } else if (text !== "" && parseJson(text) === undefined) bad("a success body that is not JSON");
}

const CREDENTIAL_HEADERS = ["authorization", "cookie", "origin", "x-api-key", "proxy-authorization"];

/**
 * Nothing the client used to authenticate reaches Ollama or llama-server (workerd itself adds cf-worker to every
 * subrequest; llama-server gets its own key, as Authorization), and no other key's stored conversation either.
 */
async function checkUpstream(): Promise<void> {
  const [ollama, llama] = await Promise.all([receivedBy(EMULATOR_URL), receivedBy(LLAMA_URL)]);
  for (const recorded of [...ollama, ...llama]) {
    const names = Object.keys(recorded.headers);
    const credentials = ollama.includes(recorded) ? CREDENTIAL_HEADERS : CREDENTIAL_HEADERS.filter((name) => name !== "authorization");
    const leaked = names.filter((name) => credentials.includes(name) || (name.startsWith("cf-") && name !== "cf-worker"));
    if (leaked.length) throw new Violation(`client headers forwarded to ${recorded.path}: ${leaked.join(", ")}`);
    const dump = JSON.stringify(recorded);
    if (dump.includes(key) || dump.includes(ADMIN_TOKEN)) throw new Violation(`a credential reached the backend on ${recorded.path}`);
    if (dump.includes(OTHER_SECRET)) throw new Violation(`another key's stored conversation reached the backend on ${recorded.path}`);
  }
}

/** Every request settles its lease, however it ended: the key's slots are all back shortly after the answer. */
async function checkSlotsReleased(what: string): Promise<void> {
  const until = Date.now() + SLOT_RELEASE_DEADLINE_MS;
  while ((await keySlots!.inFlight()) > 0) {
    if (Date.now() > until) throw new Violation(`${what}: a concurrency slot was still held ${SLOT_RELEASE_DEADLINE_MS} ms after the answer`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Headers and paths

const SEGMENTS = [
  "v1",
  "api",
  "admin",
  "keys",
  "models",
  "chat",
  "completions",
  "embeddings",
  "embed",
  "generate",
  "health",
  "tags",
  "pull",
  "blobs",
  "show",
  "ps",
  "version",
  "responses",
  "input_items",
  "messages",
  "count_tokens",
  "$STORED",
  "..",
  ".",
  "%2e%2e",
  "%2F",
  "%00",
  "%0d%0a",
  "%",
  "%zz",
  "%E2%82",
  "__proto__",
  "constructor",
  `sha256:${"a".repeat(64)}`,
  `sha256-${"0".repeat(64)}`,
  "",
  "a b",
  "é",
  "💥",
];
const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SEGMENTS) },
  { weight: 1, arbitrary: fc.webSegment() },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 20 }) },
);
const query = fc.oneof(
  fc.constant(""),
  fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom("__proto__", "constructor", "model", "a"), fc.webSegment()),
        fc.oneof(fc.webSegment(), fc.constantFrom("%zz", "%0d%0a", "1e400")),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`),
  fc.integer({ min: 1000, max: 8000 }).map((n) => `?q=${"z".repeat(n)}`),
);
const KNOWN_PATHS = [
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/embeddings",
  "/v1/models",
  "/v1/models/llama3.2",
  "/health",
  "/admin/keys",
  "/admin/keys/key_0000000000000000",
  "/api/tags",
  "/api/version",
  "/api/ps",
  "/api/show",
  "/api/chat",
  "/api/generate",
  "/api/embed",
  "/api/pull",
  "/api/push",
  "/api/create",
  "/api/copy",
  "/api/delete",
  `/api/blobs/sha256:${"a".repeat(64)}`,
  "/api",
  "/api/",
  "/",
  "/v1",
  "/v1/",
  "/v1/chat/completions/",
  "//v1/models",
  "/V1/MODELS",
  "/v1/./models",
  "/v1/x/../models",
  "/api/embeddings",
  "/admin/gate",
  "/v1/responses",
  "/v1/responses/",
  "/v1/responses/$STORED",
  "/v1/responses/$STORED/input_items",
  "/v1/responses/$OTHER",
  "/v1/responses/resp_0/input_items/x",
  "/v1/messages",
  "/v1/messages/",
  "/v1/messages?beta=true",
  "/v1/messages/count_tokens",
  "/v1/messages/batches",
  "/v1/messages/count_tokens/x",
  "/V1/MESSAGES",
  "//v1/messages",
];
const anyPath = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...KNOWN_PATHS), query).map(([path, q]) => path + q) },
  { weight: 3, arbitrary: fc.tuple(fc.array(segment, { maxLength: 6 }), query).map(([segments, q]) => `/${segments.join("/")}${q}`) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 12_000 }).map((n) => `/v1/${"a".repeat(n)}`) },
);

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "patch", "PROPFIND"];
const anyMethod = fc.constantFrom(...METHODS);

// ---------------------------------------------------------------------------------------------------------------
// Bodies: valid requests, which `mutated` then breaks in one to three places (or not at all)

const embedModel = fc.oneof({ weight: 8, arbitrary: fc.constantFrom("nomic-embed-text", "nomic-embed-text:latest") }, { weight: 1, arbitrary: modelName });

const textPart = fc.record({ type: fc.constant("text"), text: hostileString });
const imagePart = fc.record({
  type: fc.constant("image_url"),
  image_url: fc.oneof(imageUrl, fc.record({ url: imageUrl, detail: fc.constantFrom("auto", "low", "high") }, { requiredKeys: ["url"] })),
});
const toolCall = fc.record(
  {
    id: fc.oneof(fc.constantFrom("call_1", "call_2"), hostileString),
    type: fc.constant("function"),
    function: fc.record({
      name: toolName,
      arguments: toolArguments,
    }),
  },
  { requiredKeys: ["id", "function"] },
);
const textContent = fc.oneof(hostileString, fc.array(textPart, { minLength: 1, maxLength: 3 }));

const message = fc.oneof(
  fc.record({ role: fc.constantFrom("system", "developer"), content: textContent }),
  {
    weight: 4,
    arbitrary: fc.record(
      {
        role: fc.constant("user"),
        content: fc.oneof(hostileString, fc.array(fc.oneof(textPart, imagePart), { minLength: 1, maxLength: 3 })),
        name: hostileString,
      },
      { requiredKeys: ["role", "content"] },
    ),
  },
  fc.record(
    { role: fc.constant("assistant"), content: fc.option(textContent), tool_calls: fc.array(toolCall, { maxLength: 2 }), reasoning_content: hostileString },
    { requiredKeys: ["role"] },
  ),
  fc.record(
    { role: fc.constant("tool"), content: textContent, tool_call_id: fc.constantFrom("call_1", "call_2", "other"), name: hostileString },
    { requiredKeys: ["role", "content"] },
  ),
  fc.record({ role: fc.constant("function"), content: fc.option(hostileString), name: hostileString }),
);
const messages = fc.oneof({ weight: 10, arbitrary: fc.array(message, { minLength: 1, maxLength: 4 }) }, { weight: 1, arbitrary: longConversation });

const tool = fc.record({
  type: fc.constant("function"),
  function: fc.record(
    {
      name: toolName,
      description: hostileString,
      parameters: schemaObject,
      strict: fc.boolean(),
    },
    { requiredKeys: ["name"] },
  ),
});

/** Sampling fields and Ollama extras, shared by chat and completions (all valid; mutations break them). */
const sampling = {
  temperature: fc.double({ min: 0, max: 2, noNaN: true }),
  top_p: fc.double({ min: 0, max: 1, noNaN: true }),
  seed: fc.integer(),
  presence_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
  frequency_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
  stop: fc.oneof(hostileString, fc.array(hostileString, { maxLength: 4 })),
  stream: fc.boolean(),
  stream_options: fc.record({ include_usage: fc.boolean() }),
  options: optionsObject,
  keep_alive: fc.constantFrom("5m", "0", 0, -1, "30s"),
  think: fc.oneof(fc.boolean(), fc.constantFrom("low", "medium", "high", "max")),
  n: fc.constant(1),
  user: hostileString,
  metadata: fc.jsonValue({ maxDepth: 2 }),
};

const chatBody = mutated(
  fc
    .record(
      {
        model: chatModel,
        messages,
        ...sampling,
        max_tokens: maxTokens,
        max_completion_tokens: maxTokens,
        response_format: fc.oneof(
          fc.record({ type: fc.constantFrom("text", "json_object") }),
          fc.record({ type: fc.constant("json_schema"), json_schema: fc.record({ name: hostileString, schema: schemaObject }) }),
        ),
        tools: fc.array(tool, { maxLength: 3 }),
        tool_choice: fc.oneof(
          fc.constantFrom("none", "auto", "required"),
          fc.record({ type: fc.constant("function"), function: fc.record({ name: fc.constantFrom("get_weather", "lookup") }) }),
        ),
        parallel_tool_calls: fc.boolean(),
        reasoning_effort: fc.constantFrom(...EFFORTS),
        reasoning: fc.record({ effort: fc.constantFrom(...EFFORTS) }),
        logprobs: fc.boolean(),
        top_logprobs: fc.nat(20),
      },
      { requiredKeys: ["model", "messages"] },
    )
    .map(coherent),
);

/**
 * Fields that are each valid but refused together (top_logprobs without logprobs, tool_choice without tools,
 * think on a model that cannot) are made to agree, so most unmutated bodies reach the backend.
 */
function coherent(body: Record<string, unknown>): Record<string, unknown> {
  const out = { ...body };
  if (out.top_logprobs !== undefined) out.logprobs = true;
  if (!Array.isArray(out.tools) || out.tools.length === 0) delete out.tool_choice;
  if (!THINKERS.has(String(out.model))) {
    delete out.think;
    delete out.reasoning_effort;
    delete out.reasoning;
  }
  if (out.raw === true) delete out.system;
  if (!TOOL_MODELS.has(String(out.model))) delete out.tools;
  const named = (out.tool_choice as { function?: { name?: unknown } } | undefined)?.function?.name;
  const tools = Array.isArray(out.tools) ? (out.tools as { function: { name: unknown } }[]) : [];
  if (named !== undefined && !tools.some((tool) => tool.function.name === named)) out.tool_choice = "auto";
  return out;
}

const completionBody = mutated(
  fc
    .record(
      {
        model: chatModel,
        prompt: fc.oneof(
          hostileString,
          fc.tuple(hostileString).map((one) => [...one]),
        ),
        suffix: hostileString,
        max_tokens: maxTokens,
        ...sampling,
        echo: fc.boolean(),
        logprobs: fc.nat(5),
        best_of: fc.constant(1),
        raw: fc.boolean(),
        system: hostileString,
      },
      { requiredKeys: ["model", "prompt"] },
    )
    .map(coherent),
);

const embeddingBody = mutated(
  fc.record(
    {
      model: embedModel,
      input: fc.oneof(
        hostileString.filter((text) => text !== ""),
        fc.array(
          hostileString.filter((text) => text !== ""),
          { minLength: 1, maxLength: 6 },
        ),
        fc.integer({ min: 200, max: 300 }).map((n) => Array.from({ length: n }, (_, i) => `text ${i}`)),
      ),
      dimensions: fc.integer({ min: 1, max: 8 }),
      encoding_format: fc.constantFrom("float", "base64", "BASE64", "Float"),
      options: optionsObject,
      keep_alive: fc.constantFrom("5m", 0),
      truncate: fc.boolean(),
      user: hostileString,
    },
    { requiredKeys: ["model", "input"] },
  ),
);

const nativeMessage = fc.record(
  {
    role: fc.constantFrom("system", "user", "assistant", "tool", "USER"),
    content: hostileString,
    images: fc.array(fc.constantFrom(PNG_BASE64, "!!!"), { maxLength: 2 }),
    tool_calls: fc.array(fc.record({ function: fc.record({ name: fc.constant("get_weather"), arguments: optionsObject }) }), { maxLength: 1 }),
  },
  { requiredKeys: ["role", "content"] },
);
/** Mostly text; sometimes an object with `toString`/`valueOf` keys, which String() chokes on. */
const textOrNot = fc.oneof({ weight: 6, arbitrary: hostileString }, { weight: 1, arbitrary: evilObject });
const nativeCommon = {
  options: optionsObject,
  stream: fc.boolean(),
  keep_alive: fc.constantFrom("5m", 0, "0s", -1),
  think: fc.oneof(fc.boolean(), fc.constantFrom("low", "high")),
};
const NATIVE_BODIES: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  "/api/chat": fc.record(
    {
      model: chatModel,
      messages: fc.array(nativeMessage, { maxLength: 3 }),
      format: fc.oneof(fc.constant("json"), schemaObject),
      tools: fc.array(tool, { maxLength: 2 }),
      ...nativeCommon,
    },
    { requiredKeys: ["model"] },
  ),
  "/api/generate": fc.record(
    {
      model: chatModel,
      prompt: textOrNot,
      system: textOrNot,
      suffix: hostileString,
      raw: fc.boolean(),
      images: fc.array(fc.constant(PNG_BASE64), { maxLength: 1 }),
      format: fc.constant("json"),
      ...nativeCommon,
    },
    { requiredKeys: ["model"] },
  ),
  "/api/embed": fc.record(
    {
      model: embedModel,
      input: fc.oneof(hostileString, fc.array(hostileString, { maxLength: 3 })),
      truncate: fc.boolean(),
      dimensions: fc.integer({ min: 1, max: 8 }),
      options: optionsObject,
    },
    { requiredKeys: ["model", "input"] },
  ),
  "/api/show": fc.oneof(fc.record({ model: chatModel, verbose: fc.boolean() }, { requiredKeys: ["model"] }), fc.record({ name: chatModel })),
  "/api/pull": fc.record(
    { model: fc.oneof(fc.constantFrom("llama3.2", "new-model:1b", "does-not-exist"), hostileString), stream: fc.boolean(), insecure: fc.boolean() },
    { requiredKeys: ["model"] },
  ),
  "/api/push": fc.record({ model: fc.oneof(fc.constantFrom("llama3.2", "missing:1b"), hostileString), stream: fc.boolean() }, { requiredKeys: ["model"] }),
  "/api/create": fc.record(
    {
      model: fc.oneof(fc.constantFrom("mine:latest", "new"), hostileString),
      from: fc.oneof(fc.constantFrom("llama3.2", "missing"), hostileString),
      system: hostileString,
      stream: fc.boolean(),
      files: fc.dictionary(fc.string(), fc.constantFrom(`sha256:${"a".repeat(64)}`, "x"), { maxKeys: 2 }),
    },
    { requiredKeys: ["model"] },
  ),
  "/api/copy": fc.record({
    source: fc.oneof(fc.constantFrom("llama3.2", "missing"), hostileString),
    destination: fc.oneof(fc.constantFrom("copy-of-llama"), hostileString),
  }),
  "/api/delete": fc.record({ model: fc.oneof(fc.constantFrom("llama3.2", "missing"), hostileString) }),
};
const NATIVE_ROUTES: [path: string, methods: string[]][] = [
  ["/api/tags", ["GET", "HEAD"]],
  ["/api/version", ["GET", "HEAD"]],
  ["/api/ps", ["GET"]],
  ["/api/show", ["POST"]],
  ["/api/chat", ["POST"]],
  ["/api/generate", ["POST"]],
  ["/api/embed", ["POST"]],
  ["/api/pull", ["POST"]],
  ["/api/push", ["POST"]],
  ["/api/create", ["POST"]],
  ["/api/copy", ["POST"]],
  ["/api/delete", ["DELETE"]],
  [`/api/blobs/sha256:${"a".repeat(64)}`, ["HEAD", "POST"]],
  ["/api/blobs/sha256:bad", ["HEAD", "POST"]],
  ["/api/blobs/%zz", ["POST"]],
  ["/api/unknown", ["GET", "POST"]],
  ["/api/embeddings", ["POST"]],
];

const isoDate = fc.date({ noInvalidDate: true, min: new Date("2030-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z") }).map((d) => d.toISOString());
const createKeyBody = mutated(
  fc.record(
    {
      name: hostileString,
      models: fc.array(
        modelName.filter((name) => name !== "" && name.length <= 200),
        { maxLength: 4 },
      ),
      rpm: fc.integer({ min: 1, max: 1_000_000_000 }),
      tpm: fc.integer({ min: 1, max: 1_000_000_000 }),
      max_concurrency: fc.integer({ min: 1, max: 1_000_000_000 }),
      expires_at: fc.oneof(
        isoDate,
        fc.constant(null),
        fc.constantFrom(
          "2999-01-01T00:00:00+14:00",
          "2999-01-01T00:00:00.1234567891234Z",
          "2028-02-29T00:00:00Z",
          "2999-02-29T00:00:00Z",
          "2000-01-01T00:00:00Z",
        ),
      ),
    },
    { requiredKeys: ["name"] },
  ),
);

/** Bytes that are not a JSON body: invalid UTF-8, BOMs, UTF-16, truncations, trailing garbage. */
const badBytes: fc.Arbitrary<BodySpec> = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((bytes): BodySpec => ({ kind: "bytes", bytes })),
  fc
    .tuple(
      fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => b.map((x) => x | 0x80)),
      fc.constantFrom("chat", "generate"),
    )
    .map(([invalid, kind]): BodySpec => {
      const before = new TextEncoder().encode(
        kind === "chat" ? '{"model":"llama3.2","messages":[{"role":"user","content":"' : '{"model":"llama3.2","prompt":"',
      );
      const after = new TextEncoder().encode(kind === "chat" ? '"}]}' : '"}');
      return { kind: "bytes", bytes: new Uint8Array([...before, ...invalid, ...after]) };
    }),
  fc
    .constantFrom(
      "",
      " ",
      "\n",
      "null",
      "[]",
      '"text"',
      "1e400",
      "{",
      '{"model":',
      '{"model":"llama3.2"}garbage',
      "\ufeff{}",
      '{"a":1}{"b":2}',
      "{'model':'x'}",
      '{"model":"llama3.2","messages":[{"role":"user","content":"\\ud800"}]}',
      '{"model":"llama3.2","prompt":"\\u0000"}',
    )
    .map((text): BodySpec => ({ kind: "text", text })),
  fc.constant<BodySpec>({
    kind: "bytes",
    bytes: new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"model":"llama3.2","messages":[{"role":"user","content":"hi"}]}')]),
  }),
  fc.constant<BodySpec>({ kind: "bytes", bytes: new Uint8Array([0xff, 0xfe, ...Array.from('{"model":"x"}', (c) => [c.charCodeAt(0), 0]).flat()]) }),
);

const json = (value: unknown): BodySpec => ({ kind: "json", value });

// ---------------------------------------------------------------------------------------------------------------
// The properties

const post = (path: string, body: fc.Arbitrary<unknown>, auth = authorization): fc.Arbitrary<Case> =>
  fc.record({ method: fc.constant("POST"), path: fc.constant(path), headers: headersWith(auth), body: body.map(json) });

/** Oracles that accepted anything would make every property pass: each must take the good and refuse the broken. */
describe("fuzz: the oracles themselves", () => {
  /** Runs an oracle on a sample: it must pass (`ok`) or say why not. */
  const expectVerdict = (ok: boolean, oracle: (bad: (why: string) => never) => void) => {
    let why: string | null = null;
    try {
      oracle((reason) => {
        throw new Violation(reason);
      });
    } catch (error) {
      if (!(error instanceof Violation)) throw error;
      why = error.message;
    }
    if ((why === null) !== ok) throw new Error(ok ? `refused: ${why}` : "accepted");
  };
  const sse = (...events: [string, Record<string, unknown>][]) =>
    events.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`).join("");
  const response = (status: string) => ({ response: { id: "resp_1", status } });
  const responses = (...names: string[]) =>
    sse(...names.map((name, i): [string, Record<string, unknown>] => [name, { ...response(name.split(".")[1]!), sequence_number: i }]));
  const anthropicError = { error: { type: "api_error", message: "x" } };
  const message = (...middle: [string, Record<string, unknown>][]) =>
    sse(["message_start", { message: {} }], ...middle, ["message_delta", { delta: {} }], ["message_stop", {}]);
  const block = (index: number): [string, Record<string, unknown>][] => [
    ["content_block_start", { index }],
    ["content_block_delta", { index }],
    ["content_block_stop", { index }],
  ];
  const STREAMS: [what: string, path: string, text: string, ok: boolean][] = [
    ["chat with [DONE]", "/v1/chat/completions", 'data: {"id":"x"}\n\n: keep-alive\n\ndata: [DONE]\n\n', true],
    ["chat without [DONE]", "/v1/chat/completions", 'data: {"id":"x"}\n\n', false],
    [
      "Responses, created to completed",
      "/v1/responses",
      `: keep-alive\n\n${responses("response.created", "response.in_progress", "response.completed")}`,
      true,
    ],
    ["Responses ending failed", "/v1/responses", responses("response.created", "response.failed"), true],
    ["Responses without a terminal event", "/v1/responses", responses("response.created", "response.in_progress"), false],
    ["Responses with two terminal events", "/v1/responses", responses("response.created", "response.incomplete", "response.completed"), false],
    ["Responses with [DONE]", "/v1/responses", `${responses("response.created", "response.completed")}data: [DONE]\n\n`, false],
    [
      "Responses skipping a number",
      "/v1/responses",
      sse(["response.created", { ...response("x"), sequence_number: 0 }], ["response.completed", { ...response("completed"), sequence_number: 2 }]),
      false,
    ],
    [
      "Responses with a status unlike its event",
      "/v1/responses",
      responses("response.created", "response.completed").replace('"status":"completed"', '"status":"failed"'),
      false,
    ],
    ["Anthropic, two blocks and pings", "/v1/messages", message(...block(0), ["ping", {}], ...block(1)), true],
    ["Anthropic ending in error", "/v1/messages", sse(["message_start", { message: {} }], ...block(0).slice(0, 2), ["error", anthropicError]), true],
    ["Anthropic without message_stop", "/v1/messages", message().replace(/event: message_stop\n[^\n]*\n\n$/, ""), false],
    ["Anthropic with a comment", "/v1/messages", `: keep-alive\n\n${message()}`, false],
    ["Anthropic with a block numbered wrong", "/v1/messages", message(...block(1)), false],
    ["Anthropic after message_stop", "/v1/messages", `${message()}${sse(["ping", {}], ["message_stop", {}])}`, false],
    ["Anthropic with an OpenAI error event", "/v1/messages", sse(["message_start", { message: {} }], ["error", { error: { message: "x" } }]), false],
  ];
  it.each(STREAMS)("%s", (_what, path, text, ok) => expectVerdict(ok, (bad) => checkStream(path, text, bad)));

  const jsonType = { "content-type": "application/json" };
  const ERRORS: [what: string, path: string, status: number, headers: Record<string, string>, body: unknown, ok: boolean][] = [
    ["Anthropic 404", "/v1/messages", 404, jsonType, { type: "error", error: { type: "not_found_error", message: "x" } }, true],
    [
      "Anthropic 529 with retry-after",
      "/v1/messages",
      529,
      { ...jsonType, "retry-after": "5" },
      { type: "error", error: { type: "overloaded_error", message: "x" } },
      true,
    ],
    [
      "Anthropic 404 of the wrong type",
      "/v1/messages/count_tokens",
      404,
      jsonType,
      { type: "error", error: { type: "invalid_request_error", message: "x" } },
      false,
    ],
    [
      "OpenAI's envelope on Anthropic's route",
      "/v1/messages",
      400,
      jsonType,
      { error: { message: "x", type: "invalid_request_error", param: null, code: null } },
      false,
    ],
    ["Anthropic's shape on OpenAI's route", "/v1/responses", 400, jsonType, { type: "error", error: { type: "invalid_request_error", message: "x" } }, false],
    [
      "a 429 without retry-after",
      "/v1/responses",
      429,
      jsonType,
      { error: { message: "x", type: "rate_limit_exceeded", param: null, code: "rate_limit_exceeded" } },
      false,
    ],
    [
      "an OpenAI 401 of another code",
      "/v1/responses/x",
      401,
      jsonType,
      { error: { message: "x", type: "invalid_request_error", param: null, code: null } },
      false,
    ],
    ["Ollama's shape on /api", "/api/chat", 400, {}, { error: "x" }, true],
  ];
  it.each(ERRORS)("%s", (_what, path, status, headers, body, ok) =>
    expectVerdict(ok, (bad) => checkErrorAnswer(dialectOf(path), status, new Headers(headers), JSON.stringify(body), bad)),
  );
});

describe("fuzz: no 5xx, the right error envelope, bounded time, clean upstream", () => {
  it("POST /v1/chat/completions", { timeout: timeoutFor("chat") }, async () => {
    await check("chat", fc.asyncProperty(post("/v1/chat/completions", chatBody), runCase));
  });

  it("POST /v1/completions", { timeout: timeoutFor("completions") }, async () => {
    await check("completions", fc.asyncProperty(post("/v1/completions", completionBody), runCase));
  });

  it("POST /v1/embeddings", { timeout: timeoutFor("embeddings") }, async () => {
    await check("embeddings", fc.asyncProperty(post("/v1/embeddings", embeddingBody), runCase));
  });

  it("GET /v1/models and /v1/models/{id}: ids with percent-encoding, dot segments, control characters, great length", {
    timeout: timeoutFor("models"),
  }, async () => {
    const id = fc.oneof(
      modelName.map(encodeSegment),
      fc.constantFrom(
        "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M",
        "llama3.2:latest",
        "%",
        "%zz",
        "%E2%82",
        "%0D%0AX-Injected:%201",
        "%00",
        "..",
        "a/../..",
        "./llama3.2",
        "%2e%2e/admin/keys",
        "llama3.2/",
        "__proto__",
        "constructor",
      ),
      fc.array(segment, { minLength: 1, maxLength: 4 }).map((segments) => segments.join("/")),
      fc.integer({ min: 500, max: 12_000 }).map((n) => "m".repeat(n)),
    );
    const path = fc
      .tuple(
        fc.oneof(
          fc.constant(""),
          id.map((value) => `/${value}`),
        ),
        query,
      )
      .map(([rest, q]) => `/v1/models${rest}${q}`);
    const method = fc.oneof({ weight: 8, arbitrary: fc.constant("GET") }, { weight: 1, arbitrary: anyMethod });
    await check("models", fc.asyncProperty(fc.record({ method, path, headers: headersWith(authorization) }), runCase));
  });

  it("/api/*: native routes with native bodies, any method, keys and the admin token", { timeout: timeoutFor("native") }, async () => {
    const ADMIN_ONLY = ["/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete"];
    const nativeCase: fc.Arbitrary<Case> = fc.constantFrom(...NATIVE_ROUTES).chain(([path, methods]) => {
      const blob = path.startsWith("/api/blobs/");
      const admin = blob || ADMIN_ONLY.includes(path);
      const auth = admin
        ? fc.oneof({ weight: 4, arbitrary: fc.constant("Bearer $ADMIN") }, { weight: 1, arbitrary: authorization })
        : fc.oneof({ weight: 4, arbitrary: authorization }, { weight: 1, arbitrary: fc.constant("Bearer $ADMIN") });
      const method = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...methods) }, { weight: 1, arbitrary: anyMethod });
      const valid = NATIVE_BODIES[path];
      const body: fc.Arbitrary<BodySpec> = blob
        ? fc.uint8Array({ maxLength: 256 }).map((bytes): BodySpec => ({ kind: "bytes", bytes }))
        : fc.oneof({ weight: 5, arbitrary: (valid ? mutated(valid) : anyJson).map(json) }, { weight: 1, arbitrary: badBytes });
      // $DIGEST: the body's real digest, so that some uploads succeed.
      const target = blob && path.includes("aaaa") ? fc.constantFrom(path, "/api/blobs/$DIGEST") : fc.constant(path);
      return fc.record({ method, path: target, headers: headersWith(auth), body });
    });
    await check("native", fc.asyncProperty(nativeCase, runCase));
  });

  it("/admin/keys: create (then revoke), list, revoke, with and without the admin token", { timeout: timeoutFor("admin") }, async () => {
    const auth = fc.oneof(
      { weight: 6, arbitrary: fc.constant("Bearer $ADMIN") },
      { weight: 1, arbitrary: authorization },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          "Bearer test-admin-token-0123456789abcdeF",
          "Bearer test-admin-token-0123456789abcdef2",
          "Bearer  test-admin-token-0123456789abcdef ",
          "",
        ),
      },
    );
    const keyId = fc.oneof(
      fc.constantFrom("key_0000000000000000", "__proto__", "constructor", "%zz", "%27%20OR%201=1--", "' OR 1=1--", "a".repeat(2000)),
      fc.webSegment(),
      fc.string({ unit: alnum, minLength: 16, maxLength: 16 }).map((s) => `key_${s}`),
    );
    const adminCase: fc.Arbitrary<Case> = fc.oneof(
      { weight: 5, arbitrary: post("/admin/keys", createKeyBody, auth) },
      {
        weight: 1,
        arbitrary: fc.record({
          method: fc.constantFrom("GET", "HEAD", "POST"),
          path: fc.constantFrom("/admin/keys", "/admin/gate", "/admin", "/admin/"),
          headers: headersWith(auth),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          method: fc.constantFrom("DELETE", "GET", "POST", "PUT"),
          path: keyId.map((id) => `/admin/keys/${id}`),
          headers: headersWith(auth),
        }),
      },
      { weight: 1, arbitrary: fc.record({ method: fc.constant("POST"), path: fc.constant("/admin/keys"), headers: headersWith(auth), body: badBytes }) },
    );
    await check(
      "admin",
      fc.asyncProperty(adminCase, async (c) => {
        await runCase(c);
        await revokeCreatedKeys();
      }),
    );
  });

  it("POST routes with bodies that are not JSON objects: invalid UTF-8, BOMs, truncations, bare values", { timeout: timeoutFor("rawBodies") }, async () => {
    const path = fc.constantFrom(
      "/v1/chat/completions",
      "/v1/completions",
      "/v1/embeddings",
      "/api/chat",
      "/api/generate",
      "/api/embed",
      "/api/show",
      "/admin/keys",
      "/api/pull",
      "/api/copy",
      "/v1/responses",
      "/v1/messages",
      "/v1/messages/count_tokens",
    );
    const auth = fc.oneof(authorization, fc.constant("Bearer $ADMIN"));
    const rawCase = fc.record({ method: fc.constant("POST"), path, headers: headersWith(auth), body: badBytes });
    await check("rawBodies", fc.asyncProperty(rawCase, runCase));
  });

  it("any method, any path and query string, any headers, any body (/health and unknown paths included)", { timeout: timeoutFor("anyRoute") }, async () => {
    const body = fc.oneof(
      badBytes,
      anyJson.map(json),
      chatBody.map(json),
      mutated(NATIVE_BODIES["/api/chat"]!).map(json),
      responsesBody.map(json),
      messagesBody.map(json),
    );
    const anyCase = fc.record({ method: anyMethod, path: anyPath, headers: headersWith(authorization), body }, { requiredKeys: ["method", "path", "headers"] });
    await check("anyRoute", fc.asyncProperty(anyCase, runCase));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The dialects on the internal form: OpenAI Responses and Anthropic Messages

/** Model patterns as Claude Code and Codex CLI users set them (their requests name models the emulator lacks). */
const AGENT_ALIASES = JSON.stringify({
  "gpt-4o-mini": "llama3.2",
  thinker: "qwen3:8b",
  "claude-*": "qwen3:8b",
  "claude-3-5-haiku*": "llama3.2",
  "gpt-5*": "qwen3:8b",
});
/**
 * The settings a dialect case runs under: the Worker as deployed (32k windows), the agents' model patterns, a
 * 512-token window that long prompts overflow (refused, or trimmed of their oldest turns with `truncate: oldest`),
 * and llama-server beside Ollama (its own model, its own chat translation).
 */
const dialectSettings = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constant({ MODEL_ALIASES: AGENT_ALIASES }) },
  { weight: 1, arbitrary: fc.constant({ OLLAMA_CONTEXT_LENGTH: "512" }) },
  { weight: 1, arbitrary: fc.constant({ OLLAMA_CONTEXT_LENGTH: "512", MODEL_DEFAULTS: JSON.stringify({ "*": { truncate: "oldest" } }) }) },
  { weight: 1, arbitrary: fc.constant({ BACKENDS: WITH_LLAMA, BOX_KEY: "llama-secret", MODEL_ALIASES: AGENT_ALIASES }) },
);
/** Now and then the backend fails midway (an error line, a dropped connection, a line that is not JSON): the dialect's failure event. */
const backendFault = fc.oneof(
  { weight: 7, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("error-midstream" as const, "drop" as const, "malformed" as const), afterLines: fc.nat(4) }) },
);
/** A dialect case under one of those settings, and now and then with a backend that fails midway. */
const withSettings = (cases: fc.Arbitrary<Case>): fc.Arbitrary<Case> =>
  fc.tuple(cases, dialectSettings, backendFault).map(([c, vars, fault]) => ({ ...c, ...(vars && { vars }), ...(fault && { fault }) }));

/** Anthropic's key source, for the headers anthropicHeaders makes: x-api-key first (trimmed), else a Bearer token. */
function anthropicKeyValid(headers: [string, string][]): boolean {
  const apiKey = headers.find(([name]) => name === "x-api-key")?.[1].trim();
  if (apiKey) return apiKey === "$KEY";
  return headers.find(([name]) => name === "authorization")?.[1] === "Bearer $KEY";
}

/** Mostly POST with a dialect body (sometimes bytes that are not JSON, or another method), x-api-key or Bearer. */
const anthropicCase = (paths: string[], body: fc.Arbitrary<unknown>): fc.Arbitrary<Case> =>
  withSettings(
    fc
      .record({
        method: fc.oneof({ weight: 12, arbitrary: fc.constant("POST") }, { weight: 1, arbitrary: anyMethod }),
        path: fc.constantFrom(...paths),
        headers: anthropicHeaders,
        body: fc.oneof({ weight: 15, arbitrary: body.map(json) }, { weight: 1, arbitrary: badBytes }),
      })
      // A preflight is answered before any key is read.
      .map((c): Case => (c.method === "OPTIONS" ? c : { ...c, keyValid: anthropicKeyValid(c.headers) })),
  );

describe("fuzz: Responses and Anthropic Messages (their envelopes, their events, stored responses kept to their key)", () => {
  beforeAll(async () => {
    const created = await createKey({ name: "fuzz: another key", rpm: 1_000_000, tpm: 1_000_000_000, max_concurrency: 1000 });
    other.key = created.key;
    const store = async (auth: string, input: string) => {
      const res = await gatewayWith({}, "/v1/responses", {
        method: "POST",
        headers: { authorization: `Bearer ${auth}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "llama3.2", input, store: true }),
      });
      const body = (await res.json()) as { id?: string };
      if (res.status !== 200 || !body.id) throw new Violation(`storing a response answered ${res.status}: ${JSON.stringify(body)}`);
      return body.id;
    };
    other.id = await store(created.key, `Remember ${OTHER_SECRET}.`);
    other.keyId = created.id;
    stored.push(await store(key, "Remember this."));
  });
  afterAll(() => revokeKey(other.keyId));

  it("POST /v1/responses", { timeout: timeoutFor("responses") }, async () => {
    const responsesCase = withSettings(post("/v1/responses", responsesBody));
    await check("responses", fc.asyncProperty(responsesCase, runCase));
  });

  it("GET and DELETE /v1/responses/{id}, GET …/input_items: this key's ids, another key's, made-up ones, bad escapes", {
    timeout: timeoutFor("storedResponses"),
  }, async () => {
    const storedCase: fc.Arbitrary<Case> = storedResponsePath.chain(({ path, methods }) =>
      fc.record({
        method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...methods) }, { weight: 1, arbitrary: anyMethod }),
        path: fc.constant(path),
        headers: headersWith(authorization),
      }),
    );
    // Continuations too: a stored conversation (this key's, another's, none) with a new turn.
    const continuation = post(
      "/v1/responses",
      fc.record({
        model: fc.constantFrom("llama3.2", "qwen3:8b"),
        input: fc.constant("and then?"),
        previous_response_id: storedResponseId,
        stream: fc.boolean(),
      }),
    );
    await check("storedResponses", fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: storedCase }, { weight: 1, arbitrary: continuation }), runCase));
    // The other key still has its response: nothing the shared key sent deleted it.
    const res = await gatewayWith({}, `/v1/responses/${other.id}`, { headers: { authorization: `Bearer ${other.key}` } });
    if (res.status !== 200) throw new Violation(`another key's stored response answered its own key ${res.status}: ${await res.text()}`);
  });

  it("POST /v1/messages (also ?beta=true): Anthropic's errors and events, the key in x-api-key or as a Bearer token", {
    timeout: timeoutFor("messages"),
  }, async () => {
    const paths = ["/v1/messages", "/v1/messages", "/v1/messages?beta=true", "/v1/messages/"];
    await check("messages", fc.asyncProperty(anthropicCase(paths, messagesBody), runCase));
  });

  it("POST /v1/messages/count_tokens (also ?beta=true)", { timeout: timeoutFor("countTokens") }, async () => {
    const paths = ["/v1/messages/count_tokens", "/v1/messages/count_tokens?beta=true"];
    await check("countTokens", fc.asyncProperty(anthropicCase(paths, countTokensBody), runCase));
  });
});

/** Keys the admin property created are revoked again (and the revocation must work), so the registry stays small. */
async function revokeCreatedKeys(): Promise<void> {
  const admin = { authorization: ADMIN_AUTH };
  const list = (await (await exports.default.fetch(new Request("https://gateway.test/admin/keys", { headers: admin }))).json()) as {
    data: { id: string; prefix: string }[];
  };
  for (const entry of list.data) {
    if (entry.prefix === key.slice(0, 9)) continue; // the shared test key
    const res = await exports.default.fetch(new Request(`https://gateway.test/admin/keys/${entry.id}`, { method: "DELETE", headers: admin }));
    if (res.status !== 200) throw new Violation(`revoking a fuzz-created key answered ${res.status}: ${await res.text()}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Authentication first, the key's scope and MODEL_LIMITS: each case against the gateway built with its own settings

type Recorded = Awaited<ReturnType<typeof emulator.requests>>[number];

/** What a backend emulator (Ollama's or llama-server's: the same control routes) has received since its reset. */
async function receivedBy(base: string): Promise<Recorded[]> {
  const answer = await fetch(`${base}/__emulator/requests`);
  const requests = answer.ok ? ((await answer.json()) as Recorded[]) : null;
  if (!Array.isArray(requests)) throw new Violation(`the emulator at ${base} could not list the requests it received (HTTP ${answer.status})`);
  return requests;
}

/** What the image host has served since its reset, per path. */
async function imageDownloads(): Promise<Record<string, number>> {
  return ((await (await fetch(`${IMAGE_SERVER_URL}/__stats`)).json()) as { requests: Record<string, number> }).requests;
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);
const utf8Length = (text: string) => new TextEncoder().encode(text).byteLength;

async function revokeKey(id: string): Promise<void> {
  const res = await exports.default.fetch(new Request(`https://gateway.test/admin/keys/${id}`, { method: "DELETE", headers: { authorization: ADMIN_AUTH } }));
  if (res.status !== 200) throw new Violation(`revoking key ${id} answered ${res.status}: ${await res.text()}`);
}

// --- (a) requests without a valid key ---------------------------------------------------------------------------

const authorizationIs = (value: string): [string, string][] => [["authorization", value]];
/**
 * Credentials that must not work. Placeholders, filled in when sent: $KEY (the valid shared key, here only in forms
 * that must not pass: another scheme, extra text), $ADMIN (the admin token), $REVOKED and $EXPIRED (keys that were
 * valid once).
 */
const badCredentials: fc.Arbitrary<[string, string][]> = fc.oneof(
  { weight: 2, arbitrary: fc.constant<[string, string][]>([]) },
  { weight: 4, arbitrary: madeUpKey.map((made) => authorizationIs(`Bearer ${made}`)) },
  { weight: 3, arbitrary: fc.constantFrom("Bearer $REVOKED", "Bearer $EXPIRED", "Bearer $ADMIN", "bearer $ADMIN", "Bearer  $ADMIN ").map(authorizationIs) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(
        "Basic $KEY",
        "Token $KEY",
        "Key $KEY",
        "$KEY",
        "Bearer:$KEY",
        "Bearer $KEY extra",
        "Bearer $KEY$KEY",
        "Bearer x$KEY",
        "Bearer $KEY.",
        "Bearer sk-$KEY",
      )
      .map(authorizationIs),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom("Bearer sk-not-a-key", "Bearer", "Bearer ", "", "Basic dXNlcjpwYXNz", "Bearer null", 'Digest username="ollama"')
      .map(authorizationIs),
  },
  { weight: 1, arbitrary: fc.string({ unit: alnum, minLength: 38, maxLength: 38 }).map((body) => authorizationIs(`Bearer sk-${body}`)) },
  { weight: 1, arbitrary: headerText.map((text) => authorizationIs(`Bearer ${text}`)) },
  // Anthropic's header name, without a valid key in it, and no Authorization at all.
  { weight: 1, arbitrary: fc.oneof(madeUpKey, fc.constantFrom("$ADMIN", "$REVOKED", "$EXPIRED")).map((value): [string, string][] => [["x-api-key", value]]) },
);

/** Every key route and the methods it serves; `+`: any model id after the slash. */
const KEY_ROUTES: [path: string, methods: string[]][] = [
  ["/v1/chat/completions", ["POST"]],
  ["/v1/completions", ["POST"]],
  ["/v1/embeddings", ["POST"]],
  ["/v1/models", ["GET"]],
  ["/v1/models/+", ["GET"]],
  ["/api/tags", ["GET", "HEAD"]],
  ["/api/ps", ["GET"]],
  ["/api/version", ["GET", "HEAD"]],
  ["/api/show", ["POST"]],
  ["/api/chat", ["POST"]],
  ["/api/generate", ["POST"]],
  ["/api/embed", ["POST"]],
  ["/props", ["GET"]],
  ["/tokenize", ["POST"]],
  ["/detokenize", ["POST"]],
  ["/v1/responses", ["POST"]],
  ["/v1/responses/{id}", ["GET", "DELETE"]],
  ["/v1/responses/{id}/input_items", ["GET"]],
  ["/v1/messages", ["POST"]],
  ["/v1/messages/count_tokens", ["POST"]],
];
/** Near the key routes, but none of them: a 404 or a 401, whichever the gateway decides first. */
const NEAR_KEY_ROUTES = [
  "/v1/chat",
  "/v1/chat/completions/x",
  "/v1/embedding",
  "/api/nope",
  "/api/embeddings",
  "/api/chat/",
  "/tokenise",
  "/v2/models",
  "/props/x",
  "/v1/response",
  "/v1/responses/resp_0/input_items/x",
  "/v1/message",
  "/v1/messages/batches",
  "/v1/messages/count_tokens/x",
];

/** A KEY_ROUTES path as a pattern: `+` any rest (one character at least), `{id}` one path segment. */
const routePattern = (path: string) => new RegExp(`^${path.replace(/[.]/g, "\\.").replace("+", ".+").replace("{id}", "[^/]+")}$`);
const SERVED = KEY_ROUTES.map(([path, methods]) => [routePattern(path), methods] as const);

function servedMethods(pathname: string): string[] {
  return SERVED.find(([pattern]) => pattern.test(pathname))?.[1] ?? [];
}

/**
 * Credentials that must not work on this path, as its dialect reads them: on Anthropic's routes, where x-api-key
 * is read first, a bad one beside the valid key as a Bearer token; elsewhere, the valid key in x-api-key, which no
 * other route reads.
 */
function badCredentialsFor(path: string): fc.Arbitrary<[string, string][]> {
  const dialectOnly =
    dialectOf(path.split("?")[0]!) === "anthropic"
      ? fc.oneof(madeUpKey, fc.constantFrom("$ADMIN", "$REVOKED", "$EXPIRED", "Bearer $KEY", "$KEY extra", "$KEY$KEY")).map((apiKey): [string, string][] => [
          ["x-api-key", apiKey],
          ["authorization", "Bearer $KEY"],
        ])
      : fc.constant<[string, string][]>([["x-api-key", "$KEY"]]);
  return fc.oneof({ weight: 5, arbitrary: badCredentials }, { weight: 1, arbitrary: dialectOnly });
}

/** "stalled": a body that never ends (a gateway that reads it before checking the key waits forever). */
type UnauthBody = BodySpec | { kind: "stalled"; text: string };

interface UnauthCase {
  vars: Record<string, string>;
  method: string;
  path: string;
  headers: [string, string][];
  /** Not sent with GET and HEAD. */
  body: UnauthBody;
  /** Sent as a stream that notes whether anything read it (always so for a stalled body). */
  streamed: boolean;
  /** A Content-Length header far beyond the body (and MAX_BODY_BYTES). */
  declaredLength?: string;
}

const HOSTED_IMAGES = ["/tiny.png", "/redirect.png", "/huge.png", "/fake.png"].map((path) => IMAGE_SERVER_URL + path);
/** A chat naming images on the image host: a download before the key is checked shows in the host's counts. */
const chatWithImages = fc.record({
  model: chatModel,
  messages: fc
    .tuple(
      fc.constantFrom(...HOSTED_IMAGES).map((url) => ({ type: "image_url", image_url: { url } })),
      fc.array(fc.oneof(textPart, imagePart), { maxLength: 2 }),
    )
    .map(([image, rest]) => [{ role: "user", content: [...rest, image] }]),
  stream: fc.boolean(),
});
const llamaBodies = fc.oneof(
  fc.record({ content: hostileString, model: chatModel, add_special: fc.boolean() }, { requiredKeys: ["content"] }),
  fc.record({ tokens: fc.array(fc.nat(100_000), { maxLength: 6 }), model: chatModel }, { requiredKeys: ["tokens"] }),
);
/** Over MAX_BODY_BYTES when that is 1 KiB: measured before the key is checked, it would be a 413. */
const oversize = fc.integer({ min: 2000, max: 300_000 }).map((n) => ({ model: "llama3.2", messages: [{ role: "user", content: "x".repeat(n) }] }));

const unauthBody: fc.Arbitrary<UnauthBody> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .oneof(
        chatBody,
        completionBody,
        embeddingBody,
        mutated(NATIVE_BODIES["/api/chat"]!),
        mutated(NATIVE_BODIES["/api/generate"]!),
        mutated(NATIVE_BODIES["/api/embed"]!),
        NATIVE_BODIES["/api/show"]!,
        llamaBodies,
        responsesBody,
        messagesBody,
        countTokensBody,
      )
      .map(json),
  },
  { weight: 3, arbitrary: chatWithImages.map(json) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(...HOSTED_IMAGES)
      .chain(withHostedImage)
      .map(json),
  },
  { weight: 2, arbitrary: badBytes },
  { weight: 1, arbitrary: oversize.map(json) },
  { weight: 1, arbitrary: fc.constantFrom('{"model":"llama3.2","messages":[', '{"model":', "").map((text): UnauthBody => ({ kind: "stalled", text })) },
);

const modelIdSegment = fc
  .oneof(
    fc.constantFrom(...MODELS),
    hostileString.filter((name) => name.length < 1000),
  )
  .map(encodeSegment);
const unauthPath = fc
  .oneof(
    {
      weight: 8,
      arbitrary: fc.constantFrom(...KEY_ROUTES.map(([path]) => path)).chain((path) => {
        if (path.endsWith("+")) return modelIdSegment.map((id) => path.slice(0, -1) + id);
        // A response the shared key stored (a request without its key must not read or delete it), or any id.
        if (path.includes("{id}")) return fc.oneof(fc.constant("$STORED"), modelIdSegment).map((id) => path.replace("{id}", id));
        return fc.constant(path);
      }),
    },
    { weight: 1, arbitrary: fc.constantFrom(...NEAR_KEY_ROUTES) },
  )
  .chain((path) => fc.constantFrom("", "?backend=box", "?model=qwen3:8b", "?backend=desk&model=llama3.2").map((q) => path + q));

const unauthCase: fc.Arbitrary<UnauthCase> = unauthPath.chain((path) => {
  // Mostly the route's own method, so that most cases are refused for their key and nothing else.
  const served = servedMethods(path.split("?")[0]!);
  const method = served.length ? fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...served) }, { weight: 1, arbitrary: anyMethod }) : anyMethod;
  return fc.record(
    {
      vars: fc
        .record({ BACKENDS: fc.constant(WITH_LLAMA), MAX_BODY_BYTES: fc.constant("1KiB") }, { requiredKeys: [] })
        .map((vars) => ({ ...vars, BOX_KEY: "llama-secret" })),
      path: fc.constant(path),
      method,
      // The shared key is not among the extra headers here: x-api-key is Anthropic's way to send a key.
      headers: fc.tuple(badCredentialsFor(path), extraHeaders).map(([credentials, rest]) => [...credentials, ...rest.filter(([name]) => name !== "x-api-key")]),
      body: unauthBody,
      streamed: fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      declaredLength: fc.constantFrom("1099511627776", "9007199254740993", "104857600"),
    },
    { requiredKeys: ["vars", "path", "method", "headers", "body", "streamed"] },
  );
});

/** Placeholder values for the credentials of property (a), set by its `beforeAll`. */
const invalid = { revoked: "", expired: "", expiresAt: 0 };
/** Backend requests and image downloads seen so far in property (a): every case must leave them at zero. */
let reachedSoFar = 0;

/**
 * A body stream that nothing reads unless someone asks (high-water mark 0): `read` turns true at the first pull.
 * `bytes` null: after the text, it never ends.
 */
function watchedStream(bytes: Uint8Array | null, stalledText = ""): { stream: ReadableStream<Uint8Array>; read: () => boolean } {
  let pulled = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled && bytes === null) return new Promise<void>(() => {});
        pulled = true;
        if (bytes === null) {
          if (stalledText !== "") controller.enqueue(new TextEncoder().encode(stalledText));
          return;
        }
        if (bytes.byteLength) controller.enqueue(bytes);
        controller.close();
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, read: () => pulled };
}

/** Everything that reached a backend or the image host since the property started. */
async function reachedAnything(): Promise<string[]> {
  const [ollama, llama, images] = await Promise.all([receivedBy(EMULATOR_URL), receivedBy(LLAMA_URL), imageDownloads()]);
  return [
    ...ollama.map((r) => `Ollama ${r.method} ${r.path}`),
    ...llama.map((r) => `llama-server ${r.method} ${r.path}`),
    ...Object.entries(images).map(([path, n]) => `image host GET ${path} ×${n}`),
  ];
}

async function runUnauthenticated(c: UnauthCase): Promise<void> {
  const fill = (value: string) =>
    value.replaceAll("$KEY", key).replaceAll("$ADMIN", ADMIN_TOKEN).replaceAll("$REVOKED", invalid.revoked).replaceAll("$EXPIRED", invalid.expired);
  const headers = new Headers();
  for (const [name, value] of c.headers) headers.set(name, fill(value));
  let body: string | Uint8Array | ReadableStream<Uint8Array> | undefined;
  let bodyRead = () => false;
  if (c.method !== "GET" && c.method !== "HEAD") {
    const spec = c.body;
    if (spec.kind === "stalled" || c.streamed) {
      const content = spec.kind === "stalled" ? null : bodyOf(spec);
      const watched = watchedStream(typeof content === "string" ? new TextEncoder().encode(content) : content, spec.kind === "stalled" ? spec.text : "");
      body = watched.stream;
      bodyRead = watched.read;
    } else {
      body = bodyOf(spec);
    }
    if (c.declaredLength !== undefined) headers.set("content-length", c.declaredLength);
  }
  const request = new Request(`https://gateway.test${fillStored(c.path)}`, { method: c.method, headers, body });
  const what = `${request.method} ${c.path.slice(0, 200)} (${
    c.headers
      .filter(([name]) => name === "authorization" || name === "x-api-key")
      .map(([n, v]) => `${n}: ${v.slice(0, 60)}`)
      .join("; ") || "no credentials"
  })`;
  // gatewayWith would add the shared test key to a request without Authorization: this is the same Worker, as is.
  let readFirst = false;
  const { response, bytes } = await withDeadline(
    REQUEST_DEADLINE_MS,
    async () => {
      const response = await handle(request, { ...(env as Env), ...c.vars } as Env);
      readFirst = bodyRead();
      const bytes = new Uint8Array(await response.arrayBuffer());
      // The runtime's HTTP layer drops the body of an answer to HEAD, which calling the Worker's handler skips.
      return { response, bytes: request.method === "HEAD" ? new Uint8Array() : bytes };
    },
    what,
  );
  countStatus(response.status);
  checkAnswer(request, response, bytes);
  const text = new TextDecoder().decode(bytes);
  const bad = (why: string) => fail(request, response, text, `${what}: ${why}`);
  if (readFirst) bad("the body was read before the answer to a request without a valid key");
  const { pathname } = new URL(request.url);
  const served = servedMethods(pathname);
  if (request.method === "OPTIONS") {
    if (response.status !== 204) bad("a CORS preflight that is not a 204");
  } else if (served.includes(request.method)) {
    if (response.status !== 401) bad("a key route did not answer 401 to a request without a valid key");
  } else if (response.status !== 401 && response.status !== 404) {
    bad("neither 401 nor 404 for a method or path that no key route serves");
  }
  if (response.status === 401 && request.method !== "HEAD") checkKeyRefused(dialectOf(pathname), text, bad);
  const reached = await reachedAnything();
  const calls = reached.slice(reachedSoFar);
  reachedSoFar = reached.length; // before failing: the cases fast-check tries next while shrinking start from here
  if (calls.length) bad(`the gateway called out for a request without a valid key: ${calls.join(", ")}`);
}

// --- (b) `model` repeated in other letter cases on the native routes ----------------------------------------------

/** How encoding/json matches a key to a field: ASCII letters in either case, the Kelvin sign as K, the long s as S. */
const goFolded = (name: string) =>
  name
    .replace(/[a-z]/g, (c) => c.toUpperCase())
    .replaceAll("\u212a", "K")
    .replaceAll("\u017f", "S");
const bindsTo = (key: string, field: string) => goFolded(key) === goFolded(field);

/** A top-level member written as JSON text: its key with some characters as \u escapes; `at` orders the members. */
interface Member {
  key: string;
  escapes: boolean[];
  value: unknown;
  at: number;
}

function objectText(members: readonly Member[]): string {
  const keyText = (m: Member) =>
    [...m.key].map((ch, i) => (m.escapes[i] ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}` : JSON.stringify(ch).slice(1, -1))).join("");
  return `{${[...members]
    .sort((a, b) => a.at - b.at)
    .map((m) => `"${keyText(m)}":${encode(m.value)}`)
    .join(",")}}`;
}

/** `field` spelled as Go still binds it: letters in random case, the Kelvin sign for k and the long s for s. */
function spelled(field: string): fc.Arbitrary<string> {
  const letters = [...field].map((ch) => {
    const forms = [ch];
    if (/[a-z]/.test(ch)) forms.push(ch.toUpperCase());
    if (ch === "k") forms.push("\u212a");
    if (ch === "s") forms.push("\u017f");
    return fc.constantFrom(...forms);
  });
  return fc.oneof({ weight: 2, arbitrary: fc.constant(field) }, { weight: 3, arbitrary: fc.tuple(...letters).map((chars) => chars.join("")) });
}

/** One member for `field` (or a near miss that Go does not bind), its key escaped in places. */
function memberOf(key: fc.Arbitrary<string>, value: fc.Arbitrary<unknown>): fc.Arbitrary<Member> {
  return fc.record({
    key,
    escapes: fc.array(
      fc.nat(7).map((n) => n === 0),
      { minLength: 12, maxLength: 12 },
    ),
    value,
    at: fc.nat(30),
  });
}

/** The value Go ends up with for a plain string field: the last member it binds, a null changing nothing. */
function lastBound(members: readonly Member[], field: string): unknown {
  let value: unknown;
  for (const m of [...members].sort((a, b) => a.at - b.at)) if (bindsTo(m.key, field) && m.value !== null) value = m.value;
  return value;
}

/** Keys Go does not bind to `model`, whatever they look like. */
const NOT_MODEL = ["models", "mode", "modeI", "m0del", "\uff4dodel", "model ", " model", "_model", "model\u0000", "mod\u00e8l", "MODEL_"];
const SCOPED_TO = "llama3.2";
/** Names that a key limited to llama3.2 may use (all are llama3.2:latest), and names it may not. */
const MAY_USE = ["llama3.2", "llama3.2:latest", "LLAMA3.2:LATEST"];
const MAY_NOT_USE = [
  "qwen3:8b",
  "llava:7b",
  "llama3.3:70b-instruct-q4_K_M",
  "nomic-embed-text",
  "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M",
  "qwen3:9b",
  "llama3.2:1b",
  "llama3",
  "gpt-4o-mini",
];

interface KeyCaseCase {
  path: "/api/chat" | "/api/generate";
  members: Member[];
}

const modelValue = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...MAY_USE) },
  { weight: 6, arbitrary: fc.constantFrom(...MAY_NOT_USE) },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>("", 1, true, ["llama3.2"]) },
);
const keyCaseCase: fc.Arbitrary<KeyCaseCase> = fc
  .constantFrom("/api/chat" as const, "/api/generate" as const)
  .chain((path) =>
    fc
      .tuple(
        fc.array(memberOf(spelled("model"), modelValue), { minLength: 1, maxLength: 5 }),
        fc.array(memberOf(fc.constantFrom(...NOT_MODEL), fc.constantFrom(...MAY_USE, ...MAY_NOT_USE)), { maxLength: 2 }),
        memberOf(fc.constant(path === "/api/chat" ? "messages" : "prompt"), fc.constant(path === "/api/chat" ? [{ role: "user", content: "hi" }] : "hi")),
        memberOf(fc.constant("stream"), fc.constant(false)),
      )
      .map(([models, nearMisses, input, stream]) => ({ path, members: [...models, ...nearMisses, input, stream] })),
  );

/** The 404 every model a key may not use gets, like one that does not exist; its hint names only models it may use. */
function checkModelNotFound(message: string, allowed: ReadonlySet<string>, bad: (why: string) => never): void {
  const form = /^The model '[\s\S]*' (?:\(alias of '[\s\S]*'\) )?does not exist or this key may not use it\.(?: Closest available models: ([\s\S]*)\.)?$/.exec(
    message,
  );
  if (!form) bad("a 404 that is not the model_not_found answer");
  const hinted = form![1] === undefined ? [] : form![1].split(", ");
  const outside = hinted.filter((name) => !allowed.has(name));
  if (outside.length) bad(`a 404 hint names ${outside.join(", ")}, which this key may not use`);
}

/** The backend got the gateway's own serialisation: one key per field (its Content-Length is that of JSON.stringify). */
function checkReserialised(forwarded: Recorded, bad: (why: string) => never): void {
  const body = forwarded.body as unknown;
  if (!isRecord(body)) bad(`${forwarded.path} was forwarded a body that is not a JSON object`);
  for (const field of ["model", "options", "keep_alive"]) {
    const keys = Object.keys(body as object).filter((name) => bindsTo(name, field));
    if (keys.length > 1 || (keys.length === 1 && keys[0] !== field))
      bad(`${forwarded.path} was forwarded ${keys.map((k) => JSON.stringify(k)).join(", ")}: Go binds each to ${field}`);
  }
  const length = forwarded.headers["content-length"];
  if (length !== undefined && Number(length) !== utf8Length(JSON.stringify(body))) {
    bad(
      `${forwarded.path} was forwarded ${length} bytes, not the gateway's serialisation (${utf8Length(JSON.stringify(body))}): duplicate keys or the client's text`,
    );
  }
}

async function runKeyCase(c: KeyCaseCase, scopedKey: string): Promise<void> {
  const text = objectText(c.members);
  const init = { method: "POST", headers: { authorization: `Bearer ${scopedKey}`, "content-type": "application/json" }, body: text };
  const request = new Request(`https://gateway.test${c.path}`, { method: "POST" });
  const { response, bytes } = await withDeadline(
    REQUEST_DEADLINE_MS,
    async () => {
      const response = await gatewayWith({}, c.path, init);
      return { response, bytes: new Uint8Array(await response.arrayBuffer()) };
    },
    `POST ${c.path}`,
  );
  countStatus(response.status);
  checkAnswer(request, response, bytes);
  const answer = new TextDecoder().decode(bytes);
  const bad = (why: string) => fail(request, response, answer, `${why}\n  body: ${text}`);

  const model = lastBound(c.members, "model");
  const expected = typeof model !== "string" || model === "" ? 400 : MAY_USE.includes(model) ? 200 : 404;
  if (response.status !== expected) bad(`expected ${expected}: the last key Go binds to model names ${JSON.stringify(model)}`);
  const generations = (await emulator.requests()).filter((r) => r.path === "/api/chat" || r.path === "/api/generate");
  if (expected !== 200) {
    if (generations.length) bad(`the backend was asked ${generations.map((r) => `${r.path} ${JSON.stringify(r.body).slice(0, 200)}`).join(", ")}`);
    if (expected === 404) checkModelNotFound(nativeError(answer) ?? "", new Set(["llama3.2:latest"]), bad);
    return;
  }
  if ((parseJson(answer) as { model?: unknown }).model !== "llama3.2:latest") bad("the backend ran another model");
  if (generations.length !== 1 || generations[0]!.path !== c.path) bad(`the backend was asked ${generations.length} times`);
  checkReserialised(generations[0]!, bad);
  if ((generations[0]!.body as { model?: unknown }).model !== "llama3.2:latest")
    bad(`the backend was sent model ${JSON.stringify((generations[0]!.body as { model?: unknown }).model)}`);
}

// --- (c) random allow-lists and MODEL_LIMITS ----------------------------------------------------------------------

/** The emulator's models (checked against its /api/tags before the property runs). */
const INSTALLED = [
  "llama3.2:latest",
  "llama3.3:70b-instruct-q4_K_M",
  "qwen3:8b",
  "llava:7b",
  "nomic-embed-text:latest",
  "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M",
];
const SCOPE_ALIASES = { "gpt-4o-mini": "llama3.2", thinker: "qwen3:8b" };
/** Names a client may send, and the installed model each one means (null: none). */
const MEANS: Record<string, string | null> = {
  "llama3.2": "llama3.2:latest",
  "llama3.2:latest": "llama3.2:latest",
  "gpt-4o-mini": "llama3.2:latest",
  qwen3: "qwen3:8b",
  "qwen3:8b": "qwen3:8b",
  "QWEN3:8B": "qwen3:8b",
  thinker: "qwen3:8b",
  "llama3.3": "llama3.3:70b-instruct-q4_K_M",
  "llama3.3:70b-instruct-q4_K_M": "llama3.3:70b-instruct-q4_K_M",
  "llava:7b": "llava:7b",
  "nomic-embed-text": "nomic-embed-text:latest",
  "nomic-embed-text:latest": "nomic-embed-text:latest",
  "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M": "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M",
  "qwen3:9b": null,
  mistral: null,
};
/** Entries of a key's allow-list, and the installed models each one lets it use (an untagged name: every tag). */
const SCOPE_ENTRIES: Record<string, string[]> = {
  "llama3.2": ["llama3.2:latest"],
  "gpt-4o-mini": ["llama3.2:latest"],
  qwen3: ["qwen3:8b"],
  "qwen3:8b": ["qwen3:8b"],
  "llava:7b": ["llava:7b"],
  "llama3.3:70b-instruct-q4_K_M": ["llama3.3:70b-instruct-q4_K_M"],
  "nomic-embed-text:latest": ["nomic-embed-text:latest"],
  "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M": ["hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M"],
};

interface Ceilings {
  max_num_ctx?: number;
  max_num_predict?: number;
  max_keep_alive?: string | number;
}
/** No two patterns of the same length, so the longest one matching is always one. */
const LIMIT_KEYS = [
  "llama3.2",
  "llama3.2:latest",
  "qwen3:8b",
  "thinker",
  "gpt-4o-mini",
  "nomic-embed-text:latest",
  "qwen3*",
  "llama3*",
  "llama3.2*",
  "hf.co/*",
];
/** Each ceiling set four times in five. */
const ceilings: fc.Arbitrary<Ceilings> = fc
  .tuple(
    fc.option(fc.integer({ min: 1, max: 65_536 }), { freq: 5 }),
    fc.option(fc.integer({ min: 1, max: 4096 }), { freq: 5 }),
    fc.option(fc.oneof(fc.constantFrom("30m", "0", "0s", "1h", "90s", "1h30m", "1.5h", "500ms", "2m30s"), fc.integer({ min: 0, max: 86_400 })), { freq: 5 }),
  )
  .map(([ctx, predict, keepAlive]) => ({
    ...(ctx !== null && { max_num_ctx: ctx }),
    ...(predict !== null && { max_num_predict: predict }),
    ...(keepAlive !== null && { max_keep_alive: keepAlive }),
  }));
const modelLimits: fc.Arbitrary<Record<string, Ceilings>> = fc
  .tuple(
    fc.oneof({ weight: 4, arbitrary: ceilings.map((all) => ({ "*": all })) }, { weight: 1, arbitrary: fc.constant({}) }),
    fc.dictionary(fc.constantFrom(...LIMIT_KEYS), ceilings, { maxKeys: 3 }),
  )
  .map(([star, named]) => ({ ...star, ...named }));
const MODEL_DEFAULT_SETS = [
  { "*": { options: { num_ctx: 131_072, num_predict: -1 }, keep_alive: -1 } },
  { "*": { options: { num_ctx: 65_536 }, keep_alive: "24h" } },
  { "qwen3:8b": { options: { num_predict: 100_000 }, keep_alive: "-1m" }, "llama3*": { options: { num_ctx: 1_000_000 } } },
];

/** The ceilings for a request, as MODEL_LIMITS is keyed: the name sent, the installed name, then the longest `*` pattern. */
function ceilingsFor(table: Record<string, Ceilings>, requested: string, installed: string): Ceilings | undefined {
  for (const name of [requested, installed]) if (Object.hasOwn(table, name)) return table[name];
  let best: Ceilings | undefined;
  let bestLength = -1;
  for (const [pattern, entry] of Object.entries(table)) {
    const prefix = pattern.slice(0, -1);
    if (pattern.endsWith("*") && prefix.length > bestLength && (requested.startsWith(prefix) || installed.startsWith(prefix))) {
      best = entry;
      bestLength = prefix.length;
    }
  }
  return best;
}

const GO_UNITS: Record<string, number> = { ns: 1, us: 1e3, "\u00b5s": 1e3, "\u03bcs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
/** Go's time.ParseDuration, in nanoseconds (null where Go refuses the text). */
function goDuration(text: string): number | null {
  const signed = /^[-+]?/.exec(text)![0];
  let rest = text.slice(signed.length);
  if (rest === "0") return 0;
  if (rest === "") return null;
  let total = 0;
  while (rest !== "") {
    const part = /^(\d*)(?:\.(\d*))?([^\d.]*)/.exec(rest)!;
    const [whole, int = "", fraction, unit = ""] = part;
    if (int === "" && !fraction) return null;
    const scale = GO_UNITS[unit];
    if (scale === undefined) return null;
    total += Number(int || "0") * scale + (fraction ? (Number(fraction) / 10 ** fraction.length) * scale : 0);
    if (total > 2 ** 63) return null;
    rest = rest.slice(whole.length);
  }
  return signed === "-" ? -total : total;
}

/** How long Ollama keeps a model for this keep_alive, in nanoseconds: Infinity for "forever", null if Ollama refuses it. */
function keepAliveNs(value: unknown): number | null {
  if (typeof value === "number") return value < 0 ? Infinity : Math.trunc(value) * 1e9; // Ollama: t < 0 is forever, else int(t) seconds
  if (typeof value !== "string") return null;
  const ns = goDuration(value);
  return ns === null ? null : ns < 0 ? Infinity : ns;
}

function checkCeilings(forwarded: Recorded, limits: Ceilings | undefined, generation: boolean, bad: (why: string) => never): void {
  const body = forwarded.body as Record<string, unknown>;
  const options = body.options;
  const where = `${forwarded.path} was forwarded`;
  const predict = isRecord(options) ? options.num_predict : undefined;
  if (generation && !(typeof predict === "number" && Number.isFinite(predict) && predict >= 0))
    bad(`${where} no answer ceiling (options.num_predict ${JSON.stringify(predict)})`);
  if (!limits) return;
  if (isRecord(options)) {
    const ctx = options.num_ctx;
    if (limits.max_num_ctx !== undefined && ctx !== undefined && ctx !== null && !(typeof ctx === "number" && ctx <= limits.max_num_ctx)) {
      bad(`${where} num_ctx ${JSON.stringify(ctx)} over max_num_ctx ${limits.max_num_ctx}`);
    }
    if (
      limits.max_num_predict !== undefined &&
      predict !== undefined &&
      predict !== null &&
      !(typeof predict === "number" && predict <= limits.max_num_predict)
    ) {
      bad(`${where} num_predict ${JSON.stringify(predict)} over max_num_predict ${limits.max_num_predict}`);
    }
  }
  const keepAlive = body.keep_alive;
  if (limits.max_keep_alive !== undefined && keepAlive !== undefined && keepAlive !== null) {
    const maxNs = typeof limits.max_keep_alive === "number" ? limits.max_keep_alive * 1e9 : goDuration(limits.max_keep_alive)!;
    const ns = keepAliveNs(keepAlive);
    if (ns === null || ns > maxNs) bad(`${where} keep_alive ${JSON.stringify(keepAlive)} over max_keep_alive ${JSON.stringify(limits.max_keep_alive)}`);
  }
}

/**
 * Within the ceilings, a native body is forwarded as Ollama would have decoded it: the options objects merged in
 * text order (Go decodes each into the same map), the last keep_alive that binds.
 */
function checkAsGoDecodes(forwarded: Recorded, members: readonly Member[], limits: Ceilings | undefined, bad: (why: string) => never): void {
  const ordered = [...members].sort((a, b) => a.at - b.at);
  const bound = (field: string) => ordered.filter((m) => bindsTo(m.key, field));
  const merged: Record<string, unknown> = Object.assign({}, ...bound("options").map((m) => m.value));
  const body = forwarded.body as Record<string, unknown>;
  const sentOptions = isRecord(body.options) ? body.options : {};
  for (const [name, value] of Object.entries(merged)) {
    const withinCeiling = name === "num_ctx" && typeof value === "number" && (limits?.max_num_ctx === undefined || value <= limits.max_num_ctx);
    if ((name === "num_ctx" && !withinCeiling) || name === "num_predict") continue;
    if (JSON.stringify(sentOptions[name]) !== JSON.stringify(value))
      bad(`${forwarded.path} was forwarded options.${name} ${JSON.stringify(sentOptions[name])}, not the ${JSON.stringify(value)} Go decodes`);
  }
  const keepAlives = bound("keep_alive");
  const last = keepAlives.at(-1)?.value;
  if (last === undefined || last === null) return;
  const maxNs =
    limits?.max_keep_alive === undefined
      ? Infinity
      : typeof limits.max_keep_alive === "number"
        ? limits.max_keep_alive * 1e9
        : goDuration(limits.max_keep_alive)!;
  const ns = keepAliveNs(last);
  const withinCeiling = limits?.max_keep_alive === undefined || (ns !== null && ns <= maxNs);
  if (withinCeiling && JSON.stringify(body.keep_alive) !== JSON.stringify(last))
    bad(`${forwarded.path} was forwarded keep_alive ${JSON.stringify(body.keep_alive)}, not the ${JSON.stringify(last)} Go decodes`);
}

type ScopedRoute =
  | "/v1/chat/completions"
  | "/v1/completions"
  | "/v1/embeddings"
  | "/v1/responses"
  | "/v1/messages"
  | "/v1/messages/count_tokens"
  | "/api/chat"
  | "/api/generate"
  | "/api/embed"
  | "/api/show"
  | "/v1/models"
  | "/v1/models/{id}"
  | "/api/tags"
  | "/api/ps";

interface ScopedRequest {
  route: ScopedRoute;
  /** The name the client sends (a key of MEANS). */
  model: string;
  /** JSON text (POST routes). */
  body?: string;
  /** The members of a native body, to tell what Ollama's decoder would make of it. */
  members?: Member[];
}

interface ScopeCase {
  scope: string[];
  limits: Record<string, Ceilings>;
  defaults?: (typeof MODEL_DEFAULT_SETS)[number];
  defaultMaxTokens?: string;
  /** Models loaded at the emulator before the key's requests (for /api/ps). */
  loaded: string[];
  requests: ScopedRequest[];
}

const ctxValue = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 300_000 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(0, -1, 2 ** 53, 1e12, 4096.5, "131072", true) },
);
const predictValue = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -2, max: 200_000 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(2 ** 53, 1e12, 0.5, "100000") },
);
const keepAliveValue = fc.oneof(
  // Durations Ollama takes, within the usual ceilings or near them.
  {
    weight: 3,
    arbitrary: fc.constantFrom<unknown>("5m", "0", "0s", "-0", "+5m", "30m", "30m0s", "1800s", "1800.5s", "1h29m59s", "90s", "1.5h", ".5h", "5.m", "500ms"),
  },
  // "Forever" (negative) or long.
  { weight: 3, arbitrary: fc.constantFrom<unknown>("-1m", "-5s", "-1h30m", "-.5s", "2h", "10h", "9999999999h", "2562047h47m16.854775807s") },
  // Not durations at all (Ollama refuses them).
  { weight: 2, arbitrary: fc.constantFrom<unknown>("", "-1", "forever", "1d", "5M", " 5m", "1e3s", "1h-1m", "5 m", "\u212a") },
  { weight: 3, arbitrary: fc.integer({ min: -10, max: 200_000 }) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(-0.5, -1e-9, 1800.9, 1e20, true, {}) },
);
const optionsValue = fc.record(
  { num_ctx: ctxValue, num_predict: predictValue, temperature: fc.constantFrom(0.1, 0.5, 0.9), top_k: fc.nat(100) },
  { requiredKeys: [] },
);
const requestedName = fc.constantFrom(...Object.keys(MEANS));

type V1Route = "/v1/chat/completions" | "/v1/completions" | "/v1/embeddings" | "/v1/responses" | "/v1/messages" | "/v1/messages/count_tokens";
/** Each /v1 route's input, and where its answer cap goes (none: the route generates nothing). */
const V1_SHAPES: Record<V1Route, { input: Record<string, unknown>; cap?: string }> = {
  "/v1/chat/completions": { input: { messages: [{ role: "user", content: "hi" }] }, cap: "max_tokens" },
  "/v1/completions": { input: { prompt: "hi" }, cap: "max_tokens" },
  "/v1/embeddings": { input: { input: "hi" } },
  // Not stored: the property's keys are revoked after each case.
  "/v1/responses": { input: { input: "hi", store: false }, cap: "max_output_tokens" },
  // Anthropic's schema strips `options` and `keep_alive`: MODEL_DEFAULTS and the ceilings still apply.
  "/v1/messages": { input: { messages: [{ role: "user", content: "hi" }] }, cap: "max_tokens" },
  "/v1/messages/count_tokens": { input: { messages: [{ role: "user", content: "hi" }] } },
};

/** /v1 bodies (OpenAI's and Anthropic's): the Ollama extras `options` and `keep_alive` as plain fields. */
const v1Generation = (route: V1Route): fc.Arbitrary<ScopedRequest> =>
  fc
    .record(
      {
        model: requestedName,
        max_tokens: fc.oneof(fc.nat(100_000), fc.constant(2 ** 40)),
        options: optionsValue,
        keep_alive: keepAliveValue.filter((value) => typeof value === "string" || typeof value === "number"),
        stream: fc.boolean(),
      },
      { requiredKeys: ["model"] },
    )
    .map(({ model, max_tokens, stream, ...extras }) => {
      const { input, cap } = V1_SHAPES[route];
      const caps = cap ? { [cap]: max_tokens, stream } : {};
      return { route, model, body: JSON.stringify({ model, ...input, ...caps, ...extras }) };
    });

/** Native bodies written as text: `options` and `keep_alive` may come several times, in any spelling Go binds. */
const nativeGeneration = (route: "/api/chat" | "/api/generate" | "/api/embed"): fc.Arbitrary<ScopedRequest> =>
  fc
    .tuple(
      requestedName,
      fc.nat(30),
      fc.array(memberOf(spelled("options"), optionsValue), { maxLength: 3 }),
      fc.array(memberOf(spelled("keep_alive"), keepAliveValue), { maxLength: 3 }),
      memberOf(fc.constant("stream"), fc.boolean()),
    )
    .map(([model, at, options, keepAlive, stream]) => {
      const input: Member =
        route === "/api/chat"
          ? { key: "messages", escapes: [], value: [{ role: "user", content: "hi" }], at: 0 }
          : { key: route === "/api/generate" ? "prompt" : "input", escapes: [], value: "hi", at: 0 };
      const members = [{ key: "model", escapes: [], value: model, at }, input, ...options, ...keepAlive, ...(route === "/api/embed" ? [] : [stream])];
      return { route, model, body: objectText(members), members };
    });

const scopedRequest: fc.Arbitrary<ScopedRequest> = fc.oneof(
  { weight: 2, arbitrary: v1Generation("/v1/chat/completions") },
  { weight: 1, arbitrary: v1Generation("/v1/completions") },
  { weight: 1, arbitrary: v1Generation("/v1/embeddings") },
  { weight: 2, arbitrary: v1Generation("/v1/responses") },
  { weight: 2, arbitrary: v1Generation("/v1/messages") },
  { weight: 1, arbitrary: v1Generation("/v1/messages/count_tokens") },
  { weight: 2, arbitrary: nativeGeneration("/api/chat") },
  { weight: 2, arbitrary: nativeGeneration("/api/generate") },
  { weight: 1, arbitrary: nativeGeneration("/api/embed") },
  { weight: 1, arbitrary: requestedName.map((model): ScopedRequest => ({ route: "/api/show", model, body: JSON.stringify({ model }) })) },
  { weight: 1, arbitrary: requestedName.map((model): ScopedRequest => ({ route: "/v1/models/{id}", model })) },
  { weight: 2, arbitrary: fc.constantFrom<ScopedRoute>("/v1/models", "/api/tags", "/api/ps").map((route): ScopedRequest => ({ route, model: "" })) },
);

const scopeCase: fc.Arbitrary<ScopeCase> = fc.record(
  {
    scope: fc.subarray(Object.keys(SCOPE_ENTRIES), { maxLength: 3 }),
    limits: modelLimits,
    defaults: fc.constantFrom(...MODEL_DEFAULT_SETS),
    defaultMaxTokens: fc.constantFrom("16", "100000"),
    loaded: fc.subarray(INSTALLED, { maxLength: 3 }),
    requests: fc.array(scopedRequest, { minLength: 1, maxLength: 4 }),
  },
  { requiredKeys: ["scope", "limits", "loaded", "requests"] },
);

const GENERATION_PATHS = new Set(["/api/chat", "/api/generate"]);
const MODEL_PATHS = new Set(["/api/chat", "/api/generate", "/api/embed", "/api/embeddings", "/api/show"]);

async function runScopeCase(c: ScopeCase): Promise<void> {
  const allowed = new Set(c.scope.length ? c.scope.flatMap((entry) => SCOPE_ENTRIES[entry]!) : INSTALLED);
  const outside = INSTALLED.filter((name) => !allowed.has(name));
  for (const name of c.loaded) {
    const embedding = name.startsWith("nomic-embed-text");
    await fetch(`${EMULATOR_URL}${embedding ? "/api/embed" : "/api/generate"}`, {
      method: "POST",
      body: JSON.stringify(embedding ? { model: name, input: "x" } : { model: name, prompt: "" }),
    });
  }
  const vars: Record<string, string> = { MODEL_LIMITS: JSON.stringify(c.limits), MODEL_ALIASES: JSON.stringify(SCOPE_ALIASES) };
  if (c.defaults) vars.MODEL_DEFAULTS = JSON.stringify(c.defaults);
  if (c.defaultMaxTokens) vars.DEFAULT_MAX_TOKENS = c.defaultMaxTokens;
  const created = await createKey({ name: "fuzz: scope", models: c.scope, rpm: 1_000_000, tpm: 1_000_000_000, max_concurrency: 1000 });
  try {
    let seen = (await emulator.requests()).length;
    for (const r of c.requests) {
      const post = r.body !== undefined;
      const path = r.route === "/v1/models/{id}" ? `/v1/models/${encodeURIComponent(r.model)}` : r.route;
      const init = { method: post ? "POST" : "GET", headers: { authorization: `Bearer ${created.key}`, "content-type": "application/json" }, body: r.body };
      const request = new Request(`https://gateway.test${path}`, { method: init.method });
      const { response, bytes } = await withDeadline(
        REQUEST_DEADLINE_MS,
        async () => {
          const response = await gatewayWith(vars, path, init);
          return { response, bytes: new Uint8Array(await response.arrayBuffer()) };
        },
        `${init.method} ${path}`,
      );
      countStatus(response.status);
      checkAnswer(request, response, bytes);
      const text = new TextDecoder().decode(bytes);
      const bad = (why: string) =>
        fail(
          request,
          response,
          text,
          `${why}\n  key models ${JSON.stringify(c.scope)}, MODEL_LIMITS ${vars.MODEL_LIMITS}${vars.MODEL_DEFAULTS ? `, MODEL_DEFAULTS ${vars.MODEL_DEFAULTS}` : ""}\n  body: ${r.body?.slice(0, 600) ?? "none"}`,
        );

      // Nothing names a model outside the key's list, unless the client named it first.
      const leaked = outside.filter((name) => text.includes(name) && r.model !== name && !(r.body ?? "").includes(name));
      if (leaked.length) bad(`the answer names ${leaked.join(", ")}, which this key may not use`);
      const means = r.model === "" ? null : MEANS[r.model]!;
      const mayUse = means !== null && allowed.has(means);
      if (r.model !== "" && !mayUse && response.status !== 404 && response.status !== 400)
        bad(`a model this key may not use (${JSON.stringify(r.model)}) answered ${response.status}`);
      if (response.status === 404 && r.model !== "") {
        const native = dialectOf(path) === "native";
        const message = native ? nativeError(text) : (parseJson(text) as { error?: { message?: string } }).error?.message;
        if (mayUse && message?.includes("this key may not use it")) bad(`a model this key may use (${JSON.stringify(r.model)}) was refused`);
        if (!mayUse) checkModelNotFound(message ?? "", allowed, bad);
      }
      if (response.status === 200) checkList(r.route, parseJson(text), allowed, bad);

      const all = await emulator.requests();
      const forwarded = all.slice(seen);
      seen = all.length;
      for (const sent of forwarded) {
        if (!MODEL_PATHS.has(sent.path)) continue;
        const model = (sent.body as { model?: unknown } | null)?.model;
        if (typeof model !== "string" || !allowed.has(model)) bad(`${sent.path} was asked for ${JSON.stringify(model)}, which this key may not use`);
        if (sent.path === "/api/show") continue;
        checkReserialised(sent, bad);
        if (model !== means) bad(`${sent.path} was asked for ${JSON.stringify(model)}, not ${JSON.stringify(means)}`);
        const limits = ceilingsFor(c.limits, r.model, model as string);
        checkCeilings(sent, limits, GENERATION_PATHS.has(sent.path), bad);
        if (r.members) checkAsGoDecodes(sent, r.members, limits, bad);
      }
    }
  } finally {
    await revokeKey(created.id);
  }
}

/** A list answer names only models the key may use, and all of them (but /api/ps: those loaded). */
function checkList(route: ScopedRoute, body: unknown, allowed: ReadonlySet<string>, bad: (why: string) => never): void {
  let names: string[];
  if (route === "/v1/models") {
    const ids = ((body as { data?: { id: string }[] }).data ?? []).map((entry) => entry.id);
    const unknown = ids.filter((id) => !Object.hasOwn(MEANS, id));
    if (unknown.length) bad(`/v1/models lists ${unknown.join(", ")}, which this test does not know`);
    names = ids.map((id) => MEANS[id]!);
  } else if (route === "/api/tags" || route === "/api/ps") {
    names = ((body as { models?: { name: string; model: string }[] }).models ?? []).flatMap((entry) => [entry.name, entry.model]);
  } else {
    return;
  }
  const outside = names.filter((name) => !allowed.has(name));
  if (outside.length) bad(`${route} lists ${[...new Set(outside)].join(", ")}, which this key may not use`);
  if (route !== "/api/ps") {
    const missing = [...allowed].filter((name) => !names.includes(name));
    if (missing.length) bad(`${route} leaves out ${missing.join(", ")}, which this key may use`);
  }
}

describe("fuzz: authentication first, the key's scope, MODEL_LIMITS (each case with its own settings)", () => {
  it("model named several times in other letter cases on /api/chat and /api/generate: the last key Go binds decides", {
    timeout: timeoutFor("nativeKeyCase", 1000),
  }, async () => {
    const created = await createKey({ name: "fuzz: llama3.2 only", models: [SCOPED_TO], rpm: 1_000_000, tpm: 1_000_000_000, max_concurrency: 1000 });
    try {
      await check(
        "nativeKeyCase",
        fc.asyncProperty(keyCaseCase, (c) => runKeyCase(c, created.key)),
      );
    } finally {
      await revokeKey(created.id);
    }
  });

  it("random allow-lists and MODEL_LIMITS: no ceiling exceeded in any spelling, no model outside the list named", {
    timeout: timeoutFor("scopesAndLimits", 2000),
  }, async () => {
    const tags = (await (await fetch(`${EMULATOR_URL}/api/tags`)).json()) as { models: { name: string }[] };
    const names = tags.models.map((model) => model.name).sort();
    if (names.join() !== [...INSTALLED].sort().join())
      throw new Violation(`the emulator's models changed (${names.join(", ")}): update INSTALLED, MEANS and SCOPE_ENTRIES`);
    await check("scopesAndLimits", fc.asyncProperty(scopeCase, runScopeCase));
  });

  // Last: the expiring key has had time to expire while the others ran.
  it("requests without a valid key: 401 on every key route, and nothing reaches a backend or an image host", {
    timeout: timeoutFor("unauthenticated", 1000),
  }, async () => {
    const sample = "a".repeat(32);
    if (!isWellFormedKey(`sk-${sample}${keyChecksum(sample)}`))
      throw new Violation("made-up keys are no longer well-formed: update keyChecksum to src/keys/key-format.ts");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, invalid.expiresAt + 50 - Date.now())));
    await Promise.all([emulator.reset(), fetch(`${LLAMA_URL}/__emulator/reset`, { method: "POST" }), fetch(`${IMAGE_SERVER_URL}/__reset`, { method: "POST" })]);
    reachedSoFar = 0;
    await check("unauthenticated", fc.asyncProperty(unauthCase, runUnauthenticated), false);
    // Across the whole run, work the gateway may have left for later included.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const reached = await reachedAnything();
    if (reached.length) throw new Violation(`requests without a valid key made the gateway call out: ${reached.join(", ")}`);
  });

  beforeAll(async () => {
    const revoked = await createKey({ name: "fuzz: revoked" });
    await revokeKey(revoked.id);
    invalid.revoked = revoked.key;
    invalid.expiresAt = Date.now() + 500;
    invalid.expired = (await createKey({ name: "fuzz: expires", expires_at: new Date(invalid.expiresAt).toISOString() })).key;
  });
});
