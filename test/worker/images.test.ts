import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Env } from "../../src/env.ts";
import { emulator, IMAGE_SERVER_URL, postJson, postJsonWith } from "./helpers.ts";

/** tools/image-server.ts's count of what it was asked for, since the last reset. */
interface ImageServerStats {
  requests: Record<string, number>;
  maxInFlight: number;
}

const imageServer = {
  async reset(): Promise<void> {
    await fetch(`${IMAGE_SERVER_URL}/__reset`, { method: "POST" });
  },
  async stats(): Promise<ImageServerStats> {
    return (await (await fetch(`${IMAGE_SERVER_URL}/__stats`)).json()) as ImageServerStats;
  },
};

beforeEach(async () => {
  await emulator.reset();
  await imageServer.reset();
});

const PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

const withImage = (url: string) => ({
  model: "llava:7b",
  messages: [
    {
      role: "user",
      content: [
        { type: "text", text: "What is" },
        { type: "text", text: "in this picture?" },
        { type: "image_url", image_url: { url } },
      ],
    },
  ],
});

describe("images", () => {
  it("puts data-URI images on the same message, without the prefix, and keeps text parts as one message", async () => {
    const res = await postJson("/v1/chat/completions", withImage(`data:image/png;base64,${PNG_BASE64}`));
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).choices[0].message.content).toBe("Hello! You said: What is\nin this picture? (I see 1 image(s))");
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.messages).toEqual([{ role: "user", content: "What is\nin this picture?", images: [PNG_BASE64] }]);
  });

  it("accepts GIF and WebP data URIs and refuses other types with a 400 naming the part", async () => {
    expect((await postJson("/v1/chat/completions", withImage(`data:image/gif;base64,R0lGODlhAQABAAAAACw=`))).status).toBe(200);
    const res = await postJson("/v1/chat/completions", withImage(`data:image/svg+xml;base64,PHN2Zz4=`));
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ param: "messages[0].content[2].image_url", code: "invalid_image_format" });
  });

  it("fetches http(s) image URLs in the Worker and inlines them (Ollama rejects URLs)", async () => {
    const res = await postJson("/v1/chat/completions", withImage(`${IMAGE_SERVER_URL}/tiny.png`));
    expect(res.status).toBe(200);
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.messages[0].images).toEqual([PNG_BASE64]);
  });

  it("follows a redirect to an image", async () => {
    expect((await postJson("/v1/chat/completions", withImage(`${IMAGE_SERVER_URL}/redirect.png`))).status).toBe(200);
  });

  it("refuses a URL that is not an image, one over MAX_IMAGE_BYTES, and one too slow, with clear 400s", async () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ["/page.html", {}, /its content type is "text\/html", not PNG, JPEG, WebP or GIF/],
      ["/huge.png", { MAX_IMAGE_BYTES: "16KiB" }, /it is larger than 16384 bytes/],
      ["/slow.png", { IMAGE_FETCH_TIMEOUT: "300ms" }, /it did not arrive within 300 ms/],
      ["/missing.png", {}, /the server answered HTTP 404/],
    ];
    for (const [path, vars, message] of cases) {
      const res = await postJsonWith(vars, "/v1/chat/completions", withImage(`${IMAGE_SERVER_URL}${path}`));
      expect(res.status, path).toBe(400);
      const error = ((await res.json()) as any).error;
      expect(error.param).toBe("messages[0].content[2].image_url");
      expect(error.message).toMatch(message);
    }
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });
});

describe("the request's image budget", () => {
  const withImages = (...urls: string[]) => ({
    model: "llava:7b",
    messages: [{ role: "user", content: [{ type: "text", text: "compare" }, ...urls.map((url) => ({ type: "image_url", image_url: { url } }))] }],
  });
  const errorOf = async (res: Response) => ((await res.json()) as any).error;

  it("downloads the same URL once, however often the request names it, and sends it each time", async () => {
    const url = `${IMAGE_SERVER_URL}/tiny.png`;
    const res = await postJson("/v1/chat/completions", {
      model: "llava:7b",
      messages: [
        {
          role: "user",
          content: [
            { type: "image_url", image_url: { url } },
            { type: "image_url", image_url: url },
          ],
        },
        { role: "assistant", content: "two of the same" },
        {
          role: "user",
          content: [
            { type: "text", text: "again" },
            { type: "image_url", image_url: { url } },
          ],
        },
      ],
    });
    expect(res.status).toBe(200);
    expect((await imageServer.stats()).requests).toStrictEqual({ "/tiny.png": 1 });
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.messages.map((message: any) => message.images)).toStrictEqual([[PNG_BASE64, PNG_BASE64], undefined, [PNG_BASE64]]);
  });

  it("17 images (URLs and data URIs together) → 400 too_many_images naming the 17th, with no download and no backend call", async () => {
    const urls = Array.from({ length: 16 }, (_, i) => (i % 2 ? `data:image/png;base64,${PNG_BASE64}` : `${IMAGE_SERVER_URL}/tiny.png?n=${i}`));
    const res = await postJson("/v1/chat/completions", withImages(...urls, `${IMAGE_SERVER_URL}/tiny.png?n=16`));
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toStrictEqual({
      message: "This request has more than 16 images; send at most 16.",
      type: "invalid_request_error",
      param: "messages[0].content[17].image_url",
      code: "too_many_images",
    });
    expect(await emulator.requests("/api/chat")).toStrictEqual([]);
    expect((await imageServer.stats()).requests).toStrictEqual({});
    // Sixteen are fine, and MAX_IMAGES moves the line.
    const sixteen = await postJson("/v1/chat/completions", withImages(...urls));
    expect(sixteen.status, await sixteen.clone().text()).toBe(200);
    const fewer = await postJsonWith({ MAX_IMAGES: "2" }, "/v1/chat/completions", withImages(...urls.slice(0, 3)));
    expect(fewer.status).toBe(400);
    expect((await errorOf(fewer)).param).toBe("messages[0].content[3].image_url");
  });

  it("a data URI whose decoded size passes MAX_IMAGE_BYTES → 400 naming it, before any download or backend call", async () => {
    // 70 bytes decoded: 96 base64 characters, padded; 68 bytes unpadded is still over 64.
    const big = Buffer.alloc(70, 1).toString("base64");
    for (const data of [big, Buffer.alloc(68, 1).toString("base64").replace(/=+$/, "")]) {
      const res = await postJsonWith(
        { MAX_IMAGE_BYTES: "64B" },
        "/v1/chat/completions",
        withImages(`${IMAGE_SERVER_URL}/tiny.png`, `data:image/png;base64,${data}`),
      );
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toStrictEqual({
        message: `The image is ${Buffer.from(data, "base64").length} bytes, more than the 64 bytes allowed for one image.`,
        type: "invalid_request_error",
        param: "messages[0].content[2].image_url",
        code: "invalid_image_format",
      });
    }
    expect(await emulator.requests("/api/chat")).toStrictEqual([]);
    expect((await imageServer.stats()).requests).toStrictEqual({});
    expect((await postJsonWith({ MAX_IMAGE_BYTES: "70B" }, "/v1/chat/completions", withImages(`data:image/png;base64,${big}`))).status).toBe(200);
  });

  it("MAX_IMAGE_TOTAL_BYTES holds all the images together: the download that passes it is stopped", async () => {
    const vars = { MAX_IMAGE_TOTAL_BYTES: "1000B" };
    const ok = await postJsonWith(vars, "/v1/chat/completions", withImages(`${IMAGE_SERVER_URL}/bytes/600.png`, `${IMAGE_SERVER_URL}/bytes/400.png`));
    expect(ok.status).toBe(200);
    for (const path of ["/bytes/401.png", "/bytes/401.png?chunked"]) {
      const res = await postJsonWith(
        vars,
        "/v1/chat/completions",
        withImages(`data:image/png;base64,${Buffer.alloc(600).toString("base64")}`, `${IMAGE_SERVER_URL}${path}`),
      );
      expect(res.status, path).toBe(400);
      expect(await errorOf(res), path).toStrictEqual({
        message: "The images of this request add up to more than 1000 bytes, the most one request may carry.",
        type: "invalid_request_error",
        param: "messages[0].content[2].image_url",
        code: "images_too_large",
      });
    }
    expect(await emulator.requests("/api/chat")).toHaveLength(1);
  });

  it("downloads at most four images at once, and inlines a large one exactly (the runtime's own base64)", async () => {
    const urls = Array.from({ length: 8 }, (_, i) => `${IMAGE_SERVER_URL}/delay/100.png?n=${i}`);
    expect((await postJson("/v1/chat/completions", withImages(...urls))).status).toBe(200);
    const stats = await imageServer.stats();
    expect(Object.values(stats.requests)).toStrictEqual(Array(8).fill(1));
    expect(stats.maxInFlight).toBe(4);

    await emulator.reset();
    const res = await postJson("/v1/chat/completions", withImages(`${IMAGE_SERVER_URL}/bytes/300001.png?chunked`));
    expect(res.status).toBe(200);
    const [chat] = await emulator.requests("/api/chat");
    expect(chat!.body.messages[0].images).toStrictEqual([Buffer.alloc(300_001, 7).toString("base64")]);
  });

  it("a slow download does not hold a backend slot: another request runs meanwhile", async () => {
    const bindings = env as Env;
    const gated = { BACKEND_MAX_CONCURRENCY: "1", QUEUE_MAX_WAIT: "10s" };
    const gateStats = () => bindings.BACKEND_GATE.get(bindings.BACKEND_GATE.idFromName("ollama")).stats();
    const slow = postJsonWith(gated, "/v1/chat/completions", withImages(`${IMAGE_SERVER_URL}/delay/1500.png`));
    await expect.poll(async () => (await imageServer.stats()).requests).toStrictEqual({ "/delay/1500.png": 1 });
    expect(await gateStats()).toStrictEqual({ inFlight: 0, queued: 0 });
    const started = Date.now();
    const other = await postJsonWith(gated, "/v1/chat/completions", { model: "llama3.2", messages: [{ role: "user", content: "hi" }] });
    expect(other.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await slow).status).toBe(200);
    expect((await emulator.requests("/api/chat")).map((request) => request.body.model)).toStrictEqual(["llama3.2:latest", "llava:7b"]);
  });
});
