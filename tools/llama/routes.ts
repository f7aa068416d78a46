// llama-server's endpoints: method/path dispatch and one small handler per route.
import type { IncomingMessage } from "node:http";
import { isObject } from "../emulator/answers.ts";
import type { Json } from "./http.ts";
import { errorBody, METRICS_TYPE, NO_SLOT, NOT_FOUND, parseBody, sendJson, sendLlamaError, sendReply, sendText } from "./http.ts";
import type { ServerFacts } from "./info.ts";
import { metricsText, modelsBody, propsBody, slotsBody } from "./info.ts";
import type { GenContext } from "./openai.ts";
import { applyLineFault, sendPlan } from "./openai.ts";
import { PREDICTED_MS_PER_TOKEN, PROMPT_MS_PER_TOKEN, planChat, planCompletion } from "./plan.ts";
import type { MetricTotals, Slot, SlotPool } from "./slots.ts";
import { applyTemplateReply, detokenizeReply, embeddingsReply, tokenizeReply } from "./tokens.ts";

export interface LlamaState extends ServerFacts {
  tokenDelayMs: number;
  /** The model thinks (a Qwen3-style template): reasoning before its answers unless a request turns it off. */
  thinking: boolean;
  embeddings: boolean;
  pool: SlotPool;
  totals: MetricTotals;
  nextTask: number;
  /** A fixed `created` (Unix seconds) for every answer, set over /__emulator/clock; null for the real time. */
  clock: number | null;
}

export interface RouteContext extends GenContext {
  req: IncomingMessage;
  url: URL;
  raw: string;
  state: LlamaState;
}

type Handler = (ctx: RouteContext) => void | Promise<void>;

const NO_COMPLETIONS = "This server does not support completions. Start it without `--embeddings`";
const NO_EMBEDDINGS = "This server does not support embeddings. Start it with `--embeddings`";

const kindOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/** The body as a JSON object, or null once the error went out. */
function jsonBody(ctx: RouteContext): Json | null {
  const parsed = parseBody(ctx.raw);
  if (!parsed.ok) {
    sendReply(ctx.res, parsed);
    return null;
  }
  if (isObject(parsed.value)) return parsed.value;
  // nlohmann's value() on a non-object throws a type_error, which is not an invalid_argument: a 500.
  sendLlamaError(ctx.res, "server_error", `[json.exception.type_error.306] cannot use value() with ${kindOf(parsed.value)}`);
  return null;
}

function count(totals: MetricTotals, promptTokens: number, predicted: number): void {
  totals.promptTokens += promptTokens;
  totals.promptMs += promptTokens * PROMPT_MS_PER_TOKEN;
  totals.predictedTokens += predicted;
  totals.predictedMs += predicted * PREDICTED_MS_PER_TOKEN;
  totals.decodeCalls += 1 + predicted;
  totals.nTokensMax = Math.max(totals.nTokensMax, promptTokens + predicted);
}

/** Runs `work` in a server slot, waiting for one when all are busy; the slot is freed when the response closes. */
async function inSlot(ctx: RouteContext, stream: boolean, work: (slot: Slot) => Promise<void>): Promise<void> {
  const { pool } = ctx.state;
  const slot = await pool.acquire(ctx.signal);
  if (!slot) return; // the client left while waiting
  if (ctx.signal.aborted) return pool.release(slot);
  Object.assign(slot, { idTask: ctx.state.nextTask++, nDecoded: 0, stream });
  ctx.res.once("close", () => pool.release(slot));
  await work(slot);
}

function generation(plan: typeof planChat): Handler {
  return async (ctx) => {
    if (ctx.state.embeddings) return sendLlamaError(ctx.res, "not_supported_error", NO_COMPLETIONS);
    const body = jsonBody(ctx);
    if (!body) return;
    // The body seeds the ids, so the same request always gets the same answer.
    const planned = plan(body, ctx.state.alias, ctx.raw, ctx.state.thinking);
    if (!planned.ok) return sendLlamaError(ctx.res, planned.type, planned.message);
    const p = planned.value;
    await inSlot(ctx, p.stream, (slot) =>
      sendPlan(ctx, p, {
        progress: (n) => void (slot.nDecoded = n),
        done: () => count(ctx.state.totals, p.promptTokens, p.steps.length),
      }),
    );
  };
}

const embeddings: Handler = async (ctx) => {
  if (!ctx.state.embeddings) return sendLlamaError(ctx.res, "not_supported_error", NO_EMBEDDINGS);
  const body = jsonBody(ctx);
  if (!body) return;
  const reply = embeddingsReply(body, ctx.state.alias);
  if (reply.status !== 200) return sendReply(ctx.res, reply);
  await inSlot(ctx, false, async () => {
    if (ctx.lineFault) return applyLineFault(ctx, ctx.lineFault, false);
    sendReply(ctx.res, reply);
    count(ctx.state.totals, reply.promptTokens, 0);
  });
};

function bodyReply(reply: (body: Json) => { status: number; body: unknown }): Handler {
  return (ctx) => {
    const body = jsonBody(ctx);
    if (body) sendReply(ctx.res, reply(body));
  };
}

const health: Handler = (ctx) => sendJson(ctx.res, 200, { status: "ok" });
const models: Handler = (ctx) => sendJson(ctx.res, 200, modelsBody(ctx.state));

const slots: Handler = (ctx) => {
  const { state, res, url } = ctx;
  if (!state.slotsEndpoint) return sendLlamaError(res, "not_supported_error", "This server does not support slots endpoint. Start it with `--slots`");
  // ?fail_on_no_slot=<anything> turns "all slots busy" into a 503.
  if (url.searchParams.get("fail_on_no_slot") && state.pool.slots.every((s) => s.busy)) return sendReply(res, NO_SLOT);
  sendJson(res, 200, slotsBody(state, state.pool));
};

const metrics: Handler = (ctx) => {
  const { state, res } = ctx;
  if (!state.metricsEndpoint) return sendLlamaError(res, "not_supported_error", "This server does not support metrics endpoint. Start it with `--metrics`");
  sendText(res, 200, metricsText(state.totals, state.pool), METRICS_TYPE);
};

const ROUTES: Record<string, Record<string, Handler>> = {
  "/health": { GET: health },
  "/v1/health": { GET: health },
  "/models": { GET: models },
  "/v1/models": { GET: models },
  "/props": {
    GET: (ctx) => sendJson(ctx.res, 200, propsBody(ctx.state, ctx.state.pool)),
    POST: (ctx) => sendReply(ctx.res, errorBody("not_supported_error", "This server does not support changing global properties. Start it with `--props`")),
  },
  "/slots": { GET: slots },
  "/metrics": { GET: metrics },
  "/tokenize": { POST: bodyReply(tokenizeReply) },
  "/apply-template": { POST: bodyReply(applyTemplateReply) },
  "/detokenize": { POST: bodyReply(detokenizeReply) },
  "/v1/chat/completions": { POST: generation(planChat) },
  "/chat/completions": { POST: generation(planChat) },
  "/v1/completions": { POST: generation(planCompletion) },
  "/v1/embeddings": { POST: embeddings },
};

// cpp-httplib answers 404 for an unknown path and for a known path with another method.
export function routeRequest(ctx: RouteContext, method: string): void | Promise<void> {
  const handler = ROUTES[ctx.url.pathname]?.[method];
  if (!handler) return sendReply(ctx.res, NOT_FOUND);
  return handler(ctx);
}
