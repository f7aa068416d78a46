/**
 * A thin entry module around the built gateway bundle (`./index.js`, copied next to this file by the bench), used
 * for two measurements only; the timed "keys and limits on" runs serve the bundle itself, without this file.
 *
 * BENCH_PROBE = "count": the Durable Object namespace bindings and `fetch` are wrapped so every RPC call and every
 *   upstream request is recorded in order. The Worker's response gets an `x-bench-trace` header listing what
 *   happened before the generation request (`/api/chat`, `/api/generate`) went upstream. The key object's own
 *   calls to the backend gate are recorded too (the object classes are subclassed to see a wrapped env).
 * BENCH_PROBE = "off": keys and limits off. `KEYS` is replaced by an in-isolate stand-in whose `lookup` and `admit` grant at
 *   once (no Durable Object, no storage, no backend gate); everything else — bearer parsing, the key checksum, the
 *   SHA-256, validation, model resolution, translation, streaming, settlement calls — runs unchanged.
 */
import * as gateway from "./index.js";

const events = [];
const note = (what) => {
  if (events.length < 1000) events.push(what);
};

const realFetch = globalThis.fetch;
let counting = false;
globalThis.fetch = function benchFetch(input, init) {
  if (counting) {
    const url = input instanceof Request ? input.url : String(input);
    note(`fetch ${new URL(url).pathname}`);
  }
  return realFetch.call(this, input, init);
};

function wrapStub(stub, label) {
  return new Proxy(stub, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof prop !== "string" || prop === "then" || typeof value !== "function") return value;
      return (...args) => {
        note(`rpc ${label}.${prop}`);
        return target[prop](...args); // not value.apply: on an RPC stub, "apply" would be a remote method
      };
    },
  });
}

function wrapNamespace(namespace, label) {
  return new Proxy(namespace, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop === "get") return (id, options) => wrapStub(target.get(id, options), label);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

const DO_BINDINGS = ["KEYS", "KEY_REGISTRY", "BACKEND_GATE"];
/** `origin` says who calls: "worker", or the Durable Object class whose env this is. */
function countingEnv(env, origin) {
  const wrapped = { ...env };
  for (const name of DO_BINDINGS) if (env[name]) wrapped[name] = wrapNamespace(env[name], `${origin}->${name}`);
  return wrapped;
}

const LIMITS = { rpm: 1e9, remainingRequests: 1e9, resetRequestsMs: 0, tpm: 1e9, remainingTokens: 1e9, resetTokensMs: 0 };
const grantingKey = {
  lookup: async () => ({ ok: true, id: "key_bench", models: [], tpm: 1e9, limits: LIMITS }),
  admit: async () => ({ ok: true, lease: crypto.randomUUID(), keyId: "key_bench", models: [], limits: LIMITS }),
  settle: async () => {},
};
function keysOffEnv(env) {
  return { ...env, KEYS: { idFromName: (name) => name, get: () => grantingKey } };
}

// One derived env per isolate and caller (the config is cached per env object, as with the real env).
const derived = new WeakMap();
function envFor(env, origin) {
  let byOrigin = derived.get(env);
  if (!byOrigin) derived.set(env, (byOrigin = new Map()));
  let out = byOrigin.get(origin);
  if (!out) {
    out = env.BENCH_PROBE === "off" ? keysOffEnv(env) : env.BENCH_PROBE === "count" ? countingEnv(env, origin) : env;
    byOrigin.set(origin, out);
  }
  return out;
}

const GENERATION = /^fetch \/api\/(chat|generate)$/;

export default {
  async fetch(request, env, ctx) {
    if (env.BENCH_PROBE !== "count") return gateway.default.fetch(request, envFor(env, "worker"), ctx);
    // Count mode: one request at a time (the bench sends them sequentially).
    events.length = 0;
    counting = true;
    let response;
    try {
      response = await gateway.default.fetch(request, envFor(env, "worker"), ctx);
    } finally {
      counting = false;
    }
    const upstreamAt = events.findIndex((event) => GENERATION.test(event));
    const before = upstreamAt === -1 ? events.slice() : events.slice(0, upstreamAt);
    const headers = new Headers(response.headers);
    headers.set("x-bench-trace", JSON.stringify({ before, upstreamSent: upstreamAt !== -1 }));
    return new Response(response.body, { status: response.status, headers });
  },
};

/** The Durable Object classes, seeing a counting env in count mode (so their calls to each other are recorded). */
export class KeyObject extends gateway.KeyObject {
  constructor(ctx, env) {
    super(ctx, env.BENCH_PROBE === "count" ? envFor(env, "KeyObject") : env);
  }
}
export class KeyRegistry extends gateway.KeyRegistry {
  constructor(ctx, env) {
    super(ctx, env.BENCH_PROBE === "count" ? envFor(env, "KeyRegistry") : env);
  }
}
export class BackendGate extends gateway.BackendGate {
  constructor(ctx, env) {
    super(ctx, env.BENCH_PROBE === "count" ? envFor(env, "BackendGate") : env);
  }
}
