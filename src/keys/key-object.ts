import { DurableObject } from "cloudflare:workers";
import { DEFAULT_LEASE_TTL_MS, RETRY_SOON_MS } from "../core/timing.ts";
import type { Env } from "../env.ts";
import type { GateResult } from "../limits/backend-gate.ts";
import { DeferredWrite, LIMITER_WRITE_DELAY_MS } from "../limits/deferred-write.ts";
import { emptyState, type KeyState, moveLease, renewLease, rollback, settle, snapshot, tidy, tryAdmit } from "./key-state.ts";
import type { AdmitInput, AdmitResult, GatePolicy, KeyRecord, KeyView, LookupResult, SettleUsage } from "./types.ts";
import { firstKeptHour, hourOf, type UsageCounts, type UsageRange, type UsageTuple } from "./usage.ts";
import { UsageTable } from "./usage-table.ts";

const utf8 = new TextEncoder();

/** The object of one API key, addressed by the key's hash. */
export function keyObject(env: Env, hash: string) {
  return env.KEYS.get(env.KEYS.idFromName(hash));
}

/** The gate of one backend (its requests in flight and fair queue), by the backend's name. */
export function backendGate(env: Env, name: string) {
  return env.BACKEND_GATE.get(env.BACKEND_GATE.idFromName(name));
}

/**
 * One API key: its record and its limiter state, in one SQLite-backed object addressed by the key's hash.
 * Authentication and every per-key limit are decided here in a single call, so revocation and limits are exact
 * (the object is single-threaded) and take effect on the very next request.
 */
export class KeyObject extends DurableObject<Env> {
  #record: KeyRecord | undefined;
  #state: KeyState;
  /** LEASE_TTL as the latest caller configured it, for counting live leases between admissions. */
  #leaseTtlMs = DEFAULT_LEASE_TTL_MS;
  readonly #usage: UsageTable;
  /**
   * Persists the record, the state and the usage counts, every change of the last LIMITER_WRITE_DELAY_MS at once;
   * nothing once the key is gone.
   */
  readonly #saved = new DeferredWrite(() => {
    if (!this.#record) return;
    this.ctx.storage.kv.put("record", this.#record);
    this.ctx.storage.kv.put("state", this.#state);
    this.#usage.flush();
  }, LIMITER_WRITE_DELAY_MS);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#record = ctx.storage.kv.get<KeyRecord>("record");
    this.#state = ctx.storage.kv.get<KeyState>("state") ?? emptyState();
    this.#usage = new UsageTable(ctx.storage.sql);
  }

  create(record: KeyRecord): void {
    if (this.#record) throw new Error("key already exists");
    this.#record = record;
    this.#state = emptyState();
    // The key exists once it is stored, before the admin hears of it.
    this.#saved.now();
  }

  describe(): KeyView | null {
    if (!this.#record) return null;
    const { hash: _hash, ...view } = this.#record;
    return { ...view, in_flight: this.inFlight() };
  }

  /**
   * Authentication only: who this key is and what it may do, with no request counted. The first step of every
   * request, before its body is read; `admit` checks the key again, so a revocation in between still wins.
   */
  lookup(hash: string): LookupResult {
    const record = this.#record;
    if (!record || !sameHash(record.hash, hash)) return { ok: false, reason: "unknown" };
    if (record.expires_at !== null && Date.parse(record.expires_at) <= Date.now()) return { ok: false, reason: "expired" };
    const now = Date.now();
    const limits = snapshot(record, tidy(this.#state, now, this.#leaseTtlMs), now);
    return { ok: true, id: record.id, models: record.models, tpm: record.tpm, limits };
  }

  /** Forget the key entirely: the next request with it finds nothing and gets 401. */
  async revoke(): Promise<void> {
    const gated = Object.entries(this.#state.leases).filter(([, lease]) => lease.gate !== null);
    this.#record = undefined;
    this.#state = emptyState();
    this.#saved.cancel();
    this.#usage.discard();
    await this.ctx.storage.deleteAll();
    await Promise.all(gated.map(([lease, { gate }]) => backendGate(this.env, gate!).release(lease)));
  }

  async admit(input: AdmitInput): Promise<AdmitResult> {
    const record = this.#record;
    if (!record || !sameHash(record.hash, input.hash)) return { ok: false, reason: "unknown" };
    const { policy } = input;
    this.#leaseTtlMs = policy.leaseTtlMs;
    const now = Date.now();
    const lease = crypto.randomUUID();
    // Model names come from the backends' lists and the operator's aliases; the cap only bounds a usage row.
    const model = (input.model ?? "").slice(0, 200);
    const decided = tryAdmit(record, tidy(this.#state, now, policy.leaseTtlMs), now, {
      lease,
      estimatedTokens: input.estimatedTokens,
      promptEstimate: input.promptEstimate,
      gate: policy.gate?.name ?? null,
      model,
    });
    this.#state = decided.state;
    const result = decided.result;
    const hour = hourOf(now);
    if (result.ok) {
      record.usage.requests++;
      record.last_used_at = new Date(now).toISOString();
      this.#usage.prune(hour, firstKeptHour(now, policy.usageRetentionMs));
      this.#recordUsage(hour, model, { requests: 1 });
    }
    this.#save();
    if (!result.ok || !policy.gate) return result;

    // Gateway-wide GPU protection: wait for a backend slot in the fair queue, still within this one call.
    const gate = backendGate(this.env, policy.gate.name);
    let granted: GateResult;
    try {
      granted = await gate.acquire(record.id, lease, policy.gate);
    } catch {
      // The gate could not be asked: give the lease back, or it would hold this key's slots until it expires (and
      // free the gate's slot too, in case it was granted before the answer was lost).
      void gate.release(lease).catch(() => undefined);
      granted = { ok: false, retryAfterMs: RETRY_SOON_MS, message: "The backend gate is unavailable right now; retry shortly." };
    }
    if (this.#record !== record) {
      // Revoked (or replaced) while waiting in the queue: the request must not run. revoke() already emptied the
      // state; a slot granted meanwhile goes back to the gate.
      if (granted.ok) await gate.release(lease).catch(() => undefined);
      return { ok: false, reason: "unknown" };
    }
    if (granted.ok) return result;
    // Admitted, then turned away by the backend's queue: counted, as an error.
    this.#recordUsage(hour, model, { errors: 1 });
    this.#state = rollback(this.#state, lease);
    this.#save();
    return {
      ok: false,
      reason: "limited",
      limit: "queue",
      retryAfterMs: granted.retryAfterMs,
      message: granted.message,
      limits: snapshot(record, this.#state, Date.now()),
    };
  }

  /**
   * The request is over: charge what it really used, free its slot here and at the backend gate, and add its tokens
   * (and `failed`: it ended in an error) to the hour it was admitted in.
   */
  async settle(lease: string, usage: SettleUsage | null, failed = false): Promise<void> {
    const record = this.#record;
    if (!record) return;
    const open = this.#state.leases[lease];
    const settled = settle(this.#state, lease, usage);
    this.#state = settled.state;
    if (settled.charged) {
      record.usage.prompt_tokens += settled.charged.prompt_tokens;
      record.usage.completion_tokens += settled.charged.completion_tokens;
    }
    if (open) this.#recordUsage(hourOf(open.at), open.model ?? "", { ...settled.charged, errors: failed ? 1 : 0 });
    this.#save();
    if (settled.gate) await backendGate(this.env, settled.gate).release(lease);
  }

  /**
   * Failover: the request leaves one backend for another. Its slot at the old backend's gate is freed and one at
   * the new backend's gate is waited for (null: the new backend has no gate).
   */
  async moveGate(lease: string, gate: GatePolicy | null): Promise<GateResult | { ok: false; reason: "unknown" }> {
    const record = this.#record;
    const open = this.#state.leases[lease];
    if (!record || !open) return { ok: false, retryAfterMs: RETRY_SOON_MS, message: "The request's admission has expired." };
    if (open.gate) await backendGate(this.env, open.gate).release(lease);
    this.#state = moveLease(this.#state, lease, null);
    this.#save();
    if (!gate) return { ok: true };
    const granted = await backendGate(this.env, gate.name).acquire(record.id, lease, gate);
    if (granted.ok && !this.#record) {
      // Revoked while it waited: the slot goes back and the request stops here.
      await backendGate(this.env, gate.name).release(lease);
      return { ok: false, reason: "unknown" };
    }
    if (granted.ok) {
      this.#state = moveLease(this.#state, lease, gate.name);
      this.#save();
    }
    return granted;
  }

  /** The request is still running (its Worker renews every LEASE_TTL/3): keep its slots. */
  async renew(lease: string): Promise<void> {
    const open = this.#state.leases[lease];
    if (!this.#record || !open) return;
    this.#state = renewLease(this.#state, lease, Date.now());
    this.#save();
    if (open.gate) await backendGate(this.env, open.gate).renew(lease);
  }

  /** This key's usage over `range` (already held to the retention by the caller); null once the key is revoked. */
  usage(range: UsageRange): { id: string; buckets: UsageTuple[] } | null {
    if (!this.#record) return null;
    return { id: this.#record.id, buckets: this.#usage.buckets(range) };
  }

  /** Add to one hour's usage of one model; a bucket that would not change is not written. */
  #recordUsage(hour: number, model: string, counts: Partial<UsageCounts>): void {
    const row = { requests: 0, prompt_tokens: 0, completion_tokens: 0, errors: 0, ...counts };
    if (row.requests || row.prompt_tokens || row.completion_tokens || row.errors) this.#usage.add(hour, model, row);
  }

  /** Requests in flight for this key (tests, diagnostics). */
  inFlight(): number {
    return Object.keys(tidy(this.#state, Date.now(), this.#leaseTtlMs).leases).length;
  }

  /** Persist the record and state soon; nothing once the key is gone (revoked), so no stale state comes back. */
  #save(): void {
    this.#saved.soon();
  }
}

/** Constant-time comparison of two hex digests (equal length by construction). */
function sameHash(a: string, b: string): boolean {
  const left = utf8.encode(a);
  const right = utf8.encode(b);
  return left.byteLength === right.byteLength && crypto.subtle.timingSafeEqual(left, right);
}
