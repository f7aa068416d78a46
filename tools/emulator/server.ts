// What both emulators' servers share: counting responses (open, aborted, completed), cutting a connection like a
// crash would, listening on loopback, and closing fast.
import type { Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { EmulatorStats } from "./types.ts";

export interface ResponseTracker {
  /** Count a response from start to close; `signal` fires when it ends either way, `drop` cuts the connection. */
  track(res: ServerResponse): { signal: AbortSignal; drop(): void };
  stats(): EmulatorStats;
  /** Start counting afresh: responses already under way no longer count. */
  reset(): void;
}

export function createResponseTracker(): ResponseTracker {
  const counters = { epoch: 0, aborted: 0, completed: 0, total: 0 };
  const open = new Set<ServerResponse>();
  return {
    track(res) {
      const epoch = counters.epoch;
      const gone = new AbortController();
      let dropped = false;
      counters.total++;
      open.add(res);
      // `close` fires both on completion and when the client leaves.
      res.on("close", () => {
        open.delete(res);
        gone.abort(); // stops pending timers and writes
        if (epoch !== counters.epoch) return;
        if (res.writableFinished) counters.completed++;
        else if (!dropped) counters.aborted++;
      });
      const drop = (): void => {
        dropped = true;
        const socket = res.socket;
        if (!socket) return;
        if (!res.headersSent) return void socket.destroy();
        // Mid-stream: let what was already written reach the client, then cut the connection without the
        // terminating chunk, as a crashed backend or a reset tunnel would.
        socket.end(() => socket.destroy());
      };
      return { signal: gone.signal, drop };
    },
    stats: () => ({ open: open.size, aborted: counters.aborted, completed: counters.completed, total: counters.total }),
    reset() {
      Object.assign(counters, { epoch: counters.epoch + 1, aborted: 0, completed: 0, total: 0 });
    },
  };
}

/** Listen (port 0 = any free one) and report the URL. */
export function listen(server: Server, port: number, host: string): Promise<{ url: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const { address, port: bound } = server.address() as AddressInfo;
      resolve({ url: `http://${address.includes(":") ? `[${address}]` : address}:${bound}`, port: bound });
    });
  });
}

/** Close, ending stalled streams too, so tests finish quickly. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
