import type { Queryable } from '../../db/db.ts';

export type ImportShape = 'credits' | 'payments' | 'users' | 'customers';

export interface ImportRecordRow {
  project_id: string;
  shape: ImportShape;
  source_id: string;
  customer_id: string | null;
  target_id: string | null;
  amount: number | null;
  fingerprint: string;
  created_at: Date;
}

export async function findRecord(q: Queryable, projectId: string, shape: ImportShape, sourceId: string): Promise<ImportRecordRow | undefined> {
  return (
    await q.query<ImportRecordRow>('SELECT * FROM import_records WHERE project_id = $1 AND shape = $2 AND source_id = $3', [projectId, shape, sourceId])
  ).rows[0];
}

/** Claims a source record for this import (false: another run already holds it; the caller re-reads it). */
export async function claimRecord(
  q: Queryable,
  r: { projectId: string; shape: ImportShape; sourceId: string; customerId: string | null; fingerprint: string; amount: number | null; at: Date },
): Promise<boolean> {
  const res = await q.query(
    `INSERT INTO import_records (project_id, shape, source_id, customer_id, amount, fingerprint, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, shape, source_id) DO NOTHING RETURNING 1`,
    [r.projectId, r.shape, r.sourceId, r.customerId, r.amount, r.fingerprint, r.at],
  );
  return res.rowCount > 0;
}

export async function setTarget(q: Queryable, projectId: string, shape: ImportShape, sourceId: string, targetId: string): Promise<void> {
  await q.query('UPDATE import_records SET target_id = $4 WHERE project_id = $1 AND shape = $2 AND source_id = $3', [projectId, shape, sourceId, targetId]);
}

/** Project-wide: the balances imported and the ledger entries that opened them (they must be equal). */
export async function creditTotals(q: Queryable, projectId: string): Promise<{ balances: number; entries: number }> {
  const r = await q.query<{ balances: string | number; entries: string | number }>(
    `SELECT (SELECT COALESCE(SUM(amount), 0) FROM import_records WHERE project_id = $1 AND shape = 'credits') AS balances,
            (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE project_id = $1 AND kind = 'import') AS entries`,
    [projectId],
  );
  const row = r.rows[0];
  return { balances: Number(row?.balances ?? 0), entries: Number(row?.entries ?? 0) };
}

export async function findPaymentByRef(q: Queryable, projectId: string, provider: string, ref: string): Promise<{ id: string } | undefined> {
  return (await q.query<{ id: string }>('SELECT id FROM payments WHERE project_id = $1 AND provider = $2 AND provider_ref = $3', [projectId, provider, ref])).rows[0];
}

export async function setRefunded(q: Queryable, projectId: string, id: string, amountRefunded: number): Promise<void> {
  await q.query('UPDATE payments SET amount_refunded = $3 WHERE project_id = $1 AND id = $2', [projectId, id, amountRefunded]);
}

// Existing Stripe prices bound to catalog items ------------------------------------------------

export interface PriceBindingRow {
  project_id: string;
  price_ref: string;
  kind: 'plan' | 'pack';
  item_id: string;
  created_at: Date;
}

export async function upsertPriceBinding(q: Queryable, b: { projectId: string; priceRef: string; kind: 'plan' | 'pack'; itemId: string; at: Date }): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO stripe_price_bindings (project_id, price_ref, kind, item_id, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (project_id, price_ref) DO UPDATE SET kind = EXCLUDED.kind, item_id = EXCLUDED.item_id
       WHERE stripe_price_bindings.kind <> EXCLUDED.kind OR stripe_price_bindings.item_id <> EXCLUDED.item_id
     RETURNING 1`,
    [b.projectId, b.priceRef, b.kind, b.itemId, b.at],
  );
  return r.rowCount > 0;
}

export async function findPriceBinding(q: Queryable, projectId: string, priceRef: string): Promise<PriceBindingRow | undefined> {
  return (await q.query<PriceBindingRow>('SELECT * FROM stripe_price_bindings WHERE project_id = $1 AND price_ref = $2', [projectId, priceRef])).rows[0];
}

export async function listPriceBindings(q: Queryable, projectId: string): Promise<PriceBindingRow[]> {
  return (await q.query<PriceBindingRow>('SELECT * FROM stripe_price_bindings WHERE project_id = $1 ORDER BY kind, item_id, price_ref', [projectId])).rows;
}
