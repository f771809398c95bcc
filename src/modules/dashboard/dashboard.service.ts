import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { audit } from '../audit/audit.service.ts';
import { deduct, manualGrant } from '../credits/credits.service.ts';
import { requireCustomer } from '../customers/customers.service.ts';
import { listProjects } from '../projects/projects.repository.ts';
import { projectNow } from '../projects/projects.service.ts';
import { monthlyRevenue } from '../metrics/metrics.service.ts';
import * as repo from './dashboard.repository.ts';

/** Every project of this instance: an operator manages them all. */
export async function projectsForOperator(ctx: AppContext) {
  return (await listProjects(ctx.db)).map((p) => ({ id: p.id, name: p.name, default_provider: p.default_provider, created_at: p.created_at }));
}

function monthStart(d: Date, back = 0): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - back, 1));
}

/** The overview's figures (revenue by month over the last year, by the metrics module's one revenue rule). */
export async function overview(ctx: AppContext, projectId: string) {
  const now = await projectNow(ctx, projectId);
  const thisMonth = monthStart(now);
  const [revenue, totals, subscriptions] = await Promise.all([
    monthlyRevenue(ctx.db, projectId, monthStart(now, 11), monthStart(now, -1)),
    repo.counts(ctx.db, projectId, thisMonth),
    repo.subscriptionCounts(ctx.db, projectId),
  ]);
  const months: string[] = [];
  for (let i = 11; i >= 0; i--) months.push(monthStart(now, i).toISOString().slice(0, 7));
  const currencies = [...new Set(revenue.map((r) => r.currency))];
  const key = months.at(-1) as string;
  return {
    object: 'dashboard_overview',
    as_of: now,
    months,
    currencies,
    revenue_by_month: revenue,
    revenue_this_month: currencies.map((currency) => ({
      currency,
      amount: revenue.filter((r) => r.month === key && r.currency === currency).reduce((s, r) => s + r.net, 0),
    })),
    revenue_total: currencies.map((currency) => ({
      currency,
      amount: revenue.filter((r) => r.currency === currency).reduce((s, r) => s + r.net, 0),
    })),
    ...totals,
    subscriptions: {
      active: subscriptions.active ?? 0,
      trialing: subscriptions.trialing ?? 0,
      past_due: subscriptions.past_due ?? 0,
      canceled: subscriptions.canceled ?? 0,
    },
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
