import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { transformSync } from "esbuild";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/core/errors.ts";
import { adminConsole } from "../../src/routes/console.ts";

const withToken = { config: { adminToken: "x".repeat(32) } };
const page = async () => {
  const res = await adminConsole(new Request("https://gateway.test/admin"), withToken);
  return { res, html: await res.text() };
};
const between = (html: string, open: string, close: string) => html.slice(html.indexOf(open) + open.length, html.indexOf(close));
const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

describe("the console page", () => {
  it("allows exactly its own script and stylesheet, by hash, and nothing from anywhere else", async () => {
    const { res, html } = await page();
    const csp = res.headers.get("content-security-policy")!;
    const script = between(html, "<script>", "</script>");
    const style = between(html, "<style>", "</style>");
    expect(csp.split("; ")).toEqual([
      "default-src 'none'",
      `script-src ${sha256(script)}`,
      `style-src ${sha256(style)}`,
      "connect-src 'self'",
      "img-src data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ]);
    expect(csp).not.toContain("unsafe");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    // One script, one stylesheet, no inline handlers or style attributes the policy would refuse.
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html.match(/<style/g)).toHaveLength(1);
    expect(html).not.toMatch(/\son[a-z]+=|\sstyle=/);
    // The only absolute URL is the SVG namespace, which is a name, never fetched.
    expect(html.match(/https?:\/\/[^\s"'<>)]+/g)).toEqual(["http://www.w3.org/2000/svg"]);
  });

  it("its script parses as a whole, strict", async () => {
    const { html } = await page();
    expect(() => new Function(between(html, "<script>", "</script>"))).not.toThrow();
  });

  it("its client functions survive the Worker's bundler: one function each, with no inner function given a name", () => {
    for (const file of ["client-app.ts", "client-usage.ts"]) {
      const source = readFileSync(new URL(`../../src/routes/console/${file}`, import.meta.url), "utf8");
      // As wrangler bundles (keep_names): each function whose name it would keep gets a `__name(…)` call, whose
      // helper the browser does not have. Only the exported function itself, outside its own body, may.
      const { code } = transformSync(source, { loader: "ts", keepNames: true, format: "esm" });
      expect(code.match(/__name\(/g), file).toEqual(["__name("]); // the exported function's own
      // Nothing but the function at the top level: it must not need its module's scope.
      const topLevel = code.split("\n").filter((line) => /^(import|const|let|var|function|class|export) /.test(line));
      expect(
        topLevel.filter((line) => !line.startsWith("var __")),
        file,
      ).toEqual([expect.stringMatching(/^function \w+\(/), "export {"]);
    }
  });

  it("labels every field and names every button", async () => {
    const { html } = await page();
    const ids = [...html.matchAll(/<(?:input|select)[^>]*\sid="([^"]+)"/g)].map((match) => match[1]);
    expect(ids.length).toBeGreaterThan(8);
    for (const id of ids) expect(html, id).toContain(`<label for="${id}">`);
    for (const label of ["Admin token", "Name", "Requests per minute", "Tokens per minute", "Concurrent requests", "Models", "Expires", "Key", "Period"]) {
      expect(html).toContain(`>${label}</label>`);
    }
    for (const [, text] of html.matchAll(/<button[^>]*>([^<]*)<\/button>/g)) expect(text!.trim()).not.toBe("");
  });

  it("does not exist without ADMIN_TOKEN, like the admin API", async () => {
    const without = { config: { adminToken: null } };
    await expect(adminConsole(new Request("https://gateway.test/admin"), without)).rejects.toSatisfy(
      (error) => error instanceof ApiError && error.status === 404,
    );
  });
});
