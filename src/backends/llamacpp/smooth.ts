import { ApiError, closedEarly, failedDuringGeneration } from "../../core/errors.ts";
import type { UpstreamFailure, UpstreamTranslator } from "../../core/stream.ts";
import type { Usage } from "../../core/usage.ts";
import { carriesText } from "./aggregate.ts";

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

/** State of one smoothed stream: what it reported, for settlement. */
export class StreamSmoother {
  readonly #options: SmoothOptions;
  #usage: Usage | null = null;
  #generated = 0;
  #finished = false;
  #failed = false;

  constructor(options: SmoothOptions) {
    this.#options = options;
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** It ended the answer with an error the backend reported (its error event, or a malformed one). */
  get failed(): boolean {
    return this.#failed;
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
      this.#failed = true;
      return this.error("The backend sent a malformed event.");
    }
    if (chunk.error !== undefined) {
      const inner = chunk.error as Json | string;
      const message = typeof inner === "string" ? inner : String((inner as Json)?.message ?? "unknown error");
      this.#failed = true;
      return this.error(failedDuringGeneration(message).message);
    }
    const usage = usageFrom(chunk.usage);
    if (usage) this.#usage = usage;
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as Json[]) : [];
    if (choices.some(carriesText)) this.#generated++;
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
    return this.error(closedEarly().message);
  }
}

/**
 * Server-Sent Events from a byte stream: events reassembled across network reads (and split UTF-8 characters),
 * each event's `data:` lines joined; comments (`: ping`) and empty events are skipped.
 */
export class SseEventDecoder {
  readonly #decoder = new TextDecoder();
  #pending = "";

  push(bytes: Uint8Array, onData: (data: string) => void): void {
    this.#pending += this.#decoder.decode(bytes, { stream: true });
    this.#drain(false, onData);
  }

  flush(onData: (data: string) => void): void {
    this.#pending += this.#decoder.decode();
    this.#drain(true, onData);
  }

  #drain(final: boolean, onData: (data: string) => void): void {
    this.#pending = this.#pending.replace(/\r\n/g, "\n");
    let end: number;
    while ((end = this.#pending.indexOf("\n\n")) !== -1) {
      emitData(this.#pending.slice(0, end), onData);
      this.#pending = this.#pending.slice(end + 2);
    }
    if (final && this.#pending.trim() !== "") {
      emitData(this.#pending, onData);
      this.#pending = "";
    }
  }
}

function emitData(block: string, onData: (data: string) => void): void {
  const data = block
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).replace(/^ /, ""))
    .join("\n");
  if (data !== "") onData(data);
}

/**
 * llama-server's SSE bytes → smoothed SSE text, one upstream read at a time, synchronously: the stream relay drives
 * it straight from its upstream reader, as it drives Ollama's NDJSON translator. The gateway sends its own
 * heartbeats, so llama-server's pings are dropped.
 */
export class SmoothTranslator implements UpstreamTranslator {
  readonly #smoother: StreamSmoother;
  readonly #decoder = new SseEventDecoder();
  #out = "";
  /** The upstream body failed (a reset, a stall): the answer ended in an error the backend did not send. */
  #broken = false;
  readonly #collect = (data: string): void => {
    this.#out += this.#smoother.event(data);
  };

  constructor(smoother: StreamSmoother) {
    this.#smoother = smoother;
  }

  get finished(): boolean {
    return this.#smoother.finished;
  }

  get failed(): boolean {
    return this.#broken || this.#smoother.failed;
  }

  push(chunk: Uint8Array): string {
    this.#decoder.push(chunk, this.#collect);
    return this.#take();
  }

  end(failure: UpstreamFailure | null): string {
    if (failure) {
      // What is left of an event the failure cut off is not an event: the failure is what the client hears of.
      this.#broken = !this.#smoother.finished;
      this.#out += this.#smoother.error(failure.message, failure.code ?? undefined);
      return this.#take();
    }
    this.#decoder.flush(this.#collect);
    if (!this.#smoother.finished) this.#out += this.#smoother.end();
    return this.#take();
  }

  #take(): string {
    const out = this.#out;
    this.#out = "";
    return out;
  }
}
