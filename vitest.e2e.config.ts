import { defineConfig } from "vitest/config";

// End to end: `wrangler dev` (the real local runtime) + the Ollama emulator, driven by real client libraries.
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.test.ts"],
    environment: "node",
    globalSetup: ["./test/e2e/global-setup.ts"],
    setupFiles: ["./test/e2e/loopback-only.ts"],
    testTimeout: 30_000,
    hookTimeout: 90_000,
    fileParallelism: false,
  },
});
