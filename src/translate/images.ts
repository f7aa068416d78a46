import { invalidRequest } from "../http/errors.ts";
import { readCapped, TooLargeError } from "../http/read-capped.ts";

/** Image types Ollama's vision models decode. */
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/jpg", "image/webp", "image/gif"]);
const DATA_URI = /^data:([^;,]*)(?:;[^;,]*)*;base64,/i;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Redirects followed for one image (browsers allow 20; an image host needs one or two). */
const MAX_REDIRECTS = 10;

export type ImageSource = { kind: "inline"; base64: string } | { kind: "remote"; url: string };

/** Classify an `image_url` value: a base64 data URI (inlined as is) or an http(s) URL (fetched by the Worker). */
export function imageSource(url: string, param: string): ImageSource {
  const data = DATA_URI.exec(url);
  if (data) {
    const mime = data[1]!.toLowerCase();
    if (!IMAGE_TYPES.has(mime)) {
      throw invalidRequest(`Unsupported image type ${JSON.stringify(mime)}: send PNG, JPEG, WebP or GIF.`, param, "invalid_image_format");
    }
    const base64 = url.slice(data[0].length).replace(/\s+/g, "");
    if (base64 === "" || !BASE64.test(base64)) throw invalidRequest("The image data URI does not hold valid base64.", param, "invalid_image_format");
    return { kind: "inline", base64 };
  }
  if (/^https?:\/\//i.test(url)) return { kind: "remote", url };
  throw invalidRequest("image_url must be a base64 data URI (data:image/png;base64,...) or an http(s) URL.", param, "invalid_image_url");
}

export interface ImageFetchLimits {
  maxBytes: number;
  timeoutMs: number;
}

/**
 * Fetch an image URL and return its base64, because Ollama rejects URLs. Size, time and type are capped so a
 * hostile URL cannot make the Worker buffer or wait without bound.
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
  if (!response.ok) {
    await response.body?.cancel();
    throw fail(`the server answered HTTP ${response.status}`);
  }
  const type = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (!IMAGE_TYPES.has(type)) {
    await response.body?.cancel();
    throw fail(`its content type is ${JSON.stringify(type || "missing")}, not PNG, JPEG, WebP or GIF`);
  }
  const tooLarge = `it is larger than ${limits.maxBytes} bytes`;
  if (Number(response.headers.get("content-length") ?? NaN) > limits.maxBytes) {
    await response.body?.cancel();
    throw fail(tooLarge);
  }
  const bytes = await readCapped(response.body!, limits.maxBytes).catch((error: unknown) => {
    if (error instanceof TooLargeError) throw fail(tooLarge);
    throw fail(timeout.aborted ? `it did not arrive within ${limits.timeoutMs} ms` : "the download failed");
  });
  return toBase64(bytes);
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  const step = 0x8000; // String.fromCharCode's argument count is bounded
  for (let i = 0; i < bytes.length; i += step) binary += String.fromCharCode(...bytes.subarray(i, i + step));
  return btoa(binary);
}
