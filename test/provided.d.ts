// Values the global setups hand to tests through vitest's provide/inject.
import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    emulatorPort: number;
    gatewayUrl: string;
    emulatorUrl: string;
    imageServerUrl: string;
    apiKey: string;
    secondEmulatorUrl: string;
    llamaEmulatorUrl: string;
    llamaEmbedderUrl: string;
    llamaThinkerUrl: string;
  }
}
