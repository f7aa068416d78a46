/**
 * A loopback HTTP server that plays the image hosts a chat request may point at: a real PNG, a page that is
 * not an image, an image over the size cap, and one that never finishes. For the image-fetch tests.
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
