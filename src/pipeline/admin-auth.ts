import type { Config } from "../config/index.ts";
import { ApiError, routeNotFound, unauthorized } from "../core/errors.ts";
import { secretsEqual } from "../core/secrets.ts";
import { bearerToken } from "../http/bearer.ts";

/**
 * Guards admin-only routes: without ADMIN_TOKEN configured they do not exist (404, as for any unknown route);
 * otherwise the bearer token must equal it, compared in constant time.
 */
export async function requireAdmin(request: Request, config: Config): Promise<void> {
  if (!config.adminToken) throw routeNotFound(request.method, new URL(request.url).pathname);
  const token = bearerToken(request);
  if (!token) throw unauthorized("This admin route needs 'Authorization: Bearer <ADMIN_TOKEN>'.");
  if (!(await secretsEqual(token, config.adminToken))) {
    throw new ApiError(401, "The admin token is not valid.", "invalid_request_error", "invalid_admin_token");
  }
}
