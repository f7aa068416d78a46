// /api/embed and the legacy /api/embeddings: deterministic, L2-normalised vectors.

import { mulberry32 } from "../random.ts";
import type { Json } from "./answers.ts";
import { wordCount } from "./answers.ts";
import type { Checked } from "./godecode.ts";
import { fail, stringField } from "./godecode.ts";
import { findModel, hasCapability } from "./models.ts";
import type { EmulatedModel } from "./types.ts";

export interface EmbedResult {
  entry: EmulatedModel;
  response: Json;
}

const DEFAULT_EMBEDDING_LENGTH = 768;

// FNV-1a seeds a mulberry32 PRNG (../random.ts), so the same text always gets the same vector.
function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** Vector of `length` values, truncated to `dimensions`, then normalised to unit length. */
export function embedText(text: string, length: number, dimensions = length): number[] {
  const next = mulberry32(seedOf(text));
  const raw = Array.from({ length }, () => next() * 2 - 1).slice(0, dimensions);
  const norm = Math.sqrt(raw.reduce((s, x) => s + x * x, 0)) || 1;
  return raw.map((x) => Math.round((x / norm) * 1e8) / 1e8);
}

function embeddingModel(name: string, models: EmulatedModel[], notFound: string): Checked<EmulatedModel> {
  const entry = findModel(models, name);
  if (!entry) return fail(404, notFound);
  if (!hasCapability(entry, "embedding")) return fail(400, `${JSON.stringify(name)} does not support embeddings`);
  return { ok: true, value: entry };
}

function inputs(input: unknown): string[] | null {
  if (input === undefined || input === null) return [];
  if (typeof input === "string") return input ? [input] : [];
  if (Array.isArray(input) && input.every((s) => typeof s === "string")) return input;
  return null;
}

export function embed(body: Json, models: EmulatedModel[]): Checked<EmbedResult> {
  const model = stringField(body, "EmbedRequest", "model");
  if (!model.ok) return model;
  if (!model.value) return fail(400, "model is required");
  const texts = inputs(body.input);
  if (texts === null) return fail(400, "invalid input type");
  const found = embeddingModel(model.value, models, `model '${model.value}' not found`);
  if (!found.ok) return found;
  const entry = found.value;
  const length = entry.embeddingLength ?? DEFAULT_EMBEDDING_LENGTH;
  const dims = body.dimensions ?? 0;
  if (typeof dims !== "number" || !Number.isInteger(dims) || dims < 0 || dims > length) {
    return fail(400, `dimensions must be between 1 and ${length}`);
  }
  if (texts.length === 0) return { ok: true, value: { entry, response: { model: model.value, embeddings: [] } } };
  const promptCount = texts.reduce((n, t) => n + wordCount(t), 0);
  const response = {
    model: model.value,
    embeddings: texts.map((t) => embedText(t, length, dims || length)),
    total_duration: 25_000_000 + promptCount * 1_000_000 + 1_000_000,
    load_duration: 25_000_000,
    prompt_eval_count: promptCount,
  };
  return { ok: true, value: { entry, response } };
}

/** Legacy endpoint: `{model, prompt}` → `{"embedding":[...]}`, old not-found wording. */
export function legacyEmbeddings(body: Json, models: EmulatedModel[]): Checked<EmbedResult> {
  const model = stringField(body, "EmbeddingRequest", "model");
  if (!model.ok) return model;
  if (!model.value) return fail(400, "model is required");
  const found = embeddingModel(model.value, models, `model "${model.value}" not found, try pulling it first`);
  if (!found.ok) return found;
  const prompt = typeof body.prompt === "string" ? body.prompt : "";
  const length = found.value.embeddingLength ?? DEFAULT_EMBEDDING_LENGTH;
  return { ok: true, value: { entry: found.value, response: { embedding: prompt ? embedText(prompt, length) : [] } } };
}
