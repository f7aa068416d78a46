import { expect } from "vitest";
import { ApiError, type ErrorBody } from "../../src/core/errors.ts";

/** Run `fn`, which must throw an ApiError; return its status and OpenAI envelope. */
export function failure(fn: () => unknown): { status: number; body: ErrorBody } {
  try {
    fn();
  } catch (error) {
    if (error instanceof ApiError) return { status: error.status, body: error.toBody() };
    throw error;
  }
  throw new Error("expected an ApiError");
}

/** Split SSE text into frames; every frame must be exactly `data: ...\n\n`. */
export function sseFrames(sse: string): unknown[] {
  expect(sse.endsWith("\n\n")).toBe(true);
  return sse
    .slice(0, -2)
    .split("\n\n")
    .map((frame) => {
      expect(frame.startsWith("data: ")).toBe(true);
      expect(frame.includes("\n")).toBe(false);
      const data = frame.slice("data: ".length);
      return data === "[DONE]" ? "[DONE]" : JSON.parse(data);
    });
}
