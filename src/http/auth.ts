import type { AppContext } from "../routes/context.ts";
import type { Usage } from "../translate/chat-common.ts";
import { ApiError, unauthorized } from "./errors.ts";

/**
 * The admission step of the pipeline (validate → admit → resolve → translate → upstream → answer): the one place
 * API keys and limits plug in, designed as a single call so that authentication and every limit check cost one
 * round trip before the upstream request starts.
 *
 * Until API keys land (issue 4), any bearer token is admitted and nothing is limited; the key is never kept.
 */
export interface Admission {
  /** Response headers to add (the x-ratelimit-* set, once limits exist). */
  readonly headers: Record<string, string>;
  /** Whether this caller may use the installed model `name` (the key's allow-list). */
  allowsModel(name: string): boolean;
  /** Report the real token counts (null if unknown) and free the slot. Safe to call more than once. */
  settle(usage: Usage | null): void;
}

export interface AdmissionRequest {
  /** The model name the client sent, or null for routes without one. */
  model: string | null;
  /** Prompt plus the most the answer may use, for token limits reserved up front. */
  estimatedTokens: number;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function bearerToken(request: Request): string | null {
  const match = BEARER.exec(request.headers.get("authorization") ?? "");
  return match ? match[1]! : null;
}

export async function admit(request: Request, _app: AppContext, _want: AdmissionRequest): Promise<Admission> {
  if (!bearerToken(request)) throw unauthorized("Missing API key: send it as 'Authorization: Bearer <key>'.");
  return { headers: {}, allowsModel: () => true, settle: () => {} };
}

export const modelNotAllowed = (model: string) =>
  new ApiError(403, `This API key is not allowed to use the model '${model}'.`, "permission_error", "model_not_allowed", "model");
