import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Batch } from "../../src/pipeline/coalesce.ts";

const text = new TextDecoder();
const START = 1_000_000;
const TIMING = { burstGapMs: 10, intervalMs: 15, maxIntervalMs: 50, maxBytes: 64 };

/** A batch whose sent chunks are recorded as text, with the fake time each one left at. */
function recorder() {
  const sent: Array<{ at: number; text: string }> = [];
  const batch = new Batch((bytes) => sent.push({ at: Date.now() - START, text: text.decode(bytes) }), TIMING);
  return { batch, sent };
}

/** A client that takes every chunk at once: it asks for the next one as soon as one is sent. */
function eagerClient() {
  const sent: Array<{ at: number; text: string }> = [];
  const batch: Batch = new Batch((bytes) => {
    sent.push({ at: Date.now() - START, text: text.decode(bytes) });
    queueMicrotask(() => batch.pull());
  }, TIMING);
  batch.pull();
  return { batch, sent };
}

describe("Batch: joining upstream pieces into chunks", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: START });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("passes tokens at a GPU's pace (20 ms apart) on one by one, the moment they come", async () => {
    const { batch, sent } = eagerClient();
    for (let i = 0; i < 6; i++) {
      batch.add(`t${i} `);
      await vi.advanceTimersByTimeAsync(20);
    }
    expect(sent).toEqual([0, 20, 40, 60, 80, 100].map((at, i) => ({ at, text: `t${i} ` })));
  });

  it("passes a jittered pace on at once too: a token 11 ms after the previous one is not a burst", async () => {
    const { batch, sent } = eagerClient();
    for (const gap of [20, 12, 25, 11, 30]) {
      batch.add("t");
      await vi.advanceTimersByTimeAsync(gap);
    }
    expect(sent.map((chunk) => chunk.at)).toEqual([0, 20, 32, 57, 68]);
  });

  it("sends the first piece at once and joins faster ones for the rest of the interval", async () => {
    const { batch, sent } = eagerClient();
    batch.add("first ");
    for (let i = 0; i < 5; i++) {
      await vi.advanceTimersByTimeAsync(2);
      batch.add(`${i}`);
    }
    expect(sent).toEqual([{ at: 0, text: "first " }]);
    await vi.advanceTimersByTimeAsync(5);
    expect(sent[1]).toEqual({ at: 15, text: "01234" });
  });

  it("lets the interval grow up to maxIntervalMs while pieces keep coming fast, and shrink back at a slower pace", async () => {
    const { batch, sent } = eagerClient();
    for (let t = 0; t < 300; t += 5) {
      batch.add("x");
      await vi.advanceTimersByTimeAsync(5);
    }
    const gaps = sent.slice(1).map((chunk, i) => chunk.at - sent[i]!.at);
    expect(gaps.slice(0, 4)).toEqual([15, 30, 50, 50]);
    await vi.advanceTimersByTimeAsync(100);
    expect(sent.map((chunk) => chunk.text).join("")).toBe("x".repeat(60));
    // Then 25 ms apart: each goes out as it comes.
    const before = sent.length;
    for (let i = 0; i < 4; i++) {
      batch.add("y");
      await vi.advanceTimersByTimeAsync(25);
    }
    expect(sent.slice(before).map((chunk) => chunk.text)).toEqual(["y", "y", "y", "y"]);
  });

  it("sends at the first read after the interval when the timer is late (a busy isolate)", () => {
    const { batch, sent } = recorder();
    batch.pull();
    batch.add("a");
    batch.pull();
    // The clock moves without the timers running, as when reads are queued ahead of the timer.
    for (let i = 1; i <= 4; i++) {
      vi.setSystemTime(START + 4 * i);
      batch.add("b");
    }
    expect(sent.map((s) => s.text)).toEqual(["a", "bbbb"]);
    expect(sent[1]!.at).toBe(16);
    vi.runAllTimers();
    expect(sent).toHaveLength(2);
  });

  it("gathers pieces while the client is still taking the previous chunk, and sends them when it asks", () => {
    const { batch, sent } = recorder();
    batch.add("one");
    vi.advanceTimersByTime(30);
    batch.add("two");
    vi.advanceTimersByTime(30);
    batch.add("three");
    expect(sent).toEqual([]);
    batch.pull();
    expect(sent.map((s) => s.text)).toEqual(["onetwothree"]);
  });

  it("sends at once when a chunk reaches its size limit, and on flush whatever it holds", () => {
    const { batch, sent } = recorder();
    batch.pull();
    batch.add("x");
    batch.add("y".repeat(40));
    batch.add("z".repeat(40));
    expect(sent.map((s) => s.text.length)).toEqual([1, 80]);
    batch.add("tail");
    batch.flush();
    expect(sent.at(-1)!.text).toBe("tail");
    batch.flush();
    expect(sent).toHaveLength(3);
  });

  it("keeps the order of the pieces, encoded once, and forgets everything on drop", () => {
    const { batch, sent } = recorder();
    batch.add("é");
    batch.add("→");
    batch.add("日本");
    batch.flush();
    expect(sent.map((s) => s.text)).toEqual(["é→日本"]);
    batch.add("lost");
    batch.drop();
    batch.flush();
    vi.advanceTimersByTime(100);
    expect(sent).toHaveLength(1);
  });
});
