/**
 * ApiKeyVerifier: verifies your customers' API keys in-process (docs/api-keys.md, "Verifying
 * in-process"), from the customers' keys and entitlement snapshots pushed by `GET /v1/stream?api_keys=true`,
 * with the answer `POST /v1/api-keys/verify` gives.
 *
 * - The presented key is hashed here (SHA-256) and looked up; the key itself never leaves the process.
 * - A key with a per-key rate limit, or with a usage budget (`remaining`) left, is verified over HTTP:
 *   a count kept in one process cannot be exact across several, and the server's is.
 * - Answered over HTTP as well: a stale or disconnected stream, a customer whose snapshot is not held,
 *   a metered count past its reset.
 */
import { type EntitlementCacheOptions, type ApiKeySnapshot, EntitlementCache, type EntitlementSnapshot } from './realtime.js';
import { sha256Hex } from './sha256.js';

export type ApiKeyVerifyCode = 'not_found' | 'revoked' | 'expired' | 'usage_exceeded' | 'rate_limited' | 'customer_deleted';

/** The reply of `POST /v1/api-keys/verify`. */
export interface ApiKeyVerdict {
  valid: boolean;
  code?: ApiKeyVerifyCode;
  key_id?: string;
  customer_id?: string;
  name?: string | null;
  scopes?: string[];
  plan?: string | null;
  entitlements?: Record<string, unknown>;
  remaining?: number | null;
  expires_at?: string | null;
  rate_limit?: { limit: number; remaining: number; reset: string } | null;
}

export interface ApiKeyVerifierOptions extends Omit<EntitlementCacheOptions, 'customers' | 'onStale'> {
  /**
   * A key the cache does not hold: `'not_found'` (default) answers `{valid: false, code: 'not_found'}`
   * locally — a key issued a few milliseconds ago may not have arrived yet; `'remote'` asks the server.
   */
  unknownKeys?: 'not_found' | 'remote';
}

interface Held {
  key: ApiKeySnapshot;
  customerId: string;
}

export class ApiKeyVerifier extends EntitlementCache {
  private readonly byHash = new Map<string, Held>();
  /** The hashes and erasure of each key holder, as of its newest snapshot with keys. */
  private readonly holders = new Map<string, { deleted: boolean; hashes: string[] }>();
  private readonly unknownKeys: 'not_found' | 'remote';
  /** The last entitlements made, per customer, with the snapshot they were made from. */
  private readonly madeEntitlements = new Map<string, { snap: EntitlementSnapshot; features: Record<string, unknown>; resetsAt: number }>();
  /** How many verifications were answered in-process and over HTTP. */
  local = 0;
  remote = 0;

  constructor(options: ApiKeyVerifierOptions) {
    super({ ...options, onStale: 'remote' });
    this.streamParams = { api_keys: 'true' };
    this.unknownKeys = options.unknownKeys ?? 'not_found';
  }

  /** Keys held (any status). */
  get size(): number {
    return this.byHash.size;
  }

  protected override stored(s: EntitlementSnapshot): void {
    if (!s.api_keys) return; // a snapshot fetched without keys: the keys held stay as they are
    const prior = this.holders.get(s.customer_id);
    if (prior) for (const h of prior.hashes) this.byHash.delete(h);
    const hashes: string[] = [];
    for (const key of s.api_keys.keys) {
      Object.freeze(key.scopes); // handed out with every verdict: read-only
      this.byHash.set(key.key_hash, { key, customerId: s.customer_id });
      hashes.push(key.key_hash);
    }
    this.holders.set(s.customer_id, { deleted: s.api_keys.customer_deleted, hashes });
  }

  /**
   * The verdict from the cache, or null when only the server can answer (see the module comment).
   * Synchronous: the hot path.
   */
  verifyLocal(rawKey: string): ApiKeyVerdict | null {
    if (!this.connected || this.stale || this.readyCount === 0) return null;
    const held = this.byHash.get(sha256Hex(rawKey));
    if (!held) return this.unknownKeys === 'not_found' ? { valid: false, code: 'not_found' } : null;
    const { key, customerId } = held;
    const e = this.entryOf(customerId);
    const holder = this.holders.get(customerId);
    if (!e?.snap.known || !holder) return null;
    if (holder.deleted) return { valid: false, code: 'customer_deleted', key_id: key.id, customer_id: customerId };
    if (key.revoked_at) return { valid: false, code: 'revoked', key_id: key.id, customer_id: customerId };
    const now = this.now() + e.offset;
    if (key.expires_at && Date.parse(key.expires_at) <= now) return { valid: false, code: 'expired', key_id: key.id, customer_id: customerId };
    if (key.rate_limit) return null;
    if (key.remaining !== null) {
      // A budget only goes down: 0 is final. A rolled key draws on its successor's budget.
      if (key.remaining === 0 && !key.rolled_to) return { valid: false, code: 'usage_exceeded', key_id: key.id, customer_id: customerId, remaining: 0, rate_limit: null };
      return null;
    }
    const ent = this.entitlementsOf(e.snap, e.resets);
    // A metered count past its reset: the snapshot's usage is no longer the count.
    if (now >= ent.resetsAt) return null;
    const entitlements = ent.features;
    return {
      valid: true,
      key_id: key.id,
      customer_id: customerId,
      name: key.name,
      scopes: key.scopes,
      plan: e.snap.plan,
      entitlements,
      remaining: null,
      expires_at: key.expires_at,
      rate_limit: null,
    };
  }

  /** The verify reply's `entitlements` of a snapshot, made once per snapshot (read-only: frozen). */
  private entitlementsOf(snap: EntitlementSnapshot, resets: Map<string, number>): { features: Record<string, unknown>; resetsAt: number } {
    const made = this.madeEntitlements.get(snap.customer_id);
    if (made?.snap === snap) return made;
    const features: Record<string, unknown> = {};
    let resetsAt = Number.POSITIVE_INFINITY;
    for (const [id, f] of Object.entries(snap.features)) {
      if (f.type === 'credits') features[id] = { type: f.type, allowed: snap.credits.balance > 0, balance: snap.credits.balance };
      else if (f.type === 'boolean') features[id] = { type: f.type, allowed: f.granted };
      else if (f.type === 'value') features[id] = { type: f.type, allowed: f.granted, value: f.granted ? f.value : null };
      else {
        const at = resets.get(id);
        if (at !== undefined && at < resetsAt) resetsAt = at;
        const usage = f.usage ?? 0;
        const limit = f.limit ?? null;
        features[id] = { type: f.type, allowed: f.granted && (limit === null || usage < limit), usage, limit, remaining: limit === null ? null : Math.max(0, limit - usage) };
      }
      Object.freeze(features[id]);
    }
    const out = { snap, features: Object.freeze(features), resetsAt };
    this.madeEntitlements.set(snap.customer_id, out);
    return out;
  }

  /** The verdict: from the cache when it can, else `POST /v1/api-keys/verify`. An invalid key is an answer, never an exception. */
  async verify(rawKey: string): Promise<ApiKeyVerdict> {
    const local = this.verifyLocal(rawKey);
    if (local) {
      this.local++;
      return local;
    }
    this.remote++;
    const res = await this.fetchFn(`${this.baseUrl}/v1/api-keys/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: rawKey }),
    });
    const body = (await res.json()) as ApiKeyVerdict & { error?: { code: string; message: string } };
    if (!res.ok) throw Object.assign(new Error(body.error?.message ?? `HTTP ${res.status}`), { status: res.status, code: body.error?.code });
    return body;
  }
}
