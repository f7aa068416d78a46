import type { BackendConfig } from "../config/backends.ts";
import type { NativeEmbedRequest, NativeEmbedResponse, NativeModel } from "../core/native.ts";
import { LlamaServer } from "./llamacpp/backend.ts";
import { OllamaBackend } from "./ollama/backend.ts";
import type { CallOptions, OllamaClient } from "./ollama/client.ts";

/**
 * One home machine, whatever it runs: what the catalog, /health, /v1/models and embeddings ask of it. Each kind
 * of backend implements it in its own folder (ollama/, llamacpp/); this factory is the one place that looks at
 * `kind`. Requests and answers use the internal form (Ollama's native shapes, core/native.ts).
 *
 * Generation is not here yet: Ollama is relayed from its native NDJSON and llama-server from its own OpenAI SSE
 * (smoothed), the two stream formats the pipeline knows (pipeline/generation.ts, pipeline/llama-answer.ts).
 */
export interface Backend {
  readonly config: BackendConfig;
  /** The models it lists itself (before its `models` setting narrows them), in the internal form. */
  listModels(): Promise<NativeModel[]>;
  /** Resolves when it answers; rejects with an ApiError otherwise (status 503: still loading its model). */
  probe(timeoutMs: number): Promise<void>;
  /** One model's facts for /v1/models/{id}; `listed` is its entry in the catalog. */
  describeModel(name: string, listed: NativeModel | undefined): Promise<NativeModel | undefined>;
  /**
   * Embeddings of one internal-form request. `beforeAnswer` marks the wait for the backend's answer, so a
   * failure there can move the request to another backend.
   */
  embed(request: NativeEmbedRequest, options: CallOptions, beforeAnswer: <T>(pending: Promise<T>) => Promise<T>): Promise<NativeEmbedResponse>;
}

export function backendFor(config: BackendConfig, client: OllamaClient): Backend {
  return config.kind === "ollama" ? new OllamaBackend(config, client) : new LlamaServer(config, client);
}
