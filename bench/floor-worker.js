/**
 * The floor Worker: forwards bytes only. The request body goes to the same upstream path the gateway uses, the
 * upstream body comes back untouched; no validation, translation, authentication, limits, timers or transforms.
 * Served the same way as the gateway (Miniflare, the same workerd), it is the physical limit of the runtime.
 */
const ROUTES = { "/v1/chat/completions": "/api/chat", "/v1/completions": "/api/generate" };

export default {
  async fetch(request, env) {
    const path = ROUTES[new URL(request.url).pathname];
    if (!path) return new Response("not found", { status: 404 });
    const upstream = await fetch(`${env.OLLAMA_URL}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: request.body,
      signal: request.signal,
    });
    return new Response(upstream.body, {
      status: upstream.status,
      headers: { "content-type": upstream.headers.get("content-type") ?? "application/octet-stream" },
    });
  },
};
