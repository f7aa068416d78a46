import OpenAI from "openai";
import { inject } from "vitest";

export const GATEWAY_URL = inject("gatewayUrl");
export const EMULATOR_URL = inject("emulatorUrl");

/** An unmodified OpenAI client: only the base URL and key differ from talking to OpenAI. */
export function openaiClient(): OpenAI {
  return new OpenAI({ baseURL: `${GATEWAY_URL}/v1`, apiKey: "sk-e2e-any-key", maxRetries: 0 });
}

export const emulator = {
  async reset(): Promise<void> {
    await fetch(`${EMULATOR_URL}/__emulator/reset`, { method: "POST" });
  },
  async fault(rule: unknown): Promise<void> {
    await fetch(`${EMULATOR_URL}/__emulator/fault`, { method: "POST", body: JSON.stringify(rule) });
  },
  async stats(): Promise<{ open: number; aborted: number; completed: number; total: number }> {
    return (await (await fetch(`${EMULATOR_URL}/__emulator/stats`)).json()) as never;
  },
  async requests(path: string): Promise<{ headers: Record<string, string>; body: any }[]> {
    const all = (await (await fetch(`${EMULATOR_URL}/__emulator/requests`)).json()) as { path: string; headers: Record<string, string>; body: any }[];
    return all.filter((r) => r.path === path);
  },
};
