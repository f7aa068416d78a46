const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The token of an `Authorization: Bearer <token>` header (an API key or the admin token), or null. */
export function bearerToken(request: Request): string | null {
  const match = BEARER.exec(request.headers.get("authorization") ?? "");
  return match ? match[1]! : null;
}

/** The key of an `x-api-key: <key>` header (how Anthropic's clients send it by default), or null. */
export function xApiKey(request: Request): string | null {
  const value = request.headers.get("x-api-key")?.trim();
  return value ? value : null;
}
