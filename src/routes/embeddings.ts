import { routeNotFound } from "../http/errors.ts";
import type { AppContext } from "./context.ts";

/** POST /v1/embeddings → native /api/embed. (Being built.) */
export async function embeddings(request: Request, _app: AppContext): Promise<Response> {
  throw routeNotFound(request.method, new URL(request.url).pathname);
}
