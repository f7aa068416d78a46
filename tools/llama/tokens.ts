// /tokenize, /detokenize and /v1/embeddings.
// The emulated vocabulary is byte-level: each UTF-8 byte b is token b + 100, plus two special tokens, so that
// /detokenize gives back exactly what /tokenize was given (any text, any script).
import { wordCount } from "../emulator/answers.ts";
import { embedText } from "../emulator/embed.ts";
import type { Json } from "./http.ts";
import { errorBody } from "./http.ts";

export const BYTE_BASE = 100;
export const SPECIAL_TOKENS: ReadonlyArray<{ id: number; text: string }> = [
  { id: 1, text: "<s>" }, // BOS, added by add_special
  { id: 2, text: "</s>" },
];
export const EMBEDDING_LENGTH = 8;

export type Reply = { status: number; body: unknown };

const ok = (body: unknown): Reply => ({ status: 200, body });

function encode(content: string, parseSpecial: boolean): number[] {
  const ids: number[] = [];
  let rest = content;
  while (rest.length > 0) {
    // With parse_special (the default) the text of a special token is that token.
    let at = rest.length;
    let hit: { id: number; text: string } | undefined;
    for (const token of parseSpecial ? SPECIAL_TOKENS : []) {
      const found = rest.indexOf(token.text);
      if (found >= 0 && found < at) [at, hit] = [found, token];
    }
    for (const byte of Buffer.from(rest.slice(0, at), "utf8")) ids.push(byte + BYTE_BASE);
    if (!hit) break;
    ids.push(hit.id);
    rest = rest.slice(at + hit.text.length);
  }
  return ids;
}

function bytesOf(id: number): number[] {
  const special = SPECIAL_TOKENS.find((t) => t.id === id);
  if (special) return [...Buffer.from(special.text, "utf8")];
  return id >= BYTE_BASE && id < BYTE_BASE + 256 ? [id - BYTE_BASE] : []; // unknown ids render as nothing
}

/** A piece is a string when its bytes are valid UTF-8 on their own, else the list of bytes (as llama-server sends). */
function pieceOf(id: number): string | number[] {
  const bytes = bytesOf(id);
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return bytes;
  }
}

export function tokenizeReply(body: Json): Reply {
  // Without `content` llama-server answers an empty list.
  if (body.content === undefined) return ok({ tokens: [] });
  if (typeof body.content !== "string") return errorBody("invalid_request_error", "emulator: content must be a string");
  const ids = [...(body.add_special === true ? [1] : []), ...encode(body.content, body.parse_special !== false)];
  return ok({ tokens: body.with_pieces === true ? ids.map((id) => ({ id, piece: pieceOf(id) })) : ids });
}

export function detokenizeReply(body: Json): Reply {
  if (body.tokens === undefined) return ok({ content: "" });
  const tokens = body.tokens;
  if (!Array.isArray(tokens) || !tokens.every((t) => Number.isInteger(t))) {
    return errorBody("server_error", "[json.exception.type_error.302] type must be number");
  }
  const bytes = (tokens as number[]).flatMap(bytesOf);
  return ok({ content: Buffer.from(bytes).toString("utf8") });
}

/** Float32 little-endian, base64: encoding_format "base64". */
function base64Floats(values: number[]): string {
  return Buffer.from(new Float32Array(values).buffer).toString("base64");
}

export function embeddingsReply(body: Json, alias: string): Reply & { promptTokens: number } {
  const fail = (reply: Reply) => ({ ...reply, promptTokens: 0 });
  const input = body.input !== undefined ? body.input : body.content;
  if (input === undefined) return fail(errorBody("invalid_request_error", '"input" or "content" must be provided'));
  const texts = typeof input === "string" ? [input] : input;
  if (!Array.isArray(texts) || !texts.every((t) => typeof t === "string")) {
    return fail(errorBody("invalid_request_error", "emulator: input must be a string or an array of strings"));
  }
  if (texts.length === 0 || texts.some((t) => t === "")) return fail(errorBody("invalid_request_error", "Input content cannot be empty"));
  const format = body.encoding_format ?? "float";
  if (format !== "float" && format !== "base64") return fail(errorBody("invalid_request_error", 'encoding_format must be "float" or "base64"'));
  const promptTokens = texts.reduce((n, t) => n + wordCount(t) + 1, 0);
  const data = texts.map((text, index) => {
    const vector = embedText(text, EMBEDDING_LENGTH);
    return { embedding: format === "base64" ? base64Floats(vector) : vector, index, object: "embedding" };
  });
  const model = typeof body.model === "string" && body.model ? body.model : alias;
  return { status: 200, promptTokens, body: { model, object: "list", usage: { prompt_tokens: promptTokens, total_tokens: promptTokens }, data } };
}

/**
 * POST /apply-template: the chat as the model's template renders it (ChatML here, as Qwen's), tools included,
 * ending with the assistant's turn opened: what /tokenize then counts exactly.
 */
export function applyTemplateReply(body: Json): Reply {
  if (!Array.isArray(body.messages)) return errorBody("invalid_request_error", "'messages' is required");
  const turns = (body.messages as Json[]).map((message) => {
    const content = typeof message.content === "string" ? message.content : JSON.stringify(message.content ?? "");
    return `<|im_start|>${String(message.role)}\n${content}<|im_end|>\n`;
  });
  const tools = Array.isArray(body.tools) && body.tools.length ? `<|im_start|>system\n# Tools\n${JSON.stringify(body.tools)}<|im_end|>\n` : "";
  return ok({ prompt: `${tools}${turns.join("")}<|im_start|>assistant\n` });
}
