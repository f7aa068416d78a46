/**
 * Bundle the Worker offline (`wrangler deploy --dry-run`) and fail if it grows past the budget. A Worker is
 * loaded on every cold request, so its size is a latency cost; see "Bundle budget" in the README.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PROJECT_ROOT, WRANGLER_ENV } from "./wrangler-dev.ts";

export const BUDGET = { minifiedBytes: 240 * 1024, gzipBytes: 80 * 1024 };

const outdir = mkdtempSync(join(tmpdir(), "ollama-edge-bundle-"));
try {
  execFileSync("npx", ["wrangler", "deploy", "--dry-run", "--outdir", outdir, "-c", "wrangler.toml"], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...WRANGLER_ENV, CI: "true" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const scripts = readdirSync(outdir).filter((file) => file.endsWith(".js"));
  const bytes = scripts.reduce((sum, file) => sum + readFileSync(join(outdir, file)).byteLength, 0);
  const gzip = scripts.reduce((sum, file) => sum + gzipSync(readFileSync(join(outdir, file))).byteLength, 0);
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`bundle: ${kib(bytes)} minified (budget ${kib(BUDGET.minifiedBytes)}), ${kib(gzip)} gzip (budget ${kib(BUDGET.gzipBytes)})`);
  if (bytes > BUDGET.minifiedBytes || gzip > BUDGET.gzipBytes) {
    console.error("bundle size budget exceeded: see the README's 'Bundle budget' section before raising it");
    process.exit(1);
  }
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
