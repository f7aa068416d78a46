import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { E2E_ADMIN_TOKEN } from "./global-setup.ts";
import { GATEWAY_URL } from "./helpers.ts";

const run = promisify(execFile);
const CLI = fileURLToPath(new URL("../../scripts/keys.ts", import.meta.url));

/** The CLI as a user runs it: a separate process, gateway URL and admin token from the environment. */
async function keys(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, OLLAMA_EDGE_URL: GATEWAY_URL, ADMIN_TOKEN: E2E_ADMIN_TOKEN, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const models = (key: string) => fetch(`${GATEWAY_URL}/v1/models`, { headers: { authorization: `Bearer ${key}` } });

describe("npm run keys against wrangler dev", () => {
  it("create, list, use, revoke", async () => {
    const created = await keys(["create", "--name", "cli laptop", "--models", "llama3.2,qwen3", "--rpm", "30", "--json"]);
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(key).toMatchObject({ name: "cli laptop", models: ["llama3.2", "qwen3"], rpm: 30, key: expect.stringMatching(/^sk-/) });
    expect((await models(key.key)).status).toBe(200);

    const table = await keys(["list"]);
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trim().split("\n");
    expect(header).toMatch(/^ID\s+NAME\s+PREFIX\s+MODELS\s+RPM\s+TPM\s+CONC\s+EXPIRES\s+LAST USED\s+REQUESTS\s+TOKENS$/);
    const row = rows.find((line) => line.startsWith(key.id))!;
    expect(row).toMatch(new RegExp(`^${key.id}\\s+cli laptop\\s+${key.prefix}…\\s+llama3.2,qwen3\\s+30\\s`));
    expect(table.stdout).not.toContain(key.key);

    const listed = JSON.parse((await keys(["list", "--json"])).stdout);
    expect(listed.find((entry: any) => entry.id === key.id).usage.requests).toBe(1);

    const revoked = await keys(["revoke", key.id]);
    expect(revoked).toMatchObject({ code: 0, stdout: `Revoked ${key.id}: requests with it are refused from now on.\n` });
    expect((await models(key.key)).status).toBe(401);
  });

  it("prints the one-time key in its readable form", async () => {
    const created = await keys(["create", "--name", "readable"]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(
      /^Created key_\w+ \(readable\): rpm 60, tpm 200000, max concurrency 4, models all, expires -\n\n {2}sk-\w{38}\n\nStore this key now/,
    );
  });

  it("fails clearly: wrong token, unknown id, bad flags, no token", async () => {
    const wrong = await keys(["list"], { ADMIN_TOKEN: "not-the-token" });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toBe("keys: 401: The admin token is not valid.\n");
    expect(wrong.stderr).not.toContain("not-the-token");
    expect((await keys(["revoke", "key_doesnotexist"])).stderr).toBe("keys: 404: No API key with id 'key_doesnotexist'.\n");
    expect((await keys(["create", "--name", "x", "--rpm", "lots"])).stderr).toBe('keys: --rpm must be a whole number ≥ 1, got "lots"\n');
    expect((await keys(["list"], { ADMIN_TOKEN: "" })).stderr).toBe("keys: no admin token: pass --admin-token or set ADMIN_TOKEN\n");
  });
});
