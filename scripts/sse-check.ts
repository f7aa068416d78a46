/**
 * A strict reader of the gateway's Server-Sent Events, shared by the fault suite and the soak script. It checks
 * what the README promises: every event is `data: <JSON>`, `data: [DONE]` or a `:` comment; a stream ends with
 * `[DONE]` or one error event, and nothing comes after either.
 */

export interface SseError {
  message: string;
  type?: string;
  code?: string | null;
}

export interface SseSummary {
  /** Parsed JSON chunks (error events excluded). */
  chunks: Record<string, any>[];
  /** `: keep-alive` and other comments. */
  comments: number;
  /** Events of any kind (chunks, error, [DONE], comments). */
  events: number;
  done: boolean;
  error: SseError | null;
  /** Problems: unparsable frames, events after the end, a truncated last event. Empty when the stream is well formed. */
  violations: string[];
  /** The concatenated `delta.content` (chat) or `text` (completions) of the chunks. */
  text: string;
  /** ms from `start` to the first chunk carrying text, if any. */
  firstTokenMs: number | null;
  bytes: number;
}

export class SseReader {
  readonly #start: number;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  #ended = false;
  readonly summary: SseSummary = { chunks: [], comments: 0, events: 0, done: false, error: null, violations: [], text: "", firstTokenMs: null, bytes: 0 };

  constructor(start = performance.now()) {
    this.#start = start;
  }

  /** True once [DONE] or an error event was seen. */
  get ended(): boolean {
    return this.#ended;
  }

  push(bytes: Uint8Array): void {
    this.summary.bytes += bytes.byteLength;
    this.#buffer += this.#decoder.decode(bytes, { stream: true }).replace(/\r\n?/g, "\n");
    let at: number;
    while ((at = this.#buffer.indexOf("\n\n")) >= 0) {
      const block = this.#buffer.slice(0, at);
      this.#buffer = this.#buffer.slice(at + 2);
      this.#event(block);
    }
  }

  /** Call when the body is over; flags a truncated last event. */
  finish(): SseSummary {
    const rest = this.#buffer + this.#decoder.decode();
    if (rest.trim() !== "") this.summary.violations.push(`truncated last event: ${JSON.stringify(rest.slice(0, 120))}`);
    this.#buffer = "";
    return this.summary;
  }

  #event(block: string): void {
    if (block === "") return;
    const s = this.summary;
    s.events++;
    const data: string[] = [];
    let comment = false;
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) comment = true;
      else if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
      else s.violations.push(`unexpected SSE line ${JSON.stringify(line.slice(0, 120))}`);
    }
    if (data.length === 0) {
      if (comment) s.comments++;
      return;
    }
    if (this.#ended) s.violations.push(`event after the end of the stream: ${JSON.stringify(block.slice(0, 120))}`);
    const payload = data.join("\n");
    if (payload === "[DONE]") {
      this.#ended = true;
      s.done = true;
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(payload);
    } catch {
      s.violations.push(`frame is not JSON: ${JSON.stringify(payload.slice(0, 120))}`);
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      s.violations.push(`frame is not a JSON object: ${payload.slice(0, 120)}`);
      return;
    }
    const object = value as Record<string, any>;
    if ("error" in object) {
      const error = object.error as SseError | undefined;
      if (!error || typeof error.message !== "string") s.violations.push(`error event without a message: ${payload.slice(0, 200)}`);
      this.#ended = true;
      s.error = error ?? { message: "" };
      return;
    }
    s.chunks.push(object);
    const choice = Array.isArray(object.choices) ? object.choices[0] : undefined;
    const piece = choice?.delta?.content ?? choice?.text;
    if (typeof piece === "string" && piece !== "") {
      if (s.firstTokenMs === null) s.firstTokenMs = performance.now() - this.#start;
      s.text += piece;
    }
  }
}

/** Read a whole SSE response body. */
export async function readSse(response: Response, start = performance.now()): Promise<SseSummary> {
  const reader = new SseReader(start);
  if (!response.body) return reader.finish();
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) reader.push(chunk);
  return reader.finish();
}

/** p-th percentile (0–100) of a list of numbers, nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** A markdown table; cells are stringified as they are. */
export function markdownTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map(String).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const ms = (value: number): string => (Number.isFinite(value) ? `${Math.round(value)} ms` : "–");
