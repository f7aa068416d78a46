import { ApiError, withExtraHeaders } from "../core/errors.ts";
import { requireAdmin } from "./admin-auth.ts";
import { authenticate, BEARER_KEY, type Caller, type KeySource } from "./auth.ts";
import type { AppContext } from "./context.ts";
import { failureOfError, isFailure } from "./outcome.ts";

/** A request as the router hands it over: with the path's parameters. */
export type RoutedRequest = Request & { params: Record<string, string> };

export type Handler = (request: RoutedRequest, app: AppContext) => Promise<Response>;
export type KeyHandler = (request: RoutedRequest, app: AppContext, caller: Caller) => Promise<Response>;

/**
 * The first stage of every key route: the key is checked before the handler reads the body or asks any backend
 * anything, so a request without a valid key costs the home machine nothing. Every answer after it carries the
 * key's rate-limit headers, refusals before admission included. `source` says where the key is read from (the
 * Anthropic routes also take `x-api-key`). The handler's answer, or its error, decides whether the request failed,
 * for the key's usage records (a stream that fails later reports that itself).
 */
export const withKey =
  (handler: KeyHandler, source: KeySource = BEARER_KEY): Handler =>
  async (request, app) => {
    const caller = await authenticate(request, app, source);
    try {
      const response = await handler(request, app, caller);
      caller.outcome.decide(isFailure(response.status));
      return response;
    } catch (error) {
      caller.outcome.decide(failureOfError(error));
      throw withExtraHeaders(error, caller.headers);
    }
  };

/** The first stage of every admin route: without ADMIN_TOKEN it does not exist (404); otherwise the token must match. */
export const withAdmin =
  (handler: Handler): Handler =>
  async (request, app) => {
    await requireAdmin(request, app.config);
    return handler(request, app);
  };

/**
 * A known path called with another method: authenticated like the path itself (so an anonymous caller learns
 * nothing about what exists), then 405 with `message` and an `allow` header; the dialect's boundary renders it.
 */
export const methodNotAllowed = (allowed: readonly string[], access: "key" | "admin", message: string, source: KeySource = BEARER_KEY): Handler => {
  const refuse: Handler = async () => {
    throw new ApiError(405, message, "invalid_request_error", "method_not_allowed", null, { allow: allowed.join(", ") });
  };
  return access === "key" ? withKey(refuse, source) : withAdmin(refuse);
};
