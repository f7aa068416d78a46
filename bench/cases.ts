/**
 * The micro-benchmark cases: each a floor and our code over the same input. Web APIs only, so the same cases run
 * in Node (bench/micro.ts) and inside workerd (bench/workerd-micro.ts).
 */

import type { NativeChatChunk } from "../src/core/native.ts";
import { NdjsonDecoder } from "../src/core/ndjson.ts";
import { NdjsonSseTranslator, type SseLineEncoder } from "../src/core/stream.ts";
import { validate } from "../src/core/validate.ts";
import { ChatAggregator } from "../src/dialects/openai/chat/aggregate.ts";
import { toNativeChat } from "../src/dialects/openai/chat/request.ts";
import { chatRequestSchema } from "../src/dialects/openai/chat/schema.ts";
import { ChatSseEncoder } from "../src/dialects/openai/chat/stream.ts";
import type { CompletionMeta } from "../src/dialects/openai/common.ts";
import { CompletionsSseEncoder } from "../src/dialects/openai/completions/stream.ts";
import { ndjsonToSse } from "../tools/ndjson-to-sse.ts";
import { chatRequestBody, chatStream, generateStream, splitRandomly } from "./fixtures.ts";

export interface Runner {
  label: string;
  /** Units (tokens, or requests) processed per call. */
  perCall: number;
  call: () => Promise<unknown> | unknown;
}

export interface CaseDef {
  id: string;
  title: string;
  unit: "token" | "request";
  floor: Runner;
  ours: Runner;
  /** Our decoding and encoding called directly, without any stream: our code's own share. */
  core?: Runner;
}

export type SideName = "floor" | "ours" | "core";

const meta: CompletionMeta = { id: "chatcmpl-bench0123456789abcdef012", created: 1_795_000_000, model: "llama3.2", systemFingerprint: "fp_ollama_edge" };

/** A source that hands out the pieces one read at a time, as a network body does. */
export function source(pieces: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < pieces.length) controller.enqueue(pieces[next++]!);
      else controller.close();
    },
  });
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stream.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return bytes;
    bytes += value.byteLength;
  }
}

/** The floor of any streaming Worker that looks at its bytes: a TransformStream that forwards each chunk as is. */
function passThrough(): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      controller.enqueue(chunk);
    },
  });
}

const utf8 = new TextEncoder();

function streamCase(id: string, title: string, tokens: number, pieces: Uint8Array[], makeEncoder: () => SseLineEncoder<never>): CaseDef {
  return {
    id,
    title,
    unit: "token",
    floor: { label: "pass-through TransformStream", perCall: tokens, call: () => drain(source(pieces).pipeThrough(passThrough())) },
    ours: { label: "ndjsonToSse", perCall: tokens, call: () => drain(source(pieces).pipeThrough(ndjsonToSse(makeEncoder()))) },
    core: {
      label: "decoder + encoder, no streams (NdjsonSseTranslator, as the relay drives it)",
      perCall: tokens,
      call: () => {
        const translator = new NdjsonSseTranslator(makeEncoder());
        let bytes = 0;
        for (const piece of pieces) {
          const out = translator.push(piece);
          if (out !== "") bytes += utf8.encode(out).byteLength;
        }
        return bytes + utf8.encode(translator.end(null)).byteLength;
      },
    },
  };
}

/** Every case, over answers of `tokensPerStream` generated lines split at random byte boundaries (~1 line a read). */
export function microCases(tokensPerStream: number): CaseDef[] {
  const chat = chatStream(tokensPerStream);
  const chatPieces = splitRandomly(chat.bytes, Math.round(chat.bytes.length / chat.lines));
  const generate = generateStream(tokensPerStream);
  const generatePieces = splitRandomly(generate.bytes, Math.round(generate.bytes.length / generate.lines));
  const request = JSON.stringify(chatRequestBody());
  return [
    streamCase("chat-stream", "chat stream: NDJSON → SSE (`ndjsonToSse` + `ChatSseEncoder`)", chat.tokens, chatPieces, () => new ChatSseEncoder(meta, false)),
    streamCase(
      "completions-stream",
      "completions stream: NDJSON → SSE (`CompletionsSseEncoder`)",
      generate.tokens,
      generatePieces,
      () => new CompletionsSseEncoder(meta, { includeUsage: false, echo: "", logprobs: false }),
    ),
    {
      id: "aggregate",
      title: "non-stream: NDJSON → one `chat.completion` (`NdjsonDecoder` + `ChatAggregator`)",
      unit: "token",
      floor: { label: "read the body, count bytes", perCall: chat.tokens, call: () => drain(source(chatPieces)) },
      ours: {
        label: "NdjsonDecoder + ChatAggregator + JSON body",
        perCall: chat.tokens,
        call: async () => {
          // As aggregateAnswer does it: read, decode lines, aggregate; then the JSON response body.
          const reader = source(chatPieces).getReader();
          const decoder = new NdjsonDecoder<NativeChatChunk>();
          const aggregator = new ChatAggregator(meta, false);
          const onLine = (value: NativeChatChunk) => aggregator.line(value);
          while (!aggregator.done) {
            const { done, value } = await reader.read();
            if (done) {
              decoder.flush(onLine);
              break;
            }
            decoder.push(value, onLine);
          }
          return JSON.stringify(aggregator.result()).length;
        },
      },
    },
    {
      id: "request",
      title: `request translation (${request.length} B agent request: \`validate(chatRequestSchema)\` + \`toNativeChat\`)`,
      unit: "request",
      floor: { label: "JSON.parse + JSON.stringify", perCall: 1, call: () => JSON.stringify(JSON.parse(request)).length },
      ours: {
        label: "parse + validate + toNativeChat + stringify",
        perCall: 1,
        call: () => JSON.stringify(toNativeChat(validate(chatRequestSchema, JSON.parse(request)), { model: "llama3.2:latest" })).length,
      },
    },
  ];
}

/** The benchmark must measure a working transform: the random split gives exactly the unsplit output. */
export async function selfCheck(tokensPerStream: number): Promise<void> {
  const chat = chatStream(tokensPerStream);
  const pieces = splitRandomly(chat.bytes, Math.round(chat.bytes.length / chat.lines));
  const text = async (parts: Uint8Array[]) => {
    const reader = source(parts)
      .pipeThrough(ndjsonToSse(new ChatSseEncoder(meta, false)))
      .getReader();
    const decoder = new TextDecoder("utf-8", { fatal: true });
    let out = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return out;
      out += decoder.decode(value);
    }
  };
  const [split, whole] = await Promise.all([text(pieces), text([chat.bytes])]);
  if (split !== whole || !split.endsWith("data: [DONE]\n\n") || split.includes('"error"')) {
    throw new Error("micro self-check failed: the split stream does not translate to the same SSE as the whole stream");
  }
}
