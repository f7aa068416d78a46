/**
 * A loopback HTTP server that plays the image hosts a chat request may point at: a real PNG, a page that is
 * not an image, an image over the size cap, and one that never finishes; and, for the hostile-input tests, a
 * redirect loop, a redirect to file:, a server that never answers, one that drips bytes forever, and a file
 * that is not an image.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A valid 1×1 PNG. */
export const TINY_PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);

export interface ImageServer {
  url: string;
  close(): Promise<void>;
}

export async function startImageServer(): Promise<ImageServer> {
  const server: Server = createServer((req, res) => {
    switch (req.url) {
      case "/tiny.png":
        res.writeHead(200, { "content-type": "image/png", "content-length": TINY_PNG.length });
        res.end(TINY_PNG);
        return;
      case "/page.html":
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html><body>not an image</body></html>");
        return;
      case "/huge.png": // no content-length: the cap must hold while reading
        res.writeHead(200, { "content-type": "image/png" });
        res.end(Buffer.alloc(64 * 1024, 1));
        return;
      case "/slow.png":
        res.writeHead(200, { "content-type": "image/png" });
        res.write(TINY_PNG.subarray(0, 8)); // then nothing, until the client gives up
        return;
      case "/redirect.png":
        res.writeHead(302, { location: "/tiny.png" });
        res.end();
        return;
      case "/loop": // redirects to itself forever
        res.writeHead(302, { location: "/loop" });
        res.end();
        return;
      case "/hang": // never sends headers, until the client gives up
        return;
      case "/drip.png": {
        // A byte every 50 ms, forever: no single read is slow, only the whole download is.
        res.writeHead(200, { "content-type": "image/png" });
        const timer = setInterval(() => res.write(Buffer.of(0)), 50);
        res.on("close", () => clearInterval(timer));
        return;
      }
      case "/to-file": // a redirect out of http(s)
        res.writeHead(302, { location: "file:///etc/passwd" });
        res.end();
        return;
      case "/fake.png": // claims to be an image by its name only
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(Buffer.from("MZ\x90\x00 not a PNG"));
        return;
      default:
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
