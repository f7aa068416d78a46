import { NdjsonSseTranslator, type SseLineEncoder, type UpstreamFailure } from "../src/core/stream.ts";

/** For tests and the bench: the relay's NDJSON → SSE translation as a TransformStream (the Worker drives the translator directly). */

const utf8 = new TextEncoder();

export interface TransformHooks {
  /** Called on every upstream read (the idle watchdog). */
  onActivity?: () => void;
  /** Why the upstream body ended early, if it did (a reset, a stall); reported instead of a generic error. */
  failure?: () => UpstreamFailure | null;
}

/**
 * Ollama's NDJSON bytes → OpenAI SSE bytes, as a TransformStream (the relay uses `NdjsonSseTranslator` directly).
 * Once the encoder has finished ([DONE] or an error), the transform terminates, which cancels the upstream body.
 */
export function ndjsonToSse<T>(encoder: SseLineEncoder<T>, hooks: TransformHooks = {}): TransformStream<Uint8Array, Uint8Array> {
  const translator = new NdjsonSseTranslator(encoder);
  const emit = (controller: TransformStreamDefaultController<Uint8Array>, out: string) => {
    if (out !== "") controller.enqueue(utf8.encode(out));
    if (translator.finished) controller.terminate();
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hooks.onActivity?.();
      emit(controller, translator.push(chunk));
    },
    flush(controller) {
      emit(controller, translator.end(hooks.failure?.() ?? null));
    },
  });
}
