import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import { emptyState, type KeyState, rollback, settle, snapshot, tidy, tryAdmit } from "./key-state.ts";
import type { AdmitInput, AdmitResult, KeyRecord, KeyView, SettleUsage } from "./types.ts";

const utf8 = new TextEncoder();

/** The gateway-wide backend gate (one per backend; today there is one backend). */
export function backendGate(env: Env) {
  return env.BACKEND_GATE.get(env.BACKEND_GATE.idFromName("ollama"));
}

/**
 * One API key: its record and its limiter state, in one SQLite-backed object addressed by the key's hash.
 * Authentication and every per-key limit are decided here in a single call, so revocation and limits are exact
 * (the object is single-threaded) and take effect on the very next request.
 */
export class KeyObject extends DurableObject<Env> {
  #record: KeyRecord | undefined;
  #state: KeyState;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#record = ctx.storage.kv.get<KeyRecord>("record");
    this.#state = ctx.storage.kv.get<KeyState>("state") ?? emptyState();
  }

  create(record: KeyRecord): void {
    if (this.#record) throw new Error("key already exists");
    this.#record = record;
    this.#state = emptyState();
    this.#save();
  }

  describe(): KeyView | null {
    if (!this.#record) return null;
    const { hash: _hash, ...view } = this.#record;
    return { ...view, in_flight: Object.keys(this.#state.leases).length };
  }

  /** Forget the key entirely: the next request with it finds nothing and gets 401. */
  async revoke(): Promise<void> {
    const gated = Object.entries(this.#state.leases).filter(([, lease]) => lease.gated).map(([id]) => id);
    this.#record = undefined;
    this.#state = emptyState();
    await this.ctx.storage.deleteAll();
    await Promise.all(gated.map((lease) => backendGate(this.env).release(lease)));
  }

  async admit(input: AdmitInput): Promise<AdmitResult> {
    const record = this.#record;
    if (!record || !sameHash(record.hash, input.hash)) return { ok: false, reason: "unknown" };
    const { policy } = input;
    const now = Date.now();
    const lease = crypto.randomUUID();
    const decided = tryAdmit(record, tidy(this.#state, now, policy.leaseTtlMs), now, {
      lease,
      estimatedTokens: input.estimatedTokens,
      promptEstimate: input.promptEstimate,
      gated: policy.gate !== null,
    });
    this.#state = decided.state;
    const result = decided.result;
    if (result.ok) {
      record.usage.requests++;
      record.last_used_at = new Date(now).toISOString();
    }
    this.#save();
    if (!result.ok || !policy.gate) return result;

    // Gateway-wide GPU protection: wait for a backend slot in the fair queue, still within this one call.
    const granted = await backendGate(this.env).acquire(record.id, lease, policy.gate);
    if (granted.ok) return result;
    this.#state = rollback(this.#state, lease);
    this.#save();
    return { ok: false, reason: "limited", limit: "queue", retryAfterMs: granted.retryAfterMs, message: granted.message, limits: snapshot(record, this.#state, Date.now()) };
  }

  /** The request is over: charge what it really used, free its slot here and at the backend gate. */
  async settle(lease: string, usage: SettleUsage | null): Promise<void> {
    const record = this.#record;
    if (!record) return;
    const settled = settle(this.#state, lease, usage);
    this.#state = settled.state;
    if (settled.charged) {
      record.usage.prompt_tokens += settled.charged.prompt_tokens;
      record.usage.completion_tokens += settled.charged.completion_tokens;
    }
    this.#save();
    if (settled.gated) await backendGate(this.env).release(lease);
  }

  /** Requests in flight for this key (tests, diagnostics). */
  inFlight(): number {
    return Object.keys(this.#state.leases).length;
  }

  #save(): void {
    if (this.#record) this.ctx.storage.kv.put("record", this.#record);
    this.ctx.storage.kv.put("state", this.#state);
  }
}

/** Constant-time comparison of two hex digests (equal length by construction). */
function sameHash(a: string, b: string): boolean {
  const left = utf8.encode(a);
  const right = utf8.encode(b);
  return left.byteLength === right.byteLength && crypto.subtle.timingSafeEqual(left, right);
}
