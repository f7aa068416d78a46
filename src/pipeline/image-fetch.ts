import { invalidRequest } from "../core/errors.ts";
import { Base64Builder, type ByteBudget, IMAGE_TYPES } from "../core/images.ts";

/** Downloading one image for a request (the I/O half of core/images.ts). */

/** Redirects followed for one image (browsers allow 20; an image host needs one or two). */
const MAX_REDIRECTS = 10;

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
