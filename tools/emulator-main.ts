// CLI: npx node tools/emulator-main.ts [--port N] [--host 127.0.0.1] [--token-delay-ms N]
// Prints exactly one line, "ollama-emulator listening on <url>", once it accepts connections.

import { runEmulatorCli } from "./emulator-cli.ts";
import type { EmulatorOptions } from "./ollama-emulator.ts";
import { startOllamaEmulator } from "./ollama-emulator.ts";

const USAGE = "usage: emulator-main.ts [--port N] [--host 127.0.0.1] [--token-delay-ms N]";

function parseArgs(argv: string[]): EmulatorOptions {
  // Default to Ollama's own port so `npm run emulator` is a drop-in; tests pass --port 0.
  const options: EmulatorOptions = { port: 11434, host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i++) {
    const [flag = "", inline] = (argv[i] ?? "").split(/=(.*)/s);
    if (!["--port", "--host", "--token-delay-ms"].includes(flag)) throw new Error(`unknown option ${flag}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`missing value for ${flag}`);
    const count = (): number => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a non-negative integer, got ${value}`);
      return n;
    };
    if (flag === "--port") options.port = count();
    else if (flag === "--host") options.host = value;
    else options.tokenDelayMs = count();
  }
  return options;
}

runEmulatorCli("ollama-emulator", USAGE, parseArgs, startOllamaEmulator);
