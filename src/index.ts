import { handle } from "./app.ts";
import type { Env } from "./env.ts";

export default {
  fetch(request, env) {
    return handle(request, env);
  },
} satisfies ExportedHandler<Env>;
