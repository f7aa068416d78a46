/**
 * The JavaScript read floor: the floor Worker, except that the upstream body is read in JavaScript, every chunk by
 * a reader, and sent on in one piece when it ends. No parsing, translation, authentication, limits or timers, and
 * a single chunk out, the cheapest possible. Its CPU is what reading every HTTP chunk from JavaScript costs in this
 * runtime: what a gateway that reads each token as it comes pays at least (the gateway does at a GPU's pace; at full
 * speed it pipes the body and reads it in bulk, src/core/paced-reader.ts); its latencies mean nothing (the client
 * gets everything at the end).
 */
import floor from "./floor-worker.js";

export default {
  async fetch(request, env) {
    const forwarded = await floor.fetch(request, env);
    if (!forwarded.body) return forwarded;
    return new Response(readAll(forwarded.body), { status: forwarded.status, headers: forwarded.headers });
  },
};

/** Every upstream chunk read in JavaScript, and everything read sent as one chunk once the upstream ends. */
function readAll(upstream) {
  const reader = upstream.getReader();
  return new ReadableStream({
    async start(controller) {
      const parts = [];
      let size = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        size += value.byteLength;
      }
      const out = new Uint8Array(size);
      let at = 0;
      for (const part of parts) {
        out.set(part, at);
        at += part.byteLength;
      }
      controller.enqueue(out);
      controller.close();
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
