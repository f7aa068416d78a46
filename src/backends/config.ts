import * as z from "zod";
import { ConfigError, parseUrl } from "../config-parse.ts";

/** One home machine the gateway can send requests to. */
export interface BackendConfig {
  name: string;
  kind: "ollama" | "llamacpp";
  /** Base URL, without a trailing slash. */
  url: string;
  /** The models it may serve; null = whatever it lists itself. */
  models: string[] | null;
  /** Its own requests-in-flight limit; null = the gateway-wide BACKEND_MAX_CONCURRENCY. */
  maxConcurrency: number | null;
  /** Sent as `Authorization: Bearer` (llama-server's --api-key); never the client's key. */
  apiKey: string | null;
  /** Extra headers for every upstream request (e.g. a Cloudflare Access service token). */
  headers: Record<string, string>;
}

const backendSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, "names use letters, digits, '.', '_' and '-'"),
  kind: z.enum(["ollama", "llamacpp"]),
  url: z.string().min(1),
  models: z.array(z.string().min(1)).min(1).optional(),
  max_concurrency: z.number().int().min(1).max(10_000).optional(),
  api_key: z.string().min(1).optional(),
  headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "not a valid header name"), z.string()).optional(),
});
const backendsSchema = z.array(backendSchema).min(1, "list at least one backend");

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
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, resolveReferences(item, env, path ? `${path}.${key}` : key)]));
  }
  return value;
}

/**
 * BACKENDS (a JSON array of machines) or, without it, the OLLAMA_URL shorthand for one Ollama. `defaultHeaders`
 * (the CF_ACCESS_* service token) apply to every backend under its own headers.
 */
export function parseBackends(
  raw: string | undefined,
  ollamaUrl: string,
  defaultHeaders: Record<string, string>,
  env: Readonly<Record<string, unknown>>,
): BackendConfig[] {
  if (raw === undefined || raw.trim() === "") {
    return [{ name: "ollama", kind: "ollama", url: ollamaUrl, models: null, maxConcurrency: null, apiKey: null, headers: defaultHeaders }];
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
    const where = issue.path.length ? ` at ${issue.path.map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`)).join("").replace(/^\./, "")}` : "";
    throw new ConfigError("BACKENDS", `${issue.message}${where}`);
  }
  const seen = new Set<string>();
  return parsed.data.map((backend, i) => {
    if (seen.has(backend.name)) throw new ConfigError("BACKENDS", `the name ${JSON.stringify(backend.name)} is used twice`);
    seen.add(backend.name);
    return {
      name: backend.name,
      kind: backend.kind,
      url: parseUrl(`BACKENDS[${i}].url`, backend.url, backend.url),
      models: backend.models ?? null,
      maxConcurrency: backend.max_concurrency ?? null,
      apiKey: backend.api_key ?? null,
      headers: { ...defaultHeaders, ...backend.headers },
    };
  });
}
