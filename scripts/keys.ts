/**
 * npm run keys -- create|list|revoke …  — manage API keys through the admin API of a local or deployed gateway.
 * The gateway URL comes from --url or OLLAMA_EDGE_URL (default http://127.0.0.1:8787), the admin token from
 * --admin-token or ADMIN_TOKEN. Prints a readable table, or JSON with --json.
 */
import { parseArgs } from "node:util";
import type { KeyView } from "../src/keys/types.ts";

const USAGE = `Usage:
  npm run keys -- create --name NAME [--models m1,m2] [--rpm N] [--tpm N] [--max-concurrency N] [--expires-at ISO-8601]
  npm run keys -- list
  npm run keys -- revoke KEY_ID
Options: --url URL (or OLLAMA_EDGE_URL), --admin-token TOKEN (or ADMIN_TOKEN), --json`;

/** A key as the admin API shows it; the create answer adds the one-time `key` and has no usage yet. */
type ShownKey = Omit<KeyView, "usage" | "last_used_at" | "in_flight"> & Partial<Pick<KeyView, "usage" | "last_used_at" | "in_flight">> & { key?: string };

class CliError extends Error {}

function fail(message: string): never {
  throw new CliError(message);
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      "admin-token": { type: "string" },
      json: { type: "boolean", default: false },
      name: { type: "string" },
      models: { type: "string" },
      rpm: { type: "string" },
      tpm: { type: "string" },
      "max-concurrency": { type: "string" },
      "expires-at": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  return { values, positionals };
}

function wholeNumber(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) fail(`--${flag} must be a whole number ≥ 1, got ${JSON.stringify(raw)}`);
  return value;
}

async function call(base: string, token: string, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    fail(`could not reach the gateway at ${base}`);
  }
  const text = await res.text();
  let parsed: any = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: reported below
  }
  if (res.status === 404 && path === "/admin/keys") fail(`the admin API is not enabled at ${base}: set ADMIN_TOKEN on the gateway`);
  if (!res.ok) fail(parsed?.error?.message ? `${res.status}: ${parsed.error.message}` : `${res.status}: ${text.slice(0, 200)}`);
  return parsed;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

const day = (iso: string | null | undefined) => (iso ? iso.slice(0, 16).replace("T", " ") : "-");

function keyTable(keys: ShownKey[]): string {
  if (!keys.length) return "No API keys yet. Create one with: npm run keys -- create --name NAME";
  const header = ["ID", "NAME", "PREFIX", "MODELS", "RPM", "TPM", "CONC", "EXPIRES", "LAST USED", "REQUESTS", "TOKENS"];
  const rows = keys.map((key) => [
    key.id,
    key.name,
    `${key.prefix}…`,
    key.models.length ? key.models.join(",") : "all",
    String(key.rpm),
    String(key.tpm),
    String(key.max_concurrency),
    day(key.expires_at),
    day(key.last_used_at),
    String(key.usage?.requests ?? 0),
    String((key.usage?.prompt_tokens ?? 0) + (key.usage?.completion_tokens ?? 0)),
  ]);
  return table([header, ...rows]);
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { values, positionals } = parse(argv);
  const [command, ...rest] = positionals;
  if (values.help || !command) return USAGE;
  const base = (values.url ?? env.OLLAMA_EDGE_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
  const token = values["admin-token"] ?? env.ADMIN_TOKEN;
  if (!token) fail("no admin token: pass --admin-token or set ADMIN_TOKEN");

  switch (command) {
    case "create": {
      if (!values.name) fail("create needs --name");
      const body = {
        name: values.name,
        ...(values.models !== undefined && {
          models: values.models
            .split(",")
            .map((m) => m.trim())
            .filter(Boolean),
        }),
        ...(values.rpm !== undefined && { rpm: wholeNumber("rpm", values.rpm) }),
        ...(values.tpm !== undefined && { tpm: wholeNumber("tpm", values.tpm) }),
        ...(values["max-concurrency"] !== undefined && { max_concurrency: wholeNumber("max-concurrency", values["max-concurrency"]) }),
        ...(values["expires-at"] !== undefined && { expires_at: values["expires-at"] }),
      };
      const created = (await call(base, token, "POST", "/admin/keys", body)) as ShownKey;
      if (values.json) return JSON.stringify(created, null, 2);
      return [
        `Created ${created.id} (${created.name}): rpm ${created.rpm}, tpm ${created.tpm}, max concurrency ${created.max_concurrency}, ` +
          `models ${created.models.length ? created.models.join(",") : "all"}, expires ${day(created.expires_at)}`,
        "",
        `  ${created.key}`,
        "",
        "Store this key now: it is not kept by the gateway and will not be shown again.",
      ].join("\n");
    }
    case "list": {
      const list = (await call(base, token, "GET", "/admin/keys")) as { data: ShownKey[] };
      return values.json ? JSON.stringify(list.data, null, 2) : keyTable(list.data);
    }
    case "revoke": {
      const id = rest[0];
      if (!id) fail("revoke needs a key id (see: npm run keys -- list)");
      const result = await call(base, token, "DELETE", `/admin/keys/${encodeURIComponent(id)}`);
      return values.json ? JSON.stringify(result, null, 2) : `Revoked ${id}: requests with it are refused from now on.`;
    }
    default:
      fail(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (output) => console.log(output),
    (error: unknown) => {
      console.error(`keys: ${error instanceof CliError ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
