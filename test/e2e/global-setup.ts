import type { TestProject } from "vitest/node";
import { startWranglerDev } from "../../scripts/wrangler-dev.ts";
import { startOllamaEmulator } from "../../tools/ollama-emulator.ts";

export const E2E_ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef0";

/** The emulator plays Ollama; `wrangler dev` serves the Worker exactly as `npm start` does. */
export default async function setup(project: TestProject) {
  const emulator = await startOllamaEmulator({ host: "127.0.0.1", port: 0, tokenDelayMs: 2 });
  let dev: Awaited<ReturnType<typeof startWranglerDev>> | undefined;
  try {
    dev = await startWranglerDev({
      vars: {
        OLLAMA_URL: emulator.url,
        // Codex's and Claude Code's own model names reach a thinking model of the emulator.
        MODEL_ALIASES: JSON.stringify({ "gpt-4o-mini": "llama3.2", "gpt-5*": "qwen3:8b", "claude-*": "qwen3:8b" }),
        // Coding agents' prompts (Codex CLI's about 9,500 tokens, Claude Code's about 21,500) need more than Ollama's
        // default window of 4096, which would cut them silently and which the gateway would refuse: the window a
        // user gives the model they point an agent at (qwen3:8b was trained for 40,960).
        MODEL_DEFAULTS: JSON.stringify({ "qwen3:8b": { options: { num_ctx: 40960 } } }),
        HEARTBEAT_INTERVAL: "1s",
        MODELS_CACHE_TTL: "0ms",
        ADMIN_TOKEN: E2E_ADMIN_TOKEN,
        BACKEND_MAX_CONCURRENCY: "16",
      },
    });
  } catch (error) {
    await emulator.close();
    throw error;
  }
  project.provide("gatewayUrl", dev.url);
  project.provide("apiKey", await createE2eKey(dev.url));
  project.provide("emulatorUrl", emulator.url);
  return async () => {
    await dev.stop();
    await emulator.close();
  };
}

/** One key for the client tests, with limits that never get in their way. */
async function createE2eKey(gatewayUrl: string): Promise<string> {
  const res = await fetch(`${gatewayUrl}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${E2E_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "e2e", rpm: 1_000_000, tpm: 1_000_000_000, max_concurrency: 1000 }),
  });
  if (res.status !== 201) throw new Error(`could not create the e2e key: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { key: string }).key;
}
