/**
 * The values every fuzz property draws from (test/worker/fuzz.test.ts, and the dialect generators in ./dialects.ts):
 * hostile strings and numbers, deep nesting, evil keys, arbitrary JSON and the mutations that break a valid body,
 * image URLs on the test image host, model names, header values and credentials.
 */
import fc from "fast-check";
import { IMAGE_SERVER_URL } from "../helpers.ts";

/** A piece of JSON text written as is: numbers JSON.stringify cannot make (1e400), very deep nesting. */
export class Raw {
  readonly text: string;
  readonly label: string;
  constructor(text: string, label = text) {
    this.text = text;
    this.label = label;
  }

  /** How fast-check prints it in a counterexample: 20,000 brackets would drown the report. */
  [fc.toStringMethod](): string {
    return `Raw(${this.label.length > 80 ? `${this.label.slice(0, 40)}…(${this.text.length} chars)` : this.label})`;
  }
}

/** Percent-encoding of any string (lone surrogates, which encodeURIComponent refuses, become U+FFFD). */
export function encodeSegment(text: string): string {
  return encodeURIComponent(text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"));
}

/** JSON text of a generated value; own `__proto__` keys are kept as data, Raw pieces are written verbatim. */
export function encode(value: unknown): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(encode).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.entries(value)
      .map(([key, item]) => `${JSON.stringify(key)}:${encode(item)}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

const HOSTILE_STRINGS = [
  "",
  " ",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "llama3.2\r\nX-Injected: yes",
  "llama3.2\n",
  "\r\n\r\n",
  "\u0000",
  "a\u0000b",
  "\u0007\u001b[31m",
  "\u202e",
  "\u2028\u2029",
  "\ud800",
  "\udfff\ud800",
  "💥",
  "é",
  "../../etc/passwd",
  "%0d%0a",
  "%",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, meant literally
  "${7*7}",
  "{{.Prompt}}",
  "<script>x</script>",
  "llama3.2:",
  ":",
  "/",
  "llama3.2:latest:latest",
  "hf.co/",
  "sk-",
  "Bearer",
  "null",
  "[DONE]",
  "data: [DONE]\n\n",
];

const controlChars = fc.constantFrom("\r", "\n", "\u0000", "\t", "\u001f", "\u007f", "a", "é", "\u2028", "\ud83d", "\\", '"');

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 3, arbitrary: fc.string() },
  { weight: 2, arbitrary: fc.string({ unit: "binary" }) },
  { weight: 2, arbitrary: fc.string({ unit: controlChars }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 30_000 }).map((n) => "x".repeat(n)) },
);

export const MODELS = [
  "llama3.2",
  "llama3.2:latest",
  "LLAMA3.2",
  "gpt-4o-mini",
  "thinker",
  "qwen3",
  "qwen3:8b",
  "llava:7b",
  "llama3.3",
  "llama3.3:70b-instruct-q4_K_M",
  "nomic-embed-text",
  "nomic-embed-text:latest",
  "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M",
];
export const modelName = fc.oneof(
  { weight: 40, arbitrary: fc.constantFrom(...MODELS) },
  { weight: 16, arbitrary: hostileString },
  // Megabytes of name: whatever the gateway does with a name must stay linear in its length.
  { weight: 1, arbitrary: fc.integer({ min: 1_000_000, max: 4_000_000 }).map((n) => "m".repeat(n)) },
);

const RAW_NUMBERS = [
  "1e400",
  "-1e400",
  "1e-400",
  "-0",
  "18446744073709551616",
  "123456789012345678901234567890",
  "9".repeat(400),
  "0.0000000000000000000000001",
  "1E+2",
  "1.0",
  "4.9e-324",
  "1.7976931348623157e308",
].map((text) => new Raw(text));

export const number: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.nat(100) },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 2, arbitrary: fc.constantFrom(1e12, 2 ** 53, 2 ** 53 + 2, 2 ** 64, -1, 0, 0.5, 1e308, -1e308, Number.MIN_VALUE) },
  { weight: 2, arbitrary: fc.constantFrom(...RAW_NUMBERS) },
);

/** 1 to 20,000 levels of `[` or `{"a":`, as raw JSON text (too deep for a generated value); mostly around the cap. */
const nestingDepth = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 1, max: 600 }) }, { weight: 1, arbitrary: fc.integer({ min: 600, max: 20_000 }) });
export const deepNesting = fc
  .tuple(nestingDepth, fc.boolean())
  .map(
    ([depth, arrays]) =>
      new Raw(arrays ? "[".repeat(depth) + "]".repeat(depth) : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`, `${depth} levels of ${arrays ? "[" : "{"}`),
  );

export const EVIL_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "num_predict",
  "temperature",
  "stop",
  "num_ctx",
  "polluted",
];

export const anyJson: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 3, arbitrary: fc.constantFrom(null, true, false) },
    { weight: 3, arbitrary: number },
    { weight: 3, arbitrary: hostileString },
    { weight: 1, arbitrary: deepNesting },
    { weight: 2, arbitrary: fc.array(tie("value"), { maxLength: 4 }) },
    { weight: 2, arbitrary: fc.dictionary(fc.oneof(fc.constantFrom(...EVIL_KEYS), fc.string()), tie("value"), { maxKeys: 4 }) },
  ),
})).value;

/** An object whose keys include `__proto__`, `constructor` and friends. */
export const evilObject = fc.dictionary(fc.oneof(fc.constantFrom(...EVIL_KEYS), fc.string()), anyJson, { maxKeys: 5 });

/** A data property, even for `__proto__` (an assignment would set the prototype instead). */
function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true });
}

/** A deep copy that keeps Raw pieces and own `__proto__` keys (generated values must not be changed in place). */
function clone(value: unknown): unknown {
  if (value instanceof Raw || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(clone);
  const out = {};
  for (const [key, item] of Object.entries(value)) define(out, key, clone(item));
  return out;
}

/** One change anywhere in a body: a member replaced (by anything at all) or removed, or an evil key added. */
type Mutation = { at: number; op: "replace"; value: unknown } | { at: number; op: "delete" } | { at: number; op: "add"; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ at: fc.nat(), op: fc.constant("replace" as const), value: fc.oneof(anyJson, number, hostileString) }) },
  { weight: 1, arbitrary: fc.record({ at: fc.nat(), op: fc.constant("delete" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ at: fc.nat(), op: fc.constant("add" as const), key: fc.oneof(fc.constantFrom(...EVIL_KEYS), fc.string()), value: anyJson }),
  },
);

/** The objects and arrays inside `root` (Raw pieces excluded), root first. */
function containers(root: unknown): (Record<string, unknown> | unknown[])[] {
  const found: (Record<string, unknown> | unknown[])[] = [];
  const pending = [root];
  for (let value = pending.pop(); pending.length || value !== undefined; value = pending.pop()) {
    if (value === null || typeof value !== "object" || value instanceof Raw) continue;
    const container = value as Record<string, unknown> | unknown[];
    found.push(container);
    pending.push(...Object.values(container));
  }
  return found;
}

function applyMutation(root: unknown, change: Mutation): void {
  const all = containers(root);
  if (change.op === "add") {
    const objects = all.filter((c) => !Array.isArray(c));
    if (objects.length) define(objects[change.at % objects.length]!, change.key, change.value);
    return;
  }
  const members = all.flatMap((c) => Object.keys(c).map((key) => [c, key] as const));
  if (!members.length) return;
  const [container, key] = members[change.at % members.length]!;
  if (change.op === "replace") define(container, key, change.value);
  else if (Array.isArray(container)) container.splice(Number(key), 1);
  else delete container[key];
}

/** A valid body as generated, or with one to three mutations somewhere inside it, or something else entirely. */
export function mutated(valid: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<unknown> {
  const changes = fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) });
  return fc.oneof(
    {
      weight: 12,
      arbitrary: fc.tuple(valid, changes).map(([body, list]) => {
        const out = clone(body);
        for (const change of list) applyMutation(out, change);
        return out;
      }),
    },
    { weight: 1, arbitrary: anyJson },
  );
}

export const PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
export const imageUrl = fc.oneof(
  { weight: 3, arbitrary: fc.constant(`data:image/png;base64,${PNG_BASE64}`) },
  // The image host only: a fetch to anywhere else could wait out IMAGE_FETCH_TIMEOUT (slow hosts are hostile.test.ts's).
  {
    weight: 3,
    arbitrary: fc
      .constantFrom("/tiny.png", "/redirect.png", "/huge.png", "/page.html", "/missing.png", "/loop", "/fake.png")
      .map((path) => IMAGE_SERVER_URL + path),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "data:image/svg+xml;base64,PHN2Zz4=",
      "data:image/png;base64,!!!",
      "data:,",
      "data:image/png;base64,",
      "ftp://example.invalid/x.png",
      "file:///etc/passwd",
      "javascript:alert(1)",
      "//127.0.0.1/x.png",
      `${IMAGE_SERVER_URL}/tiny.png#\r\n`,
      `${IMAGE_SERVER_URL}/%0d%0a`,
    ),
  },
  { weight: 1, arbitrary: hostileString },
);

export const CHAT_MODELS = [
  "llama3.2",
  "llama3.2:latest",
  "LLAMA3.2",
  "gpt-4o-mini",
  "thinker",
  "qwen3",
  "qwen3:8b",
  "llava:7b",
  "llama3.3",
  "hf.co/unsloth/gemma-3-1b-it-GGUF:Q4_K_M",
];
export const chatModel = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...CHAT_MODELS) }, { weight: 1, arbitrary: modelName });

/** JSON values for places that take any JSON (options, schemas, tool arguments): evil keys and deep nesting included. */
export const someJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 20, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: deepNesting },
  { weight: 2, arbitrary: evilObject },
);
export const optionsObject = fc.dictionary(
  fc.oneof(fc.constantFrom(...EVIL_KEYS, "num_ctx", "num_predict", "top_k", "repeat_penalty"), fc.string()),
  fc.oneof(number, someJson),
  { maxKeys: 4 },
);
export const schemaObject = fc.dictionary(fc.oneof(fc.constantFrom(...EVIL_KEYS, "type", "properties", "items", "required"), fc.string()), someJson, {
  maxKeys: 4,
});

/** Tool-call arguments: a JSON-encoded object, deep or with evil keys, and sometimes not. */
export const toolArguments = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("{}", '{"city":"Paris"}', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}') },
  { weight: 2, arbitrary: optionsObject.map((value) => new Raw(JSON.stringify(encode(value)), `a string of ${encode(value)}`)) },
  // A JSON string holding deep JSON: the body's own depth is small.
  { weight: 1, arbitrary: deepNesting.map((raw) => new Raw(JSON.stringify(`{"a":${raw.text}}`), `a string of ${raw.label}`)) },
  { weight: 1, arbitrary: fc.constantFrom("{bad", "[1]", "null", "", '"x"', "1e400") },
);

/** Tool names: the two the emulator's tools are called by, and anything else a client may send. */
export const toolName = fc.oneof(
  fc.constantFrom("get_weather", "lookup"),
  hostileString.filter((n) => n !== ""),
);

/** Hundreds to thousands of plain `{role, content}` turns, which every chat dialect takes: a long conversation. */
export const longConversation = fc
  .integer({ min: 100, max: 3000 })
  .map((n) => Array.from({ length: n }, (_, i) => ({ role: i % 2 ? "assistant" : "user", content: `message ${i}` })));

/** Models of the emulator that can think, and those that can use tools (by the names the tests send). */
export const THINKERS = new Set(["thinker", "qwen3", "qwen3:8b"]);
export const TOOL_MODELS = new Set(["llama3.2", "llama3.2:latest", "LLAMA3.2", "gpt-4o-mini", "thinker", "qwen3", "qwen3:8b", "llama3.3"]);

export const EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh", "max", "ultra"];
/** Absurd caps are rare here: a reservation of the whole tpm only fits an empty minute (hostile.test.ts has them). */
export const maxTokens = fc.oneof({ weight: 20, arbitrary: fc.nat(64) }, { weight: 1, arbitrary: fc.constantFrom(0, 1e12, 2 ** 53 - 1) });

/** Header values the fetch API accepts (no CR, LF or NUL): ASCII, with tabs and other controls. */
export const headerText = fc.string({
  unit: fc
    .integer({ min: 1, max: 0x7e })
    .filter((c) => c !== 10 && c !== 13)
    .map((c) => String.fromCharCode(c)),
  maxLength: 200,
});
export const alnum = fc.constantFrom(..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

export const authorization = fc.oneof(
  { weight: 12, arbitrary: fc.constant("Bearer $KEY") },
  {
    weight: 1,
    arbitrary: fc.constantFrom("bearer $KEY", "BEARER   $KEY  ", "Bearer $KEY extra", "$KEY", "Bearer $ADMIN", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", ""),
  },
  { weight: 1, arbitrary: fc.string({ unit: alnum, minLength: 38, maxLength: 38 }).map((body) => `Bearer sk-${body}`) },
  { weight: 1, arbitrary: headerText.map((text) => `Bearer ${text}`) },
);

const requestId = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/),
  fc.constantFrom("a".repeat(129), " ", "a b", "a\tb", "%0d%0aSet-Cookie: x=1", "id\u0001", "<x>", "req;drop"),
  headerText,
);

export const extraHeaders: fc.Arbitrary<[string, string][]> = fc
  .record(
    {
      "content-type": fc.oneof(
        fc.constantFrom(
          "application/json",
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "application/json; charset=utf-16",
        ),
        headerText,
      ),
      "x-request-id": requestId,
      origin: fc.oneof(fc.constantFrom("https://app.example", "null", "http://localhost:3000", "https://evil.example"), headerText),
      cookie: fc.constant("session=client-cookie"),
      "x-api-key": fc.constant("$KEY"),
      "cf-connecting-ip": fc.constant("203.0.113.9"),
      "cf-access-client-secret": fc.constant("client-supplied-secret"),
      accept: fc.constantFrom("*/*", "text/event-stream", "application/x-ndjson"),
    },
    { requiredKeys: [] },
  )
  .map((headers) => Object.entries(headers));

export function headersWith(auth: fc.Arbitrary<string>): fc.Arbitrary<[string, string][]> {
  return fc.tuple(auth, extraHeaders).map(([value, rest]) => [["authorization", value] as [string, string], ...rest]);
}

/** src/keys/key-format.ts's checksum (FNV-1a, as 6 base62 characters): made-up keys that are well-formed, from the seed. */
export function keyChecksum(body: string): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  let hash = 0x811c9dc5;
  for (let i = 0; i < body.length; i++) {
    hash ^= body.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  let out = "";
  for (let i = 0; i < 6; i++) {
    out += alphabet[hash % 62];
    hash = Math.floor(hash / 62);
  }
  return out;
}
/** A key of the right shape and checksum that was never issued: only the key's Durable Object can say it is unknown. */
export const madeUpKey = fc.string({ unit: alnum, minLength: 32, maxLength: 32 }).map((body) => `sk-${body}${keyChecksum(body)}`);
