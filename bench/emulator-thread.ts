/**
 * The project's Ollama emulator in a worker thread, so its work does not share an event loop with the load
 * generator's clock. Messages: in `{ tokenDelayMs }` via workerData; out `{ url }` once listening; in "reset"
 * (forget recorded requests between phases) and "close".
 */
import { parentPort, workerData } from "node:worker_threads";
import { startOllamaEmulator } from "../tools/ollama-emulator.ts";

const { tokenDelayMs } = workerData as { tokenDelayMs: number };
const emulator = await startOllamaEmulator({ tokenDelayMs });
parentPort!.postMessage({ url: emulator.url });
parentPort!.on("message", (message: string) => {
  if (message === "reset") {
    emulator.reset();
    parentPort!.postMessage({ reset: true });
  } else if (message === "close") {
    emulator.close().then(() => parentPort!.close());
  }
});
