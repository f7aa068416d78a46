import { ApiError } from "../http/errors.ts";
import type { Usage } from "../translate/chat-common.ts";
import type { TransformHooks } from "../translate/stream.ts";

/**
 * llama-server already speaks OpenAI; these transforms smooth what differs so clients see one API: the `model`
 * is the name the client sent, llama.cpp's `timings` are dropped, usage appears only when the client asked for it
 * (the gateway always asks upstream, to settle token limits), and its error events become OpenAI's envelope.
 */

export interface SmoothOptions {
  /** The model name the client sent. */
  model: string;
  /** The client asked for stream_options.include_usage. */
  includeUsage: boolean;
}

type Json = Record<string, unknown>;

export function errorEvent(message: string, code = "backend_error"): string {
  return `data: ${JSON.stringify(new ApiError(502, message, "server_error", code).toBody())}\n\n`;
}

function usageFrom(value: unknown): Usage | null {
  if (!value || typeof value !== "object") return null;
  const usage = value as Json;
  const prompt = typeof usage.prompt_tokens === "number" ? usage.prompt_tokens : 0;
  const completion = typeof usage.completion_tokens === "number" ? usage.completion_tokens : 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** A non-stream answer (chat, completion or embeddings): the same object, smoothed. */
export function smoothAnswer(answer: Json, options: SmoothOptions): { body: Json; usage: Usage | null } {
  const usage = usageFrom(answer.usage);
  const body: Json = { ...answer, model: options.model };
  delete body.timings;
  return { body, usage };
}

/** State of one smoothed stream: what it reported, for settlement. */
export class StreamSmoother {
  readonly #options: SmoothOptions;
  #usage: Usage | null = null;
  #generated = 0;
  #finished = false;

  constructor(options: SmoothOptions) {
    this.#options = options;
  }

  get finished(): boolean {
    return this.#finished;
  }

  usage(): Usage | null {
    if (this.#usage) return this.#usage;
    return this.#generated ? { prompt_tokens: 0, completion_tokens: this.#generated, total_tokens: this.#generated } : null;
  }

  /** One SSE event's data → what the client gets ("" to drop it). */
  event(data: string): string {
    if (this.#finished) return "";
    if (data === "[DONE]") {
      this.#finished = true;
      return "data: [DONE]\n\n";
    }
    let chunk: Json;
    try {
      chunk = JSON.parse(data) as Json;
    } catch {
      return this.error("The backend sent a malformed event.");
    }
    if (chunk.error !== undefined) {
      const inner = chunk.error as Json | string;
      const message = typeof inner === "string" ? inner : String((inner as Json)?.message ?? "unknown error");
      return this.error(`The backend failed during generation: ${message}`);
    }
    const usage = usageFrom(chunk.usage);
    if (usage) this.#usage = usage;
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as Json[]) : [];
    if (choices.some((choice) => hasText(choice))) this.#generated++;
    const out: Json = { ...chunk, model: this.#options.model };
    delete out.timings;
    if (!this.#options.includeUsage) {
      if (choices.length === 0) return ""; // the usage-only chunk the client did not ask for
      delete out.usage;
    } else if (choices.length > 0) {
      out.usage = null;
    }
    return `data: ${JSON.stringify(out)}\n\n`;
  }

  error(message: string, code = "backend_error"): string {
    if (this.#finished) return "";
    this.#finished = true;
    return errorEvent(message, code);
  }

  /** The upstream ended; without [DONE] that is a truncated answer. */
  end(): string {
    return this.error("The backend closed the stream before the answer was complete.");
  }
}

function hasText(choice: Json): boolean {
  const delta = choice.delta as Json | undefined;
  return Boolean((delta && (delta.content || delta.reasoning_content || delta.tool_calls)) || choice.text);
}

const utf8 = new TextEncoder();

/**
 * llama-server's SSE bytes → smoothed SSE bytes. Events are reassembled across network reads (and split UTF-8
 * characters); comments (`: ping`) are dropped, since the gateway sends its own heartbeats.
 */
export function smoothSse(smoother: StreamSmoother, hooks: TransformHooks = {}): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new TextDecoder();
  let pending = "";
  const drain = (final: boolean): string => {
    let out = "";
    pending = pending.replace(/\r\n/g, "\n");
    let end: number;
    while ((end = pending.indexOf("\n\n")) !== -1) {
      out += eventOf(pending.slice(0, end), smoother);
      pending = pending.slice(end + 2);
    }
    if (final && pending.trim() !== "") {
      out += eventOf(pending, smoother);
      pending = "";
    }
    return out;
  };
  const emit = (controller: TransformStreamDefaultController<Uint8Array>, out: string) => {
    if (out) controller.enqueue(utf8.encode(out));
    if (smoother.finished) controller.terminate();
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hooks.onActivity?.();
      pending += decoder.decode(chunk, { stream: true });
      emit(controller, drain(false));
    },
    flush(controller) {
      pending += decoder.decode();
      let out = drain(true);
      const failure = hooks.failure?.();
      if (failure) out += smoother.error(failure.message, failure.code ?? undefined);
      else if (!smoother.finished) out += smoother.end();
      emit(controller, out);
    },
  });
}

function eventOf(block: string, smoother: StreamSmoother): string {
  const data = block
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).replace(/^ /, ""))
    .join("\n");
  return data === "" ? "" : smoother.event(data);
}
