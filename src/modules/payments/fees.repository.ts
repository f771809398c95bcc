import { claimDueSql } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';
import type { PaymentRow } from './payments.repository.ts';

export async function setFee(q: Queryable, projectId: string, paymentId: string, fee: { fee: number; net: number; currency: string }): Promise<void> {
  await q.query(
    `UPDATE payments SET fee_amount = $3, net_amount = $4, fee_currency = $5, fee_due_at = NULL WHERE project_id = $1 AND id = $2`,
    [projectId, paymentId, fee.fee, fee.net, fee.currency],
  );
}

/** Marks a payment whose fee the `payments.fees` job must read from the provider (wall clock). */
export async function setFeeDue(q: Queryable, projectId: string, paymentId: string, at: Date | null): Promise<void> {
  await q.query('UPDATE payments SET fee_due_at = $3 WHERE project_id = $1 AND id = $2', [projectId, paymentId, at]);
}

const FEES_DUE = claimDueSql({ table: 'payments', alias: 'f', select: 'f.id', where: 'f.fee_due_at IS NOT NULL', dueAt: 'fee_due_at' });

/**
 * Claims payments whose fee is due and leases them: the next attempt is pushed `leaseMs` on, so a
 * process that dies mid-call leaves the payment to be tried again later, by any instance.
 */
export async function claimFeesDue(q: Queryable, now: Date, limit: number, leaseMs: number): Promise<PaymentRow[]> {
  return (
    await q.query<PaymentRow & { fee_attempts: number }>(
      `UPDATE payments SET fee_due_at = $1::timestamptz + ($3::bigint * interval '1 millisecond'), fee_attempts = fee_attempts + 1
       WHERE id IN (${FEES_DUE}) RETURNING *`,
      [now, limit, leaseMs],
    )
  ).rows;
}
