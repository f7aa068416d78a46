/**
 * The operator console (GET /admin) in a real browser: Debian's Chromium driven by playwright-core, against
 * `wrangler dev` and the Ollama emulator of the end-to-end setup. Every request the page makes is watched: anything
 * for another origin is refused and fails the test. CONSOLE_SCREENSHOTS=1 writes the main states to docs/console/.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, EMULATOR_URL, emulator, GATEWAY_URL } from "./helpers.ts";

const ORIGIN = new URL(GATEWAY_URL).origin;
const SHOTS = fileURLToPath(new URL("../../docs/console/", import.meta.url));
const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

/** Debian's chromium (or CHROMIUM_PATH): never a downloaded browser build. Missing, the tests fail saying so. */
function chromiumPath(): string {
  let found = process.env.CHROMIUM_PATH ?? "";
  if (!found) {
    try {
      found = execFileSync("sh", ["-c", "command -v chromium || command -v chromium-browser"], { encoding: "utf8" }).trim();
    } catch {
      // not installed: said below
    }
  }
  if (found && existsSync(found)) return found;
  throw new Error(
    `The console's browser tests need Chromium and found none${process.env.CHROMIUM_PATH ? ` at CHROMIUM_PATH=${process.env.CHROMIUM_PATH}` : ""}. ` +
      "Install Debian's package: `sudo apt-get install -y chromium` (.ci/run installs it when missing), or set CHROMIUM_PATH " +
      "to a Chromium binary. The tests never download a browser.",
  );
}

let browser: Browser;
let context: BrowserContext;
/** Requests the page tried to send anywhere but the gateway, and what the browser complained about. */
let foreign: string[] = [];
let complaints: string[] = [];

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: chromiumPath(), args: ["--no-first-run", "--disable-extensions"] });
});

afterAll(async () => {
  await browser?.close();
});

async function open(viewport = { width: 1200, height: 900 }): Promise<Page> {
  context = await browser.newContext({ viewport, locale: "en-US", timezoneId: "UTC" });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: ORIGIN });
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("data:") || new URL(url).origin === ORIGIN) return route.continue();
    foreign.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  // Error statuses the tests provoke (a wrong token, a failed create, the backend down) are logged by the browser as
  // failed loads; anything else it reports as an error (a CSP violation: "Refused to …") is a failure.
  page.on("console", (message) => {
    if (message.type() === "error" && !/^Failed to load resource: the server responded with a status of \d+/.test(message.text()))
      complaints.push(message.text());
  });
  page.on("pageerror", (error) => complaints.push(`page error: ${error.message}`));
  await page.goto(`${GATEWAY_URL}/admin`);
  return page;
}

afterEach(async () => {
  await context?.close();
  expect(foreign, "requests to another origin").toEqual([]);
  expect(complaints, "browser errors (CSP violations included)").toEqual([]);
  foreign = [];
  complaints = [];
  await emulator.reset();
});

async function signIn(page: Page, token = ADMIN_TOKEN): Promise<void> {
  await page.getByLabel("Admin token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#backends article").first().waitFor();
  await page.locator("#keys article").first().waitFor();
}

/** The secret of a new key is masked: it is a throwaway, but a key-shaped string has no place in the docs. */
async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  if (process.env.CONSOLE_SCREENSHOTS !== "1") return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage, mask: [page.locator("#secret-value")] });
}

async function api(path: string): Promise<any> {
  const res = await fetch(`${GATEWAY_URL}${path}`, { headers: admin });
  return res.json();
}

const chat = (key: string) =>
  fetch(`${GATEWAY_URL}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "llama3.2", messages: [{ role: "user", content: "hello from the console test" }] }),
  });

/** Press Tab until the focused element matches `selector` (at most `limit` times): reachable by keyboard. */
async function tabTo(page: Page, selector: string, limit = 80): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`${selector} was not reached with Tab`);
}

describe("the operator console", () => {
  it("is one page under a strict Content-Security-Policy, never framed, holding no secret", async () => {
    const res = await fetch(`${GATEWAY_URL}/admin`);
    expect(res.status).toBe(200);
    const csp = res.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/]+=*'(;|$)/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain("unsafe-inline");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    const html = await res.text();
    expect(html).not.toContain(ADMIN_TOKEN);
    const page = await open();
    await expect.poll(() => page.getByRole("heading", { name: "Sign in" }).isVisible()).toBe(true);
    await shot(page, "sign-in");
  });

  it("a wrong token is refused with a clear message, and nothing is kept", async () => {
    const page = await open();
    await page.getByLabel("Admin token").fill("not-the-admin-token-0123456789abcdef");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.getByRole("alert").filter({ hasText: "not valid" }).textContent()).toContain("That admin token is not valid");
    expect(await page.locator("#dash").isHidden()).toBe(true);
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([0, 0]);
    await shot(page, "wrong-token");
  });

  it("a token that stops working (rotated) signs the tab out and says why", async () => {
    const page = await open();
    await page.evaluate(() => sessionStorage.setItem("ollama-edge.admin-token", "a-token-since-rotated-0123456789abcdef"));
    await page.reload();
    await expect
      .poll(() => page.locator("#signin-error").textContent())
      .toBe("The gateway refused the admin token: it is not valid, or it was changed. Sign in again.");
    expect(await page.locator("#dash").isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it("signs in; the numbers shown are the API's; the token stays in the tab's session storage only", async () => {
    const page = await open();
    await signIn(page);
    expect(page.url()).toBe(`${GATEWAY_URL}/admin`);
    expect(await context.cookies()).toEqual([]);
    expect(await page.evaluate(() => [Object.values(sessionStorage), localStorage.length])).toEqual([[ADMIN_TOKEN], 0]);

    const [health, gate, keys, models] = await Promise.all([api("/health"), api("/admin/gate"), api("/admin/keys"), api("/admin/models")]);
    for (const backend of health.backends) {
      const card = page.locator(`[data-backend="${backend.name}"]`);
      expect(await card.locator(".state").textContent()).toBe(backend.status);
      const slot = gate.backends.find((entry: any) => entry.backend === backend.name);
      expect(await card.locator('[data-field="in_flight"]').textContent()).toBe(`${slot.in_flight} of ${slot.max_concurrency}`);
      expect(await card.locator('[data-field="queued"]').textContent()).toBe(String(slot.queued));
      const served = models.data.find((entry: any) => entry.backend === backend.name).models.map((model: any) => model.name);
      expect(await card.locator('[data-field="models"]').textContent()).toBe(served.join(", "));
    }
    const format = (n: number) => n.toLocaleString("en-US");
    for (const key of keys.data) {
      const { requests, prompt_tokens, completion_tokens } = key.usage;
      expect(await page.locator(`#keys [data-key="${key.id}"] [data-field="usage"]`).textContent()).toBe(
        `${format(requests)} request${requests === 1 ? "" : "s"}, ${format(prompt_tokens)} prompt + ${format(completion_tokens)} completion tokens`,
      );
    }
    expect(await page.locator("#keys article").count()).toBe(keys.data.length);
    await shot(page, "dashboard");
  });

  it("creates a key, shows it once with a copy button; the key works; its usage reaches the chart; revoked, it gets 401", async () => {
    const page = await open();
    await signIn(page);
    const name = `console ${Date.now()}`;
    await page.getByLabel("Name").fill(name);
    await page.getByLabel("Requests per minute").fill("30");
    await page.getByLabel("Models", { exact: true }).fill("llama3.2");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = page.getByLabel("New API key");
    await secret.waitFor();
    const key = await secret.inputValue();
    expect(key).toMatch(/^sk-[0-9A-Za-z]{38}$/);
    await page.getByRole("button", { name: "Copy key" }).click();
    await expect.poll(() => page.locator("#copy-status").textContent()).toBe("Copied to the clipboard.");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
    const created = (await api("/admin/keys")).data.find((entry: any) => entry.name === name);
    expect(created).toMatchObject({ rpm: 30, models: ["llama3.2"] });
    await shot(page, "key-created");
    await page.getByRole("button", { name: "Done: hide the key" }).click();
    expect(await page.locator("#secret-value").inputValue()).toBe("");

    const answer = await chat(key);
    expect(answer.status).toBe(200);
    await answer.json();
    const row = page.locator(`#totals [data-key="${created.id}"]`);
    await expect
      .poll(async () => {
        await page.getByRole("button", { name: "Refresh now" }).click();
        return row.locator('[data-field="requests"]').textContent();
      })
      .toBe("1");
    const usage = (await api(`/admin/usage?key=${created.id}&granularity=hour`)).data;
    const tokens = usage.reduce((sum: number, entry: any) => sum + entry.prompt_tokens + entry.completion_tokens, 0);
    expect(tokens).toBeGreaterThan(0);
    expect(await row.locator('[data-field="prompt_tokens"]').textContent()).toBe(String(usage[0].prompt_tokens));
    expect(await row.locator('[data-field="completion_tokens"]').textContent()).toBe(String(usage[0].completion_tokens));
    // The chart of this key alone: one answered request, drawn as a bar, and said in its accessible name.
    await page.getByLabel("Key", { exact: true }).selectOption(created.id);
    await expect
      .poll(() => page.locator("#chart-requests").getAttribute("aria-label"))
      .toMatch(/Requests by hour, last 24 hours \(UTC\): 1 answered, 0 errors; busiest/);
    expect(await page.locator("#chart-requests rect.ok").count()).toBe(1);
    expect(await page.locator("#chart-tokens rect").count()).toBe(2);
    await shot(page, "usage");

    await page.getByRole("button", { name: `Revoke key ${name}` }).click();
    const dialog = page.getByRole("dialog", { name: "Revoke this key?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Revoke key" }).click();
    await expect.poll(() => page.locator(`#keys [data-key="${created.id}"]`).count()).toBe(0);
    expect(await page.locator("#keys-status").textContent()).toBe(`Key ${name} revoked.`);
    expect((await chat(key)).status).toBe(401);
  });

  it("keyboard only: sign in, create a key, copy it, revoke it after confirming (Escape cancels)", async () => {
    const page = await open();
    await tabTo(page, "#token");
    await page.keyboard.type(ADMIN_TOKEN);
    await page.keyboard.press("Enter");
    await page.locator("#keys article").first().waitFor();
    const name = `keyboard ${Date.now()}`;
    await tabTo(page, "#k-name");
    await page.keyboard.type(name);
    await page.keyboard.press("Tab");
    await page.keyboard.type("12");
    await page.keyboard.press("Enter");
    await page.locator("#secret").waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("copy");
    const key = await page.locator("#secret-value").inputValue();
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#copy-status").textContent()).toBe("Copied to the clipboard.");
    await tabTo(page, "#secret-done");
    await page.keyboard.press("Enter");
    expect((await chat(key)).status).toBe(200);

    const revoke = `button[aria-label="Revoke key ${name}"]`;
    await tabTo(page, revoke);
    await page.keyboard.press("Enter");
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe("confirm-cancel");
    await page.keyboard.press("Escape");
    await expect.poll(() => page.locator("#confirm").isVisible()).toBe(false);
    expect((await chat(key)).status).toBe(200);

    await tabTo(page, revoke);
    await page.keyboard.press("Enter");
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe("confirm-cancel");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("confirm-ok");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator(revoke).count()).toBe(0);
    expect((await chat(key)).status).toBe(401);
  });

  it("a failed create says why", async () => {
    const page = await open();
    await signIn(page);
    await page.getByLabel("Name").fill("already expired");
    await page.getByLabel("Expires").fill("2001-01-01T00:00");
    await page.getByRole("button", { name: "Create key" }).click();
    await expect.poll(() => page.locator("#create-error").textContent()).toBe("The key was not created: expires_at is in the past.");
    expect(await page.locator("#secret").isHidden()).toBe(true);
  });

  it("fits a phone: 390 px wide, no sideways scrolling, the new key included", async () => {
    const page = await open({ width: 390, height: 844 });
    await signIn(page);
    await page.getByLabel("Name").fill("phone");
    await page.getByRole("button", { name: "Create key" }).click();
    await page.locator("#secret").waitFor();
    await page.locator("#chart-requests line").first().waitFor({ state: "attached" });
    expect(await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth])).toEqual([390, 390]);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, "phone", false);
    const id = (await api("/admin/keys")).data.find((entry: any) => entry.name === "phone").id;
    await fetch(`${GATEWAY_URL}/admin/keys/${id}`, { method: "DELETE", headers: admin });
  });

  it("says so when the backend is down, and when it is back", async () => {
    const page = await open();
    await signIn(page);
    await fetch(`${EMULATOR_URL}/__emulator/fault`, {
      method: "POST",
      body: JSON.stringify({ fault: { kind: "html", status: 502 }, paths: ["/api/version"] }),
    });
    // /health probes are cached 5 s per isolate and the console refreshes every 5 s.
    const alert = page.locator("#alert");
    await expect.poll(() => alert.textContent(), { timeout: 20_000 }).toBe("No backend is answering: requests fail (502/503) until one is back.");
    expect(await page.locator(".state").first().textContent()).toBe("down");
    await shot(page, "backend-down");
    await emulator.reset();
    await expect.poll(() => alert.isHidden(), { timeout: 20_000 }).toBe(true);
    expect(await page.locator(".state").first().textContent()).toBe("ok");
  });
});
