import type { Queryable } from '../../db/db.ts';

export type CatalogKind = 'plan' | 'pack' | 'product';

export interface StripePriceRow {
  project_id: string;
  kind: CatalogKind;
  item_id: string;
  lookup_key: string;
  product_ref: string;
  price_ref: string;
  name: string;
  amount: number;
  currency: string;
  interval: string | null;
  active: boolean;
  synced_at: Date;
}

export interface SyncStateRow {
  project_id: string;
  catalog_version: number | null;
  sync_status: 'idle' | 'pending' | 'failed';
  sync_attempts: number;
  sync_due_at: Date | null;
  last_error: string | null;
  synced_at: Date | null;
  events_cursor: number | null;
  reconcile_due_at: Date | null;
}

export async function listPrices(q: Queryable, projectId: string): Promise<StripePriceRow[]> {
  return (await q.query<StripePriceRow>('SELECT * FROM stripe_prices WHERE project_id = $1 ORDER BY kind, item_id', [projectId])).rows;
}

export async function findPrice(q: Queryable, projectId: string, kind: CatalogKind, itemId: string): Promise<StripePriceRow | undefined> {
  return (
    await q.query<StripePriceRow>('SELECT * FROM stripe_prices WHERE project_id = $1 AND kind = $2 AND item_id = $3', [projectId, kind, itemId])
  ).rows[0];
}

export async function findPriceByRef(q: Queryable, projectId: string, priceRef: string): Promise<StripePriceRow | undefined> {
  return (await q.query<StripePriceRow>('SELECT * FROM stripe_prices WHERE project_id = $1 AND price_ref = $2', [projectId, priceRef])).rows[0];
}

export async function upsertPrice(q: Queryable, r: Omit<StripePriceRow, 'project_id'> & { project_id: string }): Promise<void> {
  await q.query(
    `INSERT INTO stripe_prices (project_id, kind, item_id, lookup_key, product_ref, price_ref, name, amount, currency, interval, active, synced_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
     ON CONFLICT (project_id, kind, item_id) DO UPDATE SET lookup_key = EXCLUDED.lookup_key, product_ref = EXCLUDED.product_ref,
       price_ref = EXCLUDED.price_ref, name = EXCLUDED.name, amount = EXCLUDED.amount, currency = EXCLUDED.currency,
       interval = EXCLUDED.interval, active = EXCLUDED.active, synced_at = EXCLUDED.synced_at`,
    [r.project_id, r.kind, r.item_id, r.lookup_key, r.product_ref, r.price_ref, r.name, r.amount, r.currency, r.interval, r.active, r.synced_at],
  );
}

/** Marks a project's catalog as waiting for its Stripe sync (called in the push transaction). */
export async function requestSync(q: Queryable, projectId: string, version: number, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO stripe_sync_state (project_id, catalog_version, sync_status, sync_attempts, sync_due_at)
     VALUES ($1, $2, 'pending', 0, $3)
     ON CONFLICT (project_id) DO UPDATE SET catalog_version = EXCLUDED.catalog_version, sync_status = 'pending',
       sync_attempts = 0, sync_due_at = EXCLUDED.sync_due_at, last_error = NULL`,
    [projectId, version, at],
  );
}

export async function findSyncState(q: Queryable, projectId: string): Promise<SyncStateRow | undefined> {
  return (await q.query<SyncStateRow>('SELECT * FROM stripe_sync_state WHERE project_id = $1', [projectId])).rows[0];
}

/**
 * Claims one project whose sync is due by leasing it (its due time moves to `leaseUntil`), so the
 * Stripe calls run outside any transaction and a crashed worker's claim simply expires.
 */
export async function claimDueSync(q: Queryable, now: Date, leaseUntil: Date): Promise<SyncStateRow | undefined> {
  return (
    await q.query<SyncStateRow>(
      `UPDATE stripe_sync_state SET sync_due_at = $2 WHERE project_id = (
         SELECT project_id FROM stripe_sync_state WHERE sync_status <> 'idle' AND sync_due_at <= $1
         ORDER BY sync_due_at LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [now, leaseUntil],
    )
  ).rows[0];
}

export async function finishSync(
  q: Queryable,
  projectId: string,
  version: number | null,
  r: { ok: true; at: Date } | { ok: false; error: string; retryAt: Date | null },
): Promise<void> {
  if (r.ok) {
    // A push that arrived meanwhile (a newer version) keeps its own pending state.
    await q.query(
      `UPDATE stripe_sync_state SET sync_status = 'idle', sync_attempts = 0, sync_due_at = NULL, last_error = NULL, synced_at = $3
       WHERE project_id = $1 AND catalog_version IS NOT DISTINCT FROM $2`,
      [projectId, version, r.at],
    );
    return;
  }
  await q.query(
    `UPDATE stripe_sync_state SET sync_status = 'failed', sync_attempts = sync_attempts + 1, sync_due_at = $4, last_error = $3
     WHERE project_id = $1 AND catalog_version IS NOT DISTINCT FROM $2`,
    [projectId, version, r.error, r.retryAt],
  );
}

/** Projects with Stripe settings get a reconcile schedule (first run after `due`). */
export async function scheduleReconciles(q: Queryable, due: Date): Promise<void> {
  await q.query(
    `INSERT INTO stripe_sync_state (project_id, reconcile_due_at)
     SELECT project_id, $1 FROM provider_settings WHERE provider = 'stripe'
     ON CONFLICT (project_id) DO UPDATE SET reconcile_due_at = $1 WHERE stripe_sync_state.reconcile_due_at IS NULL`,
    [due],
  );
}

/** Claims one project whose reconcile is due (by its own clock), leasing it until `leaseUntil`. */
export async function claimDueReconcile(q: Queryable, now: Date, leaseUntil: Date): Promise<SyncStateRow | undefined> {
  return (
    await q.query<SyncStateRow>(
      `UPDATE stripe_sync_state SET reconcile_due_at = $2 WHERE project_id = (
         SELECT s.project_id FROM stripe_sync_state s JOIN projects p ON p.id = s.project_id
         WHERE s.reconcile_due_at <= $1::timestamptz + (p.clock_offset_ms * interval '1 millisecond')
         ORDER BY s.reconcile_due_at LIMIT 1 FOR UPDATE OF s SKIP LOCKED)
       RETURNING *`,
      [now, leaseUntil],
    )
  ).rows[0];
}

export async function setReconciled(q: Queryable, projectId: string, cursor: number | null, nextDue: Date): Promise<void> {
  await q.query(
    'UPDATE stripe_sync_state SET events_cursor = COALESCE($2, events_cursor), reconcile_due_at = $3 WHERE project_id = $1',
    [projectId, cursor, nextDue],
  );
}

/** Stripe checkout sessions still open in our records, oldest first. */
export async function openSessions(q: Queryable, projectId: string, before: Date, limit: number): Promise<{ id: string; provider_ref: string }[]> {
  return (
    await q.query<{ id: string; provider_ref: string }>(
      `SELECT id, provider_ref FROM checkout_sessions
       WHERE project_id = $1 AND provider = 'stripe' AND provider_ref IS NOT NULL
         AND (status = 'open' OR payment_status = 'unpaid') AND created_at <= $2
       ORDER BY created_at LIMIT $3`,
      [projectId, before, limit],
    )
  ).rows;
}

export async function hasStripeSettings(q: Queryable, projectId: string): Promise<boolean> {
  return (await q.query("SELECT 1 FROM provider_settings WHERE project_id = $1 AND provider = 'stripe'", [projectId])).rowCount > 0;
}
