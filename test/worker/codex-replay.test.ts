/**
 * Real Codex CLI requests, replayed. The fixtures are what @openai/codex 0.171.0 sent (captured from `codex exec`
 * against a loopback recorder, test/fixtures/codex-0.171.0/): a first turn, and the next request of a tool round
 * (its reasoning item, its `exec_command` call and that call's output). Each is sent as it was, headers included,
 * and what the backend receives and what Codex gets back are checked — independently of the Codex binary.
 */
import { beforeEach, describe, expect, it } from "vitest";
import firstTurn from "../fixtures/codex-0.171.0/first-turn.json";
import toolRound from "../fixtures/codex-0.171.0/tool-round.json";
import { emulator, gatewayWith } from "./helpers.ts";

beforeEach(() => emulator.reset());

const VARS = { MODEL_ALIASES: JSON.stringify({ "gpt-5*": "qwen3:8b" }) };

async function replay(fixture: { headers: Record<string, string>; body: unknown }) {
  const res = await gatewayWith(VARS, "/v1/responses", { method: "POST", headers: fixture.headers, body: JSON.stringify(fixture.body) });
  const text = await res.text();
  const events = text
    .split("\n\n")
    .filter((block) => block.startsWith("event: "))
    .map((block) => block.split("\n")[0]!.slice("event: ".length));
  const [chat] = await emulator.requests("/api/chat");
  return { res, events, native: chat?.body };
}

/** The tool names the model should be offered: each function, each namespace's functions as `<ns>__<fn>`, no hosted tool. */
function offeredNames(tools: { type: string; name?: string; tools?: { name: string }[] }[]): string[] {
  return tools.flatMap((tool) =>
    tool.type === "function" ? [tool.name!] : tool.type === "namespace" ? tool.tools!.map((inner) => `${tool.name}__${inner.name}`) : [],
  );
}

describe("Codex CLI 0.171.0's requests, replayed", () => {
  it("a first turn: two developer messages become system messages in place, its function and namespace tools are offered, web_search is not", async () => {
    const { res, events, native } = await replay(firstTurn);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(events[0]).toBe("response.created");
    expect(events.at(-1)).toBe("response.completed");
    expect(native.model).toBe("qwen3:8b");
    expect(native.messages.map((message: { role: string }) => message.role)).toStrictEqual(["system", "system", "user", "user"]);
    expect(native.messages[0].content).toBe(firstTurn.body.input[0]!.content[0]!.text);
    const offered = native.tools.map((tool: { function: { name: string } }) => tool.function.name);
    expect(offered).toStrictEqual(offeredNames(firstTurn.body.tools));
    expect(offered).toContain("exec_command");
    expect(offered.filter((name: string) => name.startsWith("multi_agent_v1__")).length).toBeGreaterThan(0);
    expect(firstTurn.body.tools.some((tool) => tool.type === "web_search")).toBe(true);
    expect(native.stream).toBe(true);
  });

  it("a tool round: the reasoning goes back as thinking, the call as tool_calls with parsed arguments, its output as a tool message", async () => {
    const { res, events, native } = await replay(toolRound);
    expect(res.status).toBe(200);
    expect(events.at(-1)).toBe("response.completed");
    const [assistant, tool] = native.messages.slice(-2);
    expect(assistant).toStrictEqual({
      role: "assistant",
      content: "",
      thinking: "I should list the files.",
      tool_calls: [{ id: "call_1", function: { name: "exec_command", arguments: { cmd: "ls" } } }],
    });
    expect(tool).toMatchObject({ role: "tool", tool_name: "exec_command" });
    expect(tool.content).toContain("notes.txt");
  });
});
