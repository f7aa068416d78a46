/**
 * The real Codex CLI (`@openai/codex`, its own native binary) against wrangler dev + the Ollama emulator, offline:
 * `codex exec` (a streamed Responses turn in which the model calls Codex's shell tool and gets its output back), a
 * resumed turn, and an image. Codex runs with a temporary home and its outbound extras off (see
 * ../shared/reference/clients.md), talking to the gateway on loopback only.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { API_KEY, emulator, GATEWAY_URL } from "./helpers.ts";

const CODEX = join(process.cwd(), "node_modules", ".bin", "codex");
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
let home: string;
let work: string;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), "codex-home-"));
  work = mkdtempSync(join(tmpdir(), "codex-work-"));
  // The model name is Codex's own; MODEL_ALIASES' "gpt-5*" pattern sends it to qwen3:8b (a thinking model).
  writeFileSync(
    join(home, "config.toml"),
    [
      'model = "gpt-5.1-codex"',
      'model_provider = "edge"',
      "check_for_update_on_startup = false",
      "[model_providers.edge]",
      'name = "ollama-edge"',
      `base_url = "${GATEWAY_URL}/v1"`,
      'wire_api = "responses"',
      'env_key = "OLLAMA_EDGE_KEY"',
      "request_max_retries = 0",
      "stream_max_retries = 0",
      "[analytics]",
      "enabled = false",
      "[feedback]",
      "enabled = false",
      "[features]",
      "plugins = false",
      "remote_plugin = false",
      "apps = false",
      "in_app_updates = false",
      "",
    ].join("\n"),
  );
  writeFileSync(join(work, "dot.png"), Buffer.from(PNG, "base64"));
});

afterAll(() => {
  rmSync(home, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

beforeEach(() => emulator.reset());

function codex(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      CODEX,
      ["exec", "--skip-git-repo-check", ...args],
      { cwd: work, env: { PATH: process.env.PATH, HOME: home, CODEX_HOME: home, OLLAMA_EDGE_KEY: API_KEY }, timeout: 90_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
    // With a prompt in its arguments and stdin open, `codex exec` would wait to read more from stdin.
    child.stdin?.end();
  });
}

/** What Codex's turns became at the backend: the native /api/chat requests, in order. */
async function chats(): Promise<
  {
    model: string;
    messages: { role: string; content: string; images?: string[]; tool_calls?: unknown[]; tool_name?: string }[];
    tools?: { function: { name: string } }[];
  }[]
> {
  return (await emulator.requests("/api/chat")).map((request) => request.body);
}

describe("the real Codex CLI through the gateway", { timeout: 120_000 }, () => {
  it("codex exec: developer messages become system messages, its tools are offered, the tool call runs and its output comes back", async () => {
    const run = await codex(["say hello"]);
    expect(run.code, run.output).toBe(0);
    // The emulator calls Codex's first tool; Codex runs it and sends the output back; the emulator answers with it.
    expect(run.output).toContain("The tool said:");
    const [first, second] = await chats();
    expect(first!.model).toBe("qwen3:8b");
    expect(first!.messages.slice(0, 2).map((message) => message.role)).toEqual(["system", "system"]);
    expect(first!.messages.at(-1)).toMatchObject({ role: "user", content: "say hello" });
    expect(first!.tools!.length).toBeGreaterThan(3);
    expect(second!.messages.slice(-2).map((message) => message.role)).toEqual(["assistant", "tool"]);
    expect(second!.messages.at(-2)!.tool_calls).toHaveLength(1);
  });

  it("a resumed turn sends the whole history back", async () => {
    expect((await codex(["first turn"])).code).toBe(0);
    await emulator.reset();
    const resumed = await codex(["resume", "--last", "second turn"]);
    expect(resumed.code, resumed.output).toBe(0);
    const [first] = await chats();
    const contents = first!.messages.map((message) => message.content);
    expect(contents).toContain("first turn");
    expect(contents.at(-1)).toBe("second turn");
  });

  it("an image given with --image reaches the model inline", async () => {
    const run = await codex(["--image", "dot.png", "--", "what is in this image"]);
    expect(run.code, run.output).toBe(0);
    const [first] = await chats();
    const withImage = first!.messages.find((message) => message.images?.length);
    expect(withImage).toMatchObject({ role: "user", images: [PNG] });
  });
});
