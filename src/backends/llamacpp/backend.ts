import type { NativeChatRequest, NativeEmbedRequest, NativeEmbedResponse, NativeModel } from "../../core/native.ts";
import { IMAGE_TOKENS } from "../../core/usage.ts";
import type { Backend, Generation } from "../backend.ts";
import { HttpBackend, LISTING_TIMEOUT_MS } from "../http-backend.ts";
import { type CallOptions, responseJson, type UpstreamCall } from "../ollama/client.ts";
import { cachedWindow } from "../windows.ts";
import { toLlamaChat } from "./native-request.ts";
import { nativeChatStream } from "./native-stream.ts";

const NDJSON = { "content-type": "application/x-ndjson" };

/** llama-server's model list: OpenAI's shape. */
interface LlamaModels {
  data?: { id?: string; created?: number }[];
}

/** The part of llama-server's /props that gives the context window. */
interface LlamaProps {
  default_generation_settings?: { n_ctx?: number };
  n_ctx?: number;
}

/** llama-server's embeddings answer: OpenAI's shape. */
interface OpenAIEmbeddingList {
  data?: { index?: number; embedding?: number[] }[];
  usage?: { prompt_tokens?: number };
}

/** llama.cpp's `llama-server`: it speaks OpenAI's API, translated here to and from the internal form. */
export class LlamaServer extends HttpBackend implements Backend {
  readonly speaks = "openai";

  /**
   * The client's OpenAI JSON with the backend's model name, always streamed and always with usage (limits settle on
   * it); or the internal form, translated to a chat completion and its stream back to native lines.
   */
  startGeneration(generation: Generation, options: CallOptions): UpstreamCall {
    if (generation.openai === undefined) return this.#nativeChat(generation, options);
    const payload: Record<string, unknown> = { ...generation.openai, model: generation.model, stream: true };
    payload.stream_options = { ...(payload.stream_options as object | undefined), include_usage: true };
    return this.client.call("POST", generation.kind === "chat" ? "/v1/chat/completions" : "/v1/completions", payload, options);
  }

  /**
   * An internal-form chat (the dialects that build only that form) as a chat completion. The call is the upstream
   * one (its abort and the client's are the same as for the passthrough); only its body is read through the
   * translation, so a failure before the headers still moves the request to another backend.
   */
  #nativeChat(generation: Generation, options: CallOptions): UpstreamCall {
    // No dialect builds a plain completion in the internal form only: /v1/completions passes the client's JSON.
    if (generation.kind !== "chat") throw new Error("llama-server takes internal-form generations for chat only");
    const request = generation.native as NativeChatRequest;
    const call = this.client.call("POST", "/v1/chat/completions", toLlamaChat(request), options);
    const response = call.response.then(
      (answer) => new Response((answer.body ?? new Blob().stream()).pipeThrough(nativeChatStream(request.model)), { status: answer.status, headers: NDJSON }),
    );
    return { response, signal: call.signal, abort: call.abort };
  }

  /**
   * One of llama-server's own endpoints, its answer passed through: GET without a body, else POST of the body less
   * its `model` (which only chose the backend).
   */
  async extension(path: string, body: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Response> {
    const { model: _model, ...payload } = body ?? {};
    const call = this.client.call(body === undefined ? "GET" : "POST", path, body === undefined ? undefined : payload, { signal });
    return call.response;
  }

  async listModels(): Promise<NativeModel[]> {
    const list = await this.client.json<LlamaModels>("GET", "/v1/models", undefined, LISTING_TIMEOUT_MS, 0);
    return (list.data ?? [])
      .filter((entry): entry is { id: string; created?: number } => typeof entry.id === "string")
      .map((entry) => ({
        name: entry.id,
        model: entry.id,
        ...(typeof entry.created === "number" && { modified_at: new Date(entry.created * 1000).toISOString() }),
      }));
  }

  /** /health answers 503 while the model loads. */
  async probe(timeoutMs: number): Promise<void> {
    await this.client.json("GET", "/health", undefined, timeoutMs, 0);
  }

  /** Each slot's `n_ctx` (what llama-server was started with, `-c`, divided among its `--parallel` slots). */
  async contextWindow(model: string): Promise<number | null> {
    return cachedWindow(this.config, model, async () => {
      const props = await this.client.json<LlamaProps>("GET", "/props", undefined, LISTING_TIMEOUT_MS, 0);
      const nCtx = props.default_generation_settings?.n_ctx ?? props.n_ctx;
      return typeof nCtx === "number" && nCtx > 0 ? nCtx : null;
    });
  }

  /**
   * The chat rendered by the model's own template (`/apply-template`), then counted by its own tokenizer
   * (`/tokenize`): two quick calls, no generation. Images are not sent (their bytes would only be counted as text):
   * each is counted as IMAGE_TOKENS, as in every estimate.
   */
  async countPromptTokens(request: NativeChatRequest, signal?: AbortSignal): Promise<number | null> {
    const images = request.messages.reduce((count, message) => count + (message.images?.length ?? 0), 0);
    const textOnly = { ...request, messages: request.messages.map(({ images: _images, ...message }) => message) };
    const { messages, tools } = toLlamaChat(textOnly);
    const options = { signal, retries: 0 };
    const rendered = await responseJson<{ prompt?: unknown }>(
      await this.client.call("POST", "/apply-template", { messages, ...(tools ? { tools } : {}) }, options).response,
      "/apply-template",
    );
    if (typeof rendered.prompt !== "string") return null;
    const counted = await responseJson<{ tokens?: unknown }>(
      await this.client.call("POST", "/tokenize", { content: rendered.prompt, add_special: true }, options).response,
      "/tokenize",
    );
    return Array.isArray(counted.tokens) ? counted.tokens.length + images * IMAGE_TOKENS : null;
  }

  /** llama-server says nothing more about a model than its listing does. */
  async describeModel(_name: string, listed: NativeModel | undefined): Promise<NativeModel | undefined> {
    return listed;
  }

  async embed(request: NativeEmbedRequest, options: CallOptions, beforeAnswer: <T>(pending: Promise<T>) => Promise<T>): Promise<NativeEmbedResponse> {
    const input = typeof request.input === "string" ? [request.input] : request.input;
    const payload = { model: request.model, input, encoding_format: "float", ...(request.dimensions ? { dimensions: request.dimensions } : {}) };
    const response = await beforeAnswer(this.client.call("POST", "/v1/embeddings", payload, options).response);
    const list = await responseJson<OpenAIEmbeddingList>(response, "/v1/embeddings");
    const ordered = [...(list.data ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    return { embeddings: ordered.map((entry) => entry.embedding ?? []), prompt_eval_count: list.usage?.prompt_tokens ?? 0 };
  }
}
