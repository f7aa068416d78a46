/**
 * An independent suite that replays real Claude Code requests, captured from Claude Code 2.1.332 talking to the
 * gateway (test/fixtures/claude-code/), with its headers, its `?beta=true` path, its 87 KB prompt and a dozen tools:
 * the answer it gets, and what the backend is asked.
 */
import { beforeEach, describe, expect, it } from "vitest";
import continuedTurn from "../fixtures/claude-code/continued-turn.json";
import firstTurn from "../fixtures/claude-code/first-turn.json";
import { emulator, gatewayWith, namedFrames, testKey } from "./helpers.ts";

beforeEach(() => emulator.reset());

interface Fixture {
  url: string;
  headers: Record<string, string>;
  body: { model: string; tools: { name: string }[]; messages: unknown[] };
}

interface Frame {
  event: string;
  data: any;
}

const CLAUDE = { MODEL_ALIASES: JSON.stringify({ "claude-*": "qwen3:8b" }) };
/** qwen3:8b's whole trained window: Claude Code's prompt (about 30,000 tokens by the gateway's estimate) fits it. */
const WINDOW = { ...CLAUDE, MODEL_DEFAULTS: JSON.stringify({ "claude-*": { options: { num_ctx: 40960 } } }) };
/** Ollama's default window on a small GPU. */
const SMALL = { ...CLAUDE, MODEL_DEFAULTS: JSON.stringify({ "claude-*": { options: { num_ctx: 4096 } } }) };
const TOOLS = [
  "Agent",
  "Bash",
  "Edit",
  "ListAgents",
  "Read",
  "ReportFindings",
  "ScheduleWakeup",
  "Skill",
  "ToolSearch",
  "Workflow",
  "DeferredToolPlaceholder",
  "Write",
];

async function replay(fixture: Fixture, vars: Record<string, string>, auth: Record<string, string>): Promise<Frame[]> {
  const res = await gatewayWith(vars, fixture.url, { method: "POST", headers: { ...fixture.headers, ...auth }, body: JSON.stringify(fixture.body) });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
  const { comments, events } = await namedFrames(res);
  expect(comments).toBe(0);
  return events;
}

const chat = async () => (await emulator.requests("/api/chat"))[0]!.body;

describe("replayed Claude Code requests", () => {
  it("a first turn (x-api-key, claude-sonnet-4-5, thinking enabled): thinking, then the tool it named, with the whole prompt kept", async () => {
    expect(firstTurn.body.tools.map((tool) => tool.name)).toStrictEqual(TOOLS);
    const key = await testKey();
    const all = await replay(firstTurn, WINDOW, { authorization: "", "x-api-key": key });
    expect(all.map((frame) => frame.event).filter((event, i, list) => event !== list[i - 1])).toStrictEqual([
      "message_start",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "content_block_start",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(all[0]!.data.message.model).toBe("claude-sonnet-4-5");
    const tool = all.find((frame) => frame.event === "content_block_start" && frame.data.content_block.type === "tool_use")!;
    expect(tool.data.content_block).toMatchObject({ type: "tool_use", name: "Read", input: {} });
    const input = all.find((frame) => frame.data.delta?.type === "input_json_delta")!.data.delta.partial_json;
    expect(JSON.parse(input)).toMatchObject({ file_path: "text" });
    const end = all.at(-2)!.data;
    expect(end.delta).toStrictEqual({ stop_reason: "tool_use", stop_sequence: null });
    // The prompt as the emulator counts it (a word a token, one more a message, the tools' JSON): all of it.
    expect(end.usage.input_tokens).toBe(12588);

    const native = await chat();
    expect(native.model).toBe("qwen3:8b");
    expect(native.think).toBe(true);
    expect(native.options).toStrictEqual({ num_ctx: 40960, num_predict: 8192 });
    expect(native.messages.map((message: { role: string }) => message.role)).toStrictEqual(["system", "user"]);
    expect(native.messages[0].content).toMatch(/^x-anthropic-billing-header: .*\nYou are a Claude agent/);
    expect(native.messages[1].content).toMatch(/^<system-reminder>[\s\S]*\nuse Read to look at the notes$/);
    expect(native.tools.map((entry: { function: { name: string } }) => entry.function.name)).toStrictEqual(TOOLS);
  });

  it("the same turn in Ollama's default 4096-token window: refused in Anthropic's words, instead of cut silently by Ollama", async () => {
    const res = await gatewayWith(SMALL, firstTurn.url, { method: "POST", headers: firstTurn.headers, body: JSON.stringify(firstTurn.body) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toMatch(/^prompt is too long: \d+ tokens > 4096 maximum$/);
    expect(await emulator.requests("/api/chat")).toEqual([]);
  });

  it("a continued turn (Bearer, the default model: adaptive thinking, effort medium, system messages amid the turns)", async () => {
    const all = await replay(continuedTurn, WINDOW, {});
    const text = all
      .filter((frame) => frame.data.delta?.type === "text_delta")
      .map((frame) => frame.data.delta.text)
      .join("");
    expect(text).toMatch(/^Hello! You said: <system-reminder>[\s\S]*\nand now a second turn$/);
    expect(all.at(-2)!.data).toStrictEqual({
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { input_tokens: 12806, output_tokens: expect.any(Number) },
    });
    const native = await chat();
    expect(native.think).toBe("medium");
    expect(native.options).toStrictEqual({ num_ctx: 40960, num_predict: 8192 });
    expect(native.messages.map((message: { role: string }) => message.role)).toStrictEqual([
      "system",
      "user",
      "system",
      "assistant",
      "tool",
      "system",
      "assistant",
      "user",
      "system",
    ]);
    const [call] = native.messages[3].tool_calls;
    expect(call.function.name).toBe("Read");
    expect(native.messages[4]).toMatchObject({ role: "tool", tool_name: "Read", tool_call_id: call.id });
    expect(native.messages[4].content).toMatch(/^Error: <tool_use_error>/);
  });
});
