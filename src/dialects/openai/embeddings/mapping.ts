import { ApiError } from "../../../core/errors.ts";
import type { ModelDefaults } from "../../../core/model-settings.ts";
import { limitKeepAlive, limitOptions, type ModelLimits } from "../../../core/model-settings.ts";
import type { NativeEmbedRequest, NativeEmbedResponse } from "../../../core/native.ts";
import type { EmbeddingRequest } from "./schema.ts";

/** Pure mapping of /v1/embeddings ↔ native /api/embed. */

export interface EmbeddingList {
  object: "list";
  data: { object: "embedding"; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/**
 * The whole batch in one native call, order kept. MODEL_DEFAULTS' options and keep_alive apply under the client's,
 * MODEL_LIMITS over both (`num_ctx`, `keep_alive`; no `num_predict` is added: an embedding generates nothing).
 */
export function toNativeEmbed(body: EmbeddingRequest, model: string, defaults?: ModelDefaults, limits?: ModelLimits): NativeEmbedRequest {
  const native: NativeEmbedRequest = { model, input: body.input };
  if (body.dimensions !== undefined && body.dimensions !== null) native.dimensions = body.dimensions;
  if (body.truncate !== undefined) native.truncate = body.truncate;
  const keepAlive = limitKeepAlive(body.keep_alive ?? defaults?.keep_alive, limits);
  if (keepAlive !== undefined) native.keep_alive = keepAlive;
  const options = limitOptions({ ...defaults?.options, ...body.options }, limits, { answer: false });
  if (options) native.options = options;
  return native;
}

const badAnswer = (detail: string) => new ApiError(502, `The backend sent an unusable embeddings answer: ${detail}.`, "server_error", "backend_error");

/**
 * Native answer → OpenAI's embedding list. `model` is the name the client sent. A vector count that differs from
 * the input count would silently misalign the client's batch, so it is a 502 rather than an answer.
 */
export function toOpenAIEmbeddings(answer: NativeEmbedResponse, inputCount: number, model: string, encoding: "float" | "base64"): EmbeddingList {
  const vectors = answer.embeddings;
  if (!Array.isArray(vectors)) throw badAnswer("no embeddings");
  if (vectors.length !== inputCount) throw badAnswer(`${vectors.length} vectors for ${inputCount} inputs`);
  if (!vectors.every(Array.isArray)) throw badAnswer("a vector is not an array");
  const tokens = answer.prompt_eval_count ?? 0;
  return {
    object: "list",
    data: vectors.map((vector, index) => ({
      object: "embedding",
      index,
      embedding: encoding === "base64" ? float32Base64(vector) : vector,
    })),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

/** Little-endian float32 bytes, base64-encoded: what the OpenAI SDKs decode for `encoding_format: "base64"`. */
export function float32Base64(vector: readonly number[]): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  vector.forEach((value, i) => {
    view.setFloat32(i * 4, value, true);
  });
  let binary = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}
