const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The token of an `Authorization: Bearer <token>` header (an API key or the admin token), or null. */
export function bearerToken(request: Request): string | null {
  const match = BEARER.exec(request.headers.get("authorization") ?? "");
  return match ? match[1]! : null;
}
