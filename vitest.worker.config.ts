import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/**
 * A stand-in for a Workers VPC service (test/worker/bindings.test.ts), as a Node-side service binding: like one, it
 * connects to the host and port it was created with, whatever the request URL names, and the URL's host reaches the
 * machine only as the Host header. It streams both ways, stops the upstream request when the Worker gives up, and
 * marks what it carries with `x-vpc-service: <binding>` so the tests can tell those requests from direct ones.
 */
function vpcService(binding: string, port: number) {
  return {
    node: (req: IncomingMessage, res: ServerResponse) =>
      new Promise<void>((resolve, reject) => {
        const headers: Record<string, string | string[] | undefined> = { ...req.headers, "x-vpc-service": binding };
        for (const name of Object.keys(headers)) if (name.startsWith("mf-")) delete headers[name]; // miniflare's own
        const upstream = httpRequest({ host: "127.0.0.1", port, method: req.method, path: req.url, headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on("end", () => resolve());
          answer.on("error", reject);
        });
        upstream.on("error", reject);
        res.on("close", () => upstream.destroy());
        req.pipe(upstream);
      }),
  };
}

// The Worker inside workerd (the real runtime), against the Ollama emulator started in global setup.
export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      main: "./src/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          OLLAMA_URL: `http://127.0.0.1:${inject("emulatorPort")}`,
          OLLAMA_CONTEXT_LENGTH: "32768",
          MODEL_ALIASES: JSON.stringify({ "gpt-4o-mini": "llama3.2", thinker: "qwen3:8b" }),
          MODEL_DEFAULTS: JSON.stringify({ "llama3.3:70b-instruct-q4_K_M": { options: { num_ctx: 16384 }, keep_alive: "30m" } }),
          HEARTBEAT_INTERVAL: "300ms",
          MODELS_CACHE_TTL: "0ms",
          ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
          // The gateway-wide gate is off for most tests (they hold many streams open); its own tests turn it on.
          BACKEND_MAX_CONCURRENCY: "0",
          // test/worker/fuzz.test.ts: the nightly size (`npm run fuzz`) and a seed to replay, from the shell.
          FUZZ_RUNS: process.env.FUZZ_RUNS ?? "",
          FUZZ_SEED: process.env.FUZZ_SEED ?? "",
        },
        // test/worker/bindings.test.ts: a backend reached through a binding (as a Workers VPC service) instead of a URL.
        serviceBindings: {
          OLLAMA_VPC: vpcService("OLLAMA_VPC", inject("emulatorPort")),
        },
      },
    })),
  ],
  test: {
    include: ["test/worker/**/*.test.ts"],
    globalSetup: ["./test/worker/global-setup.ts"],
    testTimeout: 20_000,
    // The emulator is shared: its recorded requests and fault modes must not interleave between files.
    fileParallelism: false,
  },
});
