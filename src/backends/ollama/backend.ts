import type { BackendConfig } from "../../config/backends.ts";
import type { NativeEmbedRequest, NativeEmbedResponse, NativeModel, NativeShow, NativeTags } from "../../core/native.ts";
import type { Backend } from "../backend.ts";
import { type CallOptions, type OllamaClient, responseJson } from "./client.ts";

/** How long a listing may take: it is cheap, and other backends can answer (one try, no connection retries). */
const LISTING_TIMEOUT_MS = 10_000;

/** Ollama: its native API is the internal form, so requests go as they are. */
export class OllamaBackend implements Backend {
  readonly config: BackendConfig;
  readonly #client: OllamaClient;

  constructor(config: BackendConfig, client: OllamaClient) {
    this.config = config;
    this.#client = client;
  }

  async listModels(): Promise<NativeModel[]> {
    const tags = await this.#client.json<NativeTags>("GET", "/api/tags", undefined, LISTING_TIMEOUT_MS, 0);
    return Array.isArray(tags.models) ? tags.models : [];
  }

  async probe(timeoutMs: number): Promise<void> {
    await this.#client.json("GET", "/api/version", undefined, timeoutMs, 0);
  }

  async describeModel(name: string): Promise<NativeModel> {
    const show = await this.#client.json<NativeShow>("POST", "/api/show", { model: name });
    return { name, modified_at: show.modified_at };
  }

  async embed(request: NativeEmbedRequest, options: CallOptions, beforeAnswer: <T>(pending: Promise<T>) => Promise<T>): Promise<NativeEmbedResponse> {
    const response = await beforeAnswer(this.#client.call("POST", "/api/embed", request, options).response);
    return responseJson<NativeEmbedResponse>(response, "/api/embed");
  }
}
