import { claimDueSql } from '../../db/claim.ts';
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

/** When the owed refund of a payment is next attempted (project time), or NULL: nothing owed. */
export async function setRefundDue(q: Queryable, projectId: string, id: string, at: Date | null): Promise<void> {
  await q.query('UPDATE payments SET refund_due_at = $3 WHERE project_id = $1 AND id = $2', [projectId, id, at]);
}

const REFUNDS_DUE = claimDueSql({ table: 'payments', alias: 'p2', select: 'p2.project_id, p2.id', where: 'p2.refund_due_at IS NOT NULL', dueAt: 'refund_due_at', projectClock: true });

/**
 * Claims payments whose owed refund is due and pushes their next attempt `retryMs` later on the
 * project clock: a crash or a declined refund is tried again, and two instances never try one twice.
 */
export async function claimRefundsDue(q: Queryable, now: Date, limit: number, retryMs: number): Promise<{ id: string; project_id: string }[]> {
  return (
    await q.query<{ id: string; project_id: string }>(
      `UPDATE payments t SET refund_due_at = $1::timestamptz + (pp.clock_offset_ms * interval '1 millisecond') + ($3 * interval '1 millisecond')
       FROM (${REFUNDS_DUE}) c, projects pp
       WHERE t.project_id = c.project_id AND t.id = c.id AND pp.id = t.project_id RETURNING t.id, t.project_id`,
      [now, limit, retryMs],
    )
  ).rows;
}

/** Adds a refunded amount; the payment becomes `refunded` once nothing is left. */
export async function addRefunded(q: Queryable, id: string, amount: number): Promise<PaymentRow> {
  const r = await q.query<PaymentRow>(
    `UPDATE payments SET amount_refunded = amount_refunded + $2,
       status = CASE WHEN amount_refunded + $2 >= amount THEN 'refunded' ELSE 'partially_refunded' END,
       refund_due_at = CASE WHEN amount_refunded + $2 >= amount THEN NULL ELSE refund_due_at END
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
