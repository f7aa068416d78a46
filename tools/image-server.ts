/**
 * A loopback HTTP server that plays the image hosts a chat request may point at: a real PNG, a page that is
 * not an image, an image over the size cap, and one that never finishes; and, for the hostile-input tests, a
 * redirect loop, a redirect to file:, a server that never answers, one that drips bytes forever, and a file
 * that is not an image. For the image budget: `/bytes/<n>.png` (n bytes; `?chunked` without a content-length),
 * `/delay/<ms>.png` (the tiny PNG after a wait), and control routes that count what was asked for:
 * `GET /__stats` → `{"requests":{"<path and query>":count},"maxInFlight":n}`, `POST /__reset`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A valid 1×1 PNG. */
export const TINY_PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");

export interface ImageServer {
  url: string;
  close(): Promise<void>;
}

/** What the control route reports: requests per path (with query), and the most served at once. */
export interface ImageServerStats {
  requests: Record<string, number>;
  maxInFlight: number;
}

export async function startImageServer(): Promise<ImageServer> {
  let requests: Record<string, number> = {};
  let inFlight = 0;
  let maxInFlight = 0;
  const server: Server = createServer((req, res) => {
    const url = req.url ?? "/";
    if (url === "/__stats") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ requests, maxInFlight } satisfies ImageServerStats));
      return;
    }
    if (url === "/__reset") {
      requests = {};
      maxInFlight = 0;
      res.writeHead(204);
      res.end();
      return;
    }
    requests[url] = (requests[url] ?? 0) + 1;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("close", () => inFlight--);
    const [pathname = "", query = ""] = url.split("?");
    const sized = /^\/bytes\/(\d+)\.png$/.exec(pathname);
    if (sized) {
      const body = Buffer.alloc(Number(sized[1]), 7);
      res.writeHead(200, { "content-type": "image/png", ...(!query.split("&").includes("chunked") && { "content-length": body.length }) });
      res.end(body);
      return;
    }
    const delayed = /^\/delay\/(\d+)\.png$/.exec(pathname);
    if (delayed) {
      const timer = setTimeout(() => {
        res.writeHead(200, { "content-type": "image/png", "content-length": TINY_PNG.length });
        res.end(TINY_PNG);
      }, Number(delayed[1]));
      res.on("close", () => clearTimeout(timer));
      return;
    }
    switch (pathname) {
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
