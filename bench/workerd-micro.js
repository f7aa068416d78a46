/**
 * The micro-benchmark cases inside workerd: a Worker bundled (esbuild) from bench/cases.ts and the same src
 * modules. `POST /run?case=<id>&side=floor|ours|core&calls=N&tokens=T` runs one side N times and answers
 * when done; the bench reads the CPU time of the workerd process around the request (workerd's own clocks do not
 * advance during execution, by design). Served by bench/workerd-micro-run.ts.
 *
 * The relay the gateway serves is not among the cases: it pipes the upstream body natively (pipeline/paced-reader.ts),
 * which a body made here in JavaScript would not show; the end-to-end bench measures it, with real fetch bodies.
 */
import { microCases } from "./cases.ts";

let cases = null;
let tokensPerStream = 0;

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const tokens = Number(url.searchParams.get("tokens") ?? "1000");
    if (!cases || tokens !== tokensPerStream) {
      cases = microCases(tokens);
      tokensPerStream = tokens;
    }
    const def = cases.find((c) => c.id === url.searchParams.get("case"));
    const runner = def?.[url.searchParams.get("side")];
    if (!runner) return new Response("unknown case or side", { status: 404 });
    const calls = Number(url.searchParams.get("calls") ?? "1");
    for (let i = 0; i < calls; i++) {
      const result = runner.call();
      if (result instanceof Promise) await result;
    }
    return Response.json({ units: calls * runner.perCall });
  },
};
