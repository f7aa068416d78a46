/**
 * Inputs for the benchmarks: realistic Ollama NDJSON streams (content tokens, thinking, tool calls, the metrics
 * trailer), split at random byte boundaries like network reads, and realistic OpenAI request bodies. Everything is
 * generated from a seeded PRNG, so every run measures the same bytes.
 */
import { mulberry32 as rng } from "../tools/random.ts";

/**
 * What a model emits, one token per entry, each with its leading space the way Llama-style tokenizers do. Mostly
 * ASCII words, with the characters that make JSON escaping and UTF-8 decoding do real work: quotes, backslashes,
 * newlines, accented letters, CJK and emoji (4-byte UTF-8, surrogate pairs in JS).
 */
const VOCABULARY = [
  " the",
  " of",
  " and",
  " to",
  " a",
  " in",
  " is",
  " that",
  " for",
  " it",
  " with",
  " as",
  " on",
  " be",
  " this",
  " model",
  " request",
  " gateway",
  " stream",
  " token",
  " answer",
  " tunnel",
  " worker",
  " latency",
  " function",
  ",",
  ".",
  ":",
  " (",
  ")",
  " 1",
  "0",
  "2",
  "4",
  " %",
  "\n",
  "\n\n",
  "-",
  " **",
  "**",
  " `",
  "`",
  ' "quoted"',
  " C:\\path",
  " café",
  " naïve",
  " über",
  " 日本",
  "語",
  " 🙂",
  " 🚀",
  " —",
  "’s",
  "\n```ts\n",
  "const",
  " x",
  " =",
  " {",
  " }",
  ";\n",
  "```\n",
];

const CREATED_AT = "2026-11-28T14:38:31.6104529Z";
const MODEL = "llama3.2";

export interface StreamFixture {
  /** The whole NDJSON body. */
  bytes: Uint8Array;
  /** Lines that carry generated output (content, thinking or a tool call): what "per token" divides by. */
  tokens: number;
  lines: number;
}

function tokenText(random: () => number): string {
  return VOCABULARY[Math.floor(random() * VOCABULARY.length)]!;
}

/** Metrics as Ollama sends them on the final line. */
function metrics(promptCount: number, evalCount: number): string {
  return (
    `"total_duration":${5_123_456_789 + evalCount},"load_duration":25123456,"prompt_eval_count":${promptCount},` +
    `"prompt_eval_duration":123456789,"eval_count":${evalCount},"eval_duration":${evalCount * 19_876_543}`
  );
}

/**
 * A /api/chat stream: `tokens` generated lines of which ~10 % thinking (first, as thinking models do), one tool-call
 * line per 250 tokens (at least one), the rest content; then the done line with metrics.
 */
export function chatStream(tokens: number, seed = 1): StreamFixture {
  const random = rng(seed);
  const thinking = Math.floor(tokens / 10);
  const toolCalls = Math.max(1, Math.floor(tokens / 250));
  const content = tokens - thinking - toolCalls;
  const toolEvery = Math.max(1, Math.floor(content / toolCalls));
  const lines: string[] = [];
  const line = (message: string) => `{"model":"${MODEL}","created_at":"${CREATED_AT}","message":{"role":"assistant",${message}},"done":false}`;
  for (let i = 0; i < thinking; i++) lines.push(line(`"content":"","thinking":${JSON.stringify(tokenText(random))}`));
  let calls = 0;
  for (let i = 0; i < content; i++) {
    lines.push(line(`"content":${JSON.stringify(tokenText(random))}`));
    if (calls < toolCalls && (i + 1) % toolEvery === 0) {
      const call = {
        id: `call_${(calls + 1).toString(36).padStart(8, "x")}`,
        function: { index: calls, name: "get_weather", arguments: { city: "Paris", unit: "celsius", days: 3 } },
      };
      lines.push(line(`"content":"","tool_calls":[${JSON.stringify(call)}]`));
      calls++;
    }
  }
  while (calls < toolCalls) {
    lines.push(
      line(`"content":"","tool_calls":[${JSON.stringify({ id: `call_extra${calls}`, function: { index: calls, name: "get_time", arguments: {} } })}]`),
    );
    calls++;
  }
  lines.push(
    `{"model":"${MODEL}","created_at":"${CREATED_AT}","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,${metrics(42, tokens)}}`,
  );
  return { bytes: new TextEncoder().encode(`${lines.join("\n")}\n`), tokens, lines: lines.length };
}

/** A /api/generate stream: ~10 % thinking lines, then `response` tokens, then the done line with context and metrics. */
export function generateStream(tokens: number, seed = 2): StreamFixture {
  const random = rng(seed);
  const thinking = Math.floor(tokens / 10);
  const lines: string[] = [];
  const line = (fields: string) => `{"model":"${MODEL}","created_at":"${CREATED_AT}",${fields},"done":false}`;
  for (let i = 0; i < thinking; i++) lines.push(line(`"response":"","thinking":${JSON.stringify(tokenText(random))}`));
  for (let i = thinking; i < tokens; i++) lines.push(line(`"response":${JSON.stringify(tokenText(random))}`));
  lines.push(
    `{"model":"${MODEL}","created_at":"${CREATED_AT}","response":"","done":true,"done_reason":"stop","context":[128006,882,128007,271,9906],${metrics(42, tokens)}}`,
  );
  return { bytes: new TextEncoder().encode(`${lines.join("\n")}\n`), tokens, lines: lines.length };
}

/**
 * Cut `bytes` at random boundaries, each piece 1..2×`meanPiece` bytes long (so about `meanPiece` on average):
 * lines and multi-byte characters are split anywhere, as network reads split them.
 */
export function splitRandomly(bytes: Uint8Array, meanPiece: number, seed = 3): Uint8Array[] {
  const random = rng(seed);
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + Math.floor(random() * 2 * meanPiece);
    pieces.push(bytes.slice(at, at + size));
    at += size;
  }
  return pieces;
}

/** `n` words of plain text (for the emulator, which answers `Hello! You said: <text>`, one word a token). */
export function words(n: number, seed = 4): string {
  const random = rng(seed);
  const pool = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "café",
    "日本",
  ];
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(pool[Math.floor(random() * pool.length)]!);
  return out.join(" ");
}

/**
 * A realistic agent-style chat request: system prompt, an earlier turn with a tool call and its result, a new user
 * question of ~120 words, two tools with JSON schemas, sampling fields and stream options.
 */
export function chatRequestBody(): Record<string, unknown> {
  const weatherTool = {
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather and a short forecast for a city.",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string", description: "City name, e.g. Paris" },
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
          days: { type: "integer", minimum: 1, maximum: 7 },
        },
        required: ["city"],
      },
    },
  };
  const searchTool = {
    type: "function",
    function: {
      name: "search_docs",
      description: "Full-text search over the team's documentation.",
      parameters: { type: "object", properties: { query: { type: "string" }, limit: { type: "integer" } }, required: ["query"] },
    },
  };
  return {
    model: "llama3.2",
    messages: [
      { role: "system", content: "You are a concise assistant for a small engineering team. Prefer short answers with code when useful." },
      { role: "user", content: "What's the weather in Paris for the next three days?" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_8f2k1m3n", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris","unit":"celsius","days":3}' } }],
      },
      { role: "tool", tool_call_id: "call_8f2k1m3n", content: '{"today":"12°C, light rain","tomorrow":"14°C, cloudy","after":"16°C, sunny"}' },
      { role: "assistant", content: "Paris: 12 °C with light rain today, 14 °C and cloudy tomorrow, 16 °C and sunny the day after." },
      { role: "user", content: [{ type: "text", text: words(120, 9) }] },
    ],
    tools: [weatherTool, searchTool],
    tool_choice: "auto",
    temperature: 0.7,
    top_p: 0.9,
    max_tokens: 512,
    stream: true,
    stream_options: { include_usage: true },
    user: "bench",
  };
}
