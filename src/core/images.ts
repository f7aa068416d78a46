import { invalidRequest } from "./errors.ts";

/** Image types Ollama's vision models decode. */
export const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif"]);
const DATA_URI = /^data:([^;,]*)(?:;[^;,]*)*;base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** How the base64 of each image type begins (its magic bytes); WebP is a RIFF file ("RIFF"…"WEBP"). */
const BASE64_SIGNATURES: [prefix: string, type: string][] = [
  ["iVBORw0KGgo", "image/png"],
  ["/9j/", "image/jpeg"],
  ["R0lGOD", "image/gif"],
  ["UklGR", "image/webp"],
];

/**
 * The type of an image given as bare base64 (the internal form keeps no type), for a backend that wants a data URI:
 * from its first bytes, else JPEG, which decoders that sniff the bytes themselves (llama-server's) ignore anyway.
 */
export function imageTypeOf(base64: string): string {
  return BASE64_SIGNATURES.find(([prefix]) => base64.startsWith(prefix))?.[1] ?? "image/jpeg";
}

/** One image of a request, wherever the dialect keeps it: its URL (or data URI) and the field path to report. */
export interface ImageRef {
  url: string;
  param: string;
}

/**
 * An image part's base64 for the backend: what the request's image collection prepared for it (a download, or a
 * checked data URI), else the data URI's own content; an http(s) URL that was not prepared is a 400.
 */
export function preparedImage(url: string, param: string, prepared: ReadonlyMap<string, string> | undefined): string {
  const ready = prepared?.get(url);
  if (ready !== undefined) return ready;
  const source = imageSource(url, param);
  if (source.kind === "remote") throw invalidRequest("The image URL could not be fetched.", param, "invalid_image_url");
  return source.base64;
}

export type ImageSource = { kind: "inline"; base64: string } | { kind: "remote"; url: string };

/**
 * Classify an `image_url` value: a base64 data URI (inlined) or an http(s) URL (fetched by the Worker).
 * An inline image comes back without its prefix or whitespace, and padded with `=` as Go's decoder in Ollama
 * requires; a well-formed one is not copied (the slice shares the request's string).
 */
export function imageSource(url: string, param: string): ImageSource {
  const data = DATA_URI.exec(url);
  if (data) {
    const mime = data[1]!.toLowerCase();
    if (!IMAGE_TYPES.has(mime)) {
      throw invalidRequest(`Unsupported image type ${JSON.stringify(mime)}: send PNG, JPEG, WebP or GIF.`, param, "invalid_image_format");
    }
    let base64 = url.slice(data[0].length);
    if (/\s/.test(base64)) base64 = base64.replace(/\s+/g, "");
    const unpadded = base64.length - padding(base64);
    // One character past a whole group of four is not base64 whatever the padding.
    if (unpadded === 0 || unpadded % 4 === 1 || !BASE64.test(base64)) {
      throw invalidRequest("The image data URI does not hold valid base64.", param, "invalid_image_format");
    }
    const padded = Math.ceil(unpadded / 4) * 4;
    if (base64.length !== padded) base64 = base64.slice(0, unpadded) + "=".repeat(padded - unpadded);
    return { kind: "inline", base64 };
  }
  if (/^https?:\/\//i.test(url)) return { kind: "remote", url };
  throw invalidRequest("image_url must be a base64 data URI (data:image/png;base64,...) or an http(s) URL.", param, "invalid_image_url");
}

function padding(base64: string): number {
  if (base64.endsWith("==")) return 2;
  return base64.endsWith("=") ? 1 : 0;
}

/** Bytes that base64 text decodes to, from its length alone (with or without its `=` padding). */
export function decodedSize(base64: string): number {
  return Math.floor(((base64.length - padding(base64)) * 3) / 4);
}

/** The request's shared allowance of image bytes (see image-budget.ts). */
export interface ByteBudget {
  /** Throw the request's 400 if `bytes` more would pass its total, without counting them. */
  ensure(bytes: number, param: string): void;
  /** Count `bytes` against the total; throws the request's 400 once it is passed. */
  take(bytes: number, param: string): void;
}

type NativeBase64 = Uint8Array & { toBase64?: () => string };

/** Bytes per btoa call in the fallback: a multiple of 3, so the pieces join into one valid base64 text. */
const BTOA_STEP = 3 * 0x2000;

/**
 * Bytes → base64. Uses the runtime's `Uint8Array.prototype.toBase64` (workerd has it); elsewhere (Node 20) btoa
 * over bounded pieces, so no intermediate string is larger than 24 KiB.
 */
export function toBase64(bytes: Uint8Array): string {
  if (typeof (bytes as NativeBase64).toBase64 === "function") return (bytes as NativeBase64).toBase64!();
  if (bytes.length <= BTOA_STEP) return btoa(String.fromCharCode.apply(null, bytes as unknown as number[]));
  const pieces: string[] = [];
  for (let i = 0; i < bytes.length; i += BTOA_STEP) pieces.push(toBase64(bytes.subarray(i, i + BTOA_STEP)));
  return pieces.join("");
}

const NO_BYTES = new Uint8Array(0);

/**
 * Base64 built chunk by chunk while a download arrives. Each chunk is encoded at once and dropped; only the 0–2
 * bytes that do not fill a 3-byte group wait for the next one.
 */
export class Base64Builder {
  #pieces: string[] = [];
  #carry: Uint8Array = NO_BYTES;

  push(chunk: Uint8Array): void {
    let rest = chunk;
    if (this.#carry.length) {
      const need = 3 - this.#carry.length;
      if (rest.length < need) {
        this.#carry = concat(this.#carry, rest);
        return;
      }
      this.#pieces.push(toBase64(concat(this.#carry, rest.subarray(0, need))));
      rest = rest.subarray(need);
    }
    const whole = rest.length - (rest.length % 3);
    if (whole) this.#pieces.push(toBase64(rest.subarray(0, whole)));
    this.#carry = rest.slice(whole); // a copy: the chunk itself is not kept
  }

  finish(): string {
    if (this.#carry.length) this.#pieces.push(toBase64(this.#carry));
    const base64 = this.#pieces.join("");
    this.#pieces = [];
    this.#carry = NO_BYTES;
    return base64;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
