import { Ollama } from "ollama";
import { beforeEach, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, API_KEY, emulator, GATEWAY_URL } from "./helpers.ts";

// The official ollama JavaScript client against the gateway's native /api/*: only host and headers change.
const ollama = new Ollama({ host: GATEWAY_URL, headers: { Authorization: `Bearer ${API_KEY}` } });
const admin = new Ollama({ host: GATEWAY_URL, headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });

beforeEach(() => emulator.reset());

const names = async (client = ollama) => (await client.list()).models.map((model) => model.name);

describe("ollama-js through the gateway", () => {
  it("list and show (an alias resolves to the installed model)", async () => {
    const listed = await ollama.list();
    expect(listed.models.map((model) => model.name)).toContain("llama3.2:latest");
    expect(listed.models.find((model) => model.name === "qwen3:8b")).toMatchObject({ details: { family: "qwen3", parameter_size: "8.2B" } });
    const shown = await ollama.show({ model: "gpt-4o-mini" });
    expect(shown.details.family).toBe("llama");
    expect(shown.capabilities).toEqual(["completion", "tools"]);
    const [native] = await emulator.requests("/api/show");
    expect(native!.body.model).toBe("llama3.2:latest");
  });

  it("chat with stream: true, assembled from the parts", async () => {
    const parts = await ollama.chat({ model: "llama3.2", messages: [{ role: "user", content: "hi native ✓" }], stream: true });
    let text = "";
    let count = 0;
    let last: { done: boolean; eval_count: number } | undefined;
    for await (const part of parts) {
      count++;
      text += part.message.content;
      last = part;
    }
    expect(text).toBe("Hello! You said: hi native ✓");
    expect(count).toBeGreaterThan(2);
    expect(last).toMatchObject({ done: true, eval_count: 6 }); // one count per word the emulator sends
  });

  it("Ollama's errors reach the client as ResponseError with the status", async () => {
    const missing = await ollama.show({ model: "no-such-model" }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ name: "ResponseError", status_code: 404 });
    const unsupported = await ollama.chat({ model: "llama3.2", think: true, messages: [{ role: "user", content: "x" }] }).catch((e: unknown) => e);
    expect(unsupported).toMatchObject({ name: "ResponseError", status_code: 400, error: '"llama3.2:latest" does not support thinking' });
  });

  it("admin calls with the admin token: pull (streamed), copy and delete; a key is refused", async () => {
    const progress: string[] = [];
    for await (const part of await admin.pull({ model: "tinyllama", stream: true })) progress.push(part.status);
    expect(progress[0]).toBe("pulling manifest");
    expect(progress.at(-1)).toBe("success");
    expect(await admin.copy({ source: "tinyllama", destination: "tiny-copy" })).toEqual({ status: "success" });
    expect(await names()).toEqual(expect.arrayContaining(["tinyllama:latest", "tiny-copy:latest"]));
    expect(await admin.delete({ model: "tiny-copy" })).toEqual({ status: "success" });
    expect(await names()).not.toContain("tiny-copy:latest");
    const refused = await ollama.delete({ model: "tinyllama" }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: "ResponseError", status_code: 401 });
    expect(await names()).toContain("tinyllama:latest");
  });
});
