import { unauthorized } from "./errors.ts";

/** Who is calling. Until API keys land (issue 4) any bearer token is accepted; the key itself is never kept. */
export interface Principal {
  keyId: string | null;
}

/** Every limit and header admission produces; released exactly once when the response is over. */
export interface Admission {
  /** Response headers to add (the x-ratelimit-* set, once limits exist). */
  readonly headers: Record<string, string>;
  /** The real token counts, once known. */
  settle(usage: { prompt_tokens: number; completion_tokens: number } | null): void;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function bearerToken(request: Request): string | null {
  const match = BEARER.exec(request.headers.get("authorization") ?? "");
  return match ? match[1]! : null;
}

export function authenticate(request: Request): Principal {
  if (!bearerToken(request)) {
    throw unauthorized("Missing API key: send it as 'Authorization: Bearer <key>'.");
  }
  return { keyId: null };
}

/**
 * The admission step of the pipeline (validate → admit → translate → upstream → stream back): the one place the
 * keys-and-limits work plugs in. Today it admits everything and limits nothing.
 */
export async function admit(_principal: Principal, _request: { model: string; estimatedTokens: number }): Promise<Admission> {
  return { headers: {}, settle: () => {} };
}
