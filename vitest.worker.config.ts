import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// The Worker inside workerd (the real runtime), against the Ollama emulator started in global setup.
export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      main: "./src/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          OLLAMA_URL: `http://127.0.0.1:${inject("emulatorPort")}`,
          MODEL_ALIASES: JSON.stringify({ "gpt-4o-mini": "llama3.2", "thinker": "qwen3:8b" }),
          MODEL_DEFAULTS: JSON.stringify({ "llama3.3:70b-instruct-q4_K_M": { options: { num_ctx: 16384 }, keep_alive: "30m" } }),
          HEARTBEAT_INTERVAL: "300ms",
          MODELS_CACHE_TTL: "0ms",
          ADMIN_TOKEN: "test-admin-token",
          // The gateway-wide gate is off for most tests (they hold many streams open); its own tests turn it on.
          BACKEND_MAX_CONCURRENCY: "0",
          // test/worker/fuzz.test.ts: the nightly size (`npm run fuzz`) and a seed to replay, from the shell.
          FUZZ_RUNS: process.env.FUZZ_RUNS ?? "",
          FUZZ_SEED: process.env.FUZZ_SEED ?? "",
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
