/**
 * A small closed-loop HTTP load generator on node:http (lighter than fetch, so the client costs less of the two
 * cores): `concurrency` virtual clients, each sending its next request as soon as the previous one ended, over
 * keep-alive connections. Every request records when it was sent, when its first body byte and its last byte
 * arrived; every answer is checked (status, and for streams their proper ending), so a run that measures errors
 * fails. Connection failures are counted apart (the bench tolerates a stray reset keep-alive socket, not more).
 */
import http from "node:http";

export interface Target {
  name: string;
  /** Base URL, e.g. http://127.0.0.1:8787 */
  url: string;
}

export interface RequestSpec {
  path: string;
  body: string;
  headers?: Record<string, string>;
  /** Checks the whole answer; returns an error message or null. */
  check(status: number, body: string): string | null;
}

export interface Sample {
  /** ms from sending to the first body byte (the first token: every target's first body bytes carry it). */
  ttfbMs: number;
  /** ms from sending to the end of the body. */
  totalMs: number;
  bytes: number;
}

export interface LoadResult {
  samples: Sample[];
  wallMs: number;
  /** Wrong answers: a bad status, a body that fails its check. */
  errors: string[];
  /** Connections that failed (a reset keep-alive socket): not samples, and not answers. */
  transportErrors: string[];
}

export interface LoadOptions {
  concurrency: number;
  /** Stop after this many requests in all… */
  requests?: number;
  /** …or after this long (requests in flight then still finish and count). */
  durationMs?: number;
  /** Keep whole bodies for `check` (false: only the last 512 bytes, for stream endings). */
  keepBody?: boolean;
}

/** Bytes kept from the end of each body for its check (a final NDJSON line with metrics is ~250 bytes). */
const TAIL = 512;

function once(agent: http.Agent, base: URL, spec: RequestSpec, keepBody: boolean): Promise<{ sample: Sample; error: string | null; transport?: boolean }> {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    let first = 0n;
    let bytes = 0;
    const kept: Buffer[] = [];
    let tail: Buffer = Buffer.alloc(0);
    const request = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: "POST",
        path: spec.path,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(spec.body), ...spec.headers },
      },
      (response) => {
        response.on("data", (chunk: Buffer) => {
          if (first === 0n) first = process.hrtime.bigint();
          bytes += chunk.length;
          if (keepBody) kept.push(chunk);
          else tail = chunk.length >= TAIL ? chunk.subarray(-TAIL) : Buffer.concat([tail, chunk]).subarray(-TAIL);
        });
        response.on("end", () => {
          const end = process.hrtime.bigint();
          if (first === 0n) first = end;
          const ms = (t: bigint) => Number(t - start) / 1e6;
          resolve({
            sample: { ttfbMs: ms(first), totalMs: ms(end), bytes },
            error: spec.check(response.statusCode ?? 0, (keepBody ? Buffer.concat(kept) : tail).toString("utf8")),
          });
        });
        response.on("error", (error) => resolve({ sample: { ttfbMs: 0, totalMs: 0, bytes }, error: String(error), transport: true }));
      },
    );
    request.on("error", (error) => resolve({ sample: { ttfbMs: 0, totalMs: 0, bytes: 0 }, error: String(error), transport: true }));
    request.end(spec.body);
  });
}

export async function runLoad(target: Target, spec: RequestSpec, options: LoadOptions): Promise<LoadResult> {
  const base = new URL(target.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency, maxFreeSockets: options.concurrency });
  const samples: Sample[] = [];
  const errors: string[] = [];
  const transportErrors: string[] = [];
  let sent = 0;
  const start = performance.now();
  const deadline = options.durationMs === undefined ? Number.POSITIVE_INFINITY : start + options.durationMs;
  const more = () => (options.requests === undefined || sent < options.requests) && performance.now() < deadline;
  const client = async () => {
    while (more()) {
      sent++;
      const { sample, error, transport } = await once(agent, base, spec, options.keepBody ?? false);
      if (!error) samples.push(sample);
      else if (transport) transportErrors.push(error);
      else errors.push(error);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  const wallMs = performance.now() - start;
  agent.destroy();
  return { samples, wallMs, errors, transportErrors };
}

/**
 * runLoad for a measurement: any wrong answer fails the bench. A keep-alive socket closed by the server just as it
 * was reused is the client's problem, not a measurement (the caller reports how many); more than 1 % of them is not.
 */
export async function mustRun(target: Target, spec: RequestSpec, options: LoadOptions): Promise<LoadResult> {
  const result = await runLoad(target, spec, options);
  if (result.errors.length) throw new Error(`${target.name}: ${result.errors.length} wrong answers, first: ${result.errors[0]}`);
  const attempts = result.samples.length + result.transportErrors.length;
  if (result.transportErrors.length > Math.max(1, attempts / 100)) {
    throw new Error(`${target.name}: ${result.transportErrors.length} of ${attempts} connections failed, first: ${result.transportErrors[0]}`);
  }
  return result;
}
