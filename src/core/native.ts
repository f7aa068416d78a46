/** Ollama's native API shapes (api/types.go), only the parts the gateway reads or writes. */

export interface NativeToolCall {
  id?: string;
  function: { index?: number; name: string; arguments: Record<string, unknown> };
}

export interface NativeMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  thinking?: string;
  images?: string[];
  tool_calls?: NativeToolCall[];
  tool_name?: string;
  tool_call_id?: string;
}

export interface NativeTool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export type ThinkValue = boolean | "low" | "medium" | "high" | "max";

/** Effort words (OpenAI's reasoning effort, Anthropic's output effort) → `think`, as Ollama's own layer maps them. */
const EFFORT_TO_THINK: Readonly<Record<string, ThinkValue>> = {
  none: false,
  minimal: "low",
  low: "low",
  medium: "medium",
  high: "high",
  xhigh: "max",
  max: "max",
  ultra: "max",
};

/** The `think` value for an effort word, or undefined for a word Ollama does not know. */
export function thinkForEffort(effort: string): ThinkValue | undefined {
  return Object.hasOwn(EFFORT_TO_THINK, effort) ? EFFORT_TO_THINK[effort] : undefined;
}

/** What both native generation requests (/api/chat, /api/generate) carry besides their input. */
interface NativeGenerationFields {
  model: string;
  options?: Record<string, unknown>;
  stream: boolean;
  keep_alive?: string | number;
  think?: ThinkValue;
  logprobs?: boolean;
  top_logprobs?: number;
}

export interface NativeChatRequest extends NativeGenerationFields {
  messages: NativeMessage[];
  tools?: NativeTool[];
  format?: "json" | Record<string, unknown>;
}

export interface NativeTokenLogprob {
  token: string;
  logprob: number;
  bytes?: number[];
}

export interface NativeLogprob extends NativeTokenLogprob {
  top_logprobs?: NativeTokenLogprob[];
}

/** Counts are omitempty upstream: a missing one means 0. Durations are nanoseconds. */
export interface NativeMetrics {
  total_duration?: number;
  load_duration?: number;
  prompt_eval_count?: number;
  prompt_eval_duration?: number;
  eval_count?: number;
  eval_duration?: number;
}

/** One NDJSON line of a /api/chat stream (or the whole non-stream answer). */
export interface NativeChatChunk extends NativeMetrics {
  model?: string;
  created_at?: string;
  message?: { role?: string; content?: string; thinking?: string; tool_calls?: NativeToolCall[] };
  done?: boolean;
  done_reason?: string;
  logprobs?: NativeLogprob[];
  /** A failure after output started: Ollama's last line, with no `done`. */
  error?: string;
}

export interface NativeGenerateRequest extends NativeGenerationFields {
  prompt: string;
  suffix?: string;
  images?: string[];
  system?: string;
  raw?: boolean;
}

/** One NDJSON line of a /api/generate stream. */
export interface NativeGenerateChunk extends NativeMetrics {
  model?: string;
  created_at?: string;
  response?: string;
  thinking?: string;
  done?: boolean;
  done_reason?: string;
  /** Token ids of the conversation so far (final line, non-raw only); the gateway does not use them. */
  context?: number[];
  logprobs?: NativeLogprob[];
  /** A failure after output started: Ollama's last line, with no `done`. */
  error?: string;
}

export interface NativeEmbedRequest {
  model: string;
  input: string | string[];
  truncate?: boolean;
  dimensions?: number;
  keep_alive?: string | number;
  options?: Record<string, unknown>;
}

export interface NativeEmbedResponse extends NativeMetrics {
  model?: string;
  embeddings?: number[][];
}

export interface NativeModel {
  name: string;
  model?: string;
  modified_at?: string;
  size?: number;
  digest?: string;
  details?: Record<string, unknown>;
  capabilities?: string[];
}

export interface NativeTags {
  models: NativeModel[] | null;
}

export interface NativeShow {
  modified_at?: string;
  capabilities?: string[];
  details?: Record<string, unknown>;
  model_info?: Record<string, unknown>;
}
