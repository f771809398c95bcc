import type { Queryable } from '../../db/db.ts';
import type { PaymentRow } from './payments.repository.ts';

export interface RefundRow {
  id: string;
  project_id: string;
  payment_id: string;
  amount: number;
  currency: string;
  status: 'succeeded' | 'pending' | 'failed';
  provider: string;
  provider_ref: string;
  origin: 'api' | 'provider';
  details: Record<string, unknown>;
  created_at: Date;
}

export async function lockPayment(q: Queryable, projectId: string, id: string): Promise<PaymentRow | undefined> {
  return (await q.query<PaymentRow>('SELECT * FROM payments WHERE project_id = $1 AND id = $2 FOR UPDATE', [projectId, id])).rows[0];
}

/** Adds a refunded amount; the payment becomes `refunded` once nothing is left. */
export async function addRefunded(q: Queryable, id: string, amount: number): Promise<PaymentRow> {
  const r = await q.query<PaymentRow>(
    `UPDATE payments SET amount_refunded = amount_refunded + $2,
       status = CASE WHEN amount_refunded + $2 >= amount THEN 'refunded' ELSE 'partially_refunded' END
     WHERE id = $1 AND amount_refunded + $2 <= amount RETURNING *`,
    [id, amount],
  );
  const row = r.rows[0];
  if (!row) throw new Error(`refund of ${amount} exceeds what is left of payment ${id}`);
  return row;
}

/** Records a provider refund once; undefined when that provider refund is already known. */
export async function insertRefund(q: Queryable, r: RefundRow): Promise<RefundRow | undefined> {
  return (
    await q.query<RefundRow>(
      `INSERT INTO refunds (id, project_id, payment_id, amount, currency, status, provider, provider_ref, origin, details, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (project_id, provider, provider_ref) DO NOTHING RETURNING *`,
      [r.id, r.project_id, r.payment_id, r.amount, r.currency, r.status, r.provider, r.provider_ref, r.origin, JSON.stringify(r.details), r.created_at],
    )
  ).rows[0];
}

export async function findRefundByRef(q: Queryable, projectId: string, provider: string, ref: string): Promise<RefundRow | undefined> {
  return (
    await q.query<RefundRow>('SELECT * FROM refunds WHERE project_id = $1 AND provider = $2 AND provider_ref = $3', [
      projectId,
      provider,
      ref,
    ])
  ).rows[0];
}

export async function listRefunds(q: Queryable, paymentId: string): Promise<RefundRow[]> {
  return (await q.query<RefundRow>('SELECT * FROM refunds WHERE payment_id = $1 ORDER BY seq', [paymentId])).rows;
}
