// CLI: npx node tools/llama-emulator-main.ts [--port N] [--host 127.0.0.1] [--alias NAME] [--api-key KEY]
//   [--token-delay-ms N] [--embeddings] [--no-slots] [--metrics] [--parallel N] [--loading-ms N] [--thinking]
// Prints exactly one line, "llama-emulator listening on <url>", once it accepts connections.

import { runEmulatorCli } from "./emulator-cli.ts";
import type { LlamaEmulatorOptions } from "./llama-emulator.ts";
import { startLlamaEmulator } from "./llama-emulator.ts";

const USAGE =
  "usage: llama-emulator-main.ts [--port N] [--host 127.0.0.1] [--alias NAME] [--api-key KEY] [--token-delay-ms N]" +
  " [--embeddings] [--slots|--no-slots] [--metrics] [--parallel N] [--loading-ms N] [--thinking]";

// Flags without a value, with llama-server's spellings (--thinking is the emulator's: a thinking model).
const SWITCHES: Record<string, (o: LlamaEmulatorOptions) => void> = {
  "--embeddings": (o) => void (o.embeddings = true),
  "--embedding": (o) => void (o.embeddings = true),
  "--slots": (o) => void (o.slots = true),
  "--no-slots": (o) => void (o.slots = false),
  "--metrics": (o) => void (o.metrics = true),
  "--thinking": (o) => void (o.thinking = true),
};
const VALUED = ["--port", "--host", "--alias", "-a", "--api-key", "--token-delay-ms", "--parallel", "-np", "--loading-ms"];

function parseArgs(argv: string[]): LlamaEmulatorOptions {
  // Default to llama-server's own port so the emulator is a drop-in; tests pass --port 0.
  const options: LlamaEmulatorOptions = { port: 8080, host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i++) {
    const [flag = "", inline] = (argv[i] ?? "").split(/=(.*)/s);
    const toggle = SWITCHES[flag];
    if (toggle && inline === undefined) {
      toggle(options);
      continue;
    }
    if (!VALUED.includes(flag)) throw new Error(`unknown option ${flag}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`missing value for ${flag}`);
    const count = (min: number): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < min) throw new Error(`${flag} needs an integer >= ${min}, got ${value}`);
      return n;
    };
    if (flag === "--port") options.port = count(0);
    else if (flag === "--host") options.host = value;
    else if (flag === "--alias" || flag === "-a") options.alias = value;
    else if (flag === "--api-key") options.apiKey = value;
    else if (flag === "--token-delay-ms") options.tokenDelayMs = count(0);
    else if (flag === "--parallel" || flag === "-np") options.parallel = count(1);
    else options.loadingMs = count(0);
  }
  return options;
}

runEmulatorCli("llama-emulator", USAGE, parseArgs, startLlamaEmulator);
