import { type BackendConfig, requireFetcher } from "../config/backends.ts";
import type { UpstreamTarget } from "./ollama/client.ts";

/**
 * Where `OllamaClient` sends one backend's requests: its base URL and headers (the Access service token; llama-server's
 * own API key as its bearer token, never the client's key) and, for a backend named by `"binding"`, the binding on
 * `env` (the Worker's `Env`: a Workers VPC service or a service binding) that carries them instead of the global fetch.
 * A binding missing from `env`, or without a fetch method, is a ConfigError naming BACKENDS and the binding
 * (parseBackends checks the same on the env it parses, so this fails only for a config taken from another env).
 */
export function upstreamTarget(backend: BackendConfig, env: Readonly<Record<string, unknown>>): UpstreamTarget {
  const headers = backend.apiKey ? { ...backend.headers, authorization: `Bearer ${backend.apiKey}` } : backend.headers;
  if (backend.binding === null) return { url: backend.url, headers };
  return { url: backend.url, headers, fetcher: requireFetcher(env, backend.binding, `${JSON.stringify(backend.name)}.binding`) };
}
