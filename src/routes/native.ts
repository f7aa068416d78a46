import { routeNotFound } from "../http/errors.ts";
import type { AppContext } from "./context.ts";

/** /api/* → Ollama's native API, passed through under the gateway's auth. (Being built.) */
export async function nativeApi(request: Request, _app: AppContext): Promise<Response> {
  throw routeNotFound(request.method, new URL(request.url).pathname);
}
