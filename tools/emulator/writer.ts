// Writes a Generation to the client: NDJSON with per-line delays, or one JSON object, plus line faults.
import type { ServerResponse } from "node:http";
import type { Json } from "./answers.ts";
import type { LineFault } from "./faults.ts";
import { DEFAULT_MIDSTREAM_ERROR } from "./faults.ts";
import type { Generation } from "./generation.ts";
import { NDJSON_TYPE, pause, sendJson, sendText } from "./http.ts";

export interface ReplyContext {
  res: ServerResponse;
  /** Fires when the client goes away (or the emulator closes): stop writing, clear timers. */
  signal: AbortSignal;
  tokenDelayMs: number;
  lineFault: LineFault | null;
  /** Destroy the socket on purpose (not counted as a client abort). */
  drop(): void;
  /** The created_at of a line: the real send time (like Ollama's time.Now().UTC()), unless the clock is fixed. */
  now(): string;
}

const stamp = (ctx: ReplyContext, model: string, body: Json): Json => ({ model, created_at: ctx.now(), ...body });

function writeLine(res: ServerResponse, obj: Json): void {
  if (!res.destroyed) res.write(`${JSON.stringify(obj)}\n`);
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

async function applyLineFault(ctx: ReplyContext, fault: LineFault): Promise<void> {
  switch (fault.kind) {
    case "stall":
      // Hold the socket open, writing nothing, until the client (or close()) gives up.
      return untilAborted(ctx.signal);
    case "error-midstream":
      writeLine(ctx.res, { error: fault.message ?? DEFAULT_MIDSTREAM_ERROR });
      ctx.res.end();
      return;
    case "drop":
      ctx.drop();
      return;
    case "malformed":
      ctx.res.write('{"model":"x","mess\n');
      ctx.res.end();
      return;
  }
}

export async function sendGeneration(ctx: ReplyContext, gen: Generation): Promise<void> {
  const { res, signal, lineFault, tokenDelayMs } = ctx;
  if (!gen.stream && !lineFault) {
    // A non-streaming caller waits for the whole generation, as with real Ollama.
    if (!(await pause(tokenDelayMs * gen.lines.length, signal))) return;
    sendJson(res, 200, stamp(ctx, gen.model, gen.single));
    return;
  }
  // Line faults force streaming so that non-stream callers see them too.
  res.writeHead(200, { "Content-Type": NDJSON_TYPE });
  res.flushHeaders();
  const cut = lineFault ? Math.min(lineFault.afterLines, gen.lines.length) : gen.lines.length;
  for (let i = 0; i < cut; i++) {
    if (i > 0 && !(await pause(tokenDelayMs, signal))) return;
    writeLine(res, stamp(ctx, gen.model, gen.lines[i] ?? {}));
  }
  if (cut > 0 && !(await pause(tokenDelayMs, signal))) return;
  if (lineFault) return applyLineFault(ctx, lineFault);
  writeLine(res, stamp(ctx, gen.model, gen.final));
  res.end();
}

/** A pull, push or create: progress lines, then success or an error (with the status it has when nothing was sent). */
export interface Progress {
  steps: Json[];
  error?: { message: string; status?: number };
  /** Runs once the operation completed (a client that left midway cancels it, as in Ollama). */
  onSuccess?: () => void;
}

// Ollama's streamResponse/waitForStream: both set a bare "application/json" for their JSON answers.
const PROGRESS_JSON = "application/json";

export async function sendProgress(ctx: ReplyContext, stream: boolean, progress: Progress): Promise<void> {
  const { res, signal, lineFault, tokenDelayMs } = ctx;
  const { steps, error } = progress;
  const errorBody = (message: string) => JSON.stringify({ error: message });
  if (!stream && !lineFault) {
    // waitForStream: only the last progress object, or the error with its status (500 by default).
    if (!(await pause(tokenDelayMs * steps.length, signal))) return;
    if (error) return sendText(res, error.status ?? 500, errorBody(error.message), PROGRESS_JSON);
    progress.onSuccess?.();
    return sendText(res, 200, JSON.stringify(steps.at(-1) ?? {}), PROGRESS_JSON);
  }
  // streamResponse: an error before anything was written is a plain JSON error with its status.
  if (error && steps.length === 0 && !lineFault) return sendText(res, error.status ?? 500, errorBody(error.message), PROGRESS_JSON);
  res.writeHead(200, { "Content-Type": NDJSON_TYPE });
  res.flushHeaders();
  const cut = lineFault ? Math.min(lineFault.afterLines, steps.length) : steps.length;
  for (let i = 0; i < cut; i++) {
    if (i > 0 && !(await pause(tokenDelayMs, signal))) return;
    writeLine(res, steps[i] ?? {});
  }
  if (lineFault) return applyLineFault(ctx, lineFault);
  if (error) writeLine(res, { error: error.message });
  else progress.onSuccess?.();
  res.end();
}
