import type { TaxBehavior } from '../../domain/vat-rates.ts';
import { taxBehaviorOf } from '../invoices/tax.service.ts';
import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { type Catalog, type Coupon, findPlan, type Plan } from '../../domain/catalog.ts';
import { ConflictError, PaymentRequiredError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import { addDays, addInterval, isLive } from '../../domain/subscription.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { grant } from '../credits/credits.service.ts';
import { type CustomerCreatedHook, ensureCustomer } from '../customers/customers.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './subscriptions.repository.ts';
import { billCurrentPeriod, markPastDue, recordInvoicePaid } from './subscriptions.renewal.ts';
import { chargeContext, couponFields, endLiveSubscription, managedProvider, oneLiveSubscription, requirePlan, reschedule, resolveCoupon, subscriptionView } from './subscriptions.view.ts';

/** Starting subscriptions and trials (checkout, default trial, the API's subscribe-without-payment). */
export interface StartInput {
  projectId: string;
  customerId: string;
  plan: Plan;
  quantity: number;
  /** Price per unit frozen into the subscription (the catalog's unless granted). */
  unitAmount?: number;
  trialDays: number;
  /** A trial end the customer was already shown (a running trial kept, a checkout's promise): used as is instead of trialDays. */
  trialEnd?: Date | null;
  coupon: Coupon | null;
  provider: string;
  providerRef?: string | null;
  at: Date;
  /** Already paid for its first period (a checkout). */
  paid?: { paymentRef: string; amount: number; sessionId: string | null } | null;
  metadata?: Record<string, unknown>;
  providerUpdatedAt?: Date | null;
  /** When the customer turns out to have had their trial already: charge the saved card now (a paid-for checkout) or refuse with 402. */
  onTrialDenied?: 'charge' | 'refuse';
  /** Adjusts the new row before it is stored (a provider's own state). */
  apply?: (row: repo.SubscriptionRow) => void;
}

/** Two subscriptions started at once for one customer: the loser of the live-subscription index gets a 409. */
export async function startSubscription(ctx: AppContext, q: Queryable, s: StartInput): Promise<repo.SubscriptionRow> {
  const id = newId('subscription');
  let trialEnd: Date | null;
  let trialDenied = false;
  if (s.trialEnd) {
    // Recorded as this customer's trial if it is the first; a trial already had is continued, not charged early.
    await repo.recordTrial(q, { projectId: s.projectId, customerId: s.customerId, planId: s.plan.id, subscriptionId: id, at: s.at });
    trialEnd = s.trialEnd;
  } else {
    const claimed = await claimTrial(q, s, id);
    trialDenied = claimed.trialDenied;
    trialEnd = claimed.trialDays > 0 ? addDays(s.at, claimed.trialDays) : null;
  }
  const row = newSubscriptionRow(s, id, trialEnd, await taxBehaviorOf(ctx, s.projectId, s.plan.price.tax_behavior));
  s.apply?.(row);
  if (isLive(row.status)) await endLiveSubscription(ctx, q, s.projectId, s.customerId, s.at, 'replaced');
  reschedule(row);
  const inserted = await repo.insertSubscription(q, row);
  const { catalog } = await getCatalog(ctx, s.projectId);
  const saved = await billFirstPeriod(ctx, q, inserted, s, trialDenied, catalog);
  await announceCreated(q, saved, s, catalog);
  for (const hook of ctx.registry.onSubscriptionStarted) await hook(ctx, q, saved, s.at);
  return saved;
}

/** A trial is granted once per customer; a second one is refused (402) or, for a paid-for checkout, turned into a charge now. */
async function claimTrial(q: Queryable, s: StartInput, id: string) {
  let trialDays = s.trialDays;
  let trialDenied = false;
  if (trialDays > 0) {
    const fresh = await repo.recordTrial(q, { projectId: s.projectId, customerId: s.customerId, planId: s.plan.id, subscriptionId: id, at: s.at });
    if (!fresh) {
      if (s.onTrialDenied !== 'charge') {
        throw new PaymentRequiredError(`Customer '${s.customerId}' already had a trial; ${s.plan.id} requires a payment`, { plan: s.plan.id });
      }
      trialDays = 0;
      trialDenied = true;
    }
  }
  return { trialDays, trialDenied };
}

/** The new subscription: trialing until its trial ends, else active for its first period. */
function newSubscriptionRow(s: StartInput, id: string, trialEnd: Date | null, taxBehavior: TaxBehavior): repo.SubscriptionRow {
  const anchor = trialEnd ?? s.at;
  const row: repo.SubscriptionRow = {
    id,
    project_id: s.projectId,
    customer_id: s.customerId,
    plan_id: s.plan.id,
    status: trialEnd ? 'trialing' : 'active',
    provider: s.provider,
    provider_ref: s.providerRef !== undefined ? s.providerRef : s.provider === 'sandbox' ? id : null,
    quantity: s.quantity,
    price_amount: s.unitAmount ?? s.plan.price.amount,
    currency: s.plan.price.currency,
    interval: s.plan.interval,
    billing_anchor: anchor,
    period_index: 0,
    current_period_start: trialEnd ? s.at : anchor,
    current_period_end: trialEnd ?? addInterval(anchor, s.plan.interval, 1),
    trial_start: trialEnd ? s.at : null,
    trial_end: trialEnd,
    trial_will_end_sent: false,
    cancel_at_period_end: false,
    canceled_at: null,
    ended_at: null,
    pending_plan_id: null,
    pending_price_amount: null,
    ...couponFields(s.coupon, 0),
    cycles_billed: 0,
    open_invoice_amount: null,
    open_invoice_ref: null,
    retry_count: 0,
    next_retry_at: null,
    next_action_at: null,
    provider_updated_at: s.providerUpdatedAt ?? null,
    provider_deleted: false,
    metadata: s.metadata ?? {},
    tax_behavior: taxBehavior,
    created_at: s.at,
    updated_at: s.at,
  };
  if (trialEnd) {
    // The trial counts as period "-1": the first paid period starts at trial end.
    row.period_index = -1;
  } else if (s.paid) {
    row.cycles_billed = 1;
  }
  return row;
}

/** Bills (or records the payment of) the first period of a subscription just stored. */
async function billFirstPeriod(ctx: AppContext, q: Queryable, inserted: repo.SubscriptionRow, s: StartInput, trialDenied: boolean, catalog: Catalog) {
  let saved = inserted;
  if (trialDenied && !s.paid) {
    // The customer already had their one trial (a race between two trial checkouts): the first period is due now.
    if (!(await billCurrentPeriod(ctx, q, saved, s.at))) markPastDue(saved, s.at);
    saved = await repo.saveSubscription(q, reschedule(saved));
  } else if (s.paid && s.paid.amount > 0) {
    await recordInvoicePaid(ctx, q, saved, {
      invoiceRef: `in_${saved.id.slice(4)}_0`,
      paymentRef: s.paid.paymentRef,
      amount: s.paid.amount,
      currency: saved.currency,
      periodStart: saved.current_period_start,
      periodEnd: saved.current_period_end,
      at: s.at,
      sessionId: s.paid.sessionId,
    });
  } else if (isLive(saved.status)) {
    await startPeriod(ctx, q, saved, catalog);
  }
  return saved;
}

async function announceCreated(q: Queryable, saved: repo.SubscriptionRow, s: StartInput, catalog: Catalog) {
  const view = subscriptionView(saved, catalog, s.at, await chargeContext(q, saved));
  await emit(q, { projectId: s.projectId, type: 'subscription.created', customerId: s.customerId, data: view, at: s.at });
  await emit(q, {
    projectId: s.projectId,
    type: 'entitlements.updated',
    customerId: s.customerId,
    data: { plan: saved.plan_id, status: saved.status, subscription_id: saved.id },
    at: s.at,
  });
}

/** A new period: the plan's included credits granted once for it, metered usage counted from it. */
export async function startPeriod(
  ctx: AppContext,
  q: Queryable,
  row: repo.SubscriptionRow,
  catalog: Catalog,
  periodStart: Date = row.current_period_start,
) {
  const plan = findPlan(catalog, row.plan_id);
  if (plan && plan.included_credits > 0) {
    const mode = plan.included_credits_mode ?? 'keep';
    // Reset / rollover: the period's credits expire at its end, carrying up to the cap into the next.
    const periodEnd =
      periodStart.getTime() === row.current_period_start.getTime() ? row.current_period_end : addInterval(periodStart, row.interval, 1);
    await grant(ctx, q, row.project_id, row.customer_id, {
      amount: plan.included_credits * (plan.per_seat ? row.quantity : 1),
      kind: 'subscription_credits',
      sourceId: `${row.id}:${periodStart.toISOString()}`,
      reason: `${plan.name} plan: credits included this period`,
      metadata: { subscription_id: row.id, period_start: periodStart },
      ...(mode === 'keep'
        ? {}
        : { expiresAt: periodEnd, carry: { source: row.id, cap: mode === 'rollover' ? (plan.included_credits_rollover_cap ?? 0) : 0 } }),
    });
  }
  const metered = catalog.features.filter((f) => f.type === 'metered').map((f) => f.id);
  await repo.resetMeteredUsage(q, row.project_id, row.customer_id, metered, periodStart);
}

// Invoices -------------------------------------------------------------------------------------

export const SubscribeBody = z
  .object({
    plan: z.string().min(1).max(64),
    quantity: z.number().int().min(1).max(10_000).optional(),
    trial_days: z.number().int().min(0).max(730).optional(),
    promotion_code: z.string().min(1).max(64).optional(),
    /** An operator's grant: the plan at no charge. */
    grant: z.boolean().optional(),
    metadata: z.record(z.string(), z.string().max(500)).optional(),
  })
  .strict();

/** Subscribes where nothing is due: a trial without card, a free plan, or an operator's grant. */
export async function subscribeWithoutPayment(
  ctx: AppContext,
  q: Queryable,
  caller: Caller,
  customerId: string,
  body: z.infer<typeof SubscribeBody>,
) {
  const projectId = caller.projectId;
  await ensureCustomer(ctx, q, projectId, customerId);
  const { catalog } = await getCatalog(ctx, projectId);
  const at = await projectNow(ctx, projectId);
  const plan = requirePlan(catalog, body.plan);
  const coupon = resolveCoupon(catalog, body.promotion_code, plan);
  const quantity = plan.per_seat ? (body.quantity ?? 1) : 1;
  const live = await repo.lockLiveSubscription(q, projectId, customerId);
  if (live && live.status !== 'trialing') {
    throw new ConflictError(`Customer '${customerId}' already has a ${live.status} subscription; change its plan instead`, {
      subscription_id: live.id,
      status: live.status,
    });
  }
  const trialDays = body.trial_days ?? plan.trial_days;
  const trialFree = trialDays > 0 && !plan.trial_requires_card && !(await repo.hadTrial(q, projectId, customerId));
  const free = plan.price.amount === 0;
  if (!body.grant && !free && !trialFree) {
    throw new PaymentRequiredError(`Plan '${plan.id}' requires a payment: create a checkout session`, { plan: plan.id });
  }
  const provider = await managedProvider(ctx, projectId);
  const row = await oneLiveSubscription(customerId, () => startSubscription(ctx, q, {
    projectId,
    customerId,
    plan,
    quantity,
    unitAmount: body.grant ? 0 : plan.price.amount,
    trialDays: body.grant || free ? 0 : trialDays,
    coupon,
    provider,
    at,
    metadata: { ...(body.metadata ?? {}), ...(body.grant ? { granted_by: caller.actor } : {}) },
  }));
  await audit(q, caller, { action: 'subscription.created', customerId, target: row.id, details: { plan: plan.id, grant: body.grant ?? false } }, at);
  return subscriptionView(row, catalog, at);
}

/** Every new customer starts the catalog's default trial (once); listed as the subscriptions capability's `onCustomerCreated`. */
export const startDefaultTrial: CustomerCreatedHook = async (ctx, q, c, at, info) => {
  // A customer moved in from another system keeps the state it had there (issue 15).
  if (info?.imported) return;
  const { catalog } = await getCatalog(ctx, c.project_id);
  const trial = catalog.default_trial;
  if (!trial) return;
  const plan = findPlan(catalog, trial.plan);
  if (!plan) return;
  await startSubscription(ctx, q, {
    projectId: c.project_id,
    customerId: c.id,
    plan,
    quantity: 1,
    trialDays: trial.days,
    coupon: null,
    provider: await managedProvider(ctx, c.project_id),
    at,
    metadata: { source: 'default_trial' },
  });
};

/**
 * A subscription moved in from another system (tollgate import): stored in the state it had there
 * (trialing until its trial end, active, past due or canceled), with nothing billed, no credits
 * granted and no trial claimed beyond the one it is in.
 */
export async function importSubscription(
  ctx: AppContext,
  q: Queryable,
  s: StartInput & { status: 'trialing' | 'active' | 'past_due' | 'canceled'; currentPeriodEnd?: Date | null },
): Promise<repo.SubscriptionRow> {
  const id = newId('subscription');
  const trialEnd = s.status === 'trialing' ? (s.trialEnd ?? null) : null;
  if (trialEnd) await repo.recordTrial(q, { projectId: s.projectId, customerId: s.customerId, planId: s.plan.id, subscriptionId: id, at: s.at });
  const row = newSubscriptionRow(s, id, trialEnd, await taxBehaviorOf(ctx, s.projectId, s.plan.price.tax_behavior));
  if (s.status !== 'trialing') {
    row.status = s.status;
    if (s.currentPeriodEnd && s.currentPeriodEnd.getTime() > s.at.getTime()) row.current_period_end = s.currentPeriodEnd;
    row.cycles_billed = 1;
  }
  if (s.status === 'past_due') row.open_invoice_amount = row.price_amount;
  if (s.status === 'canceled') {
    row.canceled_at = s.at;
    row.ended_at = s.at;
    row.current_period_end = s.at;
  }
  const inserted = await repo.insertSubscription(q, reschedule(row));
  const { catalog } = await getCatalog(ctx, s.projectId);
  await announceCreated(q, inserted, s, catalog);
  return inserted;
}
