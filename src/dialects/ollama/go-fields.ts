/**
 * How Ollama reads the top level of a request body (pure).
 *
 * Ollama binds bodies with Go's encoding/json. A JSON key binds to a struct field whose name it equals, or else
 * equals under Unicode simple case folding ("MODEL", "Model", "\u212aeep_alive" with the Kelvin sign, "ſtream" with
 * the long s), and every key that binds is decoded into the field in text order, so the last one wins. JSON.parse
 * sees `{"model":"llama3.2","Model":"qwen3:8b"}` as model "llama3.2" while Ollama runs qwen3:8b, and it loses the
 * text order of exact duplicates (`{"model":"a","Model":"b","model":"c"}` is `{model:"c",Model:"b"}` in JS, "c" in
 * Go). So the gateway reads those fields from the raw text the way Go does, and forwards its own serialisation of
 * the result: exactly one key per field, the one it checked.
 */

/** The generation fields that api.ChatRequest and api.GenerateRequest share. */
const GENERATION_FIELDS = [
  "stream",
  "format",
  "options",
  "keep_alive",
  "think",
  "truncate",
  "shift",
  "logprobs",
  "top_logprobs",
  "_debug_render_only",
] as const;

/** Fields of api.ChatRequest (Ollama's /api/chat). */
export const CHAT_FIELDS = ["model", "messages", "tools", ...GENERATION_FIELDS] as const;

/** Fields of api.GenerateRequest (/api/generate). */
export const GENERATE_FIELDS = ["model", "prompt", "suffix", "system", "template", "context", "raw", "images", ...GENERATION_FIELDS] as const;

/** Fields of api.EmbedRequest (/api/embed). */
export const EMBED_FIELDS = ["model", "input", "truncate", "dimensions", "options", "keep_alive"] as const;

/** Fields of api.EmbeddingRequest (the legacy /api/embeddings). */
export const EMBEDDINGS_FIELDS = ["model", "prompt", "options", "keep_alive"] as const;

/** Fields of api.ShowRequest (/api/show); `name` is the legacy spelling of `model`. */
export const SHOW_FIELDS = ["model", "name", "system", "template", "verbose", "options"] as const;

/** The field list of each native route that names a model. */
export const NATIVE_FIELDS = {
  chat: CHAT_FIELDS,
  generate: GENERATE_FIELDS,
  embed: EMBED_FIELDS,
  embeddings: EMBEDDINGS_FIELDS,
  show: SHOW_FIELDS,
} as const satisfies Readonly<Record<string, readonly string[]>>;

/**
 * Fields that are plain Go strings, bools or ints in those structs: a JSON null decodes into them as "no change",
 * so `{"model":"a","Model":null}` still runs "a".
 */
const NULL_KEEPS = new Set([
  "model",
  "name",
  "prompt",
  "suffix",
  "system",
  "template",
  "raw",
  "verbose",
  "logprobs",
  "top_logprobs",
  "dimensions",
  "_debug_render_only",
]);

/** Fields that are Go maps (`map[string]any`): a second object is merged into the first; null empties it. */
const GO_MAPS = new Set(["options"]);

/**
 * encoding/json's folded form of a name: ASCII letters upper-cased; a non-ASCII character folds to the smallest
 * character of its simple-folding orbit, which is an ASCII letter only for the Kelvin sign (K) and the long s (S).
 * Every other non-ASCII character is kept as it is: it cannot equal the folded form of an ASCII field name.
 */
export function goFold(name: string): string {
  let folded = "";
  for (const char of name) {
    const code = char.charCodeAt(0);
    if (code >= 0x61 && code <= 0x7a) folded += String.fromCharCode(code - 0x20);
    else if (code === 0x212a) folded += "K";
    else if (code === 0x17f) folded += "S";
    else folded += char;
  }
  return folded;
}

interface Member {
  key: string;
  valueStart: number;
  valueEnd: number;
}

const WHITESPACE = /[^ \t\n\r]/g;
const STRING_STOP = /["\\]/g;
const NESTING = /["{}[\]]/g;
const SCALAR_END = /[ \t\n\r,}\]]/g;

function skipWhitespace(text: string, from: number): number {
  WHITESPACE.lastIndex = from;
  return WHITESPACE.exec(text)?.index ?? text.length;
}

/** The index after the closing quote of the string that opens at `start`. */
function stringEnd(text: string, start: number): number {
  STRING_STOP.lastIndex = start + 1;
  for (;;) {
    const stop = STRING_STOP.exec(text);
    if (!stop) throw new SyntaxError("goTopLevel: unterminated string");
    if (text[stop.index] === '"') return stop.index + 1;
    STRING_STOP.lastIndex = stop.index + 2; // an escape: the character after the backslash is never the end
  }
}

/** The index after the value that starts at `start` (no leading whitespace). */
function valueEnd(text: string, start: number): number {
  const first = text[start];
  if (first === '"') return stringEnd(text, start);
  if (first === "{" || first === "[") {
    let depth = 0;
    NESTING.lastIndex = start;
    for (;;) {
      const mark = NESTING.exec(text);
      if (!mark) throw new SyntaxError("goTopLevel: unterminated object or array");
      const char = text[mark.index];
      if (char === '"') NESTING.lastIndex = stringEnd(text, mark.index);
      else if (char === "{" || char === "[") depth++;
      else if (--depth === 0) return mark.index + 1;
    }
  }
  SCALAR_END.lastIndex = start; // a number or a literal
  return SCALAR_END.exec(text)?.index ?? text.length;
}

/** The top-level members of a JSON object text, in text order, duplicates included. */
function topLevelMembers(text: string): Member[] {
  let at = skipWhitespace(text, 0);
  if (text[at] !== "{") throw new TypeError("goTopLevel: the JSON text is not an object");
  const members: Member[] = [];
  at = skipWhitespace(text, at + 1);
  if (text[at] === "}") return members;
  for (;;) {
    const keyEnd = stringEnd(text, at);
    const rawKey = text.slice(at + 1, keyEnd - 1);
    const key = rawKey.includes("\\") ? (JSON.parse(text.slice(at, keyEnd)) as string) : rawKey;
    const valueStart = skipWhitespace(text, skipWhitespace(text, keyEnd) + 1); // past the colon
    const end = valueEnd(text, valueStart);
    members.push({ key, valueStart, valueEnd: end });
    at = skipWhitespace(text, end);
    if (text[at] !== ",") return members;
    at = skipWhitespace(text, at + 1);
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/** Assignment that stores "__proto__" as an ordinary own key, as JSON.parse does, instead of setting the prototype. */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The top level of a JSON object text as Ollama's Go decoder reads it for a struct with these fields (ASCII
 * names, as Ollama's are): every key that Go binds to one of `fields` ("MODEL", "\u212aeep_alive", an escaped
 * "\u006dodel"…) is removed, and the field is stored under its own name with the value Go ends up with: the last
 * such key in the text; except that null does not change a plain string/bool/int field (`model`, `prompt`, …), and
 * objects given for `options` (a Go map) are merged in order (null empties it). Every other key is kept as
 * JSON.parse reads it. Nested objects are not looked into: a "model" inside `messages` binds nothing.
 *
 * `text` must be valid JSON (a SyntaxError otherwise) and an object (a TypeError otherwise); `parsed`, when the
 * caller has already run JSON.parse(text), saves parsing it again. Go also decodes a repeated array (`messages`)
 * into the elements of the first one; that merge is not reproduced: the result holds the last array, and the
 * gateway forwards its own serialisation, so Ollama sees that last array alone.
 */
export function goTopLevel(text: string, fields: readonly string[], parsed: unknown = JSON.parse(text)): Record<string, unknown> {
  if (!isPlainObject(parsed)) throw new TypeError("goTopLevel: the JSON text is not an object");
  const fieldByFold = new Map<string, string>();
  const lengths = new Set<number>();
  for (const field of fields) {
    fieldByFold.set(goFold(field), field);
    lengths.add(field.length); // folding keeps the UTF-16 length, so no longer or shorter key can bind
  }
  const fieldOf = (key: string): string | undefined => (lengths.has(key.length) ? fieldByFold.get(goFold(key)) : undefined);

  const members = topLevelMembers(text);
  const lastIndexOfKey = new Map<string, number>();
  members.forEach((member, index) => {
    lastIndexOfKey.set(member.key, index);
  });
  // The last occurrence of a key is the value JSON.parse kept; an earlier exact duplicate is parsed from its text.
  const memberValue = (member: Member, index: number): unknown =>
    lastIndexOfKey.get(member.key) === index ? parsed[member.key] : JSON.parse(text.slice(member.valueStart, member.valueEnd));

  const bound = new Map<string, unknown>();
  const boundKeys = new Map<string, string>();
  members.forEach((member, index) => {
    const field = fieldOf(member.key);
    if (field === undefined) return;
    boundKeys.set(member.key, field);
    const isNull = text[member.valueStart] === "n";
    if (isNull && NULL_KEEPS.has(field) && bound.has(field)) return;
    const value = isNull ? null : memberValue(member, index);
    const before = bound.get(field);
    bound.set(field, GO_MAPS.has(field) && isPlainObject(before) && isPlainObject(value) ? { ...before, ...value } : value);
  });

  // Keys keep JSON.parse's order; a field takes the place of the first key that bound to it.
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(parsed)) {
    const field = boundKeys.get(key);
    if (field === undefined) put(result, key, parsed[key]);
    else if (!Object.hasOwn(result, field)) put(result, field, bound.get(field));
  }
  return result;
}
