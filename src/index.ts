import { handle } from "./app.ts";
import type { Env } from "./env.ts";

export { KeyObject } from "./keys/key-object.ts";
export { KeyRegistry } from "./keys/registry.ts";
export { BackendGate } from "./limits/backend-gate.ts";
export { ResponseStore } from "./storage/response-store.ts";

export default {
  fetch(request, env, ctx) {
    return handle(request, env, ctx);
  },
} satisfies ExportedHandler<Env>;
