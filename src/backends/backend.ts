import type { BackendConfig } from "../config/backends.ts";
import type { NativeChatRequest, NativeEmbedRequest, NativeEmbedResponse, NativeModel } from "../core/native.ts";
import { LlamaServer } from "./llamacpp/backend.ts";
import { OllamaBackend } from "./ollama/backend.ts";
import type { CallOptions, OllamaClient, UpstreamCall } from "./ollama/client.ts";

/**
 * One home machine, whatever it runs: what the catalog, /health, /v1/models, embeddings and generation ask of it.
 * Each kind of backend implements it in its own folder (ollama/, llamacpp/); this factory is the one place that
 * looks at `kind`. Requests and answers use the internal form (Ollama's native shapes, core/native.ts), except a
 * generation of an OpenAI dialect on a backend that `speaks` OpenAI itself (see `speaks`).
 */
export interface Backend {
  readonly config: BackendConfig;
  /**
   * The API the machine speaks. `"native"`: every generation is the internal form, answered in native NDJSON lines.
   * `"openai"`: a generation of an OpenAI dialect that is its own API (chat and legacy completions) is the client's
   * OpenAI JSON, answered in OpenAI's stream, which the pipeline smooths (pipeline/openai-answer.ts); any other
   * dialect's (`Generation.openai` absent) is the internal form, which the backend translates, answering in native
   * lines like any backend.
   */
  readonly speaks: "native" | "openai";
  /** Start a generation, always streamed upstream; resolves once the backend's headers are in (a 2xx). */
  startGeneration(generation: Generation, options: CallOptions): UpstreamCall;
  /** The models it lists itself (before its `models` setting narrows them), in the internal form. */
  listModels(): Promise<NativeModel[]>;
  /** Resolves when it answers; rejects with an ApiError otherwise (status 503: still loading its model). */
  probe(timeoutMs: number): Promise<void>;
  /**
   * The context window a generation of `model` gets, in tokens: Ollama's `num_ctx` (the request's `numCtx`, else the
   * server's default) held to what the model was trained for; llama-server's `n_ctx`. Null when it cannot be known.
   * Cached per isolate: a warm request asks the backend nothing.
   */
  contextWindow(model: string, numCtx: number | undefined, defaultNumCtx: number): Promise<number | null>;
  /**
   * The exact prompt tokens of a chat, where the machine can count them with the model's own tokenizer and
   * template (llama-server); null when it cannot say. Absent: the backend cannot count.
   */
  countPromptTokens?(request: NativeChatRequest, signal?: AbortSignal): Promise<number | null>;
  /** One model's facts for /v1/models/{id}; `listed` is its entry in the catalog. */
  describeModel(name: string, listed: NativeModel | undefined): Promise<NativeModel | undefined>;
  /**
   * Embeddings of one internal-form request. `beforeAnswer` marks the wait for the backend's answer, so a
   * failure there can move the request to another backend.
   */
  embed(request: NativeEmbedRequest, options: CallOptions, beforeAnswer: <T>(pending: Promise<T>) => Promise<T>): Promise<NativeEmbedResponse>;
  /**
   * The machine's own endpoints the gateway offers, if it has any (llama-server: GET /props, /slots, /metrics; POST
   * /tokenize, /detokenize): the answer as it sent it.
   */
  extension?(path: string, body: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Response>;
}

/** One generation for one backend, in the form it takes (see `Backend.speaks`). */
export interface Generation {
  kind: "chat" | "completion";
  /** The internal-form request, with the backend's name for the model and every setting applied (unless `openai` is set). */
  native: unknown;
  /**
   * The client's OpenAI JSON with the answer's ceiling (`model` set by the backend), to pass through to a backend
   * that speaks OpenAI; absent, the backend takes `native` and answers in native lines.
   */
  openai?: Record<string, unknown>;
  /** The backend's name for the model. */
  model: string;
}

export function backendFor(config: BackendConfig, client: OllamaClient): Backend {
  return config.kind === "ollama" ? new OllamaBackend(config, client) : new LlamaServer(config, client);
}
