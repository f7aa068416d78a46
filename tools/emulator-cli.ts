/**
 * What the emulators' command lines share: parse the arguments (a usage error exits 2), start, print exactly one
 * line "<name> listening on <url>" once connections are accepted, and close cleanly on SIGINT or SIGTERM.
 */
export function runEmulatorCli<Options>(
  name: string,
  usage: string,
  parseArgs: (argv: string[]) => Options,
  start: (options: Options) => Promise<{ url: string; close(): Promise<void> }>,
): void {
  const main = async (): Promise<void> => {
    let options: Options;
    try {
      options = parseArgs(process.argv.slice(2));
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n${usage}\n`);
      process.exit(2);
    }
    const emulator = await start(options);
    process.stdout.write(`${name} listening on ${emulator.url}\n`);
    const stop = (): void => {
      emulator.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  };
  main().catch((error: unknown) => {
    process.stderr.write(`${name} failed: ${String(error)}\n`);
    process.exit(1);
  });
}
