import { expect } from "vitest";
import { ApiError, type ErrorBody } from "../../src/core/errors.ts";
import type { NativeChatChunk, NativeToolCall } from "../../src/core/native.ts";

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

/** Native /api/chat lines as Ollama streams them, for the dialects' encoders and aggregators. */
const lineBase = { model: "qwen3", created_at: "2025-01-01T00:00:00Z" };
export const textLine = (content: string): NativeChatChunk => ({ ...lineBase, message: { role: "assistant", content }, done: false });
export const thinkLine = (thinking: string): NativeChatChunk => ({ ...lineBase, message: { role: "assistant", content: "", thinking }, done: false });
export const toolCallsLine = (...tool_calls: NativeToolCall[]): NativeChatChunk => ({
  ...lineBase,
  message: { role: "assistant", content: "", tool_calls },
  done: false,
});
/** The final line, with Ollama's counts. */
export const finalLine = (done_reason = "stop", prompt = 12, completion = 8): NativeChatChunk => ({
  ...lineBase,
  message: { role: "assistant", content: "" },
  done: true,
  done_reason,
  prompt_eval_count: prompt,
  eval_count: completion,
});
