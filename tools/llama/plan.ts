// What the emulated model answers to /v1/chat/completions and /v1/completions: a pure function of the request.
import { createHash } from "node:crypto";
import { applyStop, exampleFromSchema, isObject, tokenize, wordCount } from "../emulator/answers.ts";
import type { ErrorType, Json } from "./http.ts";

export const GREETING = "Hello from llama.cpp! You said:";
/** What a thinking model thinks before it answers (then the answer, or the tool call). */
export const THOUGHT = "The user wrote:";
/** llama_build_info(), sent as system_fingerprint and in /props. */
export const BUILD_INFO = "b6100-6d2b79f5";
// Fixed speeds, so that timings are as deterministic as the text.
export const PROMPT_MS_PER_TOKEN = 2;
export const PREDICTED_MS_PER_TOKEN = 20;

/** One generated token: a piece of text or of reasoning, the head of a tool call, or a piece of its arguments. */
export type Step = { content: string } | { reasoning: string } | { call: { id: string; name: string } } | { args: string };

export interface Plan {
  endpoint: "chat" | "completion";
  /** chatcmpl-… (llama-server uses that prefix for /v1/completions too). */
  id: string;
  model: string;
  stream: boolean;
  includeUsage: boolean;
  steps: Step[];
  finishReason: "stop" | "length" | "tool_calls";
  promptTokens: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; type: ErrorType; message: string };

const invalid = (message: string): Checked<never> => ({ ok: false, type: "invalid_request_error", message });

/** 32 characters of [A-Za-z0-9], like llama-server's random_string(), but stable for a given seed. */
export function stableId(seed: string): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = createHash("sha256").update(seed).digest();
  let id = "";
  for (let k = 0; k < 32; k++) id += alphabet[(bytes[k] ?? 0) % alphabet.length];
  return id;
}

/** A message's text: a string, or the text parts of a content array joined by newlines. */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((part): part is Json => isObject(part) && part.type === "text" && typeof part.text === "string")
    .map((part) => part.text as string)
    .join("\n");
}

function stopList(stop: unknown): string[] {
  if (typeof stop === "string") return [stop];
  return Array.isArray(stop) ? stop.filter((s): s is string => typeof s === "string") : [];
}

// max_tokens, its newer name, or llama.cpp's own n_predict; -1 (or absent) is unlimited.
function limitOf(body: Json): number | null {
  const raw = body.max_tokens ?? body.max_completion_tokens ?? body.n_predict;
  return typeof raw === "number" && Number.isInteger(raw) && raw >= 0 ? raw : null;
}

function textSteps(text: string, stops: string[]): { steps: Step[]; stopped: boolean } {
  const cut = applyStop(text, stops);
  return { steps: tokenize(cut.text).map((content) => ({ content })), stopped: cut.stopped };
}

/** The tool to call: the one tool_choice names, else the first. */
function chosenTool(tools: unknown[], choice: unknown): Json {
  const named = isObject(choice) && isObject(choice.function) ? choice.function.name : undefined;
  const byName = tools.find((t) => isObject(t) && isObject(t.function) && t.function.name === named);
  const tool = byName ?? tools[0];
  return isObject(tool) && isObject(tool.function) ? tool.function : {};
}

/** The head of the call, then its JSON arguments in pieces that end after each `:` and `,`. */
function toolSteps(fn: Json, seed: string): Step[] {
  const example = exampleFromSchema(fn.parameters ?? { type: "object" });
  const args = JSON.stringify(isObject(example) ? example : {});
  const pieces = args.match(/[^,:]*[,:]?/g)?.filter(Boolean) ?? [];
  const name = typeof fn.name === "string" ? fn.name : "";
  return [{ call: { id: stableId(`tool\u0000${seed}`), name } }, ...pieces.map((args) => ({ args }))];
}

function finish(steps: Step[], limit: number | null, natural: Plan["finishReason"]): Pick<Plan, "steps" | "finishReason"> {
  if (limit !== null && steps.length > limit) return { steps: steps.slice(0, limit), finishReason: "length" };
  return { steps, finishReason: natural };
}

function common(body: Json, alias: string, seed: string) {
  const streamOptions = isObject(body.stream_options) ? body.stream_options : {};
  return {
    id: `chatcmpl-${stableId(seed)}`,
    model: typeof body.model === "string" && body.model ? body.model : alias,
    stream: body.stream === true,
    includeUsage: streamOptions.include_usage === true,
  };
}

/**
 * A thinking model reasons unless the request turns it off: `chat_template_kwargs.enable_thinking: false` (Qwen3's
 * template) or `reasoning_effort: "none"`. The reasoning comes back apart (`reasoning_content`), as with
 * llama-server's default `reasoning_format`, or, with `reasoning_format: "none"`, raw in the text between the
 * model's <think> tags.
 */
function reasoningSteps(body: Json, thinking: boolean, userText: string): Step[] {
  const kwargs = isObject(body.chat_template_kwargs) ? body.chat_template_kwargs : {};
  if (!thinking || kwargs.enable_thinking === false || body.reasoning_effort === "none") return [];
  const thought = `${THOUGHT} ${userText}`;
  if (body.reasoning_format === "none") return tokenize(`<think>\n${thought}\n</think>\n\n`).map((content) => ({ content }));
  return tokenize(thought).map((reasoning) => ({ reasoning }));
}

/**
 * Validates like llama-server's oaicompat_chat_params_parse (same texts), then plans the answer. `thinking`: the
 * model is a thinking one (see `reasoningSteps`).
 */
export function planChat(body: Json, alias: string, seed: string, thinking = false): Checked<Plan> {
  if (!("messages" in body)) return invalid("'messages' is required");
  const messages = body.messages;
  if (!Array.isArray(messages)) return invalid("Expected 'messages' to be an array");
  for (const msg of messages) {
    if (!isObject(msg)) return invalid(`Expected 'message' to be an object, got ${JSON.stringify(msg)}`);
    if (msg.role !== "assistant" && !("content" in msg)) return invalid("All non-assistant messages must contain 'content'");
    if (msg.role === "assistant" && !("content" in msg) && !("tool_calls" in msg)) {
      return invalid("Assistant message must contain either 'content' or 'tool_calls'!");
    }
  }
  if (body.n !== undefined && body.n !== 1) return invalid("Only one completion choice is allowed");
  const msgs = messages as Json[];
  const tools = Array.isArray(body.tools) ? body.tools : [];
  const last = msgs[msgs.length - 1];
  const userText = contentText([...msgs].reverse().find((m) => m.role === "user")?.content);
  const promptTokens = msgs.reduce((n, m) => n + wordCount(contentText(m.content)) + 1, 0);
  const base = common(body, alias, seed);
  const thought = reasoningSteps(body, thinking, userText);
  if (tools.length > 0 && last?.role === "user" && body.tool_choice !== "none") {
    const steps = [...thought, ...toolSteps(chosenTool(tools, body.tool_choice), seed)];
    return { ok: true, value: { endpoint: "chat", ...base, promptTokens, ...finish(steps, limitOf(body), "tool_calls") } };
  }
  const { steps } = textSteps(userText ? `${GREETING} ${userText}` : GREETING, stopList(body.stop));
  return { ok: true, value: { endpoint: "chat", ...base, promptTokens, ...finish([...thought, ...steps], limitOf(body), "stop") } };
}

/** /v1/completions with one prompt (a string, or an array holding one string). */
export function planCompletion(body: Json, alias: string, seed: string): Checked<Plan> {
  if (!("prompt" in body)) return invalid('"prompt" is required');
  if (body.n !== undefined && body.n !== 1) return invalid("Only one completion choice is allowed");
  const raw = Array.isArray(body.prompt) && body.prompt.length === 1 ? body.prompt[0] : body.prompt;
  if (typeof raw !== "string") return invalid("emulator: prompt must be a string or an array of one string");
  const { steps } = textSteps(raw ? `${GREETING} ${raw}` : GREETING, stopList(body.stop));
  const promptTokens = wordCount(raw) + 1;
  return { ok: true, value: { endpoint: "completion", ...common(body, alias, seed), promptTokens, ...finish(steps, limitOf(body), "stop") } };
}

/** The timings object llama-server attaches to final answers, at the fixed speeds above. */
export function timingsOf(promptN: number, predictedN: number): Json {
  const promptMs = promptN * PROMPT_MS_PER_TOKEN;
  const predictedMs = predictedN * PREDICTED_MS_PER_TOKEN;
  return {
    cache_n: 0,
    prompt_n: promptN,
    prompt_ms: promptMs,
    prompt_per_token_ms: promptN ? PROMPT_MS_PER_TOKEN : 0,
    prompt_per_second: promptN ? 1000 / PROMPT_MS_PER_TOKEN : 0,
    predicted_n: predictedN,
    predicted_ms: predictedMs,
    predicted_per_token_ms: predictedN ? PREDICTED_MS_PER_TOKEN : 0,
    predicted_per_second: predictedN ? 1000 / PREDICTED_MS_PER_TOKEN : 0,
  };
}

export function usageOf(plan: Plan): Json {
  const completion = plan.steps.length;
  return {
    completion_tokens: completion,
    prompt_tokens: plan.promptTokens,
    total_tokens: completion + plan.promptTokens,
    prompt_tokens_details: { cached_tokens: 0 },
  };
}
