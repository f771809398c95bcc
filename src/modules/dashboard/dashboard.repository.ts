import type { Queryable } from '../../db/db.ts';

export interface MonthRevenue {
  month: string;
  currency: string;
  gross: number;
  refunded: number;
  net: number;
  payments: number;
}

/** Collected revenue per calendar month (UTC) and currency: gross, refunded, net. */
export async function revenueByMonth(q: Queryable, projectId: string, since: Date): Promise<MonthRevenue[]> {
  const r = await q.query<MonthRevenue>(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month, currency,
            SUM(amount)::bigint AS gross, SUM(amount_refunded)::bigint AS refunded,
            SUM(amount - amount_refunded)::bigint AS net, count(*)::int AS payments
       FROM payments
      WHERE project_id = $1 AND status <> 'failed' AND created_at >= $2
      GROUP BY 1, 2 ORDER BY 1, 2`,
    [projectId, since],
  );
  return r.rows.map((x) => ({ ...x, gross: Number(x.gross), refunded: Number(x.refunded), net: Number(x.net) }));
}

export async function counts(q: Queryable, projectId: string, monthStart: Date) {
  const r = await q.query<{ customers: number; new_customers: number; failed_payments: number; credits_sold: number; credits_consumed: number }>(
    `SELECT
       (SELECT count(*)::int FROM customers WHERE project_id = $1) AS customers,
       (SELECT count(*)::int FROM customers WHERE project_id = $1 AND created_at >= $2) AS new_customers,
       (SELECT count(*)::int FROM payments WHERE project_id = $1 AND status = 'failed' AND created_at >= $2) AS failed_payments,
       (SELECT COALESCE(SUM(amount), 0)::bigint FROM ledger_entries WHERE project_id = $1 AND kind = 'purchase') AS credits_sold,
       (SELECT COALESCE(-SUM(amount), 0)::bigint FROM ledger_entries WHERE project_id = $1 AND kind IN ('deduct', 'capture')) AS credits_consumed`,
    [projectId, monthStart],
  );
  const row = r.rows[0];
  return {
    customers: Number(row?.customers ?? 0),
    new_customers_this_month: Number(row?.new_customers ?? 0),
    failed_payments_this_month: Number(row?.failed_payments ?? 0),
    credits_sold: Number(row?.credits_sold ?? 0),
    credits_consumed: Number(row?.credits_consumed ?? 0),
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
