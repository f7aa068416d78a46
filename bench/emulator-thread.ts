/**
 * The project's emulators in a worker thread, so their work does not share an event loop with the load
 * generator's clock: the Ollama one (the gateway's and the floor's upstream) and the llama-server one, which speaks
 * OpenAI's /v1/chat/completions (Portkey's upstream: the Ollama emulator has no OpenAI layer). Messages: in
 * `{ tokenDelayMs }` via workerData; out `{ url, llamaUrl }` once both listen; in "reset" (forget recorded
 * requests between phases) and "close".
 */
import { parentPort, workerData } from "node:worker_threads";
import { startLlamaEmulator } from "../tools/llama-emulator.ts";
import { startOllamaEmulator } from "../tools/ollama-emulator.ts";

const { tokenDelayMs } = workerData as { tokenDelayMs: number };
const ollama = await startOllamaEmulator({ tokenDelayMs });
// As many generation slots as the bench has clients: llama-server's default 4 would queue Portkey's requests.
const llama = await startLlamaEmulator({ tokenDelayMs, parallel: 1024 });
parentPort!.postMessage({ url: ollama.url, llamaUrl: llama.url });
parentPort!.on("message", (message: string) => {
  if (message === "reset") {
    ollama.reset();
    llama.reset();
    parentPort!.postMessage({ reset: true });
  } else if (message === "close") {
    Promise.all([ollama.close(), llama.close()]).then(() => parentPort!.close());
  }
});
