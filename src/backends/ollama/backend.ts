import type { NativeEmbedRequest, NativeEmbedResponse, NativeModel, NativeShow, NativeTags } from "../../core/native.ts";
import type { Backend, Generation } from "../backend.ts";
import { HttpBackend, LISTING_TIMEOUT_MS } from "../http-backend.ts";
import { cachedWindow, trainedContextLength } from "../windows.ts";
import { type CallOptions, responseJson, type UpstreamCall } from "./client.ts";

/** Ollama: its native API is the internal form, so requests go as they are. */
export class OllamaBackend extends HttpBackend implements Backend {
  readonly speaks = "native";

  startGeneration(generation: Generation, options: CallOptions): UpstreamCall {
    return this.client.call("POST", generation.kind === "chat" ? "/api/chat" : "/api/generate", generation.native, options);
  }

  async listModels(): Promise<NativeModel[]> {
    const tags = await this.client.json<NativeTags>("GET", "/api/tags", undefined, LISTING_TIMEOUT_MS, 0);
    return Array.isArray(tags.models) ? tags.models : [];
  }

  async probe(timeoutMs: number): Promise<void> {
    await this.client.json("GET", "/api/version", undefined, timeoutMs, 0);
  }

  async describeModel(name: string): Promise<NativeModel> {
    const show = await this.client.json<NativeShow>("POST", "/api/show", { model: name });
    return { name, modified_at: show.modified_at };
  }

  async contextWindow(model: string, numCtx: number | undefined, defaultNumCtx: number): Promise<number | null> {
    const trained = await cachedWindow(this.config, model, async () => {
      const show = await this.client.json<NativeShow>("POST", "/api/show", { model }, LISTING_TIMEOUT_MS, 0);
      return trainedContextLength(show.model_info);
    });
    // Ollama loads the model with num_ctx tokens of cache, but never more than it was trained for.
    const asked = numCtx ?? this.config.contextLength ?? defaultNumCtx;
    return trained === null ? asked : Math.min(asked, trained);
  }

  async embed(request: NativeEmbedRequest, options: CallOptions, beforeAnswer: <T>(pending: Promise<T>) => Promise<T>): Promise<NativeEmbedResponse> {
    const response = await beforeAnswer(this.client.call("POST", "/api/embed", request, options).response);
    return responseJson<NativeEmbedResponse>(response, "/api/embed");
  }
}
