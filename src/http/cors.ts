import type { Config } from "../config/index.ts";

const EXPOSED = [
  "x-request-id",
  "retry-after",
  "x-ratelimit-limit-requests",
  "x-ratelimit-remaining-requests",
  "x-ratelimit-reset-requests",
  "x-ratelimit-limit-tokens",
  "x-ratelimit-remaining-tokens",
  "x-ratelimit-reset-tokens",
].join(", ");

/** The allowed origin for this request, or null. Credentials are never allowed: keys travel in Authorization. */
function allowedOrigin(config: Config, origin: string | null): string | null {
  if (config.corsOrigins === "*") return "*";
  if (origin && config.corsOrigins.includes(origin)) return origin;
  return null;
}

/**
 * The admin API and console are for the console's own page, on this origin: no other origin is ever allowed to
 * call them from a browser, whatever CORS_ORIGINS says (it is for the API keys' clients).
 */
function isAdminPath(request: Request): boolean {
  const { pathname } = new URL(request.url);
  return pathname === "/admin" || pathname.startsWith("/admin/");
}

export function corsHeaders(config: Config, request: Request): Record<string, string> {
  if (isAdminPath(request)) return {};
  const origin = allowedOrigin(config, request.headers.get("origin"));
  if (!origin) return {};
  const headers: Record<string, string> = { "access-control-allow-origin": origin, "access-control-expose-headers": EXPOSED };
  if (origin !== "*") headers.vary = "Origin";
  return headers;
}

export function preflightResponse(config: Config, request: Request): Response {
  const headers: Record<string, string> = corsHeaders(config, request);
  if (headers["access-control-allow-origin"]) {
    headers["access-control-allow-methods"] = "GET, POST, DELETE, OPTIONS";
    headers["access-control-allow-headers"] = request.headers.get("access-control-request-headers") ?? "authorization, content-type";
    headers["access-control-max-age"] = "86400";
  }
  return new Response(null, { status: 204, headers });
}
