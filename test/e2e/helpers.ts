import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { inject } from "vitest";
import { E2E_ADMIN_TOKEN } from "./global-setup.ts";

export const GATEWAY_URL = inject("gatewayUrl");
export const EMULATOR_URL = inject("emulatorUrl");
/** A real key, created through the admin API in global setup. */
export const API_KEY = inject("apiKey");

/** The gateway's ADMIN_TOKEN in the end-to-end setup (for the admin-only native routes). */
export const ADMIN_TOKEN = E2E_ADMIN_TOKEN;

/** An unmodified OpenAI client: only the base URL and key differ from talking to OpenAI. */
export function openaiClient(): OpenAI {
  return new OpenAI({ baseURL: `${GATEWAY_URL}/v1`, apiKey: API_KEY, maxRetries: 0 });
}

/** An unmodified Anthropic client: the base URL (without /v1, as Anthropic's SDKs take it) and the key differ. */
export function anthropicClient(options: { authToken?: boolean } = {}): Anthropic {
  return options.authToken
    ? new Anthropic({ baseURL: GATEWAY_URL, apiKey: null, authToken: API_KEY, maxRetries: 0 })
    : new Anthropic({ baseURL: GATEWAY_URL, apiKey: API_KEY, maxRetries: 0 });
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
