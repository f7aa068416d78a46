/**
 * The real Claude Code (`@anthropic-ai/claude-code`, its own native binary) against wrangler dev + the Ollama
 * emulator, offline: `claude -p` with the key in ANTHROPIC_API_KEY (sent as x-api-key) — a turn in which the model
 * calls Claude Code's Read tool and gets its result back — and with ANTHROPIC_AUTH_TOKEN (a Bearer token), then
 * `--continue`. MODEL_ALIASES "claude-*" sends Claude Code's model names to qwen3:8b (a thinking model); its
 * MODEL_DEFAULTS entry sets num_ctx 40960, and the emulator cuts a longer prompt silently as Ollama does, so the
 * token counts Claude Code reports prove its whole prompt reached the model. A temporary home, loopback only (see
 * ../shared/reference/clients.md).
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { chatPromptTokens, DEFAULT_NUM_CTX } from "../../tools/emulator/context.ts";
import { API_KEY, emulator, GATEWAY_URL } from "./helpers.ts";

const CLAUDE = join(process.cwd(), "node_modules", ".bin", "claude");
let home: string;
let work: string;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), "claude-home-"));
  work = mkdtempSync(join(tmpdir(), "claude-work-"));
});

afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

beforeEach(() => emulator.reset());

/** What `claude -p --output-format json` prints: the fields the tests read. */
interface ClaudeResult {
  is_error: boolean;
  result: string;
  num_turns: number;
  usage: { input_tokens: number; output_tokens: number };
}

function claude(
  args: string[],
  credential: "ANTHROPIC_API_KEY" | "ANTHROPIC_AUTH_TOKEN",
): Promise<{ code: number; output: string; json: ClaudeResult | null }> {
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    ANTHROPIC_BASE_URL: GATEWAY_URL,
    [credential]: API_KEY,
    // Offline: no update checks, telemetry, error reports or other traffic of its own.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    DISABLE_AUTOUPDATER: "1",
    DISABLE_TELEMETRY: "1",
    DISABLE_ERROR_REPORTING: "1",
  };
  return new Promise((resolve) => {
    const child = execFile(CLAUDE, ["-p", ...args, "--output-format", "json"], { cwd: work, env, timeout: 120_000 }, (error, stdout, stderr) => {
      let json: ClaudeResult | null = null;
      try {
        json = JSON.parse(stdout) as ClaudeResult;
      } catch {
        // left null: the test prints the output
      }
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}`, json });
    });
    child.stdin?.end();
  });
}

interface NativeChat {
  model: string;
  think?: unknown;
  options: Record<string, unknown>;
  messages: { role: string; content: string; tool_calls?: { function: { name: string } }[]; tool_name?: string }[];
  tools?: { function: { name: string } }[];
}

/** What Claude Code's turns became at the backend: the native /api/chat requests, in order. */
async function chats(): Promise<NativeChat[]> {
  return (await emulator.requests("/api/chat")).map((request) => request.body);
}

/** The prompt of each request as the emulator counts it, uncut; each must be more than Ollama's default window. */
function uncutPrompts(requests: NativeChat[]): number {
  const counts = requests.map((request) => chatPromptTokens(request.messages as never, request.tools ?? []));
  for (const count of counts) expect(count).toBeGreaterThan(DEFAULT_NUM_CTX);
  return counts.reduce((sum, count) => sum + count, 0);
}

describe("the real Claude Code through the gateway", { timeout: 180_000 }, () => {
  it("claude -p with ANTHROPIC_API_KEY: thinking on, its Read tool called and its result answered, the whole prompt kept", async () => {
    const run = await claude(["use Read to look at the notes", "--model", "claude-sonnet-4-5"], "ANTHROPIC_API_KEY");
    expect(run.code, run.output).toBe(0);
    expect(run.json, run.output).not.toBeNull();
    const result = run.json!;
    expect(result.is_error).toBe(false);
    // The emulator calls the tool the prompt names; Claude Code runs it (the emulated path is not a file), sends the
    // error back as an is_error tool_result, and the emulator answers with it.
    expect(result.result).toMatch(/^The tool said: Error: /);
    const [first, second, ...rest] = await chats();
    expect(rest).toEqual([]);
    expect(first!.model).toBe("qwen3:8b");
    expect(first!.think).toBe(true);
    expect(first!.options).toStrictEqual({ num_ctx: 40960, num_predict: 8192 });
    expect(first!.messages.map((message) => message.role)).toStrictEqual(["system", "user"]);
    expect(first!.messages[1]!.content).toMatch(/\nuse Read to look at the notes$/);
    expect(first!.tools!.map((tool) => tool.function.name)).toContain("Read");
    expect(first!.tools!.length).toBeGreaterThan(10);
    expect(second!.messages.slice(-2).map((message) => message.role)).toStrictEqual(["assistant", "tool"]);
    expect(second!.messages.at(-2)!.tool_calls!.map((call) => call.function.name)).toStrictEqual(["Read"]);
    expect(second!.messages.at(-1)).toMatchObject({ tool_name: "Read", content: expect.stringMatching(/^Error: /) });
    // Claude Code's own token count is the backend's, for every word of its ~21,500-token prompt: cut at a 4096
    // window, each request would count at most 4096.
    expect(result.usage.input_tokens).toBe(uncutPrompts([first!, second!]));
  });

  it("with ANTHROPIC_AUTH_TOKEN (a Bearer token), the default model (adaptive thinking, effort medium), then --continue with a tool", async () => {
    const first = await claude(["say hello"], "ANTHROPIC_AUTH_TOKEN");
    expect(first.code, first.output).toBe(0);
    expect(first.json!.result).toMatch(/^Hello! You said: [\s\S]*\nsay hello$/);
    const [opening] = await chats();
    expect(opening!.think).toBe("medium");
    // Claude Code's default model sends a system message after the user's turn: it stays where it is.
    expect(opening!.messages.at(-1)!.role).toBe("system");
    expect(first.json!.usage.input_tokens).toBe(uncutPrompts([opening!]));

    await emulator.reset();
    // The same model again: no system message after this turn, so the emulator calls the tool it names.
    const resumed = await claude(["now use Read on the notes", "--continue"], "ANTHROPIC_AUTH_TOKEN");
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.json!.result).toMatch(/^The tool said: Error: /);
    const [continued, answered, ...rest] = await chats();
    expect(rest).toEqual([]);
    expect(continued!.think).toBe("medium");
    const contents = continued!.messages.map((message) => message.content);
    expect(contents.some((content) => /\nsay hello$/.test(content))).toBe(true);
    expect(contents).toContain(first.json!.result);
    expect(contents.at(-1)).toBe("now use Read on the notes");
    expect(answered!.messages.at(-1)).toMatchObject({ role: "tool", tool_name: "Read" });
    expect(resumed.json!.usage.input_tokens).toBe(uncutPrompts([continued!, answered!]));
  });
});
