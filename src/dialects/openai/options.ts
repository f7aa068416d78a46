import { invalidRequest } from "../../core/errors.ts";
import { MAX_JSON_DEPTH, nestedDeeperThan } from "../../core/json.ts";
import { applyModelSettings, type ModelDefaults, type ModelLimits } from "../../core/model-settings.ts";
import { type ThinkValue, thinkForEffort } from "../../core/native.ts";

/** OpenAI sampling fields that map 1:1 onto Ollama `options` keys. */
const SAMPLING_FIELDS = {
  temperature: "temperature",
  top_p: "top_p",
  seed: "seed",
  presence_penalty: "presence_penalty",
  frequency_penalty: "frequency_penalty",
} as const;

export interface SamplingFields {
  temperature?: number | null;
  top_p?: number | null;
  seed?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  stop?: string | string[] | null;
  options?: Record<string, unknown>;
}

/**
 * The client's Ollama `options`: its raw `options`, then the OpenAI fields over them (MODEL_DEFAULTS go under
 * these, see applyGenerationSettings). Unset OpenAI fields stay unset so the Modelfile's own defaults apply
 * (Ollama's layer forces temperature 1.0).
 */
function clientOptions(body: SamplingFields, maxTokens: number | null | undefined): Record<string, unknown> {
  const options: Record<string, unknown> = { ...body.options };
  for (const [field, key] of Object.entries(SAMPLING_FIELDS)) {
    const value = body[field as keyof typeof SAMPLING_FIELDS];
    if (value !== undefined && value !== null) options[key] = value;
  }
  if (maxTokens !== undefined && maxTokens !== null) options.num_predict = maxTokens;
  if (body.stop !== undefined && body.stop !== null) options.stop = typeof body.stop === "string" ? [body.stop] : body.stop;
  return options;
}

export interface ThinkFields {
  reasoning_effort?: string | null;
  reasoning?: { effort?: string | null } | null;
  think?: ThinkValue;
}

/** `reasoning.effort` wins over `reasoning_effort`, which wins over the raw `think`, which wins over the model default. */
export function buildThink(body: ThinkFields, defaults: ModelDefaults | undefined): ThinkValue | undefined {
  const effort = body.reasoning?.effort ?? body.reasoning_effort;
  if (effort !== undefined && effort !== null) {
    const think = thinkForEffort(effort);
    if (think === undefined) throw invalidRequest(`Unsupported reasoning effort ${JSON.stringify(effort)}.`, "reasoning_effort");
    return think;
  }
  if (body.think !== undefined) return body.think;
  return defaults?.think as ThinkValue | undefined;
}

/** What every OpenAI dialect's request can set on a native generation request besides its input. */
interface GenerationSettings {
  options?: Record<string, unknown>;
  keep_alive?: string | number;
  think?: ThinkValue;
}

/**
 * Ollama `options`, `keep_alive` and `think` onto a native request: MODEL_DEFAULTS under the client's values, the
 * OpenAI fields over them, MODEL_LIMITS over everything. `maxTokens` is the dialect's answer cap field.
 */
export function applyGenerationSettings(
  native: GenerationSettings,
  body: SamplingFields & ThinkFields & { keep_alive?: string | number },
  maxTokens: number | null | undefined,
  context: { defaults?: ModelDefaults; limits?: ModelLimits },
): void {
  applyModelSettings(native, clientOptions(body, maxTokens), body.keep_alive, context);
  const think = buildThink(body, context.defaults);
  if (think !== undefined) native.think = think;
}

/** Tool-call arguments sent as a JSON string → the object Ollama takes; a 400 naming `param` otherwise. */
export function parseToolArguments(text: string, param: string): Record<string, unknown> {
  let args: unknown;
  try {
    args = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    throw invalidRequest("Tool call arguments must be a JSON-encoded object; this one is not valid JSON.", param);
  }
  if (args === null || typeof args !== "object" || Array.isArray(args)) {
    throw invalidRequest("Tool call arguments must be a JSON-encoded object.", param);
  }
  // A JSON string inside the body escapes the body's own depth check, but is sent upstream as an object.
  if (nestedDeeperThan(args, MAX_JSON_DEPTH)) {
    throw invalidRequest(`Tool call arguments are nested more than ${MAX_JSON_DEPTH} levels deep.`, param);
  }
  return args as Record<string, unknown>;
}
