import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWranglerDev, type WranglerDev } from "../../scripts/wrangler-dev.ts";
import { type LlamaEmulator, startLlamaEmulator } from "../../tools/llama-emulator.ts";
import { DEFAULT_MODELS, type Emulator, startOllamaEmulator } from "../../tools/ollama-emulator.ts";

/**
 * Several home machines behind one gateway, end to end: two Ollamas and one llama-server (emulated), `wrangler dev`,
 * the official openai SDK. One machine is stopped in the middle of the run and started again.
 */
const ADMIN = "backends-admin-token-0123456789abcdef";
const LAPTOP_MODELS = DEFAULT_MODELS.filter((model) => ["qwen3:8b", "llama3.2:latest"].includes(model.name));

let desk: Emulator;
let laptop: Emulator;
let laptopPort: number;
let box: LlamaEmulator;
let dev: WranglerDev;
let client: OpenAI;

async function startLaptop(port = 0): Promise<Emulator> {
  return startOllamaEmulator({ host: "127.0.0.1", port, models: LAPTOP_MODELS, tokenDelayMs: 20 });
}

beforeAll(async () => {
  desk = await startOllamaEmulator({ host: "127.0.0.1", port: 0, tokenDelayMs: 20 });
  laptop = await startLaptop();
  laptopPort = laptop.port;
  box = await startLlamaEmulator({ host: "127.0.0.1", port: 0, apiKey: "box-key" });
  const backends = [
    { name: "desk", kind: "ollama", url: desk.url },
    { name: "laptop", kind: "ollama", url: laptop.url },
    { name: "box", kind: "llamacpp", url: box.url, api_key: "$BOX_KEY" },
  ];
  dev = await startWranglerDev({
    vars: {
      BACKENDS: JSON.stringify(backends),
      BOX_KEY: "box-key",
      ADMIN_TOKEN: ADMIN,
      BACKEND_COOLDOWN: "1s",
      MODELS_CACHE_TTL: "0ms",
      UPSTREAM_RETRY_BACKOFF: "20ms",
      HEARTBEAT_INTERVAL: "1s",
      BACKEND_MAX_CONCURRENCY: "32",
    },
  });
  const created = await fetch(`${dev.url}/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "backends", rpm: 100000, tpm: 100000000, max_concurrency: 100 }),
  });
  const { key } = (await created.json()) as { key: string };
  client = new OpenAI({ baseURL: `${dev.url}/v1`, apiKey: key, maxRetries: 0 });
}, 90_000);

afterAll(async () => {
  await dev?.stop();
  await Promise.all([desk?.close(), laptop?.close(), box?.close()]);
});

/** /health as the operator sees it (the admin token shows each backend); probes are reused for a few seconds. */
const health = async () =>
  (await (await fetch(`${dev.url}/health`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
    status: string;
    backends: { name: string; status: string }[];
  };
const HEALTH_CACHE = { timeout: 8000, interval: 250 };
const ask = (model: string, text = "hi") => client.chat.completions.create({ model, messages: [{ role: "user", content: text }] });

describe("several machines behind one URL", () => {
  it("lists every machine's models once, owned by their machine", async () => {
    const models = new Map<string, string>();
    for await (const model of client.models.list()) models.set(model.id, model.owned_by);
    expect(models.get("phi4:14b")).toBeUndefined();
    expect(models.get("llava:7b")).toBe("desk");
    expect(models.get("qwen3:8b")).toBe("desk");
    expect(models.get("qwen2.5-7b-instruct")).toBe("box");
    expect((await health()).status).toBe("ok");
  });

  it("routes by model, and spreads a model both Ollamas have", async () => {
    expect((await ask("llava:7b")).choices[0]!.message.content).toBe("Hello! You said: hi");
    expect((await ask("qwen2.5-7b-instruct")).choices[0]!.message.content).toBe("Hello from llama.cpp! You said: hi");
    desk.reset();
    laptop.reset();
    for (let i = 0; i < 8; i++) await ask("llama3.2");
    expect(desk.stats().total).toBeGreaterThan(0);
    expect(laptop.stats().total).toBeGreaterThan(0);
  });

  it("a machine that goes away: its running streams end with an error event, new requests keep succeeding, and it is used again once back", async () => {
    // Streams in flight on both Ollamas, then the laptop disappears.
    const streams = await Promise.all(
      Array.from({ length: 6 }, () =>
        client.chat.completions.create({
          model: "llama3.2",
          stream: true,
          messages: [{ role: "user", content: "one two three four five six seven eight nine ten" }],
        }),
      ),
    );
    const outcomes = streams.map(async (stream) => {
      let text = "";
      try {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? "";
        return { ok: true, text };
      } catch (error) {
        return { ok: false, text, error: error as Error };
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 60));
    await laptop.close();
    const results = await Promise.all(outcomes);
    expect(results.filter((r) => r.ok).every((r) => r.text === "Hello! You said: one two three four five six seven eight nine ten")).toBe(true);
    const failed = results.filter((r) => !r.ok);
    expect(failed.length).toBeGreaterThan(0); // the streams the laptop was serving
    for (const result of failed) expect(result.error).toBeInstanceOf(OpenAI.APIError);

    // Requests that had not started: none fails.
    for (let i = 0; i < 10; i++) expect((await ask("llama3.2")).choices[0]!.message.content).toBe("Hello! You said: hi");
    await expect.poll(async () => (await health()).status, HEALTH_CACHE).toBe("degraded");
    expect((await health()).backends.find((b) => b.name === "laptop")!.status).toBe("down");

    // Back on the same address: after the cooldown it takes requests again.
    laptop = await startLaptop(laptopPort);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await expect.poll(async () => (await health()).status, HEALTH_CACHE).toBe("ok");
    for (let i = 0; i < 8; i++) await ask("llama3.2");
    expect(laptop.stats().total).toBeGreaterThan(0);
  });

  it("llama.cpp's /tokenize round-trips through /detokenize", async () => {
    const headers = { authorization: `Bearer ${client.apiKey}`, "content-type": "application/json" };
    const text = "Grüße aus der Küche 🍜";
    const tokenized = (await (await fetch(`${dev.url}/tokenize`, { method: "POST", headers, body: JSON.stringify({ content: text }) })).json()) as {
      tokens: number[];
    };
    const detokenized = (await (
      await fetch(`${dev.url}/detokenize`, { method: "POST", headers, body: JSON.stringify({ tokens: tokenized.tokens }) })
    ).json()) as { content: string };
    expect(detokenized.content).toBe(text);
  });
});
