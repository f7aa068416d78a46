import { MalformedLineError, NdjsonDecoder } from "../ollama/ndjson.ts";

/** What turns native lines into SSE text: the chat encoder, and later the completions one. */
export interface SseLineEncoder<T> {
  readonly finished: boolean;
  line(value: T): string;
  error(message: string, code?: string): string;
  end(): string;
}

export interface TransformHooks {
  /** Called on every upstream read (the idle watchdog). */
  onActivity?: () => void;
  /** Why the upstream body ended early, if it did (a reset, a stall); reported instead of a generic error. */
  failure?: () => { message: string; code: string | null } | null;
}

const utf8 = new TextEncoder();

/**
 * Ollama's NDJSON bytes → OpenAI SSE bytes. Lines and UTF-8 characters split across reads are reassembled by the
 * decoder; a malformed line or an `{"error"}` line becomes an error event. Once the encoder has finished
 * ([DONE] or an error), the transform terminates, which cancels the upstream body.
 */
export function ndjsonToSse<T>(encoder: SseLineEncoder<T>, hooks: TransformHooks = {}): TransformStream<Uint8Array, Uint8Array> {
  const decoder = new NdjsonDecoder<T>();
  let out = "";
  const collect = (value: T) => {
    out += encoder.line(value);
  };
  const emit = (controller: TransformStreamDefaultController<Uint8Array>) => {
    if (out !== "") controller.enqueue(utf8.encode(out));
    out = "";
    if (encoder.finished) controller.terminate();
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      hooks.onActivity?.();
      try {
        decoder.push(chunk, collect);
      } catch (error) {
        if (!(error instanceof MalformedLineError)) throw error;
        out += encoder.error(error.message);
      }
      emit(controller);
    },
    flush(controller) {
      try {
        decoder.flush(collect);
      } catch (error) {
        if (!(error instanceof MalformedLineError)) throw error;
        out += encoder.error(error.message);
      }
      const failure = hooks.failure?.();
      if (failure) out += encoder.error(failure.message, failure.code ?? undefined);
      else if (!encoder.finished) out += encoder.end();
      emit(controller);
    },
  });
}
