// Small HTTP helpers: response writers, body reading, Ollama's Host/Origin guards, timestamps.
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import { setTimeout as delay } from "node:timers/promises";

export const JSON_TYPE = "application/json; charset=utf-8";
export const NDJSON_TYPE = "application/x-ndjson";

export function sendText(res: ServerResponse, status: number, text: string, type = "text/plain; charset=utf-8"): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON.stringify(body), JSON_TYPE);
}

export function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

export function sendEmpty(res: ServerResponse, status: number): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { "Content-Length": 0 });
  res.end();
}

export async function readBody(req: IncomingMessage): Promise<string> {
  return (await readBytes(req)).toString("utf8");
}

/** The body as bytes (blob uploads are binary). */
export function readBytes(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Sleep that ends early (returning false) when the signal fires, e.g. because the client left. */
export async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** RFC3339Nano in UTC, like Go's time.Time JSON: sub-second digits without trailing zeros. */
export function rfc3339Nano(date = new Date()): string {
  const micro = Number(process.hrtime.bigint() % 1_000_000n);
  const iso = date.toISOString();
  const fraction = `${iso.slice(20, 23)}${String(micro).padStart(6, "0")}`.replace(/0+$/, "");
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ""}Z`;
}

function hostnameOf(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]") > 0 ? host.indexOf("]") : undefined);
  // One colon means host:port; more means a bare IPv6 address.
  return host.split(":").length === 2 ? (host.split(":")[0] ?? "") : host;
}

// netip's IsLoopback || IsPrivate || IsUnspecified.
function isLocalIp(ip: string): boolean {
  const version = isIP(ip);
  if (version === 4) {
    const [a = 0, b = 0] = ip.split(".").map(Number);
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || ip === "0.0.0.0";
  }
  if (version === 6) {
    const v = ip.toLowerCase();
    return v === "::1" || v === "::" || /^f[cd][0-9a-f]{2}:/.test(v);
  }
  return false;
}

/** Ollama on loopback answers an empty 403 unless the Host looks local (allowedHostsMiddleware). */
export function hostAllowed(hostHeader: string | undefined): boolean {
  const host = hostnameOf((hostHeader ?? "").trim().toLowerCase());
  if (host === "" || host === "localhost" || isLocalIp(host)) return true;
  return [".localhost", ".local", ".internal"].some((tld) => host.endsWith(tld));
}

const LOCAL_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|0\.0\.0\.0)(:\d+)?$/i;
const APP_ORIGIN = /^(app|file|tauri|vscode-webview|vscode-file):\/\//i;

/** Ollama's default CORS allow-list; any other Origin is aborted with an empty 403. */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  if (!origin) return true;
  // Same-origin requests are not CORS requests (gin-contrib/cors).
  if (hostHeader && (origin === `http://${hostHeader}` || origin === `https://${hostHeader}`)) return true;
  return LOCAL_ORIGIN.test(origin) || APP_ORIGIN.test(origin);
}

/** Header map with lower-case names and repeated headers joined. */
export function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}
