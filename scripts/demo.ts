/**
 * npm run demo: the gateway under `wrangler dev` on http://127.0.0.1:8787, backed by the project's Ollama
 * emulator instead of a real Ollama, so a newcomer sees it work in one command. Prints curl lines to paste.
 */
import { randomBytes } from "node:crypto";
import { startOllamaEmulator } from "../tools/ollama-emulator.ts";
import { startWranglerDev } from "./wrangler-dev.ts";

const port = Number(process.env.PORT ?? 8787);
const adminToken = `demo-admin-${randomBytes(16).toString("hex")}`;
const emulator = await startOllamaEmulator({ host: "127.0.0.1", port: 0, tokenDelayMs: 40 });
const dev = await startWranglerDev({ port, vars: { OLLAMA_URL: emulator.url, ADMIN_TOKEN: adminToken } }).catch(async (error: unknown) => {
  await emulator.close();
  throw error;
});
const base = dev.url;

// A fresh key, created through the admin API exactly as `npm run keys -- create` does.
const created = await fetch(`${base}/admin/keys`, {
  method: "POST",
  headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
  body: JSON.stringify({ name: `demo ${new Date().toISOString()}` }),
});
if (created.status !== 201) {
  await dev.stop();
  await emulator.close();
  throw new Error(`could not create a demo key: ${created.status} ${await created.text()}`);
}
const { key } = (await created.json()) as { key: string };
console.log(`
ollama-edge demo is running on ${base} (backend: the built-in Ollama emulator at ${emulator.url})

Chat, streamed:
  curl -N ${base}/v1/chat/completions -H "Authorization: Bearer ${key}" -H "Content-Type: application/json" -d '{"model":"llama3.2","stream":true,"messages":[{"role":"user","content":"Hello there"}]}'

Models:
  curl ${base}/v1/models -H "Authorization: Bearer ${key}"

OpenAI SDKs: base URL ${base}/v1, API key ${key}
Manage keys: OLLAMA_EDGE_URL=${base} ADMIN_TOKEN=${adminToken} npm run keys -- list
Press Ctrl-C to stop.`);

const shutdown = async () => {
  await dev.stop();
  await emulator.close();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
dev.child.on("exit", () => void emulator.close().then(() => process.exit(1)));
