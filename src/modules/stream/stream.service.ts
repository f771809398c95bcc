import type { Db, Queryable } from '../../db/db.ts';
import { type Catalog, type Feature, findPlan } from '../../domain/catalog.ts';
import { CustomerNotFoundError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import { monthStart } from '../../domain/subscription.ts';
import type { AppContext } from '../../app/context.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { CustomerIdSchema } from '../customers/customers.service.ts';
import { projectNow, projectNowUncached } from '../projects/projects.service.ts';
import { counterStanding, grantOf } from '../usage/usage.service.ts';
import * as repo from './stream.repository.ts';

/**
 * The entitlement stream: what `POST /v1/check` decides on, per customer, pushed to subscribers
 * when it changes, so an SDK can answer `check` in-process (docs/sdk-realtime.md).
 *
 * Nothing here holds state that matters: the database logs which customers changed
 * (`stream_changes`, written by triggers in the changing transaction, which also `pg_notify`);
 * a stream is a view of it. An instance LISTENs on `tollgate_stream` and also polls the versions by
 * seq, so a lost notification (or a dropped listening connection) is caught up within a second; a
 * client that lost its connection resumes with `Last-Event-ID`.
 */

export const STREAM_CHANNEL = 'tollgate_stream';
export const HEARTBEAT_MS = 15_000;
const POLL_MS = 1000;
/** How far back (in polls) the poll re-reads, for a change whose seq was drawn before a newer one committed. */
const POLL_LOOKBACK = 3;
const MAX_FILTER = 1000;
const BATCH = 500;

export interface FeatureSnapshot {
  type: Feature['type'];
  granted: boolean;
  /** Counters (metered, allocated): the plan's limit (null: unlimited) and the count it is checked against. */
  limit?: number | null;
  usage?: number;
  /** Metered: when the count starts again from 0 (project time); a decision after it asks the server. */
  resets_at?: string | null;
  /** Value features: the plan's value. */
  value?: unknown;
  /** Credits features: how a quantity converts to credits. */
  credit_cost?: { credits: number; per: number; rounding: 'up' | 'down' | 'nearest' };
}

export interface EntitlementSnapshot {
  object: 'entitlement_snapshot';
  customer_id: string;
  /** False: no such customer yet (a check creates it, so decide remotely). */
  known: boolean;
  /** The customer's version: a snapshot with a lower seq than one already held is older. */
  seq: number;
  /** The project's time when the snapshot was read (a test clock may differ from real time). */
  now: string;
  plan: string | null;
  credits: { balance: number; held: number; available: number };
  features: Record<string, FeatureSnapshot>;
  /** Streams opened with `api_keys=true` only: the customer's API keys, for the SDK's local verify. */
  api_keys?: ApiKeysSnapshot;
}

/** A customer API key as the stream carries it: its SHA-256, never the key. */
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

export interface ApiKeysSnapshot {
  /** The customer was erased: every key of it verifies as `customer_deleted`. */
  customer_deleted: boolean;
  /** Every key of the customer, whatever its status (a revoked key verifies as `revoked`, not `not_found`). */
  keys: ApiKeySnapshot[];
}

const iso = (v: string | Date | null | undefined) => (v === null || v === undefined ? null : new Date(v).toISOString());

function keysSnapshot(row: repo.DecisionRow): ApiKeysSnapshot {
  return {
    customer_deleted: row.deleted_at !== null && row.deleted_at !== undefined,
    keys: (row.api_keys ?? []).map((k) => ({
      id: k.id,
      key_hash: k.key_hash,
      name: k.name,
      scopes: k.scopes,
      expires_at: iso(k.expires_at),
      revoked_at: iso(k.revoked_at),
      rate_limit: k.rate_limit && k.rate_limit_window_seconds ? { limit: Number(k.rate_limit), window_seconds: Number(k.rate_limit_window_seconds) } : null,
      remaining: k.remaining === null ? null : Number(k.remaining),
      rolled_to: k.rolled_to,
    })),
  };
}

function nextMonth(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
}

function buildSnapshot(catalog: Catalog, now: Date, row: repo.DecisionRow, withKeys: boolean): EntitlementSnapshot {
  const planId = row.plan_id ?? catalog.free_plan ?? null;
  const plan = planId ? findPlan(catalog, planId) : undefined;
  const balance = Number(row.balance ?? 0);
  const held = Number(row.held ?? 0);
  const features: Record<string, FeatureSnapshot> = {};
  for (const f of catalog.features) {
    const g = grantOf(plan, f.id);
    if (f.type === 'credits') {
      const cost = f.credit_cost ?? { credits: 1, per: 1, rounding: 'up' as const };
      features[f.id] = { type: f.type, granted: true, credit_cost: { credits: cost.credits, per: cost.per, rounding: cost.rounding ?? 'up' } };
      continue;
    }
    if (f.type === 'boolean') {
      features[f.id] = { type: f.type, granted: g.granted };
      continue;
    }
    if (f.type === 'value') {
      features[f.id] = { type: f.type, granted: g.granted, value: g.granted ? g.value : null };
      continue;
    }
    const { limit, usage } = counterStanding(f, g, row.counters?.find((x) => x.feature === f.id), row.current_period_start, now);
    const resets = f.type === 'metered' ? (row.current_period_start ? row.current_period_end : nextMonth(monthStart(now))) : null;
    features[f.id] = {
      type: f.type,
      granted: g.granted,
      limit,
      usage,
      ...(f.type === 'metered' ? { resets_at: resets ? resets.toISOString() : null } : {}),
    };
  }
  return {
    object: 'entitlement_snapshot',
    customer_id: row.customer_id,
    known: row.known,
    seq: Number(row.seq ?? 0),
    now: now.toISOString(),
    plan: row.known ? planId : (catalog.free_plan ?? null),
    credits: { balance, held, available: balance - held },
    features,
    ...(withKeys ? { api_keys: keysSnapshot(row) } : {}),
  };
}

/**
 * Snapshots of several customers: one catalog read and one statement. `fresh`: bypass the caches
 * (after a catalog or clock change). `withKeys`: with the customers' API keys (`api_keys`).
 */
export async function snapshots(ctx: AppContext, projectId: string, customerIds: string[], fresh = false, withKeys = false): Promise<EntitlementSnapshot[]> {
  if (customerIds.length === 0) return [];
  const { catalog } = fresh ? await ctx.db.tx((q) => getCatalog(ctx, projectId, q)) : await getCatalog(ctx, projectId);
  const now = fresh ? await projectNowUncached(ctx, projectId) : await projectNow(ctx, projectId);
  const out: EntitlementSnapshot[] = [];
  for (let i = 0; i < customerIds.length; i += BATCH) {
    const rows = await repo.readDecisionInputs(ctx.db, projectId, customerIds.slice(i, i + BATCH), withKeys);
    for (const r of rows) out.push(buildSnapshot(catalog, now, r, withKeys));
  }
  return out;
}

/** `GET /v1/customers/:id/entitlements-snapshot`: one customer's snapshot; an unknown customer is 404. Reads only. */
export async function customerSnapshot(ctx: AppContext, projectId: string, customerId: string): Promise<EntitlementSnapshot> {
  const [s] = await snapshots(ctx, projectId, [customerId]);
  if (!s?.known) throw new CustomerNotFoundError(customerId);
  return s;
}

/** The `customers` filter of a stream: comma-separated ids, at most 1000. */
export function parseCustomerFilter(raw: string | undefined): string[] | null {
  if (raw === undefined) return null;
  const ids = [...new Set(raw.split(',').filter((s) => s.length > 0))];
  if (ids.length === 0) throw new InvalidRequestError('customers must name at least one customer id', 'customers');
  if (ids.length > MAX_FILTER) throw new InvalidRequestError(`customers names at most ${MAX_FILTER} customers`, 'customers');
  for (const id of ids) if (!CustomerIdSchema.safeParse(id).success) throw new InvalidRequestError(`invalid customer id '${id.slice(0, 40)}'`, 'customers');
  return ids;
}

export function parseLastEventId(raw: string | undefined): number | null {
  if (raw === undefined || raw === '') return null;
  if (!/^\d{1,15}$/.test(raw)) throw new InvalidRequestError('Last-Event-ID must be an event id this stream sent', 'Last-Event-ID');
  return Number(raw);
}

// The hub: one per running app ---------------------------------------------------------------

export interface StreamSink {
  /** One SSE message. */
  write(chunk: string): void;
  /** Ends the connection (the client reconnects and resumes). */
  end(): void;
}

interface Subscriber {
  projectId: string;
  customers: Set<string> | null;
  /** Opened with `api_keys=true`: snapshots carry the customers' keys, and every key holder is sent after a reset. */
  apiKeys: boolean;
  sink: StreamSink;
  /** Messages arriving while the initial snapshots are read are held, then sent after them. */
  held: string[] | null;
  heartbeat: NodeJS.Timeout | null;
}

interface ProjectState {
  subs: Set<Subscriber>;
  pending: Set<string>;
  reset: boolean;
  flushing: boolean;
  cursor: number;
  /** Cursors of the last polls: the poll re-reads from the oldest. */
  history: number[];
  /** Log rows already dispatched (only so the poll's re-reads are not sent again; losing it costs duplicates). */
  seen: Set<number>;
}

export function sseMessage(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

class StreamHub {
  private readonly projects = new Map<string, ProjectState>();
  private stopListening: (() => Promise<void>) | null = null;
  private starting: Promise<void> | null = null;
  private poll: NodeJS.Timeout | null = null;
  private closed = false;
  /** Notifications received (tests and the bench wait on it). */
  received = 0;

  constructor(private readonly ctx: AppContext) {}

  private async start(): Promise<void> {
    this.starting ??= (async () => {
      this.stopListening = await listenOn(
        this.ctx.db,
        STREAM_CHANNEL,
        (payload) => this.onNotify(payload),
        () => {
          // Lost the listening connection: catch up by polling now (the listener reconnects).
          void this.pollAll();
        },
      );
      this.poll = setInterval(() => void this.pollAll(), POLL_MS);
      this.poll.unref();
    })();
    await this.starting;
  }

  private state(projectId: string): ProjectState {
    let s = this.projects.get(projectId);
    if (!s) {
      s = { subs: new Set(), pending: new Set(), reset: false, flushing: false, cursor: -1, history: [], seen: new Set() };
      this.projects.set(projectId, s);
    }
    return s;
  }

  async subscribe(projectId: string, customers: string[] | null, sink: StreamSink, apiKeys = false): Promise<Subscriber> {
    if (this.closed) throw new Error('stream hub closed');
    await this.start();
    const s = this.state(projectId);
    const sub: Subscriber = { projectId, customers: customers ? new Set(customers) : null, apiKeys, sink, held: [], heartbeat: null };
    s.subs.add(sub);
    if (s.cursor < 0) {
      s.cursor = (await repo.cursorOf(this.ctx.db, projectId)).latest;
      s.history = [s.cursor];
    }
    return sub;
  }

  /** Sends what was held while the initial snapshots were read, then live messages and heartbeats. */
  goLive(sub: Subscriber): void {
    const held = sub.held ?? [];
    sub.held = null;
    for (const m of held) sub.sink.write(m);
    sub.heartbeat = setInterval(() => sub.sink.write(': ping\n\n'), HEARTBEAT_MS);
    sub.heartbeat.unref();
  }

  unsubscribe(sub: Subscriber): void {
    if (sub.heartbeat) clearInterval(sub.heartbeat);
    const s = this.projects.get(sub.projectId);
    if (!s) return;
    s.subs.delete(sub);
    if (s.subs.size === 0) this.projects.delete(sub.projectId);
  }

  cursorOf(projectId: string): number {
    return Math.max(0, this.projects.get(projectId)?.cursor ?? 0);
  }

  /** Customers changed by a transaction this instance just committed: sent now, without waiting for its NOTIFY. */
  nudge(projectId: string, customerIds: readonly string[]): void {
    const s = this.projects.get(projectId);
    if (!s) return;
    for (const c of customerIds) this.changed(projectId, s, c, Number.NaN);
  }

  private onNotify(payload: string | undefined): void {
    this.received++;
    let m: { p?: unknown; c?: unknown; s?: unknown };
    try {
      m = JSON.parse(payload ?? '{}');
    } catch {
      return;
    }
    if (typeof m.p !== 'string' || typeof m.c !== 'string') return;
    const s = this.projects.get(m.p);
    if (!s) return;
    this.changed(m.p, s, m.c, Number(m.s));
  }

  private changed(projectId: string, s: ProjectState, customerId: string, seq: number): void {
    if (Number.isFinite(seq)) {
      if (s.seen.has(seq)) return;
      if (s.seen.size > 100_000) s.seen.clear();
      s.seen.add(seq);
      if (seq > s.cursor) s.cursor = seq;
    }
    if (customerId === '') s.reset = true;
    else s.pending.add(customerId);
    if (!s.flushing) void this.flush(projectId, s);
  }

  private async flush(projectId: string, s: ProjectState): Promise<void> {
    s.flushing = true;
    try {
      while (s.pending.size > 0 || s.reset) {
        const reset = s.reset;
        s.reset = false;
        const changed = new Set(s.pending);
        s.pending.clear();
        const wanted = new Set<string>();
        let everyone = false;
        for (const sub of s.subs) {
          if (!sub.customers) everyone = true;
          else for (const c of sub.customers) if (reset || changed.has(c)) wanted.add(c);
        }
        if (everyone) for (const c of changed) wanted.add(c);
        let withKeys = false;
        let allHolders = false;
        for (const sub of s.subs) {
          if (sub.apiKeys) withKeys = true;
          if (sub.apiKeys && !sub.customers && reset) allHolders = true;
        }
        // After a reset every snapshot held is outdated: a key cache gets all its key holders again.
        const holdersOnly = new Set<string>();
        if (allHolders) for (const c of await allKeyHolders(this.ctx.db, projectId)) if (!wanted.has(c)) holdersOnly.add(c);
        for (const c of holdersOnly) wanted.add(c);
        const snaps = await snapshots(this.ctx, projectId, [...wanted], reset, withKeys);
        const id = s.cursor;
        for (const sub of s.subs) {
          const out: string[] = [];
          if (reset && !sub.customers) out.push(sseMessage('reset', { seq: id }, id));
          for (const snap of snaps) {
            const mine = sub.customers ? sub.customers.has(snap.customer_id) : sub.apiKeys || !holdersOnly.has(snap.customer_id);
            if (mine) out.push(sseMessage('snapshot', sub.apiKeys ? snap : withoutKeys(snap), id));
          }
          if (out.length === 0) continue;
          const chunk = out.join('');
          if (sub.held) sub.held.push(chunk);
          else sub.sink.write(chunk);
        }
      }
    } catch (err) {
      this.ctx.log.warn({ err, projectId }, 'entitlement stream: snapshot failed; the next poll retries');
      for (const sub of s.subs) sub.sink.end();
    } finally {
      s.flushing = false;
    }
  }

  private async pollAll(): Promise<void> {
    for (const [projectId, s] of this.projects) {
      try {
        const from = s.history[0] ?? s.cursor;
        const rows = await repo.changesSince(this.ctx.db, projectId, from, 5000);
        for (const r of rows) this.changed(projectId, s, r.customer_id, Number(r.seq));
        s.history.push(s.cursor);
        if (s.history.length > POLL_LOOKBACK) s.history.shift();
        // A stream read without a lease (a client older than leases): nothing is logged for it, so
        // every poll tells it that what it holds may be outdated (filtered streams: fresh snapshots
        // of their customers). Correct within the poll interval, if not cheap; the SDK takes a lease.
        if (!(await repo.hasLiveLease(this.ctx.db, projectId))) {
          s.reset = true;
          if (!s.flushing) void this.flush(projectId, s);
        }
      } catch (err) {
        this.ctx.log.warn({ err, projectId }, 'entitlement stream: poll failed');
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    for (const s of this.projects.values()) for (const sub of s.subs) {
      if (sub.heartbeat) clearInterval(sub.heartbeat);
      sub.sink.end();
    }
    this.projects.clear();
    await this.starting?.catch(() => {});
    await this.stopListening?.();
  }
}

/** LISTEN on PostgreSQL (a dedicated connection, see `Db.listen`) or on the embedded PGlite. */
async function listenOn(db: Db, channel: string, onNotify: (p: string | undefined) => void, onLost: () => void): Promise<() => Promise<void>> {
  if (db.listen) return db.listen(channel, onNotify, onLost);
  const embedded = (db as unknown as { pglite?: { listen(ch: string, cb: (p: string) => void): Promise<() => Promise<void>> } }).pglite;
  if (embedded) return embedded.listen(channel, (p) => onNotify(p));
  return async () => {};
}

const hubs = new WeakMap<AppContext, StreamHub>();

export function hubOf(ctx: AppContext): StreamHub {
  let h = hubs.get(ctx);
  if (!h) {
    h = new StreamHub(ctx);
    hubs.set(ctx, h);
  }
  return h;
}

/**
 * After a commit on this instance that changed these customers (a key revoked or rolled): this
 * instance's streams read and send their snapshots at once instead of waiting for the NOTIFY to come
 * back through the listening connection (which still follows, and reaches the other instances; the
 * snapshot it brings is sent again, harmless). Never before the commit: the snapshot would be stale.
 */
export function streamChangedLocally(ctx: AppContext, projectId: string, customerIds: readonly string[]): void {
  hubs.get(ctx)?.nudge(projectId, customerIds);
}

export async function closeHub(ctx: AppContext): Promise<void> {
  const h = hubs.get(ctx);
  hubs.delete(ctx);
  await h?.close();
}

export interface OpenStream {
  projectId: string;
  customers: string[] | null;
  lastEventId: number | null;
  once: boolean;
  /** Snapshots with the customers' API keys; without a filter, every key holder at connect. */
  apiKeys?: boolean;
}

/**
 * Opens a stream: subscribes first (messages arriving meanwhile are held), then writes the initial
 * messages — a snapshot of every customer of the filter, or, without a filter but with
 * Last-Event-ID, of every customer changed since (a `reset` when the whole project changed) —
 * then `ready`, then live messages and heartbeats. `once`: ends after `ready`.
 * Returns how to stop it (the connection closed).
 */
export async function openStream(ctx: AppContext, o: OpenStream, sink: StreamSink): Promise<() => void> {
  const hub = hubOf(ctx);
  const apiKeys = o.apiKeys === true;
  const sub = await hub.subscribe(o.projectId, o.customers, sink, apiKeys);
  try {
    const cursor = hub.cursorOf(o.projectId);
    const first: string[] = ['retry: 2000\n\n'];
    let ids: string[] = o.customers ?? [];
    let everyHolder = !o.customers && apiKeys && o.lastEventId === null;
    if (!o.customers && o.lastEventId !== null) {
      const { pruned } = await repo.cursorOf(ctx.db, o.projectId);
      // Older than the log keeps: what changed since is unknown, so everything held is outdated.
      const changes = o.lastEventId < pruned ? [{ customer_id: '', seq: pruned }] : await recentChanges(ctx.db, o.projectId, o.lastEventId);
      const reset = changes.some((c) => c.customer_id === '');
      if (reset) first.push(sseMessage('reset', { seq: cursor }, cursor));
      if (reset && apiKeys) everyHolder = true;
      ids = [...new Set(changes.map((c) => c.customer_id).filter((c) => c !== ''))];
    }
    if (everyHolder) ids = [...new Set([...ids, ...(await allKeyHolders(ctx.db, o.projectId))])];
    for (const snap of await snapshots(ctx, o.projectId, ids, false, apiKeys)) first.push(sseMessage('snapshot', snap, cursor));
    first.push(sseMessage('ready', { seq: cursor, customers: o.customers?.length ?? null }, cursor));
    sink.write(first.join(''));
  } catch (err) {
    hub.unsubscribe(sub);
    throw err;
  }
  if (o.once) {
    hub.unsubscribe(sub);
    sink.end();
    return () => {};
  }
  hub.goLive(sub);
  return () => hub.unsubscribe(sub);
}

function withoutKeys(s: EntitlementSnapshot): EntitlementSnapshot {
  if (!s.api_keys) return s;
  const { api_keys: _, ...rest } = s;
  return rest;
}

/** Every customer of the project holding an API key (any status). */
async function allKeyHolders(q: Queryable, projectId: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const page = await repo.keyHolders(q, projectId, out[out.length - 1] ?? '', 5000);
    out.push(...page);
    if (page.length < 5000) return out;
  }
}

async function recentChanges(q: Queryable, projectId: string, after: number): Promise<repo.ChangeRow[]> {
  const out: repo.ChangeRow[] = [];
  let cursor = after;
  for (;;) {
    const page = await repo.changesSince(q, projectId, cursor, 5000);
    out.push(...page);
    if (page.length < 5000) return out;
    cursor = Number(page[page.length - 1]!.seq);
  }
}

/** How long the change log is kept: a stream resuming from further back gets a `reset`. */
export const STREAM_LOG_RETENTION_MS = 15 * 60_000;

/** Background (`stream.prune`): drops change-log rows older than the retention, a thousand at a time. */
export async function pruneStreamLog(ctx: AppContext): Promise<number> {
  await repo.pruneLeases(ctx.db);
  return repo.pruneChanges(ctx.db, new Date(ctx.clock.now().getTime() - STREAM_LOG_RETENTION_MS), 1000);
}

/** How long a stream lease lives after its last renewal; the SDK renews it every LEASE_RENEW_SECONDS. */
export const LEASE_TTL_SECONDS = 300;
export const LEASE_RENEW_SECONDS = 60;

export interface StreamLease {
  object: 'stream_lease';
  id: string;
  expires_at: string;
  ttl_seconds: number;
  renew_after_seconds: number;
}

/**
 * `POST /v1/stream/leases`: the project's writes are logged for the stream while it has a live
 * lease (migration 0037). A new id when none is given; renewing an id (even a lapsed one) revives it.
 */
export async function takeLease(q: Queryable, projectId: string, id: string | undefined): Promise<StreamLease> {
  const row = await repo.upsertLease(q, projectId, id ?? newId('streamLease'), LEASE_TTL_SECONDS);
  return {
    object: 'stream_lease',
    id: row.id,
    expires_at: new Date(row.expires_at).toISOString(),
    ttl_seconds: LEASE_TTL_SECONDS,
    renew_after_seconds: LEASE_RENEW_SECONDS,
  };
}

export async function releaseLease(q: Queryable, projectId: string, id: string): Promise<{ object: 'stream_lease'; id: string; deleted: true }> {
  if (!(await repo.deleteLease(q, projectId, id))) throw new NotFoundError('stream lease', id);
  return { object: 'stream_lease', id, deleted: true };
}
