/** npm start: the Worker under `wrangler dev` on http://127.0.0.1:8787, talking to OLLAMA_URL (default http://127.0.0.1:11434). */
import { startWranglerDev } from "./wrangler-dev.ts";

const vars: Record<string, string> = {};
if (process.env.OLLAMA_URL) vars.OLLAMA_URL = process.env.OLLAMA_URL;

const dev = await startWranglerDev({ port: Number(process.env.PORT ?? 8787), vars, inheritOutput: true });
console.log(`\nollama-edge is listening on ${dev.url} (Ctrl-C to stop)`);
const shutdown = () => void dev.stop().then(() => process.exit(0));
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
dev.child.on("exit", (code) => process.exit(code ?? 1));
