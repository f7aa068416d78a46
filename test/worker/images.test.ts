import { beforeEach, describe, expect, it } from "vitest";
import { IMAGE_SERVER_URL, emulator, postJson, postJsonWith } from "./helpers.ts";

beforeEach(() => emulator.reset());

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
