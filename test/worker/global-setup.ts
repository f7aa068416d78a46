import type { TestProject } from "vitest/node";
import { startImageServer } from "../support/image-server.ts";
import { startOllamaEmulator } from "../support/ollama-emulator.ts";

/** One emulator (and image host) for all Worker tests; each test resets the emulator through its control routes. */
export default async function setup(project: TestProject) {
  const emulator = await startOllamaEmulator({ host: "127.0.0.1", port: 0 });
  const images = await startImageServer();
  project.provide("emulatorPort", emulator.port);
  project.provide("imageServerUrl", images.url);
  return async () => {
    await Promise.all([emulator.close(), images.close()]);
  };
}
