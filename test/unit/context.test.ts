/**
 * Context windows, the pure part: the prompt estimate against a real tokenizer (Llama 3's, the family most Ollama
 * models share a vocabulary shape with) on a corpus of prose, code, CJK and JSON tool schemas, and the rules for
 * dropping the oldest turns.
 */
import { readFileSync } from "node:fs";
import llama3Tokenizer from "llama3-tokenizer-js";
import { describe, expect, it } from "vitest";
import { dropOldestTurns, estimatePromptTokens } from "../../src/core/context.ts";
import type { NativeChatRequest, NativeMessage } from "../../src/core/native.ts";

const tokens = (text: string) => llama3Tokenizer.encode(text, { bos: false, eos: false }).length;
/** The estimate of one text alone: a one-message request less the request's and the message's fixed overheads. */
const textEstimate = (text: string) =>
  estimatePromptTokens({ model: "m", stream: true, messages: [{ role: "user", content: text }] }) -
  estimatePromptTokens({ model: "m", stream: true, messages: [{ role: "user", content: "" }] });

function chunks(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

const codex = JSON.parse(readFileSync("test/fixtures/codex-0.171.0/first-turn.json", "utf8"));
const CORPUS: Record<string, string[]> = {
  // A snapshot of this project's README (prose, markdown, some tables of figures), so the corpus does not move.
  "prose (a README: text, some tables of figures)": chunks(readFileSync("test/fixtures/estimate-corpus/prose.md", "utf8"), 2000),
  "agent prompt (Codex CLI's instructions)": chunks(codex.body.input[0].content[0].text, 2000),
  "code (TypeScript)": ["src/pipeline/generation.ts", "src/core/context.ts", "src/backends/catalog.ts"].flatMap((file) =>
    chunks(readFileSync(file, "utf8"), 2000),
  ),
  "CJK (Chinese, Japanese, Korean)": chunks(readFileSync("test/fixtures/cjk.txt", "utf8"), 200),
  "JSON tool schemas (Codex CLI's tools)": chunks(JSON.stringify(codex.body.tools), 2000),
};

describe("the prompt estimate, against Llama 3's tokenizer", () => {
  for (const [kind, samples] of Object.entries(CORPUS)) {
    it(`${kind}: never more than 25% under the real count, and over it on average`, () => {
      const ratios = samples.map((text) => tokens(text) / textEstimate(text));
      // The README's "Context windows" quotes these figures; the worst case is a table of numbers.
      expect(Math.max(...ratios)).toBeLessThanOrEqual(1.25);
      expect(ratios.reduce((sum, ratio) => sum + ratio, 0) / ratios.length).toBeLessThan(1);
    });
  }

  it("counts images, tool calls and tool schemas", () => {
    const base: NativeChatRequest = { model: "m", stream: true, messages: [{ role: "user", content: "hi" }] };
    const withImage = { ...base, messages: [{ role: "user" as const, content: "hi", images: ["aGk="] }] };
    expect(estimatePromptTokens(withImage) - estimatePromptTokens(base)).toBe(768);
    const tools = [{ type: "function" as const, function: { name: "look", parameters: { type: "object", properties: { q: { type: "string" } } } } }];
    expect(estimatePromptTokens({ ...base, tools })).toBeGreaterThan(estimatePromptTokens(base) + 20);
    const call: NativeMessage = { role: "assistant", content: "", tool_calls: [{ function: { name: "look", arguments: { q: "x".repeat(300) } } }] };
    expect(estimatePromptTokens({ ...base, messages: [...base.messages, call] })).toBeGreaterThan(estimatePromptTokens(base) + 100);
  });
});

describe("dropping the oldest turns", () => {
  const m = (role: NativeMessage["role"], content: string, extra: Partial<NativeMessage> = {}): NativeMessage => ({ role, content, ...extra });
  const conversation: NativeMessage[] = [
    m("system", "sys"),
    m("user", "u1"),
    m("assistant", "", { tool_calls: [{ function: { name: "f", arguments: {} } }] }),
    m("tool", "r1", { tool_name: "f" }),
    m("assistant", "a1"),
    m("system", "mid-conversation rule"),
    m("user", "u2"),
    m("assistant", "a2"),
    m("user", "u3"),
    m("assistant", "", { tool_calls: [{ function: { name: "f", arguments: {} } }] }),
    m("tool", "r3", { tool_name: "f" }),
  ];
  const contents = (messages: NativeMessage[]) => messages.map((message) => message.content || message.role);

  it("drops whole turns, oldest first, keeping every system message and the last user turn with its tool round", () => {
    let calls = 0;
    const one = dropOldestTurns(conversation, (messages) => ++calls > 1 && messages.length > 0);
    expect(one!.dropped).toBe(1);
    expect(contents(one!.messages)).toEqual(["sys", "mid-conversation rule", "u2", "a2", "u3", "assistant", "r3"]);
    const all = dropOldestTurns(conversation, (messages) => messages.length <= 5);
    expect(all!.dropped).toBe(2);
    expect(contents(all!.messages)).toEqual(["sys", "mid-conversation rule", "u3", "assistant", "r3"]);
  });

  it("nothing to drop when it fits; null when even the kept messages do not fit", () => {
    expect(dropOldestTurns(conversation, () => true)).toEqual({ messages: conversation, dropped: 0 });
    expect(dropOldestTurns(conversation, () => false)).toBeNull();
  });

  it("an assistant greeting before the first user message is a turn of its own", () => {
    const greeted = [m("system", "sys"), m("assistant", "hello"), m("user", "u1"), m("user", "u2")];
    const trimmed = dropOldestTurns(greeted, (messages) => messages.length <= 3);
    expect(contents(trimmed!.messages)).toEqual(["sys", "u1", "u2"]);
  });
});
