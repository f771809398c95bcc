import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { audit } from '../audit/audit.service.ts';
import { deduct, manualGrant } from '../credits/credits.service.ts';
import { requireCustomer } from '../customers/customers.service.ts';
import { creditTotals, type Metrics, metrics, monthWindow } from '../metrics/metrics.service.ts';
import { listProjects } from '../projects/projects.repository.ts';
import { liveProjectId, projectNow } from '../projects/projects.service.ts';
import * as repo from './dashboard.repository.ts';

/** Every project of this instance (by its test id, with its live twin's id): an operator manages them all. */
export async function projectsForOperator(ctx: AppContext) {
  return (await listProjects(ctx.db)).map((p) => ({
    id: p.id,
    live_id: liveProjectId(p.id),
    name: p.name,
    default_provider: p.default_provider,
    created_at: p.created_at,
  }));
}

/** Sums the metrics' zero-filled revenue rows per currency, optionally for one month only. */
function netByCurrency(rows: Metrics['revenue_by_month'], currencies: string[], month?: string) {
  return currencies.map((currency) => ({
    currency,
    amount: rows.filter((r) => r.currency === currency && (month === undefined || r.month === month)).reduce((s, r) => s + r.amount, 0),
  }));
}

/**
 * The overview's figures. Revenue, MRR, churn and trial conversion are the metrics module's (the rule of
 * `GET /v1/metrics`, over the last 12 months as of the project's now); customers, failed payments and the
 * subscription status breakdown are the dashboard's own counts.
 */
export async function overview(ctx: AppContext, projectId: string) {
  const now = await projectNow(ctx, projectId);
  const m = await metrics(ctx, ctx.db, projectId, { as_of: now.toISOString(), months: 12 });
  const [totals, credits, subscriptions] = await Promise.all([
    repo.counts(ctx.db, projectId, new Date(m.period.from)),
    creditTotals(ctx.db, projectId, new Date(m.period.to)),
    repo.subscriptionCounts(ctx.db, projectId),
  ]);
  const months = monthWindow(new Date(m.as_of), 12);
  const currencies = [...new Set(m.revenue_by_month.map((r) => r.currency))];
  return {
    object: 'dashboard_overview',
    as_of: now,
    months,
    currencies,
    revenue_by_month: m.revenue_by_month.map((r) => ({ ...r, net: r.amount })),
    revenue_this_month: netByCurrency(m.revenue_by_month, currencies, months.at(-1)),
    revenue_total: netByCurrency(m.revenue_by_month, currencies),
    ...totals,
    credits_sold: credits.sold,
    credits_consumed: credits.consumed,
    subscriptions: {
      active: subscriptions.active ?? 0,
      trialing: subscriptions.trialing ?? 0,
      past_due: subscriptions.past_due ?? 0,
      canceled: subscriptions.canceled ?? 0,
    },
    metrics: m,
  };
}

export const AdjustBody = z
  .object({
    direction: z.enum(['grant', 'deduct']),
    amount: z.number().int().min(1).max(1_000_000_000),
    reason: z.string().trim().min(1, 'a reason is required').max(500),
  })
  .strict();

/** An operator's manual change of a balance: a grant or a deduct, with its reason, audited. */
export async function adjustCredits(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, body: z.infer<typeof AdjustBody>) {
  await requireCustomer(q, caller.projectId, customerId);
  if (body.direction === 'grant') {
    const r = await manualGrant(ctx, q, caller, customerId, { amount: body.amount, reason: body.reason });
    return { direction: 'grant', balance: r.balance, held: r.held, available: r.available, amount: body.amount, transaction_id: r.transaction_id };
  }
  const r = await deduct(ctx, q, caller.projectId, customerId, { amount: body.amount, reason: body.reason, metadata: { by: caller.actor } });
  await audit(
    q,
    caller,
    { action: 'credits.deducted', customerId, details: { amount: body.amount, reason: body.reason, transaction_id: r.transaction_id } },
    ctx.clock.now(),
  );
  return { direction: 'deduct', balance: r.balance, held: r.held, available: r.available, amount: body.amount, transaction_id: r.transaction_id };
}
