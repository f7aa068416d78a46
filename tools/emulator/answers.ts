// What the emulated model "says": a pure function of the request, so tests can assert exact text.
import { createHash } from "node:crypto";

export type Json = Record<string, unknown>;

export interface ToolCall {
  id: string;
  function: { index: number; name: string; arguments: Json };
}

/** Either plain text or tool calls; thinking is decided elsewhere. */
export type Answer = { text: string } | { toolCalls: ToolCall[] };

export const THINKING_TEXT = "Let me think about that.";

export function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Split into tokens at word boundaries, each word keeping its leading whitespace. */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+|\s+/g) ?? [];
}

export function wordCount(text: unknown): number {
  return typeof text === "string" ? text.split(/\s+/).filter(Boolean).length : 0;
}

// A deterministic example value for a JSON schema (used for `format` and tool arguments).
export function exampleFromSchema(schema: unknown, depth = 0): unknown {
  if (!isObject(schema) || depth > 8) return "text";
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if (Array.isArray(schema.anyOf) && schema.anyOf.length > 0) return exampleFromSchema(schema.anyOf[0], depth + 1);
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== "null") ?? type[0];
  if (type === undefined) type = isObject(schema.properties) ? "object" : schema.items !== undefined ? "array" : "string";
  switch (type) {
    case "integer":
    case "number":
      return 42;
    case "boolean":
      return true;
    case "null":
      return null;
    case "array":
      return schema.items === undefined ? [] : [exampleFromSchema(schema.items, depth + 1)];
    case "object": {
      const out: Json = {};
      const props = isObject(schema.properties) ? schema.properties : {};
      for (const [key, sub] of Object.entries(props)) out[key] = exampleFromSchema(sub, depth + 1);
      return out;
    }
    default:
      return "text";
  }
}

// "call_" + 8 chars of [a-z0-9], stable for a given user text and call index.
export function toolCallId(seed: string, index: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = createHash("sha256").update(`${seed}\u0000${index}`).digest();
  let id = "call_";
  for (let k = 0; k < 8; k++) id += alphabet[(bytes[k] ?? 0) % alphabet.length];
  return id;
}

function toolCall(tool: unknown, index: number, seed: string): ToolCall {
  const fn = isObject(tool) && isObject(tool.function) ? tool.function : {};
  const args = exampleFromSchema(fn.parameters ?? { type: "object" });
  return {
    id: toolCallId(seed, index),
    function: { index, name: typeof fn.name === "string" ? fn.name : "", arguments: isObject(args) ? args : {} },
  };
}

/** The text answer for a `format` request, or null when no (known) format was asked for. */
function formattedAnswer(format: unknown, userText: string): string | null {
  if (format === "json") return JSON.stringify({ answer: userText });
  if (isObject(format)) return JSON.stringify(exampleFromSchema(format));
  return null;
}

function imageNote(images: unknown): string {
  const n = Array.isArray(images) ? images.length : 0;
  return n > 0 ? ` (I see ${n} image(s))` : "";
}

/** The tool whose name is a word of the text's last line, if one is. */
function namedTool(tools: unknown[], text: string): unknown {
  const words = new Set((text.split("\n").at(-1) ?? "").split(/[^A-Za-z0-9_-]+/));
  return tools.find((tool) => {
    const name = isObject(tool) && isObject(tool.function) ? tool.function.name : undefined;
    return typeof name === "string" && words.has(name);
  });
}

export function chatAnswer(messages: Json[], format: unknown, tools: unknown[]): Answer {
  const last = messages[messages.length - 1];
  if (last?.role === "tool") return { text: `The tool said: ${String(last.content ?? "")}` };
  const user = [...messages].reverse().find((m) => m.role === "user");
  const userText = typeof user?.content === "string" ? user.content : "";
  const formatted = formattedAnswer(format, userText);
  if (formatted !== null) return { text: formatted };
  if (tools.length > 0 && last?.role === "user") {
    // A tool named in the last line of the user's text is the one called (coding agents offer a dozen tools and
    // put their prompt last); else the first. "both" asks for two parallel calls, so gateways can test multi-call
    // streams.
    const named = namedTool(tools, userText);
    if (named) return { toolCalls: [toolCall(named, 0, userText)] };
    const count = /\bboth\b/i.test(userText) && tools.length >= 2 ? 2 : 1;
    return { toolCalls: tools.slice(0, count).map((t, i) => toolCall(t, i, userText)) };
  }
  if (!user) return { text: "Hello!" };
  return { text: `Hello! You said: ${expanded(userText)}${imageNote(user.images)}` };
}

/**
 * `repeat:<c>:<n>` is said back as the character c n times: a huge answer from a short prompt (a long prompt would
 * not fit the window), for tests of answers over the gateway's line limits.
 */
function expanded(text: string): string {
  const match = /^repeat:(.):(\d{1,9})$/s.exec(text);
  return match ? match[1]!.repeat(Number(match[2])) : text;
}

export function generateAnswer(prompt: string, format: unknown, images: unknown, suffix: string): Answer {
  const formatted = formattedAnswer(format, prompt);
  if (formatted !== null) return { text: formatted };
  const tail = suffix ? ` [suffix: ${suffix}]` : "";
  return { text: `Hello! You said: ${prompt}${imageNote(images)}${tail}` };
}

/** Cut the text just before the earliest stop string; reports whether a stop string was hit. */
export function applyStop(text: string, stops: string[]): { text: string; stopped: boolean } {
  let cut = -1;
  for (const stop of stops) {
    if (!stop) continue;
    const at = text.indexOf(stop);
    if (at >= 0 && (cut < 0 || at < cut)) cut = at;
  }
  return cut < 0 ? { text, stopped: false } : { text: text.slice(0, cut), stopped: true };
}
