import type { Queryable } from '../../db/db.ts';

/** Customers and failed payments; revenue, MRR and credit figures come from the metrics module. */
export async function counts(q: Queryable, projectId: string, monthStart: Date) {
  const r = await q.query<{ customers: number; new_customers: number; failed_payments: number }>(
    `SELECT
       (SELECT count(*)::int FROM customers WHERE project_id = $1 AND deleted_at IS NULL) AS customers,
       (SELECT count(*)::int FROM customers WHERE project_id = $1 AND deleted_at IS NULL AND created_at >= $2) AS new_customers,
       (SELECT count(*)::int FROM payments WHERE project_id = $1 AND status = 'failed' AND created_at >= $2) AS failed_payments`,
    [projectId, monthStart],
  );
  const row = r.rows[0];
  return {
    customers: Number(row?.customers ?? 0),
    new_customers_this_month: Number(row?.new_customers ?? 0),
    failed_payments_this_month: Number(row?.failed_payments ?? 0),
  };
}

/** Subscription counts by status. */
export async function subscriptionCounts(q: Queryable, projectId: string): Promise<Record<string, number>> {
  const r = await q.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM subscriptions WHERE project_id = $1 GROUP BY status',
    [projectId],
  );
  return Object.fromEntries(r.rows.map((x) => [x.status, Number(x.n)]));
}
