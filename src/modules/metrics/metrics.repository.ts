import type { Queryable } from '../../db/db.ts';

// Money that counts as revenue: payments that succeeded, net of what was refunded.
const REVENUE = `status IN ('succeeded', 'refunded', 'partially_refunded')`;
/** Revenue payments of project $1 made in [$2, $3). */
const REVENUE_IN_PERIOD = `project_id = $1 AND ${REVENUE} AND created_at >= $2 AND created_at < $3`;

/** What every revenue breakdown carries: the currency and how many payments it counts. */
interface Counted {
  currency: string;
  payments: number;
}

export interface MonthRevenueRow extends Counted {
  month: string;
  gross: number;
  refunded: number;
}

export async function revenueByMonth(q: Queryable, projectId: string, from: Date, to: Date): Promise<MonthRevenueRow[]> {
  return (
    await q.query<MonthRevenueRow>(
      `SELECT to_char(date_trunc('month', created_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month, currency,
         SUM(amount)::bigint AS gross, SUM(amount_refunded)::bigint AS refunded, count(*)::int AS payments
       FROM payments WHERE ${REVENUE_IN_PERIOD}
       GROUP BY 1, 2 ORDER BY 1, 2`,
      [projectId, from, to],
    )
  ).rows;
}

export interface ProductRevenueRow extends Counted {
  kind: string;
  item_id: string | null;
  amount: number;
}

export async function revenueByProduct(q: Queryable, projectId: string, from: Date, to: Date): Promise<ProductRevenueRow[]> {
  return (
    await q.query<ProductRevenueRow>(
      `SELECT kind, item_id, currency, SUM(amount - amount_refunded)::bigint AS amount, count(*)::int AS payments
       FROM payments WHERE ${REVENUE_IN_PERIOD}
       GROUP BY kind, item_id, currency ORDER BY amount DESC, kind, item_id, currency`,
      [projectId, from, to],
    )
  ).rows;
}

/** Net revenue from credit packs in the period, per currency. */
export async function creditPackRevenue(q: Queryable, projectId: string, from: Date, to: Date): Promise<{ currency: string; amount: number }[]> {
  return (
    await q.query<{ currency: string; amount: number }>(
      `SELECT currency, SUM(amount - amount_refunded)::bigint AS amount
       FROM payments WHERE ${REVENUE_IN_PERIOD} AND kind = 'credit_pack'
       GROUP BY currency ORDER BY currency`,
      [projectId, from, to],
    )
  ).rows;
}

/** Credits bought (ledger `purchase`) and spent (`deduct`, `capture`) in the period. */
export async function creditFlows(q: Queryable, projectId: string, from: Date, to: Date): Promise<{ sold: number; consumed: number }> {
  const r = await q.query<{ sold: number; consumed: number }>(
    `SELECT COALESCE(SUM(amount) FILTER (WHERE kind = 'purchase'), 0)::bigint AS sold,
       COALESCE(-SUM(amount) FILTER (WHERE kind IN ('deduct', 'capture')), 0)::bigint AS consumed
     FROM ledger_entries WHERE project_id = $1 AND created_at >= $2 AND created_at < $3`,
    [projectId, from, to],
  );
  return r.rows[0] ?? { sold: 0, consumed: 0 };
}

export interface SubscriptionFiguresRow {
  active: number;
  trialing: number;
  active_at_start: number;
  churned: number;
  trials_ended: number;
  trials_converted: number;
}

// A subscription's life as seen at a past instant: it started at created_at and ended at ended_at
// (or when it was canceled/expired if no end was recorded); it was trialing while inside its trial.
const SUB_ENDED = `COALESCE(ended_at, CASE WHEN status IN ('canceled', 'expired') THEN COALESCE(canceled_at, updated_at) END)`;
const LIVE_AT = (t: string) => `(created_at <= ${t} AND (${SUB_ENDED} IS NULL OR ${SUB_ENDED} > ${t}))`;
const TRIAL_AT = (t: string) => `(trial_end IS NOT NULL AND COALESCE(trial_start, created_at) <= ${t} AND trial_end > ${t})`;
// A trial is decided when it reaches its end or the subscription ends first. It converted only when
// the customer paid for a plan: a succeeded charge (amount > 0) of this subscription once it went on
// past its trial, or of another subscription started while the trial ran (paying during a trial
// replaces the trial subscription). A trial that expired and was later granted a plan at 0, or
// continued with nothing paid, did not convert.
const TRIAL_DECIDED = `LEAST(trial_end, COALESCE(${SUB_ENDED}, trial_end))`;
const PAID = (alias: string) =>
  `${alias}.project_id = s.project_id AND ${alias}.status <> 'failed' AND ${alias}.amount > 0 AND ${alias}.kind = 'subscription' AND ${alias}.created_at < $3`;
const TRIAL_CONVERTED = `(((${SUB_ENDED} IS NULL OR ${SUB_ENDED} > trial_end) AND EXISTS (
    SELECT 1 FROM payments pay WHERE ${PAID('pay')} AND pay.subscription_id = s.id))
  OR EXISTS (
    SELECT 1 FROM payments pay JOIN subscriptions paid ON paid.project_id = pay.project_id AND paid.id = pay.subscription_id
     WHERE ${PAID('pay')} AND paid.customer_id = s.customer_id AND paid.id <> s.id
       AND paid.created_at >= s.created_at
       AND paid.created_at <= LEAST(s.trial_end, COALESCE(s.ended_at, CASE WHEN s.status IN ('canceled', 'expired') THEN COALESCE(s.canceled_at, s.updated_at) END, s.trial_end))))`;

// A trial replaced by another trial that continues it (a checkout during a default trial keeps its
// end date) is not decided: it is counted once, as the trial that continues it.
const S_ENDED = `COALESCE(s.ended_at, CASE WHEN s.status IN ('canceled', 'expired') THEN COALESCE(s.canceled_at, s.updated_at) END)`;
const TRIAL_CONTINUED = `EXISTS (
    SELECT 1 FROM subscriptions cont WHERE cont.project_id = s.project_id AND cont.customer_id = s.customer_id AND cont.id <> s.id
      AND cont.trial_end IS NOT NULL AND cont.created_at = ${S_ENDED})`;
const TRIAL_COUNTED = `trial_end IS NOT NULL AND ${TRIAL_DECIDED} >= $2 AND ${TRIAL_DECIDED} < $3 AND NOT ${TRIAL_CONTINUED}`;

export async function subscriptionFigures(q: Queryable, projectId: string, from: Date, to: Date): Promise<SubscriptionFiguresRow> {
  const r = await q.query<SubscriptionFiguresRow>(
    `SELECT
       count(*) FILTER (WHERE ${LIVE_AT('$3')} AND NOT ${TRIAL_AT('$3')})::int AS active,
       count(*) FILTER (WHERE ${LIVE_AT('$3')} AND ${TRIAL_AT('$3')})::int AS trialing,
       count(*) FILTER (WHERE ${LIVE_AT('$2')} AND NOT ${TRIAL_AT('$2')})::int AS active_at_start,
       count(*) FILTER (WHERE ${SUB_ENDED} >= $2 AND ${SUB_ENDED} < $3 AND (trial_end IS NULL OR ${SUB_ENDED} > trial_end))::int AS churned,
       count(*) FILTER (WHERE ${TRIAL_COUNTED})::int AS trials_ended,
       count(*) FILTER (WHERE ${TRIAL_COUNTED} AND ${TRIAL_CONVERTED})::int AS trials_converted
     FROM subscriptions s WHERE project_id = $1`,
    [projectId, from, to],
  );
  return r.rows[0] as SubscriptionFiguresRow;
}

// The discount a subscription's coupon gives on the cycle it is in (cycle = cycles billed - 1), as
// domain/subscription.ts couponApplies/discountFor compute it for a charge.
const CYCLE = `GREATEST(cycles_billed - 1, 0)`;
const GROSS = `(price_amount * quantity)`;
const COUPON_APPLIES = `(coupon_duration IS NOT NULL AND ${CYCLE} >= coupon_start_cycle AND (
    coupon_duration = 'forever'
    OR (coupon_duration = 'once' AND ${CYCLE} = coupon_start_cycle)
    OR (coupon_duration = 'repeating' AND (${CYCLE} - coupon_start_cycle) * (CASE WHEN interval = 'year' THEN 12 ELSE 1 END) < COALESCE(coupon_months, 0))))`;
const DISCOUNT = `CASE WHEN ${COUPON_APPLIES} THEN LEAST(${GROSS}, GREATEST(0,
    CASE WHEN coupon_percent_off IS NOT NULL THEN floor((${GROSS} * coupon_percent_off + 50) / 100.0) ELSE COALESCE(coupon_amount_off, 0) END)) ELSE 0 END`;

/**
 * Monthly recurring revenue of the subscriptions paying at `at`: price × quantity less a coupon in
 * effect (as of the subscription's current cycle); yearly amounts count for a twelfth.
 */
export async function mrrAt(q: Queryable, projectId: string, at: Date): Promise<{ currency: string; amount: number }[]> {
  return (
    await q.query<{ currency: string; amount: number }>(
      `SELECT currency, ROUND(SUM(CASE WHEN interval = 'year' THEN (${GROSS} - ${DISCOUNT}) / 12.0 ELSE ${GROSS} - ${DISCOUNT} END))::bigint AS amount
       FROM subscriptions WHERE project_id = $1 AND ${LIVE_AT('$2')} AND NOT ${TRIAL_AT('$2')}
       GROUP BY currency ORDER BY currency`,
      [projectId, at],
    )
  ).rows;
}

export interface NetRevenueRow {
  currency: string;
  gross: number;
  refunded: number;
  fees: number;
  disputes_held: number;
  disputes_lost: number;
  dispute_fees: number;
  payments: number;
  fees_unknown: number;
}

/**
 * Per currency, the payments made in [from, to) and what came off them: refunds, the provider's fees
 * (counted in the fee's own currency), disputes still open (held by the provider) or lost, and the
 * providers' dispute fees (in their own currency too).
 * `from` = epoch gives all-time totals (the Prometheus figures).
 */
export async function netRevenue(q: Queryable, projectId: string | null, from: Date, to: Date): Promise<(NetRevenueRow & { project_id: string })[]> {
  return (
    await q.query<NetRevenueRow & { project_id: string }>(
      `WITH pay AS (
         SELECT * FROM payments WHERE ($1::text IS NULL OR project_id = $1) AND ${REVENUE} AND created_at >= $2 AND created_at < $3
       ), money AS (
         SELECT project_id, currency, SUM(amount)::bigint AS gross, SUM(amount_refunded)::bigint AS refunded, 0::bigint AS fees,
                count(*)::int AS payments, count(*) FILTER (WHERE fee_amount IS NULL)::int AS fees_unknown
           FROM pay GROUP BY 1, 2
         UNION ALL
         SELECT project_id, fee_currency, 0, 0, SUM(fee_amount)::bigint, 0, 0 FROM pay WHERE fee_amount IS NOT NULL GROUP BY 1, 2
       ), dispute_fee AS (
         SELECT d.project_id, d.fee_currency AS currency, SUM(d.fee_amount)::bigint AS fees
           FROM disputes d JOIN pay ON pay.project_id = d.project_id AND pay.id = d.payment_id WHERE d.fee_amount IS NOT NULL GROUP BY 1, 2
       ), disputed AS (
         SELECT d.project_id, d.currency,
                COALESCE(SUM(d.amount) FILTER (WHERE d.status IN ('needs_response', 'under_review')), 0)::bigint AS held,
                COALESCE(SUM(d.amount) FILTER (WHERE d.status = 'lost'), 0)::bigint AS lost
           FROM disputes d JOIN pay ON pay.project_id = d.project_id AND pay.id = d.payment_id GROUP BY 1, 2
       ), keys AS (SELECT project_id, currency FROM money UNION SELECT project_id, currency FROM disputed UNION SELECT project_id, currency FROM dispute_fee)
       SELECT k.project_id, k.currency,
              COALESCE((SELECT SUM(gross) FROM money m WHERE m.project_id = k.project_id AND m.currency = k.currency), 0)::bigint AS gross,
              COALESCE((SELECT SUM(refunded) FROM money m WHERE m.project_id = k.project_id AND m.currency = k.currency), 0)::bigint AS refunded,
              COALESCE((SELECT SUM(fees) FROM money m WHERE m.project_id = k.project_id AND m.currency = k.currency), 0)::bigint AS fees,
              COALESCE((SELECT SUM(payments) FROM money m WHERE m.project_id = k.project_id AND m.currency = k.currency), 0)::int AS payments,
              COALESCE((SELECT SUM(fees_unknown) FROM money m WHERE m.project_id = k.project_id AND m.currency = k.currency), 0)::int AS fees_unknown,
              COALESCE((SELECT held FROM disputed d WHERE d.project_id = k.project_id AND d.currency = k.currency), 0)::bigint AS disputes_held,
              COALESCE((SELECT lost FROM disputed d WHERE d.project_id = k.project_id AND d.currency = k.currency), 0)::bigint AS disputes_lost,
              COALESCE((SELECT fees FROM dispute_fee f WHERE f.project_id = k.project_id AND f.currency = k.currency), 0)::bigint AS dispute_fees
         FROM keys k ORDER BY 1, 2`,
      [projectId, from, to],
    )
  ).rows;
}

/** Open disputes per project (the Prometheus gauge). */
export async function openDisputes(q: Queryable, projectId: string | null): Promise<{ project_id: string; open: number; lost: number }[]> {
  return (
    await q.query<{ project_id: string; open: number; lost: number }>(
      `SELECT project_id, count(*) FILTER (WHERE status IN ('needs_response', 'under_review'))::int AS open,
              count(*) FILTER (WHERE status = 'lost')::int AS lost
         FROM disputes WHERE ($1::text IS NULL OR project_id = $1) GROUP BY 1 ORDER BY 1`,
      [projectId],
    )
  ).rows;
}
