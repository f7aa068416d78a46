import type { EnvVars } from "./config/env-vars.ts";
import type { KeyObject } from "./keys/key-object.ts";
import type { KeyRegistry } from "./keys/registry.ts";
import type { BackendGate } from "./limits/backend-gate.ts";
import type { ResponseStore } from "./storage/response-store.ts";

export type { EnvVars };

/** The bindings the Worker receives: Durable Objects, plus wrangler.toml [vars], secrets and .dev.vars (strings). */
export interface Env extends EnvVars {
  KEYS: DurableObjectNamespace<KeyObject>;
  KEY_REGISTRY: DurableObjectNamespace<KeyRegistry>;
  BACKEND_GATE: DurableObjectNamespace<BackendGate>;
  RESPONSES: DurableObjectNamespace<ResponseStore>;
  /**
   * Everything else the operator declares: the bindings that `BACKENDS` entries name with `"binding"` (Workers VPC
   * services in `[[vpc_services]]`, service bindings in `[[services]]`), and the vars and secrets that `$NAME`
   * references name. Their names are known only at run time, so they are `unknown` here: code must check one
   * (`fetcherOn` in backends/config.ts) before using it.
   */
  [binding: string]: unknown;
}
