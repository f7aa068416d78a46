import { isJsonObject as isObject, jsonObjectOf } from "../../core/json.ts";
import type { NativeChatChunk, NativeToolCall } from "../../core/native.ts";
import { carriesText } from "./aggregate.ts";
import { SseEventDecoder } from "./smooth.ts";

/**
 * llama-server's streamed chat answer (OpenAI's SSE chunks) → native /api/chat NDJSON lines, the stream every
 * dialect encodes: `delta.content` → `message.content`, `delta.reasoning_content` → `message.thinking`, tool calls
 * (streamed as fragments by index) sent whole in one line once the answer finished, then the final `done: true` line
 * with `done_reason` and llama-server's usage as `prompt_eval_count` / `eval_count`. Its error event becomes
 * Ollama's `{"error": …}` line; a stream cut short before the answer finished just ends, as Ollama's would, so each
 * dialect reports both the way it reports Ollama's.
 */

type Json = Record<string, unknown>;

interface CallParts {
  id?: string;
  name: string;
  arguments: string;
}

/** finish_reason → done_reason: a turn that called tools stopped normally, as Ollama says it. */
const doneReason = (finish: string | null) => (finish === "length" ? "length" : "stop");

class NativeChatTranslator {
  readonly #model: string;
  /** llama-server's `created` (seconds) as Ollama's `created_at`; now until a chunk says. */
  #createdAt = new Date().toISOString();
  readonly #calls: CallParts[] = [];
  #finish: string | null = null;
  #usage: { prompt: number; completion: number } | null = null;
  /** Chunks that carried generated text: about a token each, the count if llama-server sends no usage. */
  #generated = 0;
  #finished = false;

  /** `model`: the backend's name for it, as Ollama's lines carry it. */
  constructor(model: string) {
    this.#model = model;
  }

  /** True once the final line or an error line was produced: the rest of the upstream body is not needed. */
  get finished(): boolean {
    return this.#finished;
  }

  /** One SSE event's data → the NDJSON lines it makes ("" for none). */
  event(data: string): string {
    if (this.#finished) return "";
    if (data === "[DONE]") return this.#final();
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      chunk = undefined;
    }
    if (!isObject(chunk)) return this.#error("The backend sent a malformed event.");
    if (chunk.error !== undefined) return this.#error(errorMessage(chunk.error));
    if (typeof chunk.created === "number") this.#createdAt = new Date(chunk.created * 1000).toISOString();
    if (isObject(chunk.usage) && typeof chunk.usage.prompt_tokens === "number") {
      const completion = chunk.usage.completion_tokens;
      this.#usage = { prompt: chunk.usage.prompt_tokens, completion: typeof completion === "number" ? completion : 0 };
    }
    let out = "";
    // One choice: the gateway never asks for more (`n` is not sent).
    const choice = Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : null;
    if (!choice) return out;
    if (carriesText(choice)) this.#generated++;
    const delta = isObject(choice.delta) ? choice.delta : {};
    const message: NativeChatChunk["message"] = { role: "assistant", content: typeof delta.content === "string" ? delta.content : "" };
    if (typeof delta.reasoning_content === "string" && delta.reasoning_content !== "") message.thinking = delta.reasoning_content;
    if (message.content || message.thinking) out += this.#line({ message, done: false });
    if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) if (isObject(call)) this.#addCallPart(call);
    if (typeof choice.finish_reason === "string" && this.#finish === null) out += this.#finishAnswer(choice.finish_reason);
    return out;
  }

  /**
   * The upstream body ended. After a finished answer that is a whole answer even without `[DONE]` (its final line);
   * before, nothing: the answer was cut short, and the dialect says so as for Ollama's stream.
   */
  end(): string {
    return this.#finished || this.#finish === null ? "" : this.#final();
  }

  /**
   * One fragment of a tool call: its `index` says which call (a new index opens the next one, so the list stays
   * dense whatever the backend numbers); without one it continues the last call.
   */
  #addCallPart(call: Json): void {
    const last = Math.max(0, this.#calls.length - 1);
    const index = Number.isInteger(call.index) && (call.index as number) >= 0 ? Math.min(call.index as number, this.#calls.length) : last;
    const fn = isObject(call.function) ? call.function : {};
    const parts = (this.#calls[index] ??= { name: "", arguments: "" });
    if (typeof call.id === "string" && call.id !== "") parts.id = call.id;
    if (typeof fn.name === "string") parts.name += fn.name;
    if (typeof fn.arguments === "string") parts.arguments += fn.arguments;
  }

  /**
   * The answer finished: its tool calls whole, in one line, arguments as the object Ollama sends. Arguments that
   * are not a JSON object (llama-server builds them from the call it parsed, so only a broken template gets here)
   * become `{}`: the client sees the call and its tool can refuse it, rather than the whole answer failing.
   */
  #finishAnswer(reason: string): string {
    this.#finish = reason;
    if (!this.#calls.length) return "";
    const calls = this.#calls.map((parts, index): NativeToolCall => {
      const fn = { index, name: parts.name, arguments: jsonObjectOf(parts.arguments) ?? {} };
      return parts.id === undefined ? { function: fn } : { id: parts.id, function: fn };
    });
    return this.#line({ message: { role: "assistant", content: "", tool_calls: calls }, done: false });
  }

  /**
   * Ollama's final line (after the tool calls, if `[DONE]` came without a finish_reason). Without llama-server's
   * usage: the chunks generated, the prompt unknown (0, charged at its estimate).
   */
  #final(): string {
    const calls = this.#finish === null ? this.#finishAnswer("stop") : "";
    const final: NativeChatChunk = { message: { role: "assistant", content: "" }, done: true, done_reason: doneReason(this.#finish) };
    if (this.#usage) {
      final.prompt_eval_count = this.#usage.prompt;
      final.eval_count = this.#usage.completion;
    } else final.eval_count = this.#generated;
    this.#finished = true;
    return calls + this.#line(final);
  }

  #error(message: string): string {
    this.#finished = true;
    return `${JSON.stringify({ error: message })}\n`;
  }

  #line(chunk: NativeChatChunk): string {
    return `${JSON.stringify({ model: this.#model, created_at: this.#createdAt, ...chunk })}\n`;
  }
}

function errorMessage(error: unknown): string {
  if (typeof error === "string") return error;
  return isObject(error) && typeof error.message === "string" ? error.message : "unknown error";
}

const utf8 = new TextEncoder();
/** What a read that completed no line passes on (native decoders skip a blank line); new each time, as a reader may take a chunk's buffer over. */
const blank = () => Uint8Array.of(0x0a);

/**
 * The byte stream: llama-server's SSE in, native NDJSON out. A read that completes no line (a tool call's fragments,
 * which are sent whole at the end; a ping) still passes a newline on, so the relay's idle watchdog sees that the
 * backend is alive while a long tool call is written. Once the answer is over the upstream body is cancelled.
 */
export function nativeChatStream(model: string): TransformStream<Uint8Array, Uint8Array> {
  const translator = new NativeChatTranslator(model);
  const events = new SseEventDecoder();
  let out = "";
  const collect = (data: string) => {
    out += translator.event(data);
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      events.push(chunk, collect);
      controller.enqueue(out === "" ? blank() : utf8.encode(out));
      out = "";
      if (translator.finished) controller.terminate();
    },
    flush(controller) {
      // An event the body ended inside is not dispatched (SSE's rule): the answer was cut short, not malformed.
      const last = translator.end();
      if (last !== "") controller.enqueue(utf8.encode(last));
    },
  });
}
