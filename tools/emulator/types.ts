// Public types of the Ollama emulator (re-exported by ../ollama-emulator.ts).

export interface EmulatedModel {
  name: string;
  family: string;
  parameterSize: string;
  quantization: string;
  capabilities: string[];
  embeddingLength?: number;
  contextLength?: number;
  /** RFC3339 with an offset, as Ollama reports it. */
  modifiedAt: string;
}

export interface EmulatorOptions {
  port?: number;
  host?: string;
  tokenDelayMs?: number;
  models?: EmulatedModel[];
  /** Use the pre-0.12 wording `model "NAME" not found, try pulling it first` on chat/generate. */
  legacyNotFound?: boolean;
  version?: string;
  /** The server's num_ctx when a request sets none (Ollama's OLLAMA_CONTEXT_LENGTH); default 4096. */
  contextLength?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON body, or null when absent or not JSON. */
  body: unknown;
}

export type Fault =
  | { kind: "slow-first-byte"; delayMs: number }
  | { kind: "stall"; afterLines: number }
  | { kind: "error-midstream"; afterLines: number; message?: string }
  | { kind: "busy" }
  | { kind: "drop"; afterLines: number }
  | { kind: "malformed"; afterLines: number }
  | { kind: "html"; status: number }
  /** Ollama's Host check as seen through a tunnel without httpHostHeader: an empty 403. */
  | { kind: "forbidden" }
  /** Cloudflare Access without a valid service token: a redirect to its login page. */
  | { kind: "access-redirect" };

export interface FaultRule {
  fault: Fault;
  /** How many matching requests it applies to; default: until cleared. */
  times?: number;
  /** Default ["/api/chat", "/api/generate"]. */
  paths?: string[];
}

export interface EmulatorStats {
  open: number;
  aborted: number;
  completed: number;
  total: number;
}

export interface Emulator {
  url: string;
  port: number;
  requests: RecordedRequest[];
  setFault(rule: FaultRule | null): void;
  stats(): EmulatorStats;
  reset(): void;
  close(): Promise<void>;
}
