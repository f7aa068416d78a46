import { routeNotFound } from "../http/errors.ts";
import type { AppContext } from "./context.ts";

/** POST /v1/completions → native /api/generate. (Being built.) */
export async function completions(request: Request, _app: AppContext): Promise<Response> {
  throw routeNotFound(request.method, new URL(request.url).pathname);
}
