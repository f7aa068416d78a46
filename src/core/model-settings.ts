import { isJsonObject } from "./json.ts";

/**
 * MODEL_LIMITS: per-model ceilings that the operator sets and no client can exceed, applied after MODEL_DEFAULTS
 * and the client's own values, on every route (pure; the routes look the entry up and call these).
 */

/** One MODEL_LIMITS entry. Every field is optional: an unset one is no ceiling. */
/** Per-model defaults merged under every request for that model (the client's own values win). */
export interface ModelDefaults {
  options?: Record<string, unknown>;
  keep_alive?: string | number;
  think?: boolean | string;
  /** A prompt longer than the window: "oldest" drops the oldest turns; otherwise it is refused. Never sent upstream. */
  truncate?: "oldest" | "none";
}

/** The per-model settings tables of the configuration (MODEL_DEFAULTS, MODEL_LIMITS). */
export interface ModelSettings {
  modelDefaults: Readonly<Record<string, ModelDefaults>>;
  modelLimits: Readonly<Record<string, ModelLimits>>;
}

export interface ModelLimits {
  /** Most `options.num_ctx` a request may ask for (Ollama). */
  max_num_ctx?: number;
  /** Most answer tokens: `options.num_predict` (Ollama), `max_tokens`/`n_predict` (llama-server). */
  max_num_predict?: number;
  /** Longest `keep_alive` (Ollama): a Go duration such as "30m", or a number of seconds. */
  max_keep_alive?: string | number;
}

/**
 * The entry of a table keyed by model name: an exact key first (the names tried in the order given), then the
 * longest `*` pattern (a key ending in `*` matches every name that starts with what comes before the `*`) matching
 * any of the names; between patterns of the same length, the one matching an earlier name. Own keys only: a model
 * named "constructor" or "__proto__" must not find Object.prototype's members.
 */
export function patternLookup<T>(table: Readonly<Record<string, T>>, ...names: string[]): T | undefined {
  for (const name of names) {
    if (Object.hasOwn(table, name)) return table[name];
  }
  let best: T | undefined;
  let bestLength = -1;
  let bestName = names.length;
  for (const key of Object.keys(table)) {
    if (!key.endsWith("*")) continue;
    const prefix = key.slice(0, -1);
    if (prefix.length < bestLength) continue;
    const matched = names.findIndex((name) => name.startsWith(prefix));
    if (matched < 0) continue;
    if (prefix.length > bestLength || matched < bestName) {
      best = table[key];
      bestLength = prefix.length;
      bestName = matched;
    }
  }
  return best;
}

/**
 * MODEL_DEFAULTS may be keyed by the name the client sent (an alias), by the installed name, or by a `*` pattern
 * (an exact key wins, then the longest pattern). Own keys only, or a model installed as "constructor" would get
 * Object.prototype's members as its defaults.
 */
export function modelDefaultsFor(config: Pick<ModelSettings, "modelDefaults">, requested: string, resolved: string): ModelDefaults | undefined {
  return patternLookup(config.modelDefaults, requested, resolved);
}

/** The MODEL_LIMITS entry of a model: by the name the client sent, or its installed name, or a `*` pattern. */
export function limitsFor(config: Pick<ModelSettings, "modelLimits">, requested: string, resolved: string): ModelLimits | undefined {
  return patternLookup(config.modelLimits, requested, resolved);
}

const NS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  "\u00b5s": 1e3, // micro sign
  "\u03bcs": 1e3, // Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};
/** Go's time.Duration is an int64 of nanoseconds. */
const MAX_DURATION_NS = 2 ** 63 - 1;
const DURATION_PART = /^(\d*)(?:\.(\d*))?([^\d.]*)/;

/**
 * A Go duration string (time.ParseDuration: "30m", "1h30m", "1.5h", "-1m", "500ms", "0") → nanoseconds, or null
 * where Go refuses it (no unit, unknown unit, spaces, overflow).
 */
export function parseGoDuration(text: string): number | null {
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return null;
  let total = 0;
  while (rest !== "") {
    const part = DURATION_PART.exec(rest)!;
    const [whole, int = "", fraction, unit = ""] = part;
    if (int === "" && !fraction) return null; // "." or "m" alone
    const scale = NS_PER_UNIT[unit];
    if (scale === undefined) return null; // missing or unknown unit
    total += Number(int || "0") * scale;
    if (fraction) total += (Number(fraction) / 10 ** fraction.length) * scale;
    if (total > MAX_DURATION_NS) return null;
    rest = rest.slice(whole.length);
  }
  return sign * total;
}

/** A MODEL_LIMITS `max_keep_alive` → nanoseconds, or null when it is not a non-negative Go duration or seconds. */
export function keepAliveCeilingNs(max: string | number): number | null {
  const ns = typeof max === "number" ? (Number.isFinite(max) ? max * 1e9 : null) : parseGoDuration(max);
  return ns === null || ns < 0 || ns > MAX_DURATION_NS ? null : ns;
}

/**
 * `keep_alive` held to `max_keep_alive`. Ollama reads a number as whole seconds and a string as a Go duration;
 * a negative one means "forever". A value within the ceiling is kept as the client sent it; a longer one, a
 * negative one, or one that is not a valid keep_alive becomes the ceiling, as the operator wrote it (a number of
 * seconds N as "Ns"). Absent (undefined or null) stays absent: the machine's own OLLAMA_KEEP_ALIVE applies.
 */
export function limitKeepAlive<V>(value: V, limits: ModelLimits | undefined): V | string {
  const max = limits?.max_keep_alive;
  if (max === undefined || value === undefined || value === null) return value;
  const maxNs = keepAliveCeilingNs(max);
  if (maxNs === null) throw new Error(`MODEL_LIMITS max_keep_alive ${JSON.stringify(max)} is not a duration`);
  const ceiling = typeof max === "string" ? max : `${max}s`;
  let ns: number | null = null;
  // Ollama tests the sign of the number itself (-0.5 is "forever"), then keeps its whole seconds.
  if (typeof value === "number") ns = Number.isFinite(value) && value >= 0 ? Math.trunc(value) * 1e9 : null;
  else if (typeof value === "string") ns = parseGoDuration(value);
  return ns === null || ns < 0 || ns > maxNs ? ceiling : value;
}

/** What the configuration sets on a generation request besides the dialect's own fields. */
interface ConfiguredSettings {
  options?: Record<string, unknown>;
  keep_alive?: string | number;
}

/**
 * The configuration's part of a generation request, for every dialect: `options` are MODEL_DEFAULTS' with the
 * request's own values over them and MODEL_LIMITS over everything; `keep_alive` is the request's, else the
 * default, held to MODEL_LIMITS. Unset stays unset, so the Modelfile's own values apply.
 */
export function applyModelSettings(
  native: ConfiguredSettings,
  own: Readonly<Record<string, unknown>> | undefined,
  keepAlive: string | number | undefined,
  context: { defaults?: ModelDefaults; limits?: ModelLimits },
): void {
  const options = limitOptions({ ...context.defaults?.options, ...own }, context.limits);
  if (options) native.options = options;
  const limited = limitKeepAlive(keepAlive ?? context.defaults?.keep_alive, context.limits);
  if (limited !== undefined) native.keep_alive = limited;
}

/** What applyNativeLimits does besides num_ctx and keep_alive. */
export interface NativeLimitMode {
  /**
   * The request generates an answer (chat, generate): `num_predict` is held to `max_num_predict`, and set to it
   * when absent or "no limit" (-1 infinite, -2 fill the context). False for embeddings, which generate nothing:
   * a `num_predict` is not added (one the client sent is still held to the ceiling).
   */
  answer: boolean;
}

/**
 * Ollama `options` under MODEL_LIMITS: `num_ctx` held to `max_num_ctx` (a client that sent none keeps the
 * machine's default; one that is not a number becomes the ceiling), `num_predict` as NativeLimitMode says.
 * Returns a new object (or undefined when there is nothing to send); `options` that are not an object are left
 * alone, for Ollama to refuse.
 */
export function limitOptions(
  options: Readonly<Record<string, unknown>> | null | undefined,
  limits: ModelLimits | undefined,
  mode: NativeLimitMode = { answer: true },
): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = { ...options };
  const maxCtx = limits?.max_num_ctx;
  const ctx = out.num_ctx;
  if (maxCtx !== undefined && ctx !== undefined && ctx !== null) {
    if (typeof ctx !== "number" || !Number.isFinite(ctx) || ctx > maxCtx) out.num_ctx = maxCtx;
  }
  const maxPredict = limits?.max_num_predict;
  const predict = out.num_predict;
  if (maxPredict !== undefined && (mode.answer || (predict !== undefined && predict !== null))) {
    if (!isUsableCap(predict) || predict > maxPredict) out.num_predict = maxPredict;
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * A native Ollama request body (/api/chat, /api/generate, /api/embed, /api/embeddings) under MODEL_LIMITS:
 * `options` as limitOptions says, `keep_alive` as limitKeepAlive says. Returns a new body; the input is not
 * changed. Without limits, a copy of the body.
 */
export function applyNativeLimits<T extends object>(body: T, limits: ModelLimits | undefined, mode: NativeLimitMode = { answer: true }): T {
  const out = { ...body } as Record<string, unknown>;
  if (!limits) return out as T;
  const options = out.options;
  if (options === undefined || options === null || isJsonObject(options)) {
    const limited = limitOptions(options, limits, mode);
    if (limited !== undefined) out.options = limited;
  }
  if (Object.hasOwn(out, "keep_alive")) out.keep_alive = limitKeepAlive(out.keep_alive, limits);
  return out as T;
}

/** An answer cap a backend honours: a finite, non-negative number (-1 and -2 are Ollama's and llama-server's "no limit"). */
export function isUsableCap(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

/** A usable answer cap (`num_predict`) among Ollama options, or null (absent, or a "no limit"). */
export function answerCap(options: Readonly<Record<string, unknown>> | null | undefined): number | null {
  const cap = options?.num_predict;
  return isUsableCap(cap) ? cap : null;
}

const ANSWER_CAP_FIELDS = ["max_tokens", "max_completion_tokens", "n_predict"] as const;

/**
 * An OpenAI-shaped payload for llama-server under MODEL_LIMITS: `max_tokens`, `max_completion_tokens` and
 * `n_predict` each held to `max_num_predict` (a negative one, llama-server's "no limit", or one that is not a
 * number becomes the ceiling), and `max_tokens` set to it when none of them is present. Returns a new payload.
 */
export function applyOpenAILimits<T extends object>(payload: T, limits: ModelLimits | undefined): T {
  const out = { ...payload } as Record<string, unknown>;
  const max = limits?.max_num_predict;
  if (max === undefined) return out as T;
  let present = false;
  for (const field of ANSWER_CAP_FIELDS) {
    const value = out[field];
    if (value === undefined || value === null) continue;
    present = true;
    if (!isUsableCap(value) || value > max) out[field] = max;
  }
  if (!present) out.max_tokens = max;
  return out as T;
}

/**
 * The most answer tokens a request may produce: the smaller of the client's cap and `max_num_predict`, whichever
 * are set, or null when neither is. A negative client cap (the backends' "no limit") counts as unset.
 */
export function answerCeiling(clientCap: number | null | undefined, limits: ModelLimits | undefined): number | null {
  const caps = [clientCap, limits?.max_num_predict].filter(isUsableCap);
  return caps.length ? Math.min(...caps) : null;
}
