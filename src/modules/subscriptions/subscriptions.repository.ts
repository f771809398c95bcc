import type { Queryable } from '../../db/db.ts';
import type { Interval, SubscriptionStatus } from '../../domain/subscription.ts';

export interface SubscriptionRow {
  id: string;
  project_id: string;
  customer_id: string;
  plan_id: string;
  status: SubscriptionStatus;
  provider: string;
  provider_ref: string | null;
  quantity: number;
  price_amount: number;
  currency: string;
  interval: Interval;
  billing_anchor: Date;
  period_index: number;
  current_period_start: Date;
  current_period_end: Date;
  trial_start: Date | null;
  trial_end: Date | null;
  trial_will_end_sent: boolean;
  cancel_at_period_end: boolean;
  canceled_at: Date | null;
  ended_at: Date | null;
  pending_plan_id: string | null;
  pending_price_amount: number | null;
  coupon_id: string | null;
  coupon_percent_off: number | null;
  coupon_amount_off: number | null;
  coupon_duration: 'once' | 'repeating' | 'forever' | null;
  coupon_months: number | null;
  coupon_start_cycle: number;
  cycles_billed: number;
  open_invoice_amount: number | null;
  open_invoice_ref: string | null;
  retry_count: number;
  next_retry_at: Date | null;
  next_action_at: Date | null;
  provider_updated_at: Date | null;
  provider_deleted: boolean;
  metadata: Record<string, unknown>;
  /** VAT on top of the price at each charge (`exclusive`) or included in it. */
  tax_behavior: 'inclusive' | 'exclusive';
  created_at: Date;
  updated_at: Date;
}

const COLUMNS: (keyof SubscriptionRow)[] = [
  'id',
  'project_id',
  'customer_id',
  'plan_id',
  'status',
  'provider',
  'provider_ref',
  'quantity',
  'price_amount',
  'currency',
  'interval',
  'billing_anchor',
  'period_index',
  'current_period_start',
  'current_period_end',
  'trial_start',
  'trial_end',
  'trial_will_end_sent',
  'cancel_at_period_end',
  'canceled_at',
  'ended_at',
  'pending_plan_id',
  'pending_price_amount',
  'coupon_id',
  'coupon_percent_off',
  'coupon_amount_off',
  'coupon_duration',
  'coupon_months',
  'coupon_start_cycle',
  'cycles_billed',
  'open_invoice_amount',
  'open_invoice_ref',
  'retry_count',
  'next_retry_at',
  'next_action_at',
  'provider_updated_at',
  'provider_deleted',
  'metadata',
  'tax_behavior',
  'created_at',
  'updated_at',
];

const INSERT_SQL = `INSERT INTO subscriptions (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING *`;
const UPDATABLE = COLUMNS.filter((c) => c !== 'id' && c !== 'project_id' && c !== 'created_at');
const UPDATE_SQL = `UPDATE subscriptions SET ${UPDATABLE.map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1 RETURNING *`;

function value(row: SubscriptionRow, c: keyof SubscriptionRow): unknown {
  return c === 'metadata' ? JSON.stringify(row.metadata ?? {}) : row[c];
}

export async function insertSubscription(q: Queryable, row: SubscriptionRow): Promise<SubscriptionRow> {
  const r = await q.query<SubscriptionRow>(
    INSERT_SQL,
    COLUMNS.map((c) => value(row, c)),
  );
  return r.rows[0] as SubscriptionRow;
}

/** Writes the whole row back (the caller holds its lock). */
export async function saveSubscription(q: Queryable, row: SubscriptionRow): Promise<SubscriptionRow> {
  const r = await q.query<SubscriptionRow>(UPDATE_SQL, [row.id, ...UPDATABLE.map((c) => value(row, c))]);
  return r.rows[0] as SubscriptionRow;
}

export async function findSubscription(q: Queryable, projectId: string, id: string): Promise<SubscriptionRow | undefined> {
  return (await q.query<SubscriptionRow>('SELECT * FROM subscriptions WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}

/** The customer's live subscription, or else the newest ended one. */
export async function findCurrentSubscription(q: Queryable, projectId: string, customerId: string): Promise<SubscriptionRow | undefined> {
  return (
    await q.query<SubscriptionRow>(
      `SELECT * FROM subscriptions WHERE project_id = $1 AND customer_id = $2
       ORDER BY (status IN ('trialing', 'active', 'past_due')) DESC, ended_at DESC NULLS FIRST, created_at DESC, id DESC LIMIT 1`,
      [projectId, customerId],
    )
  ).rows[0];
}

export async function lockLiveSubscription(q: Queryable, projectId: string, customerId: string): Promise<SubscriptionRow | undefined> {
  return (
    await q.query<SubscriptionRow>(
      `SELECT * FROM subscriptions WHERE project_id = $1 AND customer_id = $2 AND status IN ('trialing', 'active', 'past_due')
       FOR UPDATE`,
      [projectId, customerId],
    )
  ).rows[0];
}

export async function lockByProviderRef(
  q: Queryable,
  projectId: string,
  provider: string,
  ref: string,
): Promise<SubscriptionRow | undefined> {
  return (
    await q.query<SubscriptionRow>(
      'SELECT * FROM subscriptions WHERE project_id = $1 AND provider = $2 AND provider_ref = $3 FOR UPDATE',
      [projectId, provider, ref],
    )
  ).rows[0];
}

export async function listSubscriptions(
  q: Queryable,
  projectId: string,
  f: { customerId?: string; status?: string; limit: number; startingAfter?: string },
): Promise<SubscriptionRow[]> {
  return (
    await q.query<SubscriptionRow>(
      `SELECT * FROM subscriptions WHERE project_id = $1
         AND ($2::text IS NULL OR customer_id = $2)
         AND ($3::text IS NULL OR status = $3)
         AND ($4::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM subscriptions WHERE project_id = $1 AND id = $4))
       ORDER BY created_at DESC, id DESC LIMIT $5`,
      [projectId, f.customerId ?? null, f.status ?? null, f.startingAfter ?? null, f.limit + 1],
    )
  ).rows;
}

/**
 * Claims subscriptions Tollgate bills whose next step is due by the project's clock. Each claimed
 * row stays locked until the caller's transaction commits its step, so racing runners skip it.
 */
export async function claimDueSubscriptions(q: Queryable, now: Date, limit: number): Promise<SubscriptionRow[]> {
  return (
    await q.query<SubscriptionRow>(
      `SELECT s.* FROM subscriptions s JOIN projects p ON p.id = s.project_id
       WHERE s.status IN ('trialing', 'active', 'past_due') AND s.provider IN ('sandbox', 'tollgate')
         AND s.next_action_at <= $1::timestamptz + (p.clock_offset_ms * interval '1 millisecond')
       ORDER BY s.next_action_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED`,
      [now, limit],
    )
  ).rows;
}

/** Which of these plans live subscriptions use now or will switch to. */
export async function livePlansAmong(q: Queryable, projectId: string, planIds: string[]): Promise<string[]> {
  return (
    await q.query<{ plan: string }>(
      `SELECT DISTINCT p AS plan FROM subscriptions, unnest(ARRAY[plan_id, pending_plan_id]) AS p
       WHERE project_id = $1 AND status IN ('trialing', 'active', 'past_due') AND p = ANY($2::text[]) ORDER BY 1`,
      [projectId, planIds],
    )
  ).rows.map((r) => r.plan);
}

// Trials ----------------------------------------------------------------------------------

export async function hadTrial(q: Queryable, projectId: string, customerId: string): Promise<boolean> {
  return (
    (await q.query('SELECT 1 FROM customer_trials WHERE project_id = $1 AND customer_id = $2', [projectId, customerId])).rowCount > 0
  );
}

/** Records the customer's one trial; false when they already had one. */
export async function recordTrial(
  q: Queryable,
  t: { projectId: string; customerId: string; planId: string; subscriptionId: string; at: Date },
): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO customer_trials (project_id, customer_id, plan_id, subscription_id, created_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING RETURNING 1`,
    [t.projectId, t.customerId, t.planId, t.subscriptionId, t.at],
  );
  return r.rowCount > 0;
}

// Usage -----------------------------------------------------------------------------------

/** Starts metered counts over for a new period (allocated counts are kept). */
export async function resetMeteredUsage(q: Queryable, projectId: string, customerId: string, features: string[], periodStart: Date) {
  if (features.length === 0) return;
  await q.query(
    `UPDATE usage_counters SET used = 0, period_start = $4, updated_at = $4
     WHERE project_id = $1 AND customer_id = $2 AND feature = ANY($3::text[])
       AND (period_start IS NULL OR period_start < $4)`,
    [projectId, customerId, features, periodStart],
  );
}

// Portal sessions and payment links --------------------------------------------------------

export interface PortalSessionRow {
  id: string;
  project_id: string;
  customer_id: string;
  return_url: string;
  created_at: Date;
  expires_at: Date;
}

export async function insertPortalSession(q: Queryable, s: PortalSessionRow): Promise<void> {
  await q.query(
    'INSERT INTO portal_sessions (id, project_id, customer_id, return_url, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
    [s.id, s.project_id, s.customer_id, s.return_url, s.created_at, s.expires_at],
  );
}

export async function findPortalSession(q: Queryable, id: string): Promise<PortalSessionRow | undefined> {
  return (await q.query<PortalSessionRow>('SELECT * FROM portal_sessions WHERE id = $1', [id])).rows[0];
}

export interface PaymentLinkRow {
  id: string;
  project_id: string;
  item_type: 'plan' | 'credit_pack';
  item_id: string;
  quantity: number;
  trial_days: number | null;
  success_url: string | null;
  cancel_url: string | null;
  active: boolean;
  metadata: Record<string, unknown>;
  created_at: Date;
}

export async function insertPaymentLink(q: Queryable, l: PaymentLinkRow): Promise<PaymentLinkRow> {
  const r = await q.query<PaymentLinkRow>(
    `INSERT INTO payment_links (id, project_id, item_type, item_id, quantity, trial_days, success_url, cancel_url, active, metadata, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
    [
      l.id,
      l.project_id,
      l.item_type,
      l.item_id,
      l.quantity,
      l.trial_days,
      l.success_url,
      l.cancel_url,
      l.active,
      JSON.stringify(l.metadata),
      l.created_at,
    ],
  );
  return r.rows[0] as PaymentLinkRow;
}

export async function findPaymentLink(q: Queryable, id: string, projectId?: string): Promise<PaymentLinkRow | undefined> {
  return (
    await q.query<PaymentLinkRow>('SELECT * FROM payment_links WHERE id = $1 AND ($2::text IS NULL OR project_id = $2)', [
      id,
      projectId ?? null,
    ])
  ).rows[0];
}

export async function listCustomerPayments(
  q: Queryable,
  projectId: string,
  customerId: string,
  limit: number,
): Promise<{ id: string; amount: number; currency: string; status: string; created_at: Date; period_start: Date | null; period_end: Date | null; kind: string }[]> {
  return (
    await q.query<{ id: string; amount: number; currency: string; status: string; created_at: Date; period_start: Date | null; period_end: Date | null; kind: string }>(
      `SELECT id, amount, currency, status, created_at, period_start, period_end, kind FROM payments
       WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3`,
      [projectId, customerId, limit],
    )
  ).rows;
}

/** Whether an invoice already has a payment that did not fail (an invoice is recorded as paid once). */
export async function hasPaidInvoice(q: Queryable, projectId: string, provider: string, invoiceRef: string): Promise<boolean> {
  const r = await q.query(
    `SELECT 1 FROM payments WHERE project_id = $1 AND provider = $2 AND details->>'invoice_ref' = $3 AND status <> 'failed'`,
    [projectId, provider, invoiceRef],
  );
  return r.rowCount > 0;
}
