// Public types of the llama-server emulator (re-exported by ../llama-emulator.ts).

export interface LlamaEmulatorOptions {
  port?: number;
  host?: string;
  /** The model id in /v1/models and the default `model` of answers (llama-server's --alias). */
  alias?: string;
  /** llama-server's --api-key: every route but /health, /v1/health, /models, /v1/models and / needs it. */
  apiKey?: string;
  /** Pause between two streamed events (and, per token, before a non-streamed answer). */
  tokenDelayMs?: number;
  /**
   * The model is a thinking one (what the GGUF's template does, not a flag of llama-server): chat answers start with
   * reasoning, as `reasoning_content` deltas, unless the request turns it off (`chat_template_kwargs.enable_thinking:
   * false`, `reasoning_effort: "none"`). Default false.
   */
  thinking?: boolean;
  /** --embeddings: /v1/embeddings works and the completion routes answer 501 (an embedding-only server). */
  embeddings?: boolean;
  /** --slots / --no-slots: GET /slots; enabled by default, as in current llama-server. */
  slots?: boolean;
  /** --metrics: GET /metrics in Prometheus text. */
  metrics?: boolean;
  /** -np: how many requests generate at once; later ones wait for a free slot (default 4, llama-server's "auto"). */
  parallel?: number;
  /** Every route answers 503 "Loading model" for this long after start. */
  loadingMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON body, or null when absent or not JSON. */
  body: unknown;
}

/**
 * "Lines" are server-sent events (`data: …` blocks, `data: [DONE]` included).
 * A non-streaming request never gets partial output: stall holds it without headers, drop cuts it, error-midstream
 * answers a 500.
 */
export type LlamaFault =
  | { kind: "slow-first-byte"; delayMs: number }
  | { kind: "stall"; afterLines: number }
  /** afterLines 0: the connection is cut before any header. */
  | { kind: "drop"; afterLines: number }
  | { kind: "error-midstream"; afterLines: number; message?: string }
  /** 503 `no slot available`, llama-server's answer when it refuses work for want of a slot. */
  | { kind: "busy" }
  /** 503 `Loading model`, as while the model loads. */
  | { kind: "loading" }
  /** The page Cloudflare sends instead of the origin's answer (502, 524, 530, …). */
  | { kind: "html"; status: number };

export interface LlamaFaultRule {
  fault: LlamaFault;
  /** How many matching requests it applies to; default: until cleared. */
  times?: number;
  /** Default: the inference routes (/v1/chat/completions, /chat/completions, /v1/completions, /v1/embeddings). */
  paths?: string[];
}

export interface LlamaEmulatorStats {
  open: number;
  aborted: number;
  completed: number;
  total: number;
}

export interface LlamaEmulator {
  url: string;
  port: number;
  requests: RecordedRequest[];
  setFault(rule: LlamaFaultRule | null): void;
  stats(): LlamaEmulatorStats;
  reset(): void;
  close(): Promise<void>;
}
