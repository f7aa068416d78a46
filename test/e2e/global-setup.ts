import type { TestProject } from "vitest/node";
import { startWranglerDev } from "../../scripts/wrangler-dev.ts";
import { startOllamaEmulator } from "../support/ollama-emulator.ts";

export const E2E_ADMIN_TOKEN = "e2e-admin-token";

/** The emulator plays Ollama; `wrangler dev` serves the Worker exactly as `npm start` does. */
export default async function setup(project: TestProject) {
  const emulator = await startOllamaEmulator({ host: "127.0.0.1", port: 0, tokenDelayMs: 2 });
  let dev;
  try {
    dev = await startWranglerDev({
      vars: {
        OLLAMA_URL: emulator.url,
        MODEL_ALIASES: JSON.stringify({ "gpt-4o-mini": "llama3.2" }),
        HEARTBEAT_INTERVAL: "1s",
        MODELS_CACHE_TTL: "0ms",
        ADMIN_TOKEN: E2E_ADMIN_TOKEN,
      },
    });
  } catch (error) {
    await emulator.close();
    throw error;
  }
  project.provide("gatewayUrl", dev.url);
  project.provide("emulatorUrl", emulator.url);
  return async () => {
    await dev.stop();
    await emulator.close();
  };
}
