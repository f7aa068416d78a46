import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Batch } from "../../src/pipeline/coalesce.ts";

const text = new TextDecoder();
const TIMING = { burstGapMs: 5, holdMs: 20, maxBytes: 64 };

/** A batch whose sent chunks are recorded as text, with the fake time each one left at. */
function recorder() {
  const sent: Array<{ at: number; text: string }> = [];
  const batch = new Batch((bytes) => sent.push({ at: Date.now(), text: text.decode(bytes) }), TIMING);
  return { batch, sent };
}

describe("Batch: joining upstream pieces into chunks", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends pieces at a GPU's pace one by one, the moment they come, when the client is waiting", () => {
    const { batch, sent } = recorder();
    for (let i = 0; i < 5; i++) {
      batch.pull();
      batch.add(`t${i} `);
      vi.advanceTimersByTime(20);
    }
    expect(sent.map((s) => s.text)).toEqual(["t0 ", "t1 ", "t2 ", "t3 ", "t4 "]);
    expect(sent.map((s) => s.at - 1_000_000)).toEqual([0, 20, 40, 60, 80]);
  });

  it("never holds the first piece, then joins a burst and sends it within the hold", () => {
    const { batch, sent } = recorder();
    batch.pull();
    batch.add("first");
    expect(sent).toEqual([{ at: 1_000_000, text: "first" }]);
    batch.pull();
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(1);
      batch.add(`${i}`);
    }
    // Held: the burst started 1 ms after the first piece.
    expect(sent).toHaveLength(1);
    vi.advanceTimersByTime(20);
    expect(sent[1]).toEqual({ at: 1_000_000 + 1 + 20, text: "0123456789" });
  });

  it("sends a burst at the first read after the hold, when its timer is late (a busy isolate)", () => {
    const { batch, sent } = recorder();
    batch.add("a");
    batch.pull();
    // "a" went out when the client asked, and it asks again; the next pieces come 4 ms apart: a burst. The clock moves
    // without the timers running, as when reads are queued ahead of the timer.
    batch.pull();
    for (let i = 1; i <= 6; i++) {
      vi.setSystemTime(1_000_000 + 4 * i);
      batch.add("b");
    }
    expect(sent.map((s) => s.text)).toEqual(["a", "bbbbbb"]);
    expect(sent[1]!.at - 1_000_000).toBe(24);
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

  it("keeps the order of text and byte pieces, and forgets everything on drop", () => {
    const { batch, sent } = recorder();
    batch.add("é");
    batch.add(new TextEncoder().encode("→"));
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
