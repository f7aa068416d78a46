import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";

/**
 * The stored Responses (`/v1/responses` with `store`) of one API key, in one SQLite-backed object addressed by the
 * key's id: a key reaches only its own object, so another key's response ids are simply not there (404). Each
 * response is one JSON document (the Response object and the input items it was made from) kept until it expires,
 * split into chunks because a SQLite value holds at most 2 MB. The object knows nothing of the document's shape.
 */

/** Below SQLite's 2 MB value limit in a Durable Object. */
const CHUNK_BYTES = 1_000_000;

export interface StoreLimits {
  /** Unix ms after which the document is gone. */
  expiresAt: number;
  /** The most bytes this key's documents may hold together: the oldest are deleted to make room. */
  maxKeyBytes: number;
}

const utf8 = new TextEncoder();
const text = new TextDecoder();

export class ResponseStore extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS responses (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, bytes INTEGER NOT NULL)",
    );
    this.#sql.exec("CREATE TABLE IF NOT EXISTS chunks (id TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (id, seq))");
  }

  /** Keep `document` under `id` (replacing any earlier one), evicting this key's oldest documents past its cap. */
  async put(id: string, document: string, limits: StoreLimits): Promise<void> {
    const bytes = utf8.encode(document);
    if (bytes.byteLength > limits.maxKeyBytes) return;
    this.#expire(Date.now());
    this.#remove(id);
    let used = this.#used();
    if (used + bytes.byteLength > limits.maxKeyBytes) {
      const oldest = this.#sql.exec<{ id: string; bytes: number }>("SELECT id, bytes FROM responses ORDER BY created_at, id").toArray();
      for (const row of oldest) {
        if (used + bytes.byteLength <= limits.maxKeyBytes) break;
        this.#remove(row.id);
        used -= row.bytes;
      }
    }
    this.#sql.exec("INSERT INTO responses (id, created_at, expires_at, bytes) VALUES (?, ?, ?, ?)", id, Date.now(), limits.expiresAt, bytes.byteLength);
    for (let offset = 0, seq = 0; offset < bytes.byteLength; offset += CHUNK_BYTES, seq++) {
      this.#sql.exec("INSERT INTO chunks (id, seq, data) VALUES (?, ?, ?)", id, seq, bytes.subarray(offset, offset + CHUNK_BYTES));
    }
    await this.#scheduleCleanup();
  }

  /** The document stored under `id`, or null (never stored, deleted, or expired). */
  get(id: string): string | null {
    const row = this.#sql.exec<{ expires_at: number; bytes: number }>("SELECT expires_at, bytes FROM responses WHERE id = ?", id).toArray()[0];
    if (!row || row.expires_at <= Date.now()) return null;
    const whole = new Uint8Array(row.bytes);
    let offset = 0;
    for (const chunk of this.#sql.exec<{ data: ArrayBuffer }>("SELECT data FROM chunks WHERE id = ? ORDER BY seq", id)) {
      whole.set(new Uint8Array(chunk.data), offset);
      offset += chunk.data.byteLength;
    }
    return text.decode(whole);
  }

  /** Forget `id`; false if there was nothing (live) to forget. */
  delete(id: string): boolean {
    const found = this.get(id) !== null;
    this.#remove(id);
    return found;
  }

  /** The key was revoked: nothing of it stays (the tables stay, empty, for this instance's later calls). */
  async clear(): Promise<void> {
    this.#sql.exec("DELETE FROM chunks");
    this.#sql.exec("DELETE FROM responses");
    await this.ctx.storage.deleteAlarm();
  }

  /** Expired documents are deleted at the earliest expiry, so storage does not hold what nobody can read. */
  override async alarm(): Promise<void> {
    this.#expire(Date.now());
    await this.#scheduleCleanup();
  }

  #expire(now: number): void {
    const expired = this.#sql.exec<{ id: string }>("SELECT id FROM responses WHERE expires_at <= ?", now).toArray();
    for (const { id } of expired) this.#remove(id);
  }

  #remove(id: string): void {
    this.#sql.exec("DELETE FROM chunks WHERE id = ?", id);
    this.#sql.exec("DELETE FROM responses WHERE id = ?", id);
  }

  #used(): number {
    return this.#sql.exec<{ used: number | null }>("SELECT SUM(bytes) AS used FROM responses").one().used ?? 0;
  }

  async #scheduleCleanup(): Promise<void> {
    const next = this.#sql.exec<{ next: number | null }>("SELECT MIN(expires_at) AS next FROM responses").one().next;
    if (next === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }
}

/** The store of the key with id `keyId`. */
export function responseStore(env: Env, keyId: string) {
  return env.RESPONSES.get(env.RESPONSES.idFromName(keyId));
}
