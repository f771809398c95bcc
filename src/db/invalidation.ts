import { TtlCache } from '../lib/ttl-cache.ts';
import type { Db } from './db.ts';

/**
 * The in-process caches that can change an outcome (API keys, project rows with their test clock
 * and settings, catalogs, provider settings, customer sessions, CORS decisions, whether a customer was erased), one set per
 * database handle, so two instances in one process keep separate caches like two processes do.
 *
 * How they are invalidated: a change deletes its entries locally and publishes the same
 * invalidation on the PostgreSQL channel `tollgate_cache` (`pg_notify`, sent at commit when a
 * transaction is open); every instance LISTENs there and drops the entries it names. An instance
 * that loses its listening connection drops every entry and reconnects. PGlite is one process, so
 * the local delete is the whole story. The TTL (2 s) stays as a backstop.
 */
export type CacheScope = 'project' | 'keys' | 'catalog' | 'provider' | 'session' | 'cors' | 'customer';

export const CACHE_CHANNEL = 'tollgate_cache';
const CACHE_TTL_MS = 2000;

interface DbCaches {
  caches: Map<CacheScope, TtlCache<unknown>>;
  /** Invalidations received from the channel (tests wait on it instead of sleeping). */
  received: number;
  waiters: Array<() => void>;
}

const perDb = new WeakMap<Db, DbCaches>();

function state(db: Db): DbCaches {
  let s = perDb.get(db);
  if (!s) {
    s = { caches: new Map(), received: 0, waiters: [] };
    perDb.set(db, s);
  }
  return s;
}

/** The cache of one scope for this database handle. */
export function cacheOf<V>(db: Db, scope: CacheScope): TtlCache<V> {
  const s = state(db);
  let c = s.caches.get(scope);
  if (!c) {
    c = new TtlCache<unknown>(CACHE_TTL_MS);
    s.caches.set(scope, c);
  }
  return c as TtlCache<V>;
}

export interface Invalidation {
  scope: CacheScope;
  /** The entry to drop; absent: the whole scope. */
  key?: string;
}

function applyLocal(db: Db, items: readonly Invalidation[]): void {
  for (const { scope, key } of items) {
    const c = cacheOf(db, scope);
    if (key === undefined) c.clear();
    else c.delete(key);
  }
}

/** Drops the entries here and tells every other instance on the same PostgreSQL database. */
export async function invalidate(db: Db, items: readonly Invalidation[]): Promise<void> {
  applyLocal(db, items);
  if (db.kind !== 'pg') return;
  await db.query('SELECT pg_notify($1, $2)', [CACHE_CHANNEL, JSON.stringify(items)]);
}

/** Drops every cached entry of this handle. */
export function clearAll(db: Db): void {
  for (const c of state(db).caches.values()) c.clear();
}

/** How many invalidations this handle has received from other instances (or itself) so far. */
export function receivedInvalidations(db: Db): number {
  return state(db).received;
}

/** Resolves once this handle has received more than `after` invalidations from the channel. */
export function invalidationReceived(db: Db, after: number): Promise<void> {
  const s = state(db);
  if (s.received > after) return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (s.received > after) resolve();
      else s.waiters.push(check);
    };
    s.waiters.push(check);
  });
}

function onMessage(db: Db, payload: string | undefined): void {
  const s = state(db);
  try {
    const items = JSON.parse(payload ?? '[]') as Invalidation[];
    applyLocal(db, Array.isArray(items) ? items : []);
  } catch {
    clearAll(db);
  }
  s.received++;
  const waiting = s.waiters.splice(0);
  for (const w of waiting) w();
}

/** Starts listening for other instances' invalidations (PostgreSQL); returns how to stop. */
export async function listenForInvalidations(db: Db): Promise<() => Promise<void>> {
  if (!db.listen) return async () => {};
  return db.listen(CACHE_CHANNEL, (payload) => onMessage(db, payload), () => clearAll(db));
}
