import { claimDueSql } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';

export interface CheckoutSessionRow {
  id: string;
  project_id: string;
  customer_id: string | null;
  provider: string;
  mode: 'payment' | 'subscription';
  item_type: 'credit_pack' | 'plan' | 'order';
  item_id: string;
  quantity: number;
  amount: number;
  currency: string;
  status: 'open' | 'complete' | 'expired';
  payment_status: string;
  success_url: string;
  cancel_url: string;
  trial_days: number | null;
  promotion_code: string | null;
  provider_ref: string | null;
  provider_url: string | null;
  payment_link_id: string | null;
  customer_email: string | null;
  details: Record<string, unknown>;
  created_at: Date;
  expires_at: Date;
  completed_at: Date | null;
}

export interface PaymentRow {
  id: string;
  project_id: string;
  customer_id: string | null;
  amount: number;
  amount_refunded: number;
  currency: string;
  status: 'succeeded' | 'failed' | 'refunded' | 'partially_refunded';
  provider: string;
  provider_ref: string;
  kind: string;
  item_id: string | null;
  checkout_session_id: string | null;
  subscription_id: string | null;
  order_id: string | null;
  period_start: Date | null;
  period_end: Date | null;
  failure_reason: string | null;
  details: Record<string, unknown>;
  created_at: Date;
  /** The provider's fee and what it leaves, in `fee_currency` (null until known; migration 0034). */
  fee_amount?: number | null;
  fee_currency?: string | null;
  net_amount?: number | null;
  /** The payment's latest dispute and where it stands. */
  dispute_id?: string | null;
  dispute_status?: string | null;
}

export async function insertSession(
  q: Queryable,
  s: Omit<CheckoutSessionRow, 'status' | 'payment_status' | 'provider_ref' | 'provider_url' | 'completed_at'> & {
    status?: CheckoutSessionRow['status'];
  },
): Promise<CheckoutSessionRow> {
  const r = await q.query<CheckoutSessionRow>(
    `INSERT INTO checkout_sessions (id, project_id, customer_id, provider, mode, item_type, item_id, quantity, amount, currency,
       status, success_url, cancel_url, trial_days, promotion_code, payment_link_id, customer_email, details, created_at, expires_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20) RETURNING *`,
    [
      s.id,
      s.project_id,
      s.customer_id,
      s.provider,
      s.mode,
      s.item_type,
      s.item_id,
      s.quantity,
      s.amount,
      s.currency,
      s.status ?? 'open',
      s.success_url,
      s.cancel_url,
      s.trial_days,
      s.promotion_code,
      s.payment_link_id,
      s.customer_email,
      JSON.stringify(s.details),
      s.created_at,
      s.expires_at,
    ],
  );
  return r.rows[0] as CheckoutSessionRow;
}

/** Removes a session whose provider call failed (never one the provider knows of). */
export async function deleteUnsentSession(q: Queryable, projectId: string, id: string): Promise<void> {
  await q.query("DELETE FROM checkout_sessions WHERE project_id = $1 AND id = $2 AND provider_ref IS NULL AND status = 'open'", [projectId, id]);
}

export async function setSessionProvider(q: Queryable, id: string, ref: string, url: string): Promise<CheckoutSessionRow> {
  const r = await q.query<CheckoutSessionRow>(
    'UPDATE checkout_sessions SET provider_ref = $2, provider_url = $3 WHERE id = $1 RETURNING *',
    [id, ref, url],
  );
  return r.rows[0] as CheckoutSessionRow;
}

export async function findSession(q: Queryable, id: string, projectId?: string): Promise<CheckoutSessionRow | undefined> {
  return (
    await q.query<CheckoutSessionRow>('SELECT * FROM checkout_sessions WHERE id = $1 AND ($2::text IS NULL OR project_id = $2)', [
      id,
      projectId ?? null,
    ])
  ).rows[0];
}

export async function lockSessionByRef(
  q: Queryable,
  projectId: string,
  provider: string,
  ref: string,
): Promise<CheckoutSessionRow | undefined> {
  return (
    await q.query<CheckoutSessionRow>(
      'SELECT * FROM checkout_sessions WHERE project_id = $1 AND provider = $2 AND (provider_ref = $3 OR id = $3) FOR UPDATE',
      [projectId, provider, ref],
    )
  ).rows[0];
}

export async function completeSession(
  q: Queryable,
  id: string,
  patch: { paymentStatus: string; customerId?: string | null; customerEmail?: string | null; at: Date },
): Promise<CheckoutSessionRow> {
  const r = await q.query<CheckoutSessionRow>(
    `UPDATE checkout_sessions SET status = 'complete', payment_status = $2, completed_at = $3,
       customer_id = COALESCE(customer_id, $4), customer_email = COALESCE(customer_email, $5)
     WHERE id = $1 RETURNING *`,
    [id, patch.paymentStatus, patch.at, patch.customerId ?? null, patch.customerEmail ?? null],
  );
  return r.rows[0] as CheckoutSessionRow;
}

export async function setSessionPaymentStatus(q: Queryable, id: string, paymentStatus: string): Promise<void> {
  await q.query('UPDATE checkout_sessions SET payment_status = $2 WHERE id = $1', [id, paymentStatus]);
}

const OPEN_SESSIONS_DUE = claimDueSql({
  table: 'checkout_sessions',
  alias: 's',
  select: 's.id',
  where: "s.status = 'open'",
  dueAt: 'expires_at',
  projectClock: true,
});

/** Expires open checkout sessions past their expiry on the project's clock, one batch. */
export async function expireSessions(q: Queryable, now: Date, limit: number): Promise<CheckoutSessionRow[]> {
  return (
    await q.query<CheckoutSessionRow>(
      `UPDATE checkout_sessions SET status = 'expired' WHERE id IN (${OPEN_SESSIONS_DUE}) RETURNING *`,
      [now, limit],
    )
  ).rows;
}

export async function insertPayment(
  q: Queryable,
  p: Omit<PaymentRow, 'amount_refunded' | 'details'> & { details?: Record<string, unknown> },
): Promise<PaymentRow | undefined> {
  const r = await q.query<PaymentRow>(
    `INSERT INTO payments (id, project_id, customer_id, amount, currency, status, provider, provider_ref, kind, item_id,
       checkout_session_id, subscription_id, order_id, period_start, period_end, failure_reason, details, created_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)
     ON CONFLICT (project_id, provider, provider_ref) DO NOTHING RETURNING *`,
    [
      p.id,
      p.project_id,
      p.customer_id,
      p.amount,
      p.currency,
      p.status,
      p.provider,
      p.provider_ref,
      p.kind,
      p.item_id,
      p.checkout_session_id,
      p.subscription_id,
      p.order_id,
      p.period_start,
      p.period_end,
      p.failure_reason,
      JSON.stringify(p.details ?? {}),
      p.created_at,
    ],
  );
  return r.rows[0];
}

export async function findPayment(q: Queryable, projectId: string, id: string): Promise<PaymentRow | undefined> {
  return (await q.query<PaymentRow>('SELECT * FROM payments WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}

export async function lockPaymentByRef(
  q: Queryable,
  projectId: string,
  provider: string,
  ref: string,
): Promise<PaymentRow | undefined> {
  return (
    await q.query<PaymentRow>('SELECT * FROM payments WHERE project_id = $1 AND provider = $2 AND provider_ref = $3 FOR UPDATE', [
      projectId,
      provider,
      ref,
    ])
  ).rows[0];
}

export async function listPayments(
  q: Queryable,
  projectId: string,
  f: { limit: number; startingAfter?: string; customerId?: string; status?: string; from?: Date; to?: Date },
): Promise<PaymentRow[]> {
  return (
    await q.query<PaymentRow>(
      `SELECT * FROM payments WHERE project_id = $1
         AND ($2::text IS NULL OR customer_id = $2)
         AND ($3::text IS NULL OR status = $3)
         AND ($4::timestamptz IS NULL OR created_at >= $4)
         AND ($5::timestamptz IS NULL OR created_at < $5)
         AND ($6::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM payments WHERE project_id = $1 AND id = $6))
       ORDER BY created_at DESC, id DESC LIMIT $7`,
      [projectId, f.customerId ?? null, f.status ?? null, f.from ?? null, f.to ?? null, f.startingAfter ?? null, f.limit + 1],
    )
  ).rows;
}

export async function upsertPaymentMethod(
  q: Queryable,
  m: { id: string; projectId: string; customerId: string; provider: string; brand: string; last4: string; token: string; country?: string | null; at: Date },
): Promise<void> {
  await q.query('UPDATE payment_methods SET is_default = false WHERE project_id = $1 AND customer_id = $2 AND provider = $3', [
    m.projectId,
    m.customerId,
    m.provider,
  ]);
  await q.query(
    `INSERT INTO payment_methods (id, project_id, customer_id, provider, brand, last4, token, is_default, created_at, country)
     VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $9)`,
    [m.id, m.projectId, m.customerId, m.provider, m.brand, m.last4, m.token, m.at, m.country ?? null],
  );
}

export async function defaultPaymentMethod(
  q: Queryable,
  projectId: string,
  customerId: string,
): Promise<{ id: string; provider: string; brand: string; last4: string; token: string; country: string | null } | undefined> {
  return (
    await q.query<{ id: string; provider: string; brand: string; last4: string; token: string; country: string | null }>(
      `SELECT id, provider, brand, last4, token, country FROM payment_methods
       WHERE project_id = $1 AND customer_id = $2 AND is_default ORDER BY created_at DESC LIMIT 1`,
      [projectId, customerId],
    )
  ).rows[0];
}

/** Closes the open sessions selling one item (an order paid elsewhere, canceled, or checked out again). */
export async function expireOpenSessionsFor(q: Queryable, projectId: string, itemType: string, itemId: string): Promise<number> {
  return (
    await q.query(
      `UPDATE checkout_sessions SET status = 'expired'
       WHERE project_id = $1 AND item_type = $2 AND item_id = $3 AND status = 'open'`,
      [projectId, itemType, itemId],
    )
  ).rowCount;
}
