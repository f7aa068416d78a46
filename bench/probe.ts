/**
 * Counts what a request costs before its generation goes upstream: the gateway served through bench/probe-entry.js
 * in count mode, which records every Durable Object call (the Worker's, and the objects' calls to each other) and
 * every upstream request, sequentially, one request at a time.
 */
import { type Compat, createKey, serve } from "./targets.ts";

export interface ProbeResult {
  requests: number;
  /** Durable Object calls made by the Worker before the generation request went upstream (max over requests). */
  workerDoCallsBeforeUpstream: number;
  /** Calls between Durable Objects (the key object asking the backend gate), within those round trips. */
  nestedDoCalls: number;
  /** Other upstream requests before it (the model list, only when its cache is cold). */
  upstreamBefore: string[];
  traces: string[][];
  /** Whether the nested calls could be observed (the objects share the Worker's isolate under Miniflare). */
  nestedObserved: boolean;
}

export async function runProbe(
  outdir: string,
  compat: Compat,
  vars: Record<string, string>,
  requests: number,
  streamBody: string,
  nonStreamBody: string,
): Promise<ProbeResult> {
  const mf = serve(outdir, "probe-entry.js", { ...vars, BENCH_PROBE: "count" }, true, compat);
  try {
    const base = (await mf.ready).origin;
    const key = await createKey(base);
    const traces: string[][] = [];
    for (let i = 0; i < requests; i++) {
      const response = await fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: i % 2 === 0 ? streamBody : nonStreamBody,
      });
      const trace = JSON.parse(response.headers.get("x-bench-trace") ?? "null") as { before: string[]; upstreamSent: boolean } | null;
      await response.text();
      if (response.status !== 200 || !trace?.upstreamSent) throw new Error(`probe request failed: HTTP ${response.status}`);
      traces.push(trace.before);
    }
    const rpcs = (trace: string[]) => trace.filter((event) => event.startsWith("rpc "));
    const workerCalls = (trace: string[]) => rpcs(trace).filter((event) => event.startsWith("rpc worker->")).length;
    const nested = (trace: string[]) => rpcs(trace).filter((event) => !event.startsWith("rpc worker->")).length;
    return {
      requests,
      workerDoCallsBeforeUpstream: Math.max(...traces.map(workerCalls)),
      nestedDoCalls: Math.max(...traces.map(nested)),
      upstreamBefore: [...new Set(traces.flatMap((trace) => trace.filter((event) => event.startsWith("fetch "))))],
      traces,
      nestedObserved: traces.some((trace) => nested(trace) > 0),
    };
  } finally {
    await mf.dispose();
  }
}
