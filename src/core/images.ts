import { invalidRequest } from "./errors.ts";

/** Image types Ollama's vision models decode. */
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif"]);
const DATA_URI = /^data:([^;,]*)(?:;[^;,]*)*;base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Redirects followed for one image (browsers allow 20; an image host needs one or two). */
const MAX_REDIRECTS = 10;

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

export interface ImageFetchLimits {
  maxBytes: number;
  timeoutMs: number;
  /** Shared by the images of one request: the download stops the moment the request's total is passed. */
  budget?: ByteBudget;
}

/**
 * Fetch an image URL and return its base64, because Ollama rejects URLs. Size, time and type are capped so a
 * hostile URL cannot make the Worker buffer or wait without bound. The bytes are encoded as they arrive: the raw
 * image is never held whole, only its base64.
 */
export async function fetchImage(url: string, param: string, limits: ImageFetchLimits, signal?: AbortSignal): Promise<string> {
  const fail = (why: string) => invalidRequest(`Could not use the image at ${JSON.stringify(url)}: ${why}.`, param, "invalid_image_url");
  const timeout = AbortSignal.timeout(limits.timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let response: Response;
  let current = url;
  // Redirects are followed by hand: the runtime's own limit fails with the same error as a dead host, so a
  // redirect loop would be reported as "could not be reached". Here it gets its own message, and a redirect to
  // anything but http(s) is refused.
  for (let hops = 0; ; hops++) {
    try {
      response = await fetch(current, { signal: combined, headers: { accept: "image/*" }, redirect: "manual" });
    } catch {
      throw fail(timeout.aborted ? `no answer within ${limits.timeoutMs} ms` : "the server could not be reached");
    }
    const location = response.status >= 300 && response.status < 400 ? response.headers.get("location") : null;
    if (location === null) break;
    await response.body?.cancel();
    if (hops === MAX_REDIRECTS) throw fail(`it redirects more than ${MAX_REDIRECTS} times`);
    const next = URL.parse(location, current);
    if (!next || (next.protocol !== "http:" && next.protocol !== "https:")) throw fail("it redirects to a URL that is not http(s)");
    current = next.href;
  }
  const refuse = async (error: unknown) => {
    await response.body?.cancel();
    return error;
  };
  if (!response.ok) throw await refuse(fail(`the server answered HTTP ${response.status}`));
  const type = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (!IMAGE_TYPES.has(type)) throw await refuse(fail(`its content type is ${JSON.stringify(type || "missing")}, not PNG, JPEG, WebP or GIF`));
  const tooLarge = `it is larger than ${limits.maxBytes} bytes`;
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > limits.maxBytes) throw await refuse(fail(tooLarge));
  if (declared > 0) {
    try {
      limits.budget?.ensure(declared, param);
    } catch (error) {
      throw await refuse(error);
    }
  }
  if (!response.body) throw fail("it is empty");
  const reader = response.body.getReader();
  const encoder = new Base64Builder();
  let size = 0;
  try {
    for (;;) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch {
        throw fail(timeout.aborted ? `it did not arrive within ${limits.timeoutMs} ms` : "the download failed");
      }
      if (step.done) break;
      size += step.value.byteLength;
      if (size > limits.maxBytes) throw fail(tooLarge);
      limits.budget?.take(step.value.byteLength, param);
      encoder.push(step.value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
  if (size === 0) throw fail("it is empty");
  return encoder.finish();
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
