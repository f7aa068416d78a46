import { closedEarly, failedDuringGeneration } from "../../core/errors.ts";
import type { NativeChatChunk } from "../../core/native.ts";
import type { SseLineEncoder } from "../../core/stream.ts";
import { type Usage, usageSoFar } from "../../core/usage.ts";
import { OutputAssembler, type OutputEvent } from "./answer.ts";
import { buildResponse, inProgressToolCall, type ResponseObject, type ResponsesMeta } from "./response-object.ts";

/**
 * Native /api/chat lines → the Responses API's named SSE events (`event: <type>` + `data: {type, …,
 * sequence_number}`): `response.created` and `response.in_progress` first, then each output item as it is
 * generated (added, its parts and deltas, done), then exactly one of `response.completed`, `response.incomplete`
 * or `response.failed`. There is no `[DONE]` line.
 */
export class ResponsesSseEncoder implements SseLineEncoder<NativeChatChunk> {
  readonly #meta: ResponsesMeta;
  readonly #output: OutputAssembler;
  #sequence = 0;
  #started = false;
  #finished = false;
  #out = "";
  readonly #on = (event: OutputEvent): void => this.#item(event);

  constructor(meta: ResponsesMeta) {
    this.#meta = meta;
    this.#output = new OutputAssembler(meta);
  }

  /** True once the last event (completed, incomplete or failed) was produced: later input is ignored. */
  get finished(): boolean {
    return this.#finished;
  }

  line(chunk: NativeChatChunk): string {
    if (this.#finished) return "";
    if (typeof chunk.error === "string") return this.error(failedDuringGeneration(chunk.error).message);
    this.#start();
    this.#output.push(chunk, this.#on);
    const response = this.#output.response();
    if (response) {
      this.#finished = true;
      this.#event(response.status === "incomplete" ? "response.incomplete" : "response.completed", { response });
      this.#meta.onFinal?.(response);
    }
    return this.#take();
  }

  /** A failure after the stream started: `response.failed` with what was finished so far, then the stream ends. */
  error(message: string, code = "server_error"): string {
    if (this.#finished) return "";
    this.#finished = true;
    this.#start();
    const response = buildResponse(this.#meta, { status: "failed", output: this.#output.output, usage: null, error: { code, message } });
    this.#event("response.failed", { response });
    this.#meta.onFinal?.(response);
    return this.#take();
  }

  /** The upstream body ended. Without a final line the answer is truncated, which the client must hear about. */
  end(): string {
    return this.error(closedEarly().message);
  }

  /**
   * Tokens used: the backend's counts once it finished, else the answer lines seen so far (about a token each, a
   * tool call by its size), with the prompt unknown (0); null when nothing was generated.
   */
  usage(): Usage | null {
    if (!this.#output.final && this.#output.generated === 0) return null;
    return usageSoFar(this.#output.final, this.#output.generated);
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    const response: ResponseObject = buildResponse(this.#meta, { status: "in_progress", output: [], usage: null });
    this.#event("response.created", { response });
    this.#event("response.in_progress", { response });
  }

  #item(event: OutputEvent): void {
    const output_index = event.index;
    const item_id = event.item.id;
    switch (event.kind) {
      case "reasoning.open":
        this.#event("response.output_item.added", { output_index, item: event.item });
        this.#event("response.reasoning_summary_part.added", {
          item_id,
          output_index,
          summary_index: 0,
          part: { type: "summary_text", text: "" },
        });
        return;
      case "reasoning.delta":
        this.#event("response.reasoning_summary_text.delta", { item_id, output_index, summary_index: 0, delta: event.delta });
        return;
      case "reasoning.close":
        this.#event("response.reasoning_summary_text.done", { item_id, output_index, summary_index: 0, text: event.text });
        this.#event("response.reasoning_summary_part.done", {
          item_id,
          output_index,
          summary_index: 0,
          part: { type: "summary_text", text: event.text },
        });
        this.#event("response.output_item.done", { output_index, item: event.item });
        return;
      case "message.open":
        this.#event("response.output_item.added", { output_index, item: event.item });
        this.#event("response.content_part.added", {
          item_id,
          output_index,
          content_index: 0,
          part: { type: "output_text", text: "", annotations: [], logprobs: [] },
        });
        return;
      case "message.delta":
        this.#event("response.output_text.delta", { item_id, output_index, content_index: 0, delta: event.delta, logprobs: [] });
        return;
      case "message.close":
        this.#event("response.output_text.done", { item_id, output_index, content_index: 0, text: event.text, logprobs: [] });
        this.#event("response.content_part.done", { item_id, output_index, content_index: 0, part: event.item.content[0] });
        this.#event("response.output_item.done", { output_index, item: event.item });
        return;
      case "tool": {
        const item = event.item;
        this.#event("response.output_item.added", { output_index, item: inProgressToolCall(item) });
        if (item.type === "function_call") {
          this.#event("response.function_call_arguments.delta", { item_id, output_index, delta: item.arguments });
          this.#event("response.function_call_arguments.done", { item_id, output_index, name: item.name, arguments: item.arguments });
        } else {
          this.#event("response.custom_tool_call_input.delta", { item_id, output_index, delta: item.input });
          this.#event("response.custom_tool_call_input.done", { item_id, output_index, input: item.input });
        }
        this.#event("response.output_item.done", { output_index, item });
        return;
      }
    }
  }

  #event(type: string, fields: Record<string, unknown>): void {
    const data = JSON.stringify({ type, ...fields, sequence_number: this.#sequence++ });
    this.#out += `event: ${type}\ndata: ${data}\n\n`;
  }

  #take(): string {
    const out = this.#out;
    this.#out = "";
    return out;
  }
}
