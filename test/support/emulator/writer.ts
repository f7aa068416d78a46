// Writes a Generation to the client: NDJSON with per-line delays, or one JSON object, plus line faults.
import type { ServerResponse } from "node:http";
import type { Json } from "./answers.ts";
import { DEFAULT_MIDSTREAM_ERROR } from "./faults.ts";
import type { LineFault } from "./faults.ts";
import type { Generation } from "./generation.ts";
import { NDJSON_TYPE, pause, rfc3339Nano, sendJson } from "./http.ts";

export interface ReplyContext {
  res: ServerResponse;
  /** Fires when the client goes away (or the emulator closes): stop writing, clear timers. */
  signal: AbortSignal;
  tokenDelayMs: number;
  lineFault: LineFault | null;
  /** Destroy the socket on purpose (not counted as a client abort). */
  drop(): void;
}

// created_at is the real send time, like Ollama's time.Now().UTC().
const stamp = (model: string, body: Json): Json => ({ model, created_at: rfc3339Nano(), ...body });

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
    sendJson(res, 200, stamp(gen.model, gen.single));
    return;
  }
  // Line faults force streaming so that non-stream callers see them too.
  res.writeHead(200, { "Content-Type": NDJSON_TYPE });
  res.flushHeaders();
  const cut = lineFault ? Math.min(lineFault.afterLines, gen.lines.length) : gen.lines.length;
  for (let i = 0; i < cut; i++) {
    if (i > 0 && !(await pause(tokenDelayMs, signal))) return;
    writeLine(res, stamp(gen.model, gen.lines[i] ?? {}));
  }
  if (cut > 0 && !(await pause(tokenDelayMs, signal))) return;
  if (lineFault) return applyLineFault(ctx, lineFault);
  writeLine(res, stamp(gen.model, gen.final));
  res.end();
}
