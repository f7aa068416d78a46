// Model management: /api/pull, /api/push, /api/create, /api/copy, /api/delete and /api/blobs/:digest.
// Small versions of Ollama's handlers (server/routes.go, server/create.go): same statuses, error texts and
// progress lines, with an in-memory model list and blob store instead of files and a registry.
import { createHash } from "node:crypto";
import type { Json } from "./answers.ts";
import type { Checked } from "./godecode.ts";
import { decodeBody, fail, stringField } from "./godecode.ts";
import { sendEmpty, sendError } from "./http.ts";
import { canonicalName, findModel, modelDigest, modelSize } from "./models.ts";
import type { RouteContext } from "./routes.ts";
import type { EmulatedModel } from "./types.ts";
import { sendProgress } from "./writer.ts";

/** The emulated registry has every model except names containing this, so pulls can fail on purpose. */
export const MISSING_IN_REGISTRY = "does-not-exist";
const MANIFEST_MISSING = "pull model manifest: file does not exist";
const INVALID_NAME = "invalid model name";
const DIGEST = /^sha256[:-][0-9a-fA-F]{64}$/;

const sha256 = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");
const blobKey = (digest: string): string => digest.replace(":", "-");

// model.ParseName(...).IsValid(), roughly: [host/][namespace/]model[:tag] with the usual characters.
function validName(name: string): boolean {
  return name.length > 0 && name.length <= 350 && /^[A-Za-z0-9_][A-Za-z0-9_.\-/:]*$/.test(name) && !name.endsWith(":");
}

function bodyOf(ctx: RouteContext, goType: string): Json | null {
  const body = decodeBody(ctx.raw, goType);
  if (body.ok) return body.value;
  sendError(ctx.res, body.status, body.error);
  return null;
}

// `model`, or its legacy spelling `name` (cmp.Or(r.Model, r.Name)).
function nameField(body: Json, goType: string): Checked<string> {
  const model = stringField(body, goType, "model");
  if (!model.ok) return model;
  const name = stringField(body, goType, "name");
  if (!name.ok) return name;
  return { ok: true, value: model.value || name.value };
}

// Go's `Stream *bool`: only an explicit false turns streaming off.
const streams = (body: Json): boolean => body.stream !== false;

function nowWithOffset(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, "+00:00");
}

/** Add or replace a model (names compare case-insensitively, like Ollama's store). */
function install(ctx: RouteContext, entry: EmulatedModel): void {
  const key = canonicalName(entry.name).toLowerCase();
  ctx.state.models = [...ctx.state.models.filter((m) => canonicalName(m.name).toLowerCase() !== key), entry];
}

function uninstall(ctx: RouteContext, entry: EmulatedModel): void {
  ctx.state.models = ctx.state.models.filter((m) => m !== entry);
  ctx.state.loaded.delete(entry.name);
}

function derived(name: string, base?: EmulatedModel): EmulatedModel {
  const template: Omit<EmulatedModel, "name" | "modifiedAt"> = base ?? {
    family: "llama",
    parameterSize: "1B",
    quantization: "Q4_K_M",
    capabilities: ["completion"],
    contextLength: 4096,
  };
  return { ...template, name: canonicalName(name), modifiedAt: nowWithOffset() };
}

/** The layers of a model as (digest, size): the weights and a small params blob. */
function layers(entry: EmulatedModel): [string, number][] {
  return [
    [modelDigest(entry), modelSize(entry)],
    [sha256(`params:${entry.name}`), 96],
  ];
}

function unwrap<T>(ctx: RouteContext, checked: Checked<T>): T | null {
  if (checked.ok) return checked.value;
  sendError(ctx.res, checked.status, checked.error);
  return null;
}

export async function pull(ctx: RouteContext): Promise<void> {
  const body = bodyOf(ctx, "PullRequest");
  if (!body) return;
  const name = unwrap(ctx, nameField(body, "PullRequest"));
  if (name === null) return;
  if (!validName(name)) return sendError(ctx.res, 400, INVALID_NAME);
  if (name.includes(MISSING_IN_REGISTRY)) {
    return sendProgress(ctx, streams(body), { steps: [{ status: "pulling manifest" }], error: { message: MANIFEST_MISSING } });
  }
  const entry = findModel(ctx.state.models, name) ?? derived(name);
  const steps: Json[] = [{ status: "pulling manifest" }];
  for (const [hex, size] of layers(entry)) {
    steps.push({ status: `pulling ${hex.slice(0, 12)}`, digest: `sha256:${hex}`, total: size, completed: size });
  }
  steps.push({ status: "verifying sha256 digest" }, { status: "writing manifest" }, { status: "success" });
  return sendProgress(ctx, streams(body), { steps, onSuccess: () => install(ctx, { ...entry, modifiedAt: nowWithOffset() }) });
}

export async function push(ctx: RouteContext): Promise<void> {
  const body = bodyOf(ctx, "PushRequest");
  if (!body) return;
  const name = unwrap(ctx, nameField(body, "PushRequest"));
  if (name === null) return;
  if (!validName(name)) return sendError(ctx.res, 400, INVALID_NAME);
  const entry = findModel(ctx.state.models, name);
  if (!entry) {
    return sendProgress(ctx, streams(body), {
      steps: [{ status: "retrieving manifest" }, { status: "couldn't retrieve manifest" }],
      error: { message: `model '${name}' not found` },
    });
  }
  const steps: Json[] = [{ status: "retrieving manifest" }];
  for (const [hex, size] of layers(entry)) {
    steps.push({ status: `pushing ${hex.slice(0, 12)}`, digest: `sha256:${hex}`, total: size, completed: size });
  }
  steps.push({ status: "pushing manifest" }, { status: "success" });
  return sendProgress(ctx, streams(body), { steps });
}

export async function create(ctx: RouteContext): Promise<void> {
  const body = bodyOf(ctx, "CreateRequest");
  if (!body) return;
  const name = unwrap(ctx, nameField(body, "CreateRequest"));
  if (name === null) return;
  if (!validName(name)) return sendError(ctx.res, 400, INVALID_NAME);
  const from = unwrap(ctx, stringField(body, "CreateRequest", "from"));
  if (from === null) return;
  const stream = streams(body);
  const extra: Json[] = ["system", "template", "license", "parameters", "messages"]
    .filter((field) => body[field] !== undefined && body[field] !== null)
    .map((field) => ({ status: `creating new layer sha256:${sha256(`${field}:${JSON.stringify(body[field])}`)}` }));
  const finish: Json[] = [...extra, { status: "writing manifest" }, { status: "success" }];

  if (from) {
    const base = findModel(ctx.state.models, from);
    if (!base) return sendProgress(ctx, stream, { steps: [], error: { message: `model '${from}' not found`, status: 404 } });
    const steps = [...layers(base).map(([hex]) => ({ status: `using existing layer sha256:${hex}` })), ...finish];
    return sendProgress(ctx, stream, { steps, onSuccess: () => install(ctx, derived(name, base)) });
  }
  const files = body.files;
  if (files === undefined || files === null) {
    return sendProgress(ctx, stream, { steps: [], error: { message: "neither 'from' or 'files' was specified", status: 400 } });
  }
  if (typeof files !== "object" || Array.isArray(files)) {
    return sendError(
      ctx.res,
      400,
      `json: cannot unmarshal ${Array.isArray(files) ? "array" : typeof files} into Go struct field CreateRequest.files of type map[string]string`,
    );
  }
  const digests = Object.values(files as Json);
  if (digests.length === 0) return sendProgress(ctx, stream, { steps: [], error: { message: "no files provided to convert", status: 400 } });
  const steps: Json[] = [];
  for (const digest of digests) {
    steps.push({ status: "parsing GGUF" });
    const known = typeof digest === "string" && DIGEST.test(digest) && ctx.state.blobs.has(blobKey(digest));
    if (!known) {
      const missing = typeof digest === "string" ? blobKey(digest) : String(digest);
      return sendProgress(ctx, stream, { steps, error: { message: `open /root/.ollama/models/blobs/${missing}: no such file or directory` } });
    }
    steps.push({ status: `using existing layer ${String(digest).replace("-", ":")}` });
  }
  return sendProgress(ctx, stream, { steps: [...steps, ...finish], onSuccess: () => install(ctx, derived(name)) });
}

export function copy(ctx: RouteContext): void {
  const body = bodyOf(ctx, "CopyRequest");
  if (!body) return;
  const source = unwrap(ctx, stringField(body, "CopyRequest", "source"));
  const destination = source === null ? null : unwrap(ctx, stringField(body, "CopyRequest", "destination"));
  if (source === null || destination === null) return;
  if (!validName(source)) return sendError(ctx.res, 400, `source ${JSON.stringify(source)} is invalid`);
  if (!validName(destination)) return sendError(ctx.res, 400, `destination ${JSON.stringify(destination)} is invalid`);
  const entry = findModel(ctx.state.models, source);
  if (!entry) return sendError(ctx.res, 404, `model ${JSON.stringify(source)} not found`);
  install(ctx, derived(destination, entry));
  sendEmpty(ctx.res, 200);
}

export function remove(ctx: RouteContext): void {
  const body = bodyOf(ctx, "DeleteRequest");
  if (!body) return;
  const name = unwrap(ctx, nameField(body, "DeleteRequest"));
  if (name === null) return;
  if (!validName(name)) return sendError(ctx.res, 400, `name ${JSON.stringify(name)} is invalid`);
  const entry = findModel(ctx.state.models, name);
  if (!entry) return sendError(ctx.res, 404, `model '${name}' not found`);
  uninstall(ctx, entry);
  sendEmpty(ctx.res, 200);
}

/** HEAD: does the blob exist. POST: store the body if its sha256 is the digest (201), or 200 if already stored. */
export function blob(ctx: RouteContext, method: string, digest: string): void {
  const check: Checked<string> = DIGEST.test(digest) ? { ok: true, value: blobKey(digest) } : fail(400, "invalid digest format");
  const key = unwrap(ctx, check);
  if (key === null) return;
  if (method === "HEAD") {
    // Node drops the body of a HEAD answer itself, as Go does.
    if (!ctx.state.blobs.has(key)) return sendError(ctx.res, 404, `blob ${JSON.stringify(digest)} not found`);
    return sendEmpty(ctx.res, 200);
  }
  if (ctx.state.blobs.has(key)) return sendEmpty(ctx.res, 200);
  const got = `sha256:${sha256(ctx.bytes)}`;
  if (got !== digest) return sendError(ctx.res, 400, `digest mismatch, expected ${JSON.stringify(digest)}, got ${JSON.stringify(got)}`);
  ctx.state.blobs.add(key);
  sendEmpty(ctx.res, 201);
}
