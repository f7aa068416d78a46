import * as z from "zod/mini";
import "../core/zod-english.ts";
import { ConfigError, parseUrl } from "./parse.ts";

/** A Workers binding that carries HTTP requests: a Workers VPC service, or any service binding. */
export interface UpstreamFetcher {
  fetch(request: Request): Promise<Response>;
}

/** One home machine the gateway can send requests to. */
export interface BackendConfig {
  name: string;
  kind: "ollama" | "llamacpp";
  /**
   * Base URL, without a trailing slash. For a backend reached through `binding`, a placeholder,
   * `http://<name>.internal` (see `bindingBaseUrl`): a binding decides where a request goes, and the URL's host only
   * becomes the Host header the machine sees.
   */
  url: string;
  /** The Workers binding (a VPC service, or any service binding) that carries its requests; null = `url` over the internet. */
  binding: string | null;
  /** The models it may serve; null = whatever it lists itself. */
  models: string[] | null;
  /** Its own requests-in-flight limit; null = the gateway-wide BACKEND_MAX_CONCURRENCY. */
  maxConcurrency: number | null;
  /** Sent as `Authorization: Bearer` (llama-server's --api-key); never the client's key. */
  apiKey: string | null;
  /** Extra headers for every upstream request (e.g. a Cloudflare Access service token). */
  headers: Record<string, string>;
  /**
   * Ollama: the `num_ctx` its server uses when a request sets none (its OLLAMA_CONTEXT_LENGTH, or the VRAM-based
   * default); null = the gateway-wide OLLAMA_CONTEXT_LENGTH. Unused for llama-server, whose /props tells it.
   */
  contextLength: number | null;
}

const nonEmpty = z.string().check(z.minLength(1));
const backendSchema = z.strictObject({
  name: z.string().check(z.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, "names use letters, digits, '.', '_' and '-'")),
  kind: z.enum(["ollama", "llamacpp"]),
  url: z.optional(nonEmpty),
  // Named literally (never a $reference: a resolved secret could end up in an error message).
  binding: z.optional(
    z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a binding is named as in wrangler.toml: letters, digits and '_', not a $reference")),
  ),
  models: z.optional(z.array(nonEmpty).check(z.minLength(1))),
  max_concurrency: z.optional(z.int().check(z.minimum(1), z.maximum(10_000))),
  context_length: z.optional(z.int().check(z.minimum(256), z.maximum(16_777_216))),
  api_key: z.optional(nonEmpty),
  headers: z.optional(z.record(z.string().check(z.regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "not a valid header name")), z.string())),
});
const backendsSchema = z.array(backendSchema).check(z.minLength(1, "list at least one backend"));

const REFERENCE = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;

/** Replace every string of the form "$NAME" with the variable or secret NAME, so secrets stay out of wrangler.toml. */
function resolveReferences(value: unknown, env: Readonly<Record<string, unknown>>, path: string): unknown {
  if (typeof value === "string") {
    const match = REFERENCE.exec(value);
    if (!match) return value;
    const resolved = env[match[1]!];
    if (typeof resolved !== "string" || resolved === "") {
      throw new ConfigError("BACKENDS", `${path} refers to $${match[1]}, which is not set (add it as a var or a secret)`);
    }
    return resolved;
  }
  if (Array.isArray(value)) return value.map((item, i) => resolveReferences(item, env, `${path}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, isBindingField(path, key) ? item : resolveReferences(item, env, path ? `${path}.${key}` : key)]),
    );
  }
  return value;
}

/** A backend's own `binding` field (`[i].binding`), which stays as written. */
const isBindingField = (path: string, key: string) => key === "binding" && /^\[\d+\]$/.test(path);

/** `env[name]` when it can carry requests (a VPC service, a service binding: anything with a fetch method), else null. */
export function fetcherOn(env: Readonly<Record<string, unknown>>, name: string): UpstreamFetcher | null {
  const bound = env[name];
  if (bound === null || (typeof bound !== "object" && typeof bound !== "function")) return null;
  return typeof (bound as { fetch?: unknown }).fetch === "function" ? (bound as UpstreamFetcher) : null;
}

/**
 * `env[name]` as a fetcher, or a ConfigError naming BACKENDS, `where` (the entry) and the binding, never its value
 * (which may be a secret when `name` is that of a var or a secret).
 */
export function requireFetcher(env: Readonly<Record<string, unknown>>, name: string, where: string): UpstreamFetcher {
  const fetcher = fetcherOn(env, name);
  if (fetcher) return fetcher;
  const detail =
    env[name] === undefined
      ? `there is no binding named ${name} (declare it in wrangler.toml, e.g. [[vpc_services]] binding = "${name}")`
      : `${name} has no fetch method (name a VPC service or a service binding)`;
  throw new ConfigError("BACKENDS", `${where}: ${detail}`);
}

/**
 * The placeholder base URL of a backend reached through a binding: `http://<name>.internal`, the name made one DNS
 * label. A VPC service always connects to the host and port it was created with; the URL's host only becomes the
 * Host header (and the SNI for https), and Ollama, bound to loopback, accepts `*.internal` hosts. Plain http:
 * the tunnel encrypts the request until it reaches the home network.
 */
export function bindingBaseUrl(name: string): string {
  return `http://${name.toLowerCase().replace(/[^a-z0-9-]+/g, "-")}.internal`;
}

/**
 * BACKENDS (a JSON array of machines) or, without it, the OLLAMA_URL shorthand for one Ollama. `defaultHeaders`
 * (the CF_ACCESS_* service token) apply to every backend under its own headers. `env` (every var, secret and
 * binding) resolves `$NAME` references and must hold each `binding` a backend names.
 */
export function parseBackends(
  raw: string | undefined,
  ollamaUrl: string,
  defaultHeaders: Record<string, string>,
  env: Readonly<Record<string, unknown>>,
): BackendConfig[] {
  if (raw === undefined || raw.trim() === "") {
    const only = { name: "ollama", url: ollamaUrl, binding: null, models: null, maxConcurrency: null, apiKey: null, contextLength: null };
    return [{ ...only, kind: "ollama", headers: defaultHeaders }];
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError("BACKENDS", "not valid JSON");
  }
  const parsed = backendsSchema.safeParse(resolveReferences(json, env, ""));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.length
      ? ` at ${issue.path
          .map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`))
          .join("")
          .replace(/^\./, "")}`
      : "";
    throw new ConfigError("BACKENDS", `${issue.message}${where}`);
  }
  const seen = new Set<string>();
  return parsed.data.map((backend, i) => {
    if (seen.has(backend.name)) throw new ConfigError("BACKENDS", `the name ${JSON.stringify(backend.name)} is used twice`);
    seen.add(backend.name);
    if ((backend.url === undefined) === (backend.binding === undefined)) {
      throw new ConfigError("BACKENDS", `give exactly one of "url" and "binding" at [${i}]`);
    }
    if (backend.binding !== undefined) requireFetcher(env, backend.binding, `[${i}].binding`);
    return {
      name: backend.name,
      kind: backend.kind,
      url: backend.url === undefined ? bindingBaseUrl(backend.name) : parseUrl(`BACKENDS[${i}].url`, backend.url, backend.url),
      binding: backend.binding ?? null,
      models: backend.models ?? null,
      maxConcurrency: backend.max_concurrency ?? null,
      apiKey: backend.api_key ?? null,
      headers: { ...defaultHeaders, ...backend.headers },
      contextLength: backend.context_length ?? null,
    };
  });
}
