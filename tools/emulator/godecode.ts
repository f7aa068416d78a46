// Go-flavoured request decoding: Ollama binds bodies with encoding/json, so clients see Go's error texts.

export type Checked<T> = { ok: true; value: T } | { ok: false; status: number; error: string };

export function fail(status: number, error: string): { ok: false; status: number; error: string } {
  return { ok: false, status, error };
}

class SyntaxFailure extends Error {}

// Go's quoteChar: the offending character in single quotes.
function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return "'\"'";
  const quoted = JSON.stringify(c);
  return `'${quoted.slice(1, -1)}'`;
}

/** One key of the top-level object, with where its value sits in the text. */
interface TopMember {
  key: string;
  from: number;
  to: number;
}

// A tiny JSON scanner that reports the first error the way Go's scanner words it.
// It stops after the first value, because json.Decoder ignores whatever follows.
// The keys of a top-level object are collected in `members`, in text order, duplicates included.
function scanValueEnd(s: string, members: TopMember[] = []): number {
  let i = 0;
  let depth = 0;
  const peek = (): string => {
    if (i >= s.length) throw new SyntaxFailure("unexpected EOF");
    return s[i] as string;
  };
  const bad = (context: string): never => {
    throw new SyntaxFailure(`invalid character ${quoteChar(peek())} ${context}`);
  };
  const ws = (): void => {
    while (i < s.length && " \t\r\n".includes(s[i] as string)) i++;
  };
  const digits = (context: string): void => {
    if (!/[0-9]/.test(peek())) bad(context);
    while (i < s.length && /[0-9]/.test(s[i] as string)) i++;
  };
  const literal = (word: string): void => {
    for (let k = 0; k < word.length; k++, i++) {
      if (peek() !== word[k]) bad(`in literal ${word} (expecting ${quoteChar(word[k] as string)})`);
    }
  };
  const str = (): void => {
    i++;
    for (;;) {
      const c = peek();
      if (c === '"') {
        i++;
        return;
      }
      if (c < " ") bad("in string literal");
      i++;
      if (c !== "\\") continue;
      const e = peek();
      if (e === "u") {
        i++;
        for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(peek())) bad("in \\u hexadecimal character escape");
      } else if ('"\\/bfnrt'.includes(e)) i++;
      else bad("in string escape code");
    }
  };
  const num = (topLevel: boolean): void => {
    if (s[i] === "-") {
      i++;
      if (!/[0-9]/.test(peek())) bad("in numeric literal");
    }
    if (s[i] === "0") i++;
    else digits("in numeric literal");
    if (s[i] === ".") {
      i++;
      digits("after decimal point in numeric literal");
    }
    if (s[i] === "e" || s[i] === "E") {
      i++;
      if (s[i] === "+" || s[i] === "-") i++;
      digits("in exponent of numeric literal");
    }
    // Inside a container a number must be followed by something; at top level EOF ends it.
    if (!topLevel) peek();
  };
  const value = (topLevel: boolean): void => {
    ws();
    const c = peek();
    if (c === "{") object();
    else if (c === "[") array();
    else if (c === '"') str();
    else if (c === "-" || /[0-9]/.test(c)) num(topLevel);
    else if (c === "t") literal("true");
    else if (c === "f") literal("false");
    else if (c === "n") literal("null");
    else bad("looking for beginning of value");
  };
  const object = (): void => {
    const top = depth === 0;
    depth++;
    i++;
    ws();
    if (peek() === "}") {
      i++;
      depth--;
      return;
    }
    for (;;) {
      ws();
      if (peek() !== '"') bad("looking for beginning of object key string");
      const keyAt = i;
      str();
      const key = top ? (JSON.parse(s.slice(keyAt, i)) as string) : "";
      ws();
      if (peek() !== ":") bad("after object key");
      i++;
      ws();
      const from = i;
      value(false);
      if (top) members.push({ key, from, to: i });
      ws();
      if (peek() === ",") {
        i++;
        continue;
      }
      if (peek() === "}") {
        i++;
        depth--;
        return;
      }
      bad("after object key:value pair");
    }
  };
  const array = (): void => {
    depth++;
    i++;
    ws();
    if (peek() === "]") {
      i++;
      depth--;
      return;
    }
    for (;;) {
      value(false);
      ws();
      if (peek() === ",") {
        i++;
        continue;
      }
      if (peek() === "]") {
        i++;
        depth--;
        return;
      }
      bad("after array element");
    }
  };
  value(true);
  return i;
}

export function goKind(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  return typeof v === "object" ? "object" : typeof v;
}

/**
 * How a repeated key lands in a Go struct field: a plain string/bool/number ("plain") ignores a JSON null; a map
 * ("map") takes the keys of every object in turn and is emptied by null; pointers, slices, interfaces and raw JSON
 * ("last") simply take the last value, null included.
 */
type GoFieldKind = "plain" | "map" | "last";

// The request structs of api/types.go (json tag → kind), for the types the emulator decodes.
const PULL_PUSH: Record<string, GoFieldKind> = { model: "plain", name: "plain", insecure: "plain", username: "plain", password: "plain", stream: "last" };
const GO_STRUCTS: Record<string, Record<string, GoFieldKind>> = {
  ChatRequest: {
    model: "plain",
    messages: "last",
    tools: "last",
    format: "last",
    options: "map",
    stream: "last",
    keep_alive: "last",
    think: "last",
    truncate: "last",
    shift: "last",
    logprobs: "plain",
    top_logprobs: "plain",
    _debug_render_only: "plain",
  },
  GenerateRequest: {
    model: "plain",
    prompt: "plain",
    suffix: "plain",
    system: "plain",
    template: "plain",
    context: "last",
    stream: "last",
    raw: "plain",
    format: "last",
    images: "last",
    options: "map",
    keep_alive: "last",
    think: "last",
    truncate: "last",
    shift: "last",
    logprobs: "plain",
    top_logprobs: "plain",
    _debug_render_only: "plain",
  },
  EmbedRequest: { model: "plain", input: "last", truncate: "last", dimensions: "plain", options: "map", keep_alive: "last" },
  EmbeddingRequest: { model: "plain", prompt: "plain", options: "map", keep_alive: "last" },
  ShowRequest: { model: "plain", name: "plain", system: "plain", template: "plain", verbose: "plain", options: "map" },
  PullRequest: PULL_PUSH,
  PushRequest: PULL_PUSH,
  CreateRequest: {
    model: "plain",
    name: "plain",
    from: "plain",
    stream: "last",
    quantize: "plain",
    files: "map",
    adapters: "map",
    template: "plain",
    license: "last",
    system: "plain",
    parameters: "map",
    messages: "last",
  },
  CopyRequest: { source: "plain", destination: "plain" },
  DeleteRequest: { model: "plain", name: "plain" },
};

// encoding/json matches a key to a field exactly or else under simple case folding; for ASCII field names the only
// non-ASCII letters that fold onto them are the Kelvin sign (k) and the long s (s).
const goCaseless = (key: string): string =>
  key
    .replace(/[A-Z]/g, (c) => c.toLowerCase())
    .replace(/\u212a/g, "k")
    .replace(/\u017f/g, "s");

const plainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The top-level fields as Go leaves them after decoding the members in text order: each key that matches a
 * field (case-insensitively) goes into it, so the last one wins, with the null and map rules of GoFieldKind.
 * Those keys are replaced by the field's own name; keys that match no field stay as they were.
 */
function bindTopLevel(raw: string, members: TopMember[], parsed: Record<string, unknown>, goType: string): Record<string, unknown> {
  const struct = GO_STRUCTS[goType];
  if (!struct) return parsed;
  const byCaseless = new Map(Object.keys(struct).map((name) => [goCaseless(name), name]));
  const fields = new Map<string, unknown>();
  const matched = new Set<string>();
  for (const { key, from, to } of members) {
    const field = Object.hasOwn(struct, key) ? key : byCaseless.get(goCaseless(key));
    if (field === undefined) continue;
    matched.add(key);
    const v: unknown = JSON.parse(raw.slice(from, to));
    const kind = struct[field];
    const previous = fields.get(field);
    if (v === null && kind === "plain" && fields.has(field)) continue;
    fields.set(field, kind === "map" && plainObject(v) && plainObject(previous) ? { ...previous, ...v } : v);
  }
  const out: Record<string, unknown> = {};
  const define = (key: string, v: unknown) => Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
  for (const [key, v] of Object.entries(parsed)) if (!matched.has(key)) define(key, v);
  for (const [field, v] of fields) define(field, v);
  return out;
}

/**
 * Decode a request body into an object as gin's ShouldBindJSON would (null decodes to the zero value), with Go's
 * field matching for the known request types: `{"model":"a","Model":"b"}` reads model "b".
 */
export function decodeBody(raw: string, goType: string): Checked<Record<string, unknown>> {
  if (/^[ \t\r\n]*$/.test(raw)) return fail(400, "missing request body");
  let end: number;
  const members: TopMember[] = [];
  try {
    end = scanValueEnd(raw, members);
  } catch (e) {
    if (e instanceof SyntaxFailure) return fail(400, e.message);
    throw e;
  }
  const value: unknown = JSON.parse(raw.slice(0, end));
  if (value === null) return { ok: true, value: {} };
  if (typeof value !== "object" || Array.isArray(value)) {
    return fail(400, `json: cannot unmarshal ${goKind(value)} into Go value of type api.${goType}`);
  }
  return { ok: true, value: bindTopLevel(raw, members, value as Record<string, unknown>, goType) };
}

/** Go's error when a field has the wrong JSON type, e.g. `"model": 3`. */
export function fieldTypeError(goType: string, field: string, value: unknown, want: string): string {
  return `json: cannot unmarshal ${goKind(value)} into Go struct field ${goType}.${field} of type ${want}`;
}

/** Optional string field: absent/null → "", wrong type → Go's error. */
export function stringField(body: Record<string, unknown>, goType: string, field: string): Checked<string> {
  const v = body[field];
  if (v === undefined || v === null) return { ok: true, value: "" };
  if (typeof v !== "string") return fail(400, fieldTypeError(goType, field, v, "string"));
  return { ok: true, value: v };
}

const B64 = /[A-Za-z0-9+/]/;

/**
 * Where Go's base64.StdEncoding would reject `s` (the N in "illegal base64 data at input byte N"),
 * or null when it decodes. Mirrors decodeQuantum: padding is required, CR/LF are skipped.
 */
export function base64ErrorOffset(s: string): number | null {
  let si = 0;
  const skipNewlines = (): void => {
    while (si < s.length && (s[si] === "\n" || s[si] === "\r")) si++;
  };
  for (;;) {
    for (let j = 0; j < 4; j++) {
      if (si === s.length) return j === 0 ? null : si - j;
      const c = s[si++] as string;
      if (B64.test(c)) continue;
      if (c === "\n" || c === "\r") {
        j--;
        continue;
      }
      if (c !== "=" || j < 2) return si - 1;
      if (j === 2) {
        skipNewlines();
        if (si === s.length) return s.length;
        if (s[si] !== "=") return si - 1;
        si++;
      }
      skipNewlines();
      return si < s.length ? si : null;
    }
  }
}
