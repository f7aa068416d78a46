/**
 * A loopback TCP forwarder that stands in for the tunnel between the gateway and Ollama, with an off switch.
 * `down()` stops listening and cuts every open connection, so the next connection attempt is refused (the home
 * machine asleep, cloudflared stopped); `up()` listens again on the same port. Bytes pass through untouched, and
 * closing either side closes the other, so a client abort still reaches the emulator.
 */
import { connect, createServer, type Server, type Socket } from "node:net";

export interface TcpSwitch {
  /** http://127.0.0.1:<port>: use as OLLAMA_URL. */
  url: string;
  port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpSwitch(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpSwitch> {
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((client) => {
        const upstream = connect(targetPort, targetHost);
        sockets.add(client);
        sockets.add(upstream);
        const cut = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on("close", () => {
          sockets.delete(client);
          upstream.destroy();
        });
        upstream.on("close", () => {
          sockets.delete(upstream);
          // let what the upstream already sent reach the client, then close
          client.end(() => client.destroy());
        });
        client.on("error", cut);
        upstream.on("error", cut);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => {
        next.off("error", reject);
        server = next;
        const address = next.address();
        if (typeof address === "object" && address) port = address.port;
        resolve();
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      const current = server;
      server = null;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!current) return resolve();
      current.close(() => resolve());
    });

  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    down: stop,
    up: () => (server ? Promise.resolve() : listen()),
    close: stop,
  };
}
