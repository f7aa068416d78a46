import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";

export interface RegistryEntry {
  id: string;
  /** Hex SHA-256 of the key: how the key's own object is found. */
  hash: string;
  created_at: string;
}

/**
 * The list of keys, for the admin API only (never on the request path): key id → the hash that addresses the
 * key's own object. SQLite-backed, one instance.
 */
export class KeyRegistry extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL, created_at TEXT NOT NULL)");
  }

  add(entry: RegistryEntry): void {
    this.ctx.storage.sql.exec("INSERT INTO keys (id, hash, created_at) VALUES (?, ?, ?)", entry.id, entry.hash, entry.created_at);
  }

  list(): RegistryEntry[] {
    return this.ctx.storage.sql
      .exec<{ id: string; hash: string; created_at: string }>("SELECT id, hash, created_at FROM keys ORDER BY created_at, id")
      .toArray();
  }

  /** The hash of key `id` (to reach its object), or null if there is no such key. */
  hashOf(id: string): string | null {
    return this.ctx.storage.sql.exec<{ hash: string }>("SELECT hash FROM keys WHERE id = ?", id).toArray()[0]?.hash ?? null;
  }

  /**
   * Remove an entry; returns its hash, or null if there was none. Revocation empties the key's object first and
   * removes the entry last, so a failure in between leaves the key listed, where the admin can revoke it again.
   */
  remove(id: string): string | null {
    const row = this.ctx.storage.sql.exec<{ hash: string }>("SELECT hash FROM keys WHERE id = ?", id).toArray()[0];
    if (!row) return null;
    this.ctx.storage.sql.exec("DELETE FROM keys WHERE id = ?", id);
    return row.hash;
  }
}

export function keyRegistry(env: Env) {
  return env.KEY_REGISTRY.get(env.KEY_REGISTRY.idFromName("registry"));
}
