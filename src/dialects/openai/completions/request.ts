import type { ModelDefaults, ModelLimits } from "../../../core/model-settings.ts";
import type { NativeGenerateRequest } from "../../../core/native.ts";
import { applyGenerationSettings } from "../options.ts";
import type { CompletionRequest } from "./schema.ts";

export interface CompletionTranslationContext {
  /** The resolved native model name. */
  model: string;
  defaults?: ModelDefaults;
  /** MODEL_LIMITS' entry for the model: held over MODEL_DEFAULTS and the client's values. */
  limits?: ModelLimits;
}

/**
 * OpenAI legacy completion request → Ollama /api/generate request. Sampling fields are sent only when the client
 * sent them (Ollama's own layer forces temperature, top_p and both penalties, overriding the Modelfile). Upstream
 * is always streamed; the Worker assembles non-stream answers.
 */
export function toNativeCompletion(body: CompletionRequest, context: CompletionTranslationContext): NativeGenerateRequest {
  const native: NativeGenerateRequest = { model: context.model, prompt: body.prompt, stream: true };
  if (body.suffix !== undefined && body.suffix !== null) native.suffix = body.suffix;
  if (body.system !== undefined) native.system = body.system;
  if (body.raw !== undefined) native.raw = body.raw;
  applyGenerationSettings(native, body, body.max_tokens, context);
  // Legacy `logprobs: N` is both switches at once: N alternatives per position (0 = only the chosen token).
  if (body.logprobs !== undefined && body.logprobs !== null) {
    native.logprobs = true;
    if (body.logprobs > 0) native.top_logprobs = body.logprobs;
  }
  return native;
}
