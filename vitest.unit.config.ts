import { defineConfig } from "vitest/config";

// Pure modules (translation, parsing) and the emulator, in Node.
export default defineConfig({
  test: { include: ["test/unit/**/*.test.ts"], environment: "node", testTimeout: 10_000 },
});
