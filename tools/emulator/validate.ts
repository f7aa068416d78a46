// Validation of /api/chat and /api/generate bodies, in Ollama's order and with its error texts.

import type { Answer, Json } from "./answers.ts";
import { chatAnswer, generateAnswer, isObject, wordCount } from "./answers.ts";
import { contextWindow, fitContext } from "./context.ts";
import type { Checked } from "./godecode.ts";
import { base64ErrorOffset, fail, fieldTypeError, goKind, stringField } from "./godecode.ts";
import { findModel, fullName, hasCapability } from "./models.ts";
import type { EmulatedModel } from "./types.ts";

export interface ModelLookup {
  models: EmulatedModel[];
  legacyNotFound: boolean;
  /** The server's num_ctx when a request sets none. */
  contextLength: number;
}

/** Everything the generator needs, already validated. */
export interface GenRequest {
  endpoint: "chat" | "generate";
  model: string; // as requested: echoed in every line
  entry: EmulatedModel;
  stream: boolean;
  think: boolean;
  /** Set for an empty prompt/messages: Ollama only loads (or, with keep_alive 0, unloads) the model. */
  load: "load" | "unload" | null;
  answer: Answer;
  promptCount: number;
  numPredict: number | null;
  stop: string[];
  logprobs: boolean;
  topLogprobs: number;
  raw: boolean;
}

const THINK_LEVELS = ["high", "medium", "low", "max"];

// Ollama's ThinkValue accepts booleans and a few level names; anything else fails while binding.
function parseThink(v: unknown): Checked<boolean | undefined> {
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (typeof v === "boolean") return { ok: true, value: v };
  if (typeof v === "string" && THINK_LEVELS.includes(v)) return { ok: true, value: true };
  return fail(400, `invalid think value: ${JSON.stringify(v)} (must be "high", "medium", "low", "max", true, or false)`);
}

// Images are Go []byte, so encoding/json base64-decodes them while binding the body.
function checkImages(images: unknown, goPath: string): string | null {
  if (images === undefined || images === null) return null;
  const typeError = (v: unknown, want: string): string => `json: cannot unmarshal ${goKind(v)} into Go struct field ${goPath} of type ${want}`;
  if (!Array.isArray(images)) return typeError(images, "[]api.ImageData");
  for (const img of images) {
    if (typeof img !== "string") return typeError(img, "api.ImageData");
    const at = base64ErrorOffset(img);
    if (at !== null) return `illegal base64 data at input byte ${at}`;
  }
  return null;
}

function checkTopLogprobs(body: Json): Checked<number> {
  const v = body.top_logprobs ?? 0;
  if (typeof v !== "number" || v < 0 || v > 20) return fail(400, "top_logprobs must be between 0 and 20");
  return { ok: true, value: v };
}

function lookupModel(name: string, lookup: ModelLookup): Checked<EmulatedModel> {
  const entry = findModel(lookup.models, name);
  if (entry) return { ok: true, value: entry };
  return fail(404, lookup.legacyNotFound ? `model "${name}" not found, try pulling it first` : `model '${name}' not found`);
}

// keep_alive 0 (a number or a Go duration such as "0s") turns a load request into an unload.
function loadReason(empty: boolean, keepAlive: unknown): "load" | "unload" | null {
  if (!empty) return null;
  const zero = keepAlive === 0 || (typeof keepAlive === "string" && /^0+(\.0*)?(ns|us|µs|ms|s|m|h)?$/.test(keepAlive));
  return zero ? "unload" : "load";
}

function sampling(body: Json): { numPredict: number | null; stop: string[] } {
  const options = isObject(body.options) ? body.options : {};
  const n = options.num_predict;
  const stop = typeof options.stop === "string" ? [options.stop] : Array.isArray(options.stop) ? options.stop : [];
  return {
    numPredict: typeof n === "number" && n >= 0 ? Math.floor(n) : null,
    stop: stop.filter((s): s is string => typeof s === "string"),
  };
}

// Shared tail of both handlers: model lookup, capability checks, effective think.
function resolveModel(
  model: string,
  think: boolean | undefined,
  verb: string,
  lookup: ModelLookup,
  tools: unknown[],
): Checked<{ entry: EmulatedModel; think: boolean }> {
  const found = lookupModel(model, lookup);
  if (!found.ok) return found;
  const entry = found.value;
  if (!hasCapability(entry, "completion")) return fail(400, `${JSON.stringify(model)} does not support ${verb}`);
  if (tools.length > 0 && !hasCapability(entry, "tools")) return fail(400, `${fullName(entry)} does not support tools`);
  const thinking = hasCapability(entry, "thinking");
  // Any truthy value (true or a level) asks for thinking.
  if ((think === true || typeof think === "string") && !thinking) return fail(400, `${JSON.stringify(model)} does not support thinking`);
  // Thinking models think unless told not to.
  return { ok: true, value: { entry, think: thinking && think !== false } };
}

function normaliseMessages(v: unknown): Checked<Json[]> {
  if (v === undefined || v === null) return { ok: true, value: [] };
  if (!Array.isArray(v)) return fail(400, fieldTypeError("ChatRequest", "messages", v, "[]api.Message"));
  const out: Json[] = [];
  for (const m of v) {
    if (!isObject(m)) return fail(400, fieldTypeError("ChatRequest", "messages", m, "api.Message"));
    out.push({ ...m, role: typeof m.role === "string" ? m.role.toLowerCase() : "" });
  }
  return { ok: true, value: out };
}

export function checkChat(body: Json, lookup: ModelLookup): Checked<GenRequest> {
  const model = stringField(body, "ChatRequest", "model");
  if (!model.ok) return model;
  const think = parseThink(body.think);
  if (!think.ok) return think;
  const messages = normaliseMessages(body.messages);
  if (!messages.ok) return messages;
  for (const m of messages.value) {
    const bad = checkImages(m.images, "ChatRequest.messages.images");
    if (bad) return fail(400, bad);
  }
  if (!model.value) return fail(400, "model is required");
  const top = checkTopLogprobs(body);
  if (!top.ok) return top;
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const resolved = resolveModel(model.value, think.value, "chat", lookup, tools);
  if (!resolved.ok) return resolved;
  const msgs = messages.value;
  const window = contextWindow(body.options, lookup.contextLength, resolved.value.entry);
  const { kept, promptCount } = fitContext(msgs, tools, window);
  return {
    ok: true,
    value: {
      endpoint: "chat",
      model: model.value,
      entry: resolved.value.entry,
      stream: body.stream !== false,
      think: resolved.value.think,
      load: loadReason(msgs.length === 0, body.keep_alive),
      answer: chatAnswer(kept, body.format, tools),
      promptCount,
      ...sampling(body),
      logprobs: body.logprobs === true,
      topLogprobs: top.value,
      raw: false,
    },
  };
}

export function checkGenerate(body: Json, lookup: ModelLookup): Checked<GenRequest> {
  const fields: Record<string, string> = {};
  for (const name of ["model", "prompt", "system", "template", "suffix"]) {
    const f = stringField(body, "GenerateRequest", name);
    if (!f.ok) return f;
    fields[name] = f.value;
  }
  const think = parseThink(body.think);
  if (!think.ok) return think;
  const badImages = checkImages(body.images, "GenerateRequest.images");
  if (badImages) return fail(400, badImages);
  const model = fields.model ?? "";
  if (!model) return fail(400, "model is required");
  const raw = body.raw === true;
  const hasContext = Array.isArray(body.context) && body.context.length > 0;
  if (raw && (fields.template || fields.system || hasContext)) {
    return fail(400, "raw mode does not support template, system, or context");
  }
  const top = checkTopLogprobs(body);
  if (!top.ok) return top;
  const resolved = resolveModel(model, think.value, "generate", lookup, []);
  if (!resolved.ok) return resolved;
  const prompt = fields.prompt ?? "";
  return {
    ok: true,
    value: {
      endpoint: "generate",
      model,
      entry: resolved.value.entry,
      stream: body.stream !== false,
      think: resolved.value.think,
      load: loadReason(prompt === "", body.keep_alive),
      answer: generateAnswer(prompt, body.format, body.images, fields.suffix ?? ""),
      // The runner keeps the last num_ctx tokens of a prompt too long for the window.
      promptCount: Math.min(wordCount(prompt) + wordCount(fields.system) + 1, contextWindow(body.options, lookup.contextLength, resolved.value.entry)),
      ...sampling(body),
      logprobs: body.logprobs === true,
      topLogprobs: top.value,
      raw,
    },
  };
}
