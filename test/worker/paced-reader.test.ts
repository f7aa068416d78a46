import { describe, expect, it } from "vitest";
import { PacedReader } from "../../src/core/paced-reader.ts";

/**
 * The upstream reader in workerd itself (IdentityTransformStream and `readAtLeast` are the runtime's): what comes
 * fast is read in a few reads, what comes at a GPU's pace is returned line by line as it comes, nothing received is
 * lost when the connection breaks, and cancelling reaches the upstream.
 */

const WINDOW_MS = 15;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const line = (i: number) =>
  `${JSON.stringify({ model: "llama3.2", created_at: "2026-12-05T08:00:00.000000000Z", message: { role: "assistant", content: ` word${i}` }, done: false })}\n`;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** An upstream body fed by `feed`, one chunk per line, as Ollama flushes each token. */
function upstream(feed: (controller: ReadableStreamDefaultController<Uint8Array>) => Promise<void> | void, onCancel?: (reason: unknown) => void) {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      void Promise.resolve(feed(controller)).catch((error: unknown) => controller.error(error));
    },
    cancel(reason) {
      onCancel?.(reason);
    },
  });
}

/** Every read until the end: the text of each, in order. */
async function readAll(reader: PacedReader): Promise<string[]> {
  const reads: string[] = [];
  for (let bytes = await reader.read(); bytes !== null; bytes = await reader.read()) reads.push(decoder.decode(bytes));
  return reads;
}

describe("PacedReader", () => {
  it("reads an answer that comes at full speed in far fewer reads than lines, every byte in order", async () => {
    const lines = Array.from({ length: 500 }, (_, i) => line(i));
    const reader = new PacedReader(
      upstream((controller) => {
        for (const text of lines) controller.enqueue(encoder.encode(text));
        controller.close();
      }),
      WINDOW_MS,
    );
    const reads = await readAll(reader);
    expect(reads.join("")).toBe(lines.join(""));
    // One read per line would be 500; the first reads stay small (the average runs over four windows).
    expect(reads.length).toBeLessThan(60);
    expect(reads[0]).toBe(lines[0]);
  });

  it("returns each line as it comes when lines come at a GPU's pace, one read per line", async () => {
    const lines = Array.from({ length: 8 }, (_, i) => line(i));
    let sent = 0;
    const reader = new PacedReader(
      upstream(async (controller) => {
        for (const text of lines) {
          controller.enqueue(encoder.encode(text));
          sent++;
          await sleep(25);
        }
        controller.close();
      }),
      WINDOW_MS,
    );
    for (const [i, text] of lines.entries()) {
      const bytes = await reader.read();
      expect(decoder.decode(bytes!)).toBe(text);
      // Returned before the next line was even sent: nothing waited for company.
      expect(sent).toBe(i + 1);
    }
    expect(await reader.read()).toBeNull();
  });

  it("returns a first line at once, with nothing after it yet", async () => {
    const reader = new PacedReader(
      upstream((controller) => controller.enqueue(encoder.encode(line(0)))),
      WINDOW_MS,
    );
    const first = await Promise.race([reader.read(), sleep(500).then(() => "held")]);
    expect(first).not.toBe("held");
    expect(decoder.decode(first as Uint8Array)).toBe(line(0));
    reader.cancel();
  });

  it("a connection that breaks midway: every byte received comes out, then the failure is thrown", async () => {
    const lines = Array.from({ length: 50 }, (_, i) => line(i));
    const broken = new Error("Network connection lost.");
    const reader = new PacedReader(
      upstream(async (controller) => {
        for (const text of lines) controller.enqueue(encoder.encode(text));
        await sleep(5);
        controller.error(broken);
      }),
      WINDOW_MS,
    );
    let text = "";
    let failure: unknown = null;
    try {
      for (let bytes = await reader.read(); bytes !== null; bytes = await reader.read()) text += decoder.decode(bytes);
    } catch (error) {
      failure = error;
    }
    expect(text).toBe(lines.join(""));
    expect(failure).toBe(broken);
  });

  it("a fast burst then a stall: what a pending read holds comes out when the upstream is ended", async () => {
    const lines = Array.from({ length: 40 }, (_, i) => line(i));
    let fail!: (error: unknown) => void;
    const reader = new PacedReader(
      upstream(async (controller) => {
        for (const text of lines) controller.enqueue(encoder.encode(text));
        // The stall: nothing more until the watchdog gives up and the call is aborted.
        await new Promise((_, reject) => (fail = reject));
      }),
      WINDOW_MS,
    );
    let text = "";
    const reading = (async () => {
      for (let bytes = await reader.read(); bytes !== null; bytes = await reader.read()) text += decoder.decode(bytes);
    })();
    await sleep(50);
    const stalled = new Error("stalled");
    fail(stalled);
    await expect(reading).rejects.toBe(stalled);
    expect(text).toBe(lines.join(""));
  });

  it.each([
    ["while reading chunk by chunk", 1],
    ["once piped (after a fast burst)", 200],
  ])("cancel reaches the upstream body %s", async (_when, lines) => {
    let cancelled = false;
    const reader = new PacedReader(
      upstream(
        (controller) => {
          for (let i = 0; i < lines; i++) controller.enqueue(encoder.encode(line(i)));
        },
        () => {
          cancelled = true;
        },
      ),
      WINDOW_MS,
    );
    // Read part of it (a pending read may hold up to a window's bytes), then leave with a read outstanding.
    let text = "";
    while (text.length < Math.ceil(lines / 2) * line(0).length) text += decoder.decode((await reader.read())!);
    const pending = reader.read().catch(() => null);
    reader.cancel();
    await expect.poll(() => cancelled).toBe(true);
    await pending;
  });
});
