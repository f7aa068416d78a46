import type { Usage } from "../../core/usage.ts";

type Json = Record<string, unknown>;

interface ToolCallParts {
  id?: string;
  type: "function";
  function: { name: string; arguments: string };
}

/**
 * Assembles llama-server's streamed chunks (OpenAI's format) into one non-stream answer, so a long generation keeps
 * bytes flowing through the tunnel like every other upstream call. Works for chat (`delta`) and legacy
 * completions (`text`).
 */
export class OpenAIStreamAggregator {
  #first: Json | null = null;
  #content = "";
  #reasoning = "";
  #text = "";
  #toolCalls: ToolCallParts[] = [];
  #finish: string | null = null;
  #usage: Usage | null = null;
  /** Chunks that carried generated text: about a token each, for an answer whose usage never came. */
  #generated = 0;
  #done = false;
  #error: string | null = null;

  get done(): boolean {
    return this.#done;
  }

  /** The backend's own error event, if it sent one. */
  get error(): string | null {
    return this.#error;
  }

  /** One SSE data payload. */
  event(data: string): void {
    if (this.#done) return;
    if (data === "[DONE]") {
      this.#done = true;
      return;
    }
    const chunk = JSON.parse(data) as Json;
    if (chunk.error !== undefined) {
      const inner = chunk.error as Json | string;
      this.#error = typeof inner === "string" ? inner : String((inner as Json)?.message ?? "unknown error");
      this.#done = true;
      return;
    }
    this.#first ??= chunk;
    const usage = chunk.usage as Json | undefined;
    if (usage && typeof usage.prompt_tokens === "number") {
      const completion = typeof usage.completion_tokens === "number" ? usage.completion_tokens : 0;
      this.#usage = { prompt_tokens: usage.prompt_tokens, completion_tokens: completion, total_tokens: usage.prompt_tokens + completion };
    }
    const choices = (chunk.choices as Json[] | undefined) ?? [];
    if (choices.some(carriesText)) this.#generated++;
    for (const choice of choices) {
      if (typeof choice.text === "string") this.#text += choice.text;
      const delta = choice.delta as Json | undefined;
      if (typeof delta?.content === "string") this.#content += delta.content;
      if (typeof delta?.reasoning_content === "string") this.#reasoning += delta.reasoning_content;
      for (const call of (delta?.tool_calls as Json[] | undefined) ?? []) this.#addToolCall(call);
      if (typeof choice.finish_reason === "string") this.#finish = choice.finish_reason;
    }
  }

  #addToolCall(call: Json): void {
    const index = typeof call.index === "number" ? call.index : this.#toolCalls.length;
    const fn = (call.function as Json | undefined) ?? {};
    const part = (this.#toolCalls[index] ??= { type: "function", function: { name: "", arguments: "" } });
    if (typeof call.id === "string") part.id = call.id;
    if (typeof fn.name === "string") part.function.name += fn.name;
    if (typeof fn.arguments === "string") part.function.arguments += fn.arguments;
  }

  /**
   * What to settle with: llama-server's usage, else (the stream cut short, or a server that sent none) the chunks
   * of text seen, about a token each, with the prompt unknown (0).
   */
  usage(): Usage {
    return this.#usage ?? { prompt_tokens: 0, completion_tokens: this.#generated, total_tokens: this.#generated };
  }

  /** The assembled answer in OpenAI's non-stream shape, with `model` the name the client sent. */
  result(model: string, kind: "chat" | "completion"): Json {
    const first = this.#first ?? {};
    const base = { id: first.id, created: first.created, model, system_fingerprint: first.system_fingerprint };
    const usage = this.#usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    if (kind === "completion") {
      return { ...base, object: "text_completion", choices: [{ index: 0, text: this.#text, logprobs: null, finish_reason: this.#finish ?? "stop" }], usage };
    }
    const calls = this.#toolCalls.filter(Boolean);
    const message: Json = { role: "assistant", content: calls.length && this.#content === "" ? null : this.#content, refusal: null };
    if (calls.length) message.tool_calls = calls;
    if (this.#reasoning) message.reasoning_content = this.#reasoning;
    return { ...base, object: "chat.completion", choices: [{ index: 0, message, logprobs: null, finish_reason: this.#finish ?? "stop" }], usage };
  }
}

/** Whether a streamed choice carries generated text (answer, reasoning or a tool call's pieces). */
export function carriesText(choice: Json): boolean {
  const delta = choice.delta as Json | undefined;
  return Boolean(choice.text || (delta && (delta.content || delta.reasoning_content || delta.tool_calls)));
}
