/**
 * EntitlementCache: answers `check` in-process from entitlement snapshots pushed by the server's
 * Server-Sent Events stream (`GET /v1/stream`), with the same decision `POST /v1/check` makes.
 *
 * - Reads the stream with `fetch` and a small SSE parser; reconnects with `Last-Event-ID`.
 * - Stale when nothing (not even the `: ping` heartbeat) arrived for `staleAfterMs`: then `onStale`
 *   decides — `fail-open` (allow), `fail-closed` (deny) or `remote` (ask `POST /v1/check`).
 * - A customer or feature it has no snapshot for, a metered count past its reset, or a quantity the
 *   server would refuse as invalid is asked remotely; the customer's snapshot is fetched meanwhile.
 *
 * Self-contained on purpose (no imports).
 */

export type OnStale = 'fail-open' | 'fail-closed' | 'remote';

export interface EntitlementCacheOptions {
  baseUrl: string;
  /** A secret key of the project. */
  apiKey: string;
  fetch?: typeof fetch;
  staleAfterMs?: number;
  onStale?: OnStale;
  /** Only these customers (snapshots at connect, then their changes); default: every customer. */
  customers?: string[];
  /** Wait before reconnecting (the server's `retry:` wins). */
  reconnectDelayMs?: number;
  /** Time source (ms), for tests. */
  now?: () => number;
}

export interface FeatureSnapshot {
  type: 'metered' | 'allocated' | 'boolean' | 'value' | 'credits';
  granted: boolean;
  limit?: number | null;
  usage?: number;
  resets_at?: string | null;
  value?: unknown;
  credit_cost?: { credits: number; per: number; rounding: 'up' | 'down' | 'nearest' };
}

export interface EntitlementSnapshot {
  object: 'entitlement_snapshot';
  customer_id: string;
  known: boolean;
  seq: number;
  now: string;
  plan: string | null;
  credits: { balance: number; held: number; available: number };
  features: Record<string, FeatureSnapshot>;
  /** Streams opened with `api_keys=true` only (the `ApiKeyVerifier`): the customer's API keys. */
  api_keys?: { customer_deleted: boolean; keys: ApiKeySnapshot[] };
}

/** A customer API key as the stream carries it: its SHA-256 (hex), never the key. */
export interface ApiKeySnapshot {
  id: string;
  key_hash: string;
  name: string | null;
  scopes: string[];
  expires_at: string | null;
  revoked_at: string | null;
  rate_limit: { limit: number; window_seconds: number } | null;
  remaining: number | null;
  rolled_to: string | null;
}

export interface Decision {
  allowed: boolean;
  source: 'cache' | 'remote' | 'stale-open' | 'stale-closed';
  reason?: 'limit_reached' | 'insufficient_credits' | 'not_included';
  feature: string;
  type?: FeatureSnapshot['type'];
  plan?: string | null;
  usage?: number;
  limit?: number | null;
  remaining?: number | null;
  balance?: number;
  required?: number;
  value?: unknown;
}

interface Entry {
  snap: EntitlementSnapshot;
  /** Project time minus local time when it arrived. */
  offset: number;
  resets: Map<string, number>;
}

/** A minimal Server-Sent Events parser: feed it text, get events. */
export class SseParser {
  private buf = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  constructor(private readonly on: (e: { event: string; data: string; id: string | null }) => void, private readonly onComment: () => void, private readonly onRetry: (ms: number) => void) {}

  push(text: string): void {
    this.buf += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) return;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) return;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.on({ event: this.event || 'message', data: this.data.join('\n'), id: this.id });
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) {
      this.onComment();
      return;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.onRetry(Number(value));
  }
}

function creditsFor(cost: NonNullable<FeatureSnapshot['credit_cost']>, quantity: number): number {
  const n = (quantity * cost.credits) / cost.per;
  if (cost.rounding === 'down') return Math.floor(n);
  if (cost.rounding === 'nearest') return Math.round(n);
  return Math.ceil((quantity * cost.credits) / cost.per);
}

export class EntitlementCache {
  private readonly entries = new Map<string, Entry>();
  protected readonly fetchFn: typeof fetch;
  protected readonly now: () => number;
  private readonly staleAfterMs: number;
  private readonly onStale: OnStale;
  protected readonly baseUrl: string;
  private readonly filter: Set<string> | null;
  /** Subclasses: extra query parameters of the stream. */
  protected streamParams: Record<string, string> = {};
  /** Set at every `ready` of a connection (the initial messages arrived). */
  protected readyCount = 0;
  /** True between a connection's `ready` and its end: changes are arriving. */
  protected connected = false;
  private lastEventId: string | null = null;
  private lastMessageAt = Number.NEGATIVE_INFINITY;
  private reconnectMs: number;
  private abort: AbortController | null = null;
  private closed = false;
  private loop: Promise<void> | null = null;
  private readyWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private fatal: Error | null = null;
  private readonly fetching = new Set<string>();
  /** The stream lease (POST /v1/stream/leases): the server logs changes only while one is live. */
  private leaseId: string | null = null;
  private leaseValidUntil = Number.NEGATIVE_INFINITY;
  private leaseTimer: ReturnType<typeof setInterval> | null = null;
  /** Messages received (snapshots, resets, heartbeats). */
  messages = 0;
  /** Called after every snapshot is stored (benchmarks and tests wait on it). */
  onSnapshot: ((s: EntitlementSnapshot) => void) | null = null;

  constructor(protected readonly opts: EntitlementCacheOptions) {
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.now = opts.now ?? Date.now;
    this.staleAfterMs = opts.staleAfterMs ?? 30_000;
    this.onStale = opts.onStale ?? 'remote';
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.filter = opts.customers ? new Set(opts.customers) : null;
    this.reconnectMs = opts.reconnectDelayMs ?? 1000;
  }

  /**
   * Connects; resolves once the initial snapshots arrived (`ready`), or after the first failed
   * attempt (it keeps retrying). Rejects when the key is refused (401/403): retrying cannot help.
   */
  start(): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (!this.loop) this.loop = this.run();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** True when no message or heartbeat arrived within staleAfterMs. */
  get stale(): boolean {
    return this.now() - this.lastMessageAt > this.staleAfterMs;
  }

  snapshotOf(customerId: string): EntitlementSnapshot | undefined {
    return this.entries.get(customerId)?.snap;
  }

  /**
   * The in-process decision, or null when only the server can answer (no snapshot, stale,
   * a reset passed, a quantity the server would refuse). Synchronous: the hot path.
   */
  checkLocal(customerId: string, feature: string, quantity = 1): Decision | null {
    const now = this.now();
    if (now - this.lastMessageAt > this.staleAfterMs) return null;
    const e = this.entries.get(customerId);
    if (!e?.snap.known) return null;
    const f = e.snap.features[feature];
    if (!f) return null;
    if (f.type === 'credits') {
      if (!(quantity > 0) || !f.credit_cost) return null;
      const required = creditsFor(f.credit_cost, quantity);
      const allowed = e.snap.credits.available >= required;
      return {
        allowed,
        source: 'cache',
        ...(allowed ? {} : { reason: 'insufficient_credits' as const }),
        feature,
        type: f.type,
        plan: null,
        balance: e.snap.credits.balance,
        required,
      };
    }
    if (!Number.isInteger(quantity) || (quantity < 0 && f.type !== 'allocated')) return null;
    const plan = e.snap.plan;
    if (f.type === 'boolean') return f.granted ? { allowed: true, source: 'cache', feature, type: f.type, plan } : { allowed: false, source: 'cache', reason: 'not_included', feature, type: f.type, plan };
    if (f.type === 'value') {
      return f.granted
        ? { allowed: true, source: 'cache', feature, type: f.type, plan, value: f.value }
        : { allowed: false, source: 'cache', reason: 'not_included', feature, type: f.type, plan, value: null };
    }
    const resets = e.resets.get(feature);
    if (resets !== undefined && now + e.offset >= resets) return null;
    const usage = f.usage ?? 0;
    if (!f.granted) return { allowed: false, source: 'cache', reason: 'not_included', feature, type: f.type, plan, usage, limit: 0, remaining: 0 };
    const limit = f.limit ?? null;
    const remaining = limit === null ? null : Math.max(0, limit - usage);
    if (quantity <= 0 || limit === null || usage + quantity <= limit) return { allowed: true, source: 'cache', feature, type: f.type, plan, usage, limit, remaining };
    return { allowed: false, source: 'cache', reason: 'limit_reached', feature, type: f.type, plan, usage, limit, remaining };
  }

  /** May the customer use `quantity` of the feature now? From the cache when it can, else as onStale says. */
  async check(customerId: string, feature: string, quantity = 1): Promise<Decision> {
    const local = this.checkLocal(customerId, feature, quantity);
    if (local) return local;
    if (this.stale && this.onStale !== 'remote') {
      return this.onStale === 'fail-open' ? { allowed: true, source: 'stale-open', feature } : { allowed: false, source: 'stale-closed', feature };
    }
    const remote = await this.remoteCheck(customerId, feature, quantity);
    if (!this.entries.get(customerId)?.snap.known && (!this.filter || this.filter.has(customerId))) void this.fetchSnapshot(customerId);
    return remote;
  }

  private async remoteCheck(customerId: string, feature: string, quantity: number): Promise<Decision> {
    const res = await this.fetchFn(`${this.baseUrl}/v1/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ customer_id: customerId, feature, quantity }),
    });
    const body = (await res.json()) as Omit<Decision, 'source'> & { error?: { code: string; message: string } };
    if (!res.ok) throw Object.assign(new Error(body.error?.message ?? `HTTP ${res.status}`), { status: res.status, code: body.error?.code });
    return { ...body, source: 'remote' };
  }

  /** Fetches one customer's snapshot now (GET /v1/customers/:id/entitlements-snapshot). */
  async fetchSnapshot(customerId: string): Promise<void> {
    if (this.fetching.has(customerId)) return;
    this.fetching.add(customerId);
    try {
      const res = await this.fetchFn(`${this.baseUrl}/v1/customers/${encodeURIComponent(customerId)}/entitlements-snapshot`, {
        headers: { authorization: `Bearer ${this.opts.apiKey}` },
      });
      if (res.ok) this.store((await res.json()) as EntitlementSnapshot, false);
      else await res.body?.cancel();
    } catch {
      /* the next check asks again */
    } finally {
      this.fetching.delete(customerId);
    }
  }

  /**
   * Keeps the newer snapshot. The stream delivers one customer's snapshots in the order they were
   * read, so an equal seq from it wins; a fetched one (read at another time) only replaces an older seq.
   */
  private store(s: EntitlementSnapshot, fromStream: boolean): void {
    const prior = this.entries.get(s.customer_id);
    if (prior && (fromStream ? prior.snap.seq > s.seq : prior.snap.seq >= s.seq)) return;
    const resets = new Map<string, number>();
    for (const [id, f] of Object.entries(s.features)) if (f.resets_at) resets.set(id, Date.parse(f.resets_at));
    this.entries.set(s.customer_id, { snap: s, offset: Date.parse(s.now) - this.now(), resets });
    this.stored(s);
    this.onSnapshot?.(s);
  }

  /** Subclasses: a snapshot was kept (a newer one than held). */
  protected stored(_s: EntitlementSnapshot): void {}

  /** The customer's snapshot with the project's time offset (project time − local time) and metered resets (ms). */
  protected entryOf(customerId: string): { snap: EntitlementSnapshot; offset: number; resets: Map<string, number> } | undefined {
    return this.entries.get(customerId);
  }

  private ready(): void {
    const w = this.readyWaiters.splice(0);
    for (const f of w) f.resolve();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        await this.connectOnce();
        this.connected = false;
      } catch (err) {
        this.connected = false;
        if ((err as { fatal?: boolean }).fatal) {
          this.fatal = err as Error;
          this.closed = true;
          for (const w of this.readyWaiters.splice(0)) w.reject(this.fatal);
          return;
        }
        /* reconnect below */
      }
      this.ready(); // start() does not wait forever on a failing server
      if (this.closed) return;
      await new Promise((r) => setTimeout(r, this.reconnectMs));
    }
  }

  /**
   * Takes or renews the stream lease. A lease that lapsed meanwhile (a paused process) may have
   * missed changes: then the stream starts again from fresh snapshots. A server without leases
   * (404) logs every change: nothing to do.
   */
  private async renewLease(): Promise<void> {
    const lapsed = this.leaseId !== null && this.now() >= this.leaseValidUntil;
    const res = await this.fetchFn(`${this.baseUrl}/v1/stream/leases`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(this.leaseId ? { id: this.leaseId } : {}),
    });
    if (res.status === 404) {
      await res.body?.cancel();
      this.leaseValidUntil = Number.POSITIVE_INFINITY;
      return;
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw Object.assign(new Error(`stream lease: HTTP ${res.status}`), { status: res.status, fatal: res.status === 401 || res.status === 403 });
    }
    const lease = (await res.json()) as { id: string; ttl_seconds: number; renew_after_seconds: number };
    this.leaseId = lease.id;
    this.leaseValidUntil = this.now() + lease.ttl_seconds * 1000;
    if (!this.leaseTimer) {
      this.leaseTimer = setInterval(() => {
        this.renewLease().catch(() => {
          /* retried at the next tick or reconnect */
        });
      }, lease.renew_after_seconds * 1000);
      (this.leaseTimer as { unref?: () => void }).unref?.();
    }
    if (lapsed) {
      this.lastEventId = null;
      this.entries.clear();
      this.abort?.abort();
    }
  }

  private async connectOnce(): Promise<void> {
    if (this.now() >= this.leaseValidUntil - 1000) await this.renewLease();
    const abort = new AbortController();
    this.abort = abort;
    const url = new URL(`${this.baseUrl}/v1/stream`);
    if (this.filter) url.searchParams.set('customers', [...this.filter].join(','));
    for (const [k, v] of Object.entries(this.streamParams)) url.searchParams.set(k, v);
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.apiKey}`, accept: 'text/event-stream' };
    if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
    const res = await this.fetchFn(url, { headers, signal: abort.signal });
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw Object.assign(new Error(`stream: HTTP ${res.status}`), { status: res.status, fatal: res.status === 401 || res.status === 403 });
    }
    const parser = new SseParser(
      (ev) => this.onEvent(ev),
      () => {
        this.messages++;
        this.lastMessageAt = this.now();
      },
      (ms) => {
        this.reconnectMs = ms;
      },
    );
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        parser.push(decoder.decode(value, { stream: true }));
      }
    } finally {
      reader.releaseLock();
    }
  }

  private onEvent(ev: { event: string; data: string; id: string | null }): void {
    this.messages++;
    this.lastMessageAt = this.now();
    if (ev.id !== null) this.lastEventId = ev.id;
    if (ev.event === 'snapshot') this.store(JSON.parse(ev.data) as EntitlementSnapshot, true);
    else if (ev.event === 'reset') this.entries.clear();
    else if (ev.event === 'ready') {
      this.readyCount++;
      this.connected = true;
      this.ready();
    }
  }

  /** Disconnects (for a test: as if the network dropped) without closing; it reconnects. */
  dropConnection(): void {
    this.connected = false;
    this.abort?.abort();
  }

  close(): void {
    this.closed = true;
    this.connected = false;
    this.abort?.abort();
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    this.leaseTimer = null;
    if (this.leaseId && Number.isFinite(this.leaseValidUntil)) {
      const id = this.leaseId;
      this.leaseId = null;
      this.fetchFn(`${this.baseUrl}/v1/stream/leases/${encodeURIComponent(id)}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${this.opts.apiKey}` },
      }).then(
        (r) => r.body?.cancel(),
        () => {},
      );
    }
    this.ready();
  }
}
