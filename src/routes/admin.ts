import * as z from "zod/mini";
import { ApiError, invalidRequest } from "../core/errors.ts";
import { sha256, toHex } from "../core/secrets.ts";
import { validate } from "../core/validate.ts";
import { readJsonBody } from "../http/body.ts";
import { json } from "../http/respond.ts";
import { generateKey, keyPrefix, newKeyId } from "../keys/key-format.ts";
import { backendGate, keyObject } from "../keys/key-object.ts";
import { keyRegistry } from "../keys/registry.ts";
import type { KeyRecord, KeyView } from "../keys/types.ts";
import type { AppContext } from "../pipeline/context.ts";
import { responseStore } from "../storage/response-store.ts";

const limit = z.int().check(z.minimum(1), z.maximum(1_000_000_000));
const createKeySchema = z.strictObject({
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(100)),
  models: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(200))).check(z.maxLength(100))),
  rpm: z.optional(limit),
  tpm: z.optional(limit),
  max_concurrency: z.optional(limit),
  expires_at: z.nullish(z.iso.datetime({ offset: true })),
});

/** POST /admin/keys: a new key, shown this once; only its SHA-256 is stored. */
export async function createKey(request: Request, app: AppContext): Promise<Response> {
  const body = validate(createKeySchema, await readJsonBody(request, 64 * 1024));
  const now = new Date();
  if (body.expires_at && Date.parse(body.expires_at) <= now.getTime()) throw invalidRequest("expires_at is in the past.", "expires_at");
  const key = generateKey();
  const hash = toHex(await sha256(key));
  const record: KeyRecord = {
    id: newKeyId(),
    hash,
    name: body.name,
    prefix: keyPrefix(key),
    models: body.models ?? [],
    rpm: body.rpm ?? app.config.keyDefaults.rpm,
    tpm: body.tpm ?? app.config.keyDefaults.tpm,
    max_concurrency: body.max_concurrency ?? app.config.keyDefaults.max_concurrency,
    expires_at: body.expires_at ? new Date(body.expires_at).toISOString() : null,
    created_at: now.toISOString(),
    last_used_at: null,
    usage: { requests: 0, prompt_tokens: 0, completion_tokens: 0 },
  };
  await keyObject(app.env, hash).create(record);
  await keyRegistry(app.env).add({ id: record.id, hash, created_at: record.created_at });
  const { hash: _hash, last_used_at: _used, usage: _usage, ...shown } = record;
  return json({ ...shown, key }, 201);
}

/** GET /admin/keys: every key with its limits and usage, never the secret. */
export async function listKeys(_request: Request, app: AppContext): Promise<Response> {
  const entries = await keyRegistry(app.env).list();
  const views = await Promise.all(entries.map((entry) => keyObject(app.env, entry.hash).describe()));
  return json({ object: "list", data: views.filter((view): view is KeyView => view !== null) });
}

/** GET /admin/gate: the gateway-wide backend gate right now (requests in flight to Ollama, waiters). */
export async function gateStatus(_request: Request, app: AppContext): Promise<Response> {
  const gates = await Promise.all(
    app.config.backends.map(async (backend) => {
      const stats = await backendGate(app.env, backend.name).stats();
      return {
        backend: backend.name,
        max_concurrency: backend.maxConcurrency ?? app.config.backendMaxConcurrency,
        in_flight: stats.inFlight,
        queued: stats.queued,
      };
    }),
  );
  const total = (field: "in_flight" | "queued") => gates.reduce((sum, gate) => sum + gate[field], 0);
  return json({ max_concurrency: app.config.backendMaxConcurrency, in_flight: total("in_flight"), queued: total("queued"), backends: gates });
}

/**
 * GET /admin/models: what each backend serves (its list as routing sees it: the last one it gave, while it does not
 * answer), for the console. A backend never listed has no models here.
 */
export async function listBackendModels(_request: Request, app: AppContext): Promise<Response> {
  const listings = await app.catalog.listings().catch(() => []);
  const data = app.config.backends.map((backend) => {
    const models = listings.find((listing) => listing.backend === backend)?.models;
    return {
      backend: backend.name,
      kind: backend.kind,
      models: (models ?? []).map((model) => ({
        name: model.model ?? model.name,
        size: model.size ?? null,
        parameter_size: (model.details?.parameter_size as string | undefined) ?? null,
        quantization: (model.details?.quantization_level as string | undefined) ?? null,
      })),
    };
  });
  return json({ data }, 200, { "cache-control": "no-store" });
}

/**
 * DELETE /admin/keys/{id}: revoked at once; the next request with the key gets 401. The key's object is emptied
 * before the registry forgets the key: should that fail, the key stays listed (and revocable) instead of living on
 * unseen.
 */
export async function revokeKey(request: Request & { params?: Record<string, string> }, app: AppContext): Promise<Response> {
  const id = request.params?.id ?? "";
  const registry = keyRegistry(app.env);
  const hash = await registry.hashOf(id);
  if (!hash) throw new ApiError(404, `No API key with id '${id}'.`, "invalid_request_error", "key_not_found", "id");
  await keyObject(app.env, hash).revoke();
  // Its stored responses go with it: nobody can read them any more.
  await responseStore(app.env, id).clear();
  await registry.remove(id);
  return json({ id, object: "api_key", deleted: true });
}
