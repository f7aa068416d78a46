/**
 * Loaded with `--import` into the Portkey gateway's process by bench/portkey.ts; nothing else uses it.
 *
 * - Loopback only: Portkey's start-server listens on every interface (no host option), so `listen` is pinned to
 *   127.0.0.1, and any request it would send off this machine is refused.
 * - Its build (1.15.2, with @hono/node-server 1.19) appends its x-portkey-* headers to the upstream answer itself,
 *   whose headers fetch freezes: every stream would fail with "TypeError: immutable". Each upstream answer is
 *   re-wrapped with mutable headers (the body stream is handed over, not copied), as in the versions it was built for.
 */
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function loopbackListen(this: net.Server, ...args: unknown[]) {
  if (typeof args[0] === "number") {
    if (typeof args[1] === "function") args.splice(1, 0, "127.0.0.1");
    else args[1] = "127.0.0.1";
  }
  return listen.apply(this, args as Parameters<typeof listen>);
} as typeof listen;

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const realFetch = globalThis.fetch;
globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const url = new URL(input instanceof Request ? input.url : input.toString());
  if (!LOOPBACK.has(url.hostname)) throw new TypeError(`bench network guard: refused a request to ${url.hostname} (loopback only)`);
  const response = await realFetch(input, init);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers: new Headers(response.headers) });
};
