import type { Config } from "../config/index.ts";
import { invalidRequest } from "../core/errors.ts";
import { type ByteBudget, decodedSize, type ImageRef, imageSource } from "../core/images.ts";
import { fetchImage } from "./image-fetch.ts";

export interface ImageLimits {
  /** Most images (inline and remote, every occurrence) in one request. */
  maxImages: number;
  /** Most bytes of one image: a download, or a data URI's decoded content. */
  maxImageBytes: number;
  /** Most bytes of all the request's images together (inline ones each time they occur, each distinct download once). */
  maxTotalBytes: number;
  /** Time allowed for each download. */
  timeoutMs: number;
  /** Downloads in flight at once (default 4). */
  concurrency?: number;
}

const DEFAULT_CONCURRENCY = 4;

export function imageLimits(config: Config): ImageLimits {
  return {
    maxImages: config.maxImages,
    maxImageBytes: config.maxImageBytes,
    maxTotalBytes: config.maxImageTotalBytes,
    timeoutMs: config.imageFetchTimeoutMs,
  };
}

/** The request's total of image bytes, shared by its concurrent downloads. */
class RequestBudget implements ByteBudget {
  #used: number;
  readonly #max: number;

  constructor(max: number, used: number) {
    this.#max = max;
    this.#used = used;
  }

  ensure(bytes: number, param: string): void {
    if (this.#used + bytes > this.#max) throw totalTooLarge(this.#max, param);
  }

  take(bytes: number, param: string): void {
    this.ensure(bytes, param);
    this.#used += bytes;
  }
}

const totalTooLarge = (max: number, param: string) =>
  invalidRequest(`The images of this request add up to more than ${max} bytes, the most one request may carry.`, param, "images_too_large");

/**
 * Every image of a request, ready for the backend: `image_url` value as sent → base64 (a data URI's content
 * without its prefix, an http(s) URL's download).
 *
 * All the cheap checks come first, before any download: each value's form and type, the number of images, each
 * data URI's decoded size (from its length, not by decoding) and their total. Then each distinct URL is downloaded
 * once (the same URL twice is one download), a few at a time, under `signal`; the downloads count against what is
 * left of the total and stop the moment it is passed. The first failure aborts the other downloads.
 */
export async function collectImages(refs: Iterable<ImageRef>, limits: ImageLimits, signal?: AbortSignal): Promise<ReadonlyMap<string, string>> {
  const images = new Map<string, string>();
  /** Distinct URLs to download, each with the param of its first occurrence. */
  const remote = new Map<string, string>();
  let count = 0;
  let inlineBytes = 0;
  for (const { url, param } of refs) {
    if (++count > limits.maxImages) {
      throw invalidRequest(`This request has more than ${limits.maxImages} images; send at most ${limits.maxImages}.`, param, "too_many_images");
    }
    const source = imageSource(url, param);
    if (source.kind === "remote") {
      if (!remote.has(url)) remote.set(url, param);
      continue;
    }
    const size = decodedSize(source.base64);
    if (size > limits.maxImageBytes) {
      throw invalidRequest(`The image is ${size} bytes, more than the ${limits.maxImageBytes} bytes allowed for one image.`, param, "invalid_image_format");
    }
    inlineBytes += size;
    if (inlineBytes > limits.maxTotalBytes) throw totalTooLarge(limits.maxTotalBytes, param);
    images.set(url, source.base64);
  }
  if (!remote.size) return images;

  const budget = new RequestBudget(limits.maxTotalBytes, inlineBytes);
  const fetchLimits = { maxBytes: limits.maxImageBytes, timeoutMs: limits.timeoutMs, budget };
  const stop = new AbortController();
  const downloadSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  const queue = [...remote];
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async () => {
    while (!failed && next < queue.length) {
      const [url, param] = queue[next++]!;
      try {
        const base64 = await fetchImage(url, param, fetchLimits, downloadSignal);
        if (!failed) images.set(url, base64);
      } catch (error) {
        if (failed) continue; // aborted because another image failed first
        failed = true;
        failure = error;
        stop.abort();
      }
    }
  };
  const workers = Math.min(Math.max(1, limits.concurrency ?? DEFAULT_CONCURRENCY), queue.length);
  await Promise.all(Array.from({ length: workers }, worker));
  if (failed) {
    images.clear();
    throw failure;
  }
  return images;
}
