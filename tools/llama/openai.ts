// Writes a planned answer in llama-server's OpenAI shapes: one JSON object, or server-sent events ending in [DONE].
import type { ServerResponse } from "node:http";
import { pause } from "../emulator/http.ts";
import type { LineFault } from "./faults.ts";
import { DEFAULT_MIDSTREAM_ERROR } from "./faults.ts";
import type { Json } from "./http.ts";
import { errorBody, SSE_TYPE, sendJson, sendReply } from "./http.ts";
import type { Plan, Step } from "./plan.ts";
import { BUILD_INFO, timingsOf, usageOf } from "./plan.ts";

export interface GenContext {
  res: ServerResponse;
  /** Fires when the client goes away (or the emulator closes): stop writing, clear timers. */
  signal: AbortSignal;
  tokenDelayMs: number;
  lineFault: LineFault | null;
  /** Destroy the socket on purpose (not counted as a client abort). */
  drop(): void;
  /** `created`, in Unix seconds. */
  now(): number;
}

export interface GenHooks {
  /** Called with the number of tokens sent so far. */
  progress(decoded: number): void;
  /** Called once the whole answer went out. */
  done(): void;
}

/** One SSE event and how many tokens have been sent once it is written. */
interface SseEvent {
  data: string;
  decoded: number;
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

// The delta of one step, as server_chat_msg_diff_to_json_oaicompat writes it.
function chatDelta(step: Step): Json {
  if ("content" in step) return { content: step.content };
  if ("reasoning" in step) return { reasoning_content: step.reasoning };
  if ("call" in step) {
    return { tool_calls: [{ index: 0, id: step.call.id, type: "function", function: { name: step.call.name, arguments: "" } }] };
  }
  return { tool_calls: [{ index: 0, function: { arguments: step.args } }] };
}

function chatMessage(steps: Step[]): Json {
  let content = "";
  let reasoning = "";
  let call: { id: string; name: string; arguments: string } | null = null;
  for (const step of steps) {
    if ("content" in step) content += step.content;
    else if ("reasoning" in step) reasoning += step.reasoning;
    else if ("call" in step) call = { ...step.call, arguments: "" };
    else if (call && "args" in step) call.arguments += step.args;
  }
  const thought = reasoning ? { reasoning_content: reasoning } : {};
  if (call) {
    const calls = [{ type: "function", function: { name: call.name, arguments: call.arguments }, id: call.id }];
    return { role: "assistant", content: null, ...thought, tool_calls: calls };
  }
  return { role: "assistant", content: content || null, ...thought };
}

const textOf = (steps: Step[]): string => steps.map((s) => ("content" in s ? s.content : "")).join("");

/** The non-streaming answer (chat.completion or text_completion), keys in llama-server's order. */
export function singleBody(plan: Plan, created: number): Json {
  const head = { created, model: plan.model, system_fingerprint: BUILD_INFO };
  const tail = { usage: usageOf(plan), id: plan.id, timings: timingsOf(plan.promptTokens, plan.steps.length) };
  if (plan.endpoint === "chat") {
    const choice = { finish_reason: plan.finishReason, index: 0, message: chatMessage(plan.steps) };
    return { choices: [choice], ...head, object: "chat.completion", ...tail };
  }
  const choice = { text: textOf(plan.steps), index: 0, logprobs: null, finish_reason: plan.finishReason };
  return { choices: [choice], ...head, object: "text_completion", ...tail };
}

function chatEvents(plan: Plan, created: number): SseEvent[] {
  const chunk = (choices: Json[], extra: Json = {}): Json => ({
    choices,
    created,
    id: plan.id,
    model: plan.model,
    system_fingerprint: BUILD_INFO,
    object: "chat.completion.chunk",
    ...extra,
  });
  const bodies: Array<{ body: Json; decoded: number }> = [];
  // The first token also brings the opening delta OpenAI clients expect.
  if (plan.steps.length > 0) bodies.push({ body: chunk([{ finish_reason: null, index: 0, delta: { role: "assistant", content: null } }]), decoded: 0 });
  plan.steps.forEach((step, i) => bodies.push({ body: chunk([{ finish_reason: null, index: 0, delta: chatDelta(step) }]), decoded: i + 1 }));
  const decoded = plan.steps.length;
  bodies.push({ body: chunk([{ finish_reason: plan.finishReason, index: 0, delta: {} }]), decoded });
  if (plan.includeUsage) bodies.push({ body: chunk([], { usage: usageOf(plan) }), decoded });
  const last = bodies[bodies.length - 1];
  if (last) last.body.timings = timingsOf(plan.promptTokens, decoded);
  return bodies.map(({ body, decoded: n }) => ({ data: JSON.stringify(body), decoded: n }));
}

function completionEvents(plan: Plan, created: number): SseEvent[] {
  const head = { created, model: plan.model, system_fingerprint: BUILD_INFO, object: "text_completion" };
  const events = plan.steps.map((step, i) => ({
    data: JSON.stringify({ choices: [{ text: textOf([step]), index: 0, logprobs: null, finish_reason: null }], ...head, id: plan.id }),
    decoded: i + 1,
  }));
  const n = plan.steps.length;
  const final = {
    choices: [{ text: "", index: 0, logprobs: null, finish_reason: plan.finishReason }],
    ...head,
    usage: usageOf(plan),
    id: plan.id,
    timings: timingsOf(plan.promptTokens, n),
  };
  return [...events, { data: JSON.stringify(final), decoded: n }];
}

function writeEvent(res: ServerResponse, data: string): void {
  if (!res.destroyed) res.write(`data: ${data}\n\n`);
}

/** A line fault: mid-stream when streaming; otherwise before anything (a hold, a cut connection or a 500). */
export async function applyLineFault(ctx: GenContext, fault: LineFault, streaming: boolean): Promise<void> {
  const message = fault.kind === "error-midstream" ? (fault.message ?? DEFAULT_MIDSTREAM_ERROR) : "";
  switch (fault.kind) {
    case "stall":
      return untilAborted(ctx.signal); // hold the socket, writing nothing, until the client (or close()) gives up
    case "drop":
      ctx.drop();
      return;
    case "error-midstream":
      if (!streaming) return sendReply(ctx.res, errorBody("server_error", message));
      writeEvent(ctx.res, JSON.stringify(errorBody("server_error", message).body));
      ctx.res.end();
      return;
  }
}

export async function sendPlan(ctx: GenContext, plan: Plan, hooks: GenHooks): Promise<void> {
  const { res, signal, lineFault, tokenDelayMs } = ctx;
  if (!plan.stream) {
    // A non-streaming caller gets nothing until the whole answer is ready, faults included.
    if (lineFault) return applyLineFault(ctx, lineFault, false);
    if (!(await pause(tokenDelayMs * plan.steps.length, signal))) return;
    hooks.progress(plan.steps.length);
    sendJson(res, 200, singleBody(plan, ctx.now()));
    hooks.done();
    return;
  }
  const created = ctx.now();
  const events = plan.endpoint === "chat" ? chatEvents(plan, created) : completionEvents(plan, created);
  const all = [...events, { data: "[DONE]", decoded: plan.steps.length }];
  res.writeHead(200, { "Content-Type": SSE_TYPE });
  res.flushHeaders();
  const cut = lineFault ? Math.min(lineFault.afterLines, all.length) : all.length;
  for (let i = 0; i < cut; i++) {
    if (i > 0 && !(await pause(tokenDelayMs, signal))) return;
    const event = all[i];
    if (!event) continue;
    writeEvent(res, event.data);
    hooks.progress(event.decoded);
  }
  if (lineFault) {
    if (cut > 0 && !(await pause(tokenDelayMs, signal))) return;
    return applyLineFault(ctx, lineFault, true);
  }
  res.end();
  hooks.done();
}
