import { routeNotFound } from "../core/errors.ts";
import { consoleApp } from "./console/client-app.ts";
import { usageView } from "./console/client-usage.ts";
import { MARKUP } from "./console/markup.ts";
import { STYLE } from "./console/style.ts";

/**
 * GET /admin: the operator console, one HTML page inlined in the Worker (no build step, no static assets binding,
 * one response that works offline). It holds nothing secret, so it is served without the token; every call it
 * makes to the admin API carries the token the operator signs in with. Without ADMIN_TOKEN the admin API does not
 * exist, and neither does its console: 404, like every admin route.
 */

/**
 * The script: the source of the two client functions as this bundle holds them (minified when the Worker is), the
 * app called with the usage view, strict, in its own scope, so nothing leaks to the page's globals.
 */
const SCRIPT = `"use strict";(${consoleApp})(${usageView});`;
const PAGE = MARKUP.replace("%STYLE%", () => STYLE).replace("%SCRIPT%", () => SCRIPT);

async function sha256Source(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return `'sha256-${btoa(String.fromCharCode(...digest))}'`;
}

/**
 * The page's policy: its one script and one stylesheet by hash (no 'unsafe-inline'), calls to this origin only,
 * nothing else loaded, no form posted anywhere (a form submitted without the script would put the token in a URL),
 * never framed. Computed once per isolate: the page never changes while the Worker runs.
 */
let policy: Promise<string> | undefined;
function contentSecurityPolicy(): Promise<string> {
  policy ??= Promise.all([sha256Source(SCRIPT), sha256Source(STYLE)]).then(([script, style]) =>
    [
      "default-src 'none'",
      `script-src ${script}`,
      `style-src ${style}`,
      "connect-src 'self'",
      "img-src data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  );
  return policy;
}

/** Needs only the configuration's admin token (so the page's tests run without the Worker's bindings). */
export async function adminConsole(request: Request, app: { config: { adminToken: string | null } }): Promise<Response> {
  if (!app.config.adminToken) throw routeNotFound(request.method, new URL(request.url).pathname);
  return new Response(PAGE, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": await contentSecurityPolicy(),
      "x-frame-options": "DENY",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cross-origin-opener-policy": "same-origin",
      "cache-control": "no-cache",
    },
  });
}
