import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, type ErrorBody } from "../../src/core/errors.ts";
import { Base64Builder, decodedSize, type ImageRef, imageSource, toBase64 } from "../../src/core/images.ts";
import { collectImages, type ImageLimits } from "../../src/pipeline/image-budget.ts";

const LIMITS: ImageLimits = { maxImages: 16, maxImageBytes: 1024, maxTotalBytes: 4096, timeoutMs: 2000 };
const png = (base64: string) => `data:image/png;base64,${base64}`;
const refs = (...urls: string[]): ImageRef[] => urls.map((url, i) => ({ url, param: `messages[0].content[${i}].image_url` }));

/** The 400 that `collectImages` rejects with, as the client sees it. */
async function rejection(pending: Promise<unknown>): Promise<{ status: number; body: ErrorBody }> {
  const error = await pending.then(
    () => expect.unreachable("expected a rejection"),
    (error: unknown) => error,
  );
  if (!(error instanceof ApiError)) throw error;
  return { status: error.status, body: error.toBody() };
}

const imageResponse = (bytes: Uint8Array, headers: Record<string, string> = {}) =>
  new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { "content-type": "image/png", "content-length": String(bytes.length), ...headers } });

/** A body that arrives in these chunks, without a content-length. */
function chunkedResponse(chunks: Uint8Array[]): Response {
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  return new Response(stream, { headers: { "content-type": "image/png" } });
}

/** fetch answered by `answer(url)`; the spy records every call. */
function fakeFetch(answer: (url: string, init: RequestInit) => Response | Promise<Response>) {
  return vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => answer(String(input), init ?? {}));
}

const fetchedUrls = (spy: ReturnType<typeof fakeFetch>) => spy.mock.calls.map(([input]) => String(input));

afterEach(() => {
  vi.restoreAllMocks();
});

describe("decodedSize: the bytes a base64 text decodes to, from its length alone", () => {
  it("counts with and without padding", () => {
    const cases: [string, number][] = [
      ["", 0],
      ["QQ==", 1],
      ["QQ", 1],
      ["QUI=", 2],
      ["QUI", 2],
      ["QUJD", 3],
      ["QUJDRA==", 4],
      ["QUJDRA", 4],
    ];
    for (const [base64, size] of cases) expect(decodedSize(base64), base64).toBe(size);
    for (const length of [999, 1000, 1001]) {
      const base64 = Buffer.alloc(length, 9).toString("base64");
      expect(decodedSize(base64)).toBe(length);
      expect(decodedSize(base64.replace(/=+$/, ""))).toBe(length);
    }
  });
});

describe("imageSource: data URIs come out padded as Ollama's Go decoder needs", () => {
  it("pads unpadded base64, leaves padded base64 alone, refuses a length no base64 has", () => {
    expect(imageSource(png("QQ"), "p")).toStrictEqual({ kind: "inline", base64: "QQ==" });
    expect(imageSource(png("QUI"), "p")).toStrictEqual({ kind: "inline", base64: "QUI=" });
    expect(imageSource(png("QQ="), "p")).toStrictEqual({ kind: "inline", base64: "QQ==" });
    expect(imageSource(png("QUJD\r\nRA=="), "p")).toStrictEqual({ kind: "inline", base64: "QUJDRA==" });
    const error = (() => {
      try {
        imageSource(png("QUJDR"), "messages[0].content[0].image_url");
      } catch (caught) {
        return (caught as ApiError).toBody().error;
      }
    })();
    expect(error).toStrictEqual({
      message: "The image data URI does not hold valid base64.",
      type: "invalid_request_error",
      param: "messages[0].content[0].image_url",
      code: "invalid_image_format",
    });
  });
});

describe("collectImages: the request's image budget", () => {
  it("returns every image_url value → base64, inline ones without a fetch", async () => {
    const spy = fakeFetch(() => imageResponse(new Uint8Array([1, 2, 3])));
    const images = await collectImages(refs(png("QUJD"), "https://img.test/a.png", png("QQ")), LIMITS);
    expect([...images]).toStrictEqual([
      [png("QUJD"), "QUJD"],
      [png("QQ"), "QQ=="],
      ["https://img.test/a.png", "AQID"],
    ]);
    expect(fetchedUrls(spy)).toStrictEqual(["https://img.test/a.png"]);
  });

  it("refuses more than maxImages (inline and remote together), naming the first part over, before any download", async () => {
    const spy = fakeFetch(() => imageResponse(new Uint8Array([1])));
    const sixteen = Array.from({ length: 16 }, () => png("QUJD"));
    expect((await collectImages(refs(...sixteen), LIMITS)).size).toBe(1);
    const failure = await rejection(collectImages(refs("https://img.test/first.png", ...sixteen.slice(1), "https://img.test/17th.png", png("QQ")), LIMITS));
    expect(failure).toStrictEqual({
      status: 400,
      body: {
        error: {
          message: "This request has more than 16 images; send at most 16.",
          type: "invalid_request_error",
          param: "messages[0].content[16].image_url",
          code: "too_many_images",
        },
      },
    });
    expect(spy).not.toHaveBeenCalled();
    // The same URL sixteen times is still sixteen images for the model.
    const same = Array.from({ length: 17 }, () => "https://img.test/a.png");
    expect((await rejection(collectImages(refs(...same), LIMITS))).body.error.code).toBe("too_many_images");
    expect(spy).not.toHaveBeenCalled();
  });

  it("holds each data URI's decoded size (padded or not) to maxImageBytes", async () => {
    const limits = { ...LIMITS, maxImageBytes: 3 };
    expect((await collectImages(refs(png("QUJD"), png("QUI"), png("QQ==")), limits)).size).toBe(3);
    for (const base64 of ["QUJDRA==", "QUJDRA"]) {
      expect(await rejection(collectImages(refs(png("QQ"), png(base64)), limits))).toStrictEqual({
        status: 400,
        body: {
          error: {
            message: "The image is 4 bytes, more than the 3 bytes allowed for one image.",
            type: "invalid_request_error",
            param: "messages[0].content[1].image_url",
            code: "invalid_image_format",
          },
        },
      });
    }
  });

  it("holds all the images together to maxTotalBytes: inline sizes first, then what is downloaded", async () => {
    const limits = { ...LIMITS, maxImageBytes: 4, maxTotalBytes: 6 };
    const totalError = (param: string) => ({
      status: 400,
      body: {
        error: {
          message: "The images of this request add up to more than 6 bytes, the most one request may carry.",
          type: "invalid_request_error",
          param,
          code: "images_too_large",
        },
      },
    });
    const spy = fakeFetch((url) => {
      if (url.endsWith("/three.png")) return imageResponse(new Uint8Array([1, 2, 3]));
      if (url.endsWith("/four.png")) return imageResponse(new Uint8Array([1, 2, 3, 4]));
      return chunkedResponse([new Uint8Array([1, 2]), new Uint8Array([3, 4])]); // four bytes, no content-length
    });
    // Inline only: 3 + 4 > 6, before any download.
    expect(await rejection(collectImages(refs(png("QUJD"), "https://img.test/three.png", png("QUJDRA")), limits))).toStrictEqual(
      totalError("messages[0].content[2].image_url"),
    );
    expect(spy).not.toHaveBeenCalled();
    // Exactly at the total: 3 inline + 3 downloaded.
    expect((await collectImages(refs(png("QUJD"), "https://img.test/three.png"), limits)).get("https://img.test/three.png")).toBe("AQID");
    // The declared length would pass it: refused on the headers.
    expect(await rejection(collectImages(refs(png("QUJD"), "https://img.test/four.png"), limits))).toStrictEqual(
      totalError("messages[0].content[1].image_url"),
    );
    // No declared length: refused by the chunk that passes it.
    expect(await rejection(collectImages(refs(png("QUJD"), "https://img.test/chunked.png"), limits))).toStrictEqual(
      totalError("messages[0].content[1].image_url"),
    );
    // Two downloads share the total: 3 + 4 > 6.
    expect((await rejection(collectImages(refs("https://img.test/three.png", "https://img.test/chunked.png"), limits))).body.error.code).toBe(
      "images_too_large",
    );
  });

  it("downloads the same URL once however often it occurs, and counts its bytes once", async () => {
    const spy = fakeFetch(() => imageResponse(new Uint8Array([1, 2, 3])));
    const limits = { ...LIMITS, maxTotalBytes: 6 };
    const images = await collectImages(refs("https://img.test/a.png", png("QUJD"), "https://img.test/a.png", "https://img.test/a.png"), limits);
    expect(fetchedUrls(spy)).toStrictEqual(["https://img.test/a.png"]);
    expect([...images]).toStrictEqual([
      [png("QUJD"), "QUJD"],
      ["https://img.test/a.png", "AQID"],
    ]);
  });

  it("checks every part before downloading anything: a bad part after the URLs fails with no fetch", async () => {
    const spy = fakeFetch(() => imageResponse(new Uint8Array([1])));
    const bad = ["data:image/bmp;base64,AAAA", "ftp://img.test/x.png", png("***")];
    for (const url of bad) {
      const failure = await rejection(collectImages(refs("https://img.test/a.png", "https://img.test/b.png", url), LIMITS));
      expect(failure.status).toBe(400);
      expect(failure.body.error.param).toBe("messages[0].content[2].image_url");
    }
    expect(spy).not.toHaveBeenCalled();
  });

  it("downloads at most `concurrency` images at once, all of them in the end", async () => {
    let inFlight = 0;
    let most = 0;
    fakeFetch(async () => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      return imageResponse(new Uint8Array([255]));
    });
    const urls = Array.from({ length: 10 }, (_, i) => `https://img.test/${i}.png`);
    const images = await collectImages(refs(...urls), LIMITS);
    expect(most).toBe(4);
    expect([...images.values()]).toStrictEqual(Array(10).fill("/w=="));
    most = 0;
    await collectImages(refs(...urls.map((url) => `${url}?again`)), { ...LIMITS, concurrency: 2 });
    expect(most).toBe(2);
  });

  it("the first failure aborts the other downloads and is the one reported", async () => {
    const signals: AbortSignal[] = [];
    fakeFetch((url, init) => {
      if (url.endsWith("/missing.png")) return new Response("gone", { status: 404 });
      signals.push(init.signal!);
      return new Promise<Response>((_, reject) => init.signal!.addEventListener("abort", () => reject(init.signal!.reason)));
    });
    const started = Date.now();
    const failure = await rejection(collectImages(refs("https://img.test/hang1.png", "https://img.test/hang2.png", "https://img.test/missing.png"), LIMITS));
    expect(failure.body.error).toStrictEqual({
      message: 'Could not use the image at "https://img.test/missing.png": the server answered HTTP 404.',
      type: "invalid_request_error",
      param: "messages[0].content[2].image_url",
      code: "invalid_image_url",
    });
    expect(Date.now() - started).toBeLessThan(1000); // not after the 2 s timeout
    expect(signals.map((signal) => signal.aborted)).toStrictEqual([true, true]);
  });

  it("runs the downloads under the request's signal", async () => {
    const request = new AbortController();
    const seen: AbortSignal[] = [];
    fakeFetch((_, init) => {
      seen.push(init.signal!);
      return new Promise<Response>((_, reject) => init.signal!.addEventListener("abort", () => reject(new Error("aborted"))));
    });
    const pending = collectImages(refs("https://img.test/a.png"), LIMITS, request.signal);
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    request.abort();
    expect((await rejection(pending)).body.error.message).toBe('Could not use the image at "https://img.test/a.png": the server could not be reached.');
    expect(seen[0]!.aborted).toBe(true);
  });
});

describe("base64 without holding the image whole", () => {
  it("Base64Builder encodes chunks of any size as they arrive, carrying 0–2 bytes between them", () => {
    const bytes = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 256);
    for (const sizes of [[1], [2], [3], [1, 1, 1, 2, 5], [4096], [7, 65536, 2]]) {
      const builder = new Base64Builder();
      let offset = 0;
      for (let i = 0; offset < bytes.length; i++) {
        const size = sizes[i % sizes.length]!;
        builder.push(bytes.subarray(offset, offset + size));
        offset += size;
      }
      expect(builder.finish(), sizes.join(",")).toBe(Buffer.from(bytes).toString("base64"));
    }
    const tail = new Base64Builder();
    tail.push(new Uint8Array([0xff]));
    tail.push(new Uint8Array([0xee]));
    expect(tail.finish()).toBe("/+4=");
    expect(new Base64Builder().finish()).toBe("");
  });

  it("toBase64 matches Node's encoder around its piece size", () => {
    for (const length of [0, 1, 2, 3, 3 * 0x2000 - 1, 3 * 0x2000, 3 * 0x2000 + 1, 100_003]) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 31) % 256);
      expect(toBase64(bytes), String(length)).toBe(Buffer.from(bytes).toString("base64"));
    }
  });
});
