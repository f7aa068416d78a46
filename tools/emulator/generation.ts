// Turns a validated request into the NDJSON lines (stream) and the single object (stream:false).

import type { Json, ToolCall } from "./answers.ts";
import { applyStop, THINKING_TEXT, tokenize } from "./answers.ts";
import type { GenRequest } from "./validate.ts";

/** Lines and objects without `model`/`created_at`: the writer stamps those at send time. */
export interface Generation {
  model: string;
  stream: boolean;
  lines: Json[];
  final: Json;
  single: Json;
}

type Item = { kind: "thinking"; token: string } | { kind: "content"; token: string } | { kind: "tool"; call: ToolCall };

// A tool call is "worth" 5 tokens in eval_count and in the num_predict budget.
const TOOL_CALL_TOKENS = 5;
const cost = (item: Item): number => (item.kind === "tool" ? TOOL_CALL_TOKENS : 1);

function planItems(g: GenRequest): { items: Item[]; doneReason: string } {
  const all: Item[] = [];
  if (g.think) for (const token of tokenize(THINKING_TEXT)) all.push({ kind: "thinking", token });
  if ("toolCalls" in g.answer) {
    for (const call of g.answer.toolCalls) all.push({ kind: "tool", call });
  } else {
    for (const token of tokenize(applyStop(g.answer.text, g.stop).text)) all.push({ kind: "content", token });
  }
  if (g.numPredict === null) return { items: all, doneReason: "stop" };
  let left = g.numPredict;
  const kept: Item[] = [];
  for (const item of all) {
    if (cost(item) > left) return { items: kept, doneReason: "length" };
    left -= cost(item);
    kept.push(item);
  }
  return { items: kept, doneReason: "stop" };
}

const round4 = (x: number): number => Math.round(x * 1e4) / 1e4;
const utf8 = (s: string): number[] => [...Buffer.from(s, "utf8")];

// Deterministic fake logprobs: the i-th content token gets -0.1*(i+1); alternatives are 1.0 lower each.
function logprobEntry(token: string, i: number, top: number): Json {
  const logprob = round4(-0.1 * (i + 1));
  const alternatives: Json[] = [];
  for (let j = 0; j < top; j++) {
    const alt = j === 0 ? token : `alt${j}`;
    alternatives.push({ token: alt, logprob: round4(logprob - j), bytes: utf8(alt) });
  }
  return { token, logprob, bytes: utf8(token), top_logprobs: alternatives };
}

// Plausible nanosecond durations derived from the counts; zero fields are omitted like Go's omitempty.
function metrics(promptCount: number, evalCount: number): Json {
  const load = 25_000_000;
  const promptDuration = promptCount * 1_000_000;
  const evalDuration = evalCount * 20_000_000;
  const all: Json = {
    total_duration: load + promptDuration + evalDuration + 1_000_000,
    load_duration: load,
    prompt_eval_count: promptCount,
    prompt_eval_duration: promptDuration,
    eval_count: evalCount,
    eval_duration: evalDuration,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== 0));
}

const assistant = (fields: Json): Json => ({ message: { role: "assistant", content: "", ...fields } });

function loadGeneration(g: GenRequest, reason: string): Generation {
  const body = g.endpoint === "chat" ? assistant({}) : { response: "" };
  const done = { ...body, done: true, done_reason: reason };
  return { model: g.model, stream: false, lines: [], final: done, single: done };
}

export function buildGeneration(g: GenRequest): Generation {
  if (g.load) return loadGeneration(g, g.load);
  const { items, doneReason } = planItems(g);
  const chat = g.endpoint === "chat";
  const lines: Json[] = [];
  const logprobs: Json[] = [];
  let content = "";
  let thinking = "";
  const calls: ToolCall[] = [];
  for (const item of items) {
    if (item.kind === "thinking") {
      thinking += item.token;
      lines.push({ ...(chat ? assistant({ thinking: item.token }) : { response: "", thinking: item.token }), done: false });
    } else if (item.kind === "tool") {
      calls.push(item.call);
      lines.push({ ...assistant({ tool_calls: [item.call] }), done: false });
    } else {
      const lp = g.logprobs ? [logprobEntry(item.token, logprobs.length, g.topLogprobs)] : null;
      if (lp) logprobs.push(...lp);
      content += item.token;
      const body = chat ? assistant({ content: item.token }) : { response: item.token };
      lines.push({ ...body, done: false, ...(lp ? { logprobs: lp } : {}) });
    }
  }
  const evalCount = items.reduce((n, item) => n + cost(item), 0);
  const tail: Json = {
    done: true,
    done_reason: doneReason,
    ...(!chat && !g.raw ? { context: [1, 2, 3] } : {}),
    ...metrics(g.promptCount, evalCount),
  };
  const extras: Json = { ...(thinking ? { thinking } : {}) };
  const singleBody = chat ? assistant({ content, ...extras, ...(calls.length > 0 ? { tool_calls: calls } : {}) }) : { response: content, ...extras };
  return {
    model: g.model,
    stream: g.stream,
    lines,
    final: { ...(chat ? assistant({}) : { response: "" }), ...tail },
    single: { ...singleBody, ...tail, ...(g.logprobs ? { logprobs } : {}) },
  };
}
