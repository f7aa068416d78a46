import type { TestProject } from "vitest/node";
import { startImageServer } from "../../tools/image-server.ts";
import { startLlamaEmulator } from "../../tools/llama-emulator.ts";
import { DEFAULT_MODELS, startOllamaEmulator } from "../../tools/ollama-emulator.ts";

/**
 * One Ollama emulator (and image host) for all Worker tests; each test resets it through its control routes.
 * For the several-backends tests: a second Ollama with a different set of models and llama-server emulators.
 */
export default async function setup(project: TestProject) {
  // Servers with a 24–48 GiB GPU, whose Ollama defaults to a 32k num_ctx (the gateway is told so: OLLAMA_CONTEXT_LENGTH).
  const emulator = await startOllamaEmulator({ host: "127.0.0.1", port: 0, contextLength: 32768 });
  const secondModels = DEFAULT_MODELS.filter((model) => ["qwen3:8b", "nomic-embed-text:latest"].includes(model.name));
  const second = await startOllamaEmulator({
    host: "127.0.0.1",
    port: 0,
    contextLength: 32768,
    models: [...secondModels, { ...DEFAULT_MODELS[0]!, name: "phi4:14b", family: "phi3" }],
  });
  const llama = await startLlamaEmulator({ host: "127.0.0.1", port: 0, apiKey: "llama-secret", metrics: true });
  // llama-server started with --embeddings serves embeddings only: a second one, as people run it.
  const embedder = await startLlamaEmulator({ host: "127.0.0.1", port: 0, alias: "bge-m3", embeddings: true });
  // A thinking model under the name the first Ollama has it by: dialects on llama-server, failover across kinds.
  const thinker = await startLlamaEmulator({ host: "127.0.0.1", port: 0, alias: "qwen3:8b", thinking: true });
  const images = await startImageServer();
  project.provide("emulatorPort", emulator.port);
  project.provide("secondEmulatorUrl", second.url);
  project.provide("llamaEmulatorUrl", llama.url);
  project.provide("llamaEmbedderUrl", embedder.url);
  project.provide("llamaThinkerUrl", thinker.url);
  project.provide("imageServerUrl", images.url);
  return async () => {
    await Promise.all([emulator.close(), second.close(), llama.close(), embedder.close(), thinker.close(), images.close()]);
  };
}
