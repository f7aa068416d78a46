// Ollama's native endpoints: method/path dispatch and one small handler per route.
import type { IncomingMessage } from "node:http";
import type { EmbedResult } from "./embed.ts";
import { embed, legacyEmbeddings } from "./embed.ts";
import { buildGeneration } from "./generation.ts";
import type { Checked } from "./godecode.ts";
import { decodeBody, fail, stringField } from "./godecode.ts";
import { sendEmpty, sendError, sendJson, sendText } from "./http.ts";
import { blob, copy, create, pull, push, remove } from "./manage.ts";
import { findModel, psEntry, showBody, tagsBody } from "./models.ts";
import type { EmulatedModel } from "./types.ts";
import type { GenRequest } from "./validate.ts";
import { checkChat, checkGenerate } from "./validate.ts";
import type { ReplyContext } from "./writer.ts";
import { sendGeneration } from "./writer.ts";

export interface EmulatorState {
  models: EmulatedModel[];
  version: string;
  tokenDelayMs: number;
  legacyNotFound: boolean;
  /** The num_ctx of a request that sets none. */
  contextLength: number;
  /** Models used since start/reset (for /api/ps), least recently used first. */
  loaded: Map<string, EmulatedModel>;
  /** Uploaded blobs, by digest in file form (`sha256-<hex>`). */
  blobs: Set<string>;
  /** A fixed created_at for every line (set over /__emulator/clock), or null for the real time. */
  createdAt: string | null;
}

export interface RouteContext extends ReplyContext {
  req: IncomingMessage;
  /** The body as UTF-8 text (JSON routes) and as bytes (blob uploads). */
  raw: string;
  bytes: Buffer;
  state: EmulatorState;
}

type Handler = (ctx: RouteContext) => void | Promise<void>;

function markLoaded(state: EmulatorState, model: EmulatedModel): void {
  state.loaded.delete(model.name);
  state.loaded.set(model.name, model);
}

function fromBody<T>(ctx: RouteContext, goType: string, check: (body: Record<string, unknown>) => Checked<T>): T | null {
  const body = decodeBody(ctx.raw, goType);
  const checked = body.ok ? check(body.value) : body;
  if (checked.ok) return checked.value;
  sendError(ctx.res, checked.status, checked.error);
  return null;
}

function generation(goType: string, check: typeof checkChat): Handler {
  return (ctx) => {
    const lookup = { models: ctx.state.models, legacyNotFound: ctx.state.legacyNotFound, contextLength: ctx.state.contextLength };
    const request: GenRequest | null = fromBody(ctx, goType, (body) => check(body, lookup));
    if (!request) return;
    if (request.load === "unload") ctx.state.loaded.delete(request.entry.name);
    else markLoaded(ctx.state, request.entry);
    return sendGeneration(ctx, buildGeneration(request));
  };
}

function embedding(check: (body: Record<string, unknown>, models: EmulatedModel[]) => Checked<EmbedResult>): Handler {
  return (ctx) => {
    const result = fromBody(ctx, "EmbedRequest", (body) => check(body, ctx.state.models));
    if (!result) return;
    markLoaded(ctx.state, result.entry);
    sendJson(ctx.res, 200, result.response);
  };
}

const show: Handler = (ctx) => {
  const entry = fromBody(ctx, "ShowRequest", (body): Checked<EmulatedModel> => {
    const model = stringField(body, "ShowRequest", "model");
    if (!model.ok) return model;
    // `name` is the legacy spelling of `model`.
    const name = model.value || (typeof body.name === "string" ? body.name : "");
    if (!name) return fail(400, "model is required");
    const found = findModel(ctx.state.models, name);
    return found ? { ok: true, value: found } : fail(404, `model '${name}' not found`);
  });
  if (entry) sendJson(ctx.res, 200, showBody(entry));
};

const root: Handler = (ctx) => sendText(ctx.res, 200, "Ollama is running");

const ROUTES: Record<string, Record<string, Handler>> = {
  "/": { GET: root, HEAD: root },
  "/api/version": {
    GET: (ctx) => sendJson(ctx.res, 200, { version: ctx.state.version }),
  },
  "/api/tags": { GET: (ctx) => sendJson(ctx.res, 200, tagsBody(ctx.state.models)) },
  "/api/ps": {
    GET: (ctx) => {
      const now = new Date();
      const recentFirst = [...ctx.state.loaded.values()].reverse();
      sendJson(ctx.res, 200, { models: recentFirst.map((m) => psEntry(m, now)) });
    },
  },
  "/api/show": { POST: show },
  "/api/chat": { POST: generation("ChatRequest", checkChat) },
  "/api/generate": { POST: generation("GenerateRequest", checkGenerate) },
  "/api/embed": { POST: embedding(embed) },
  "/api/embeddings": { POST: embedding(legacyEmbeddings) },
  "/api/pull": { POST: pull },
  "/api/push": { POST: push },
  "/api/create": { POST: create },
  "/api/copy": { POST: copy },
  "/api/delete": { DELETE: remove },
};

const BLOBS_PREFIX = "/api/blobs/";

function blobRoute(ctx: RouteContext, method: string, path: string): void {
  if (method !== "HEAD" && method !== "POST") return sendText(ctx.res, 405, "405 method not allowed", "text/plain");
  let digest: string;
  try {
    digest = decodeURIComponent(path.slice(BLOBS_PREFIX.length));
  } catch {
    digest = "";
  }
  blob(ctx, method, digest);
}

// Gin answers plain-text 404/405 for unknown paths and methods (Ollama enables HandleMethodNotAllowed).
export function routeRequest(ctx: RouteContext, method: string, path: string): void | Promise<void> {
  if (path.startsWith(BLOBS_PREFIX) && !path.slice(BLOBS_PREFIX.length).includes("/")) return blobRoute(ctx, method, path);
  const route = ROUTES[path];
  if (!route) return sendText(ctx.res, 404, "404 page not found", "text/plain");
  // HEAD is answered like GET without a body (node drops the body itself).
  const handler = route[method] ?? (method === "HEAD" ? route.GET : undefined);
  if (handler) return handler(ctx);
  if (method === "OPTIONS") return sendEmpty(ctx.res, 204); // CORS preflight from an allowed origin
  return sendText(ctx.res, 405, "405 method not allowed", "text/plain");
}
