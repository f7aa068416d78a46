import type { BackendGate } from "./limits/backend-gate.ts";
import type { KeyObject } from "./keys/key-object.ts";
import type { KeyRegistry } from "./keys/registry.ts";
import type { EnvVars } from "./env-vars.ts";

export type { EnvVars };

/** The bindings the Worker receives: Durable Objects, plus wrangler.toml [vars], secrets and .dev.vars (strings). */
export interface Env extends EnvVars {
  KEYS: DurableObjectNamespace<KeyObject>;
  KEY_REGISTRY: DurableObjectNamespace<KeyRegistry>;
  BACKEND_GATE: DurableObjectNamespace<BackendGate>;
}
