import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { type Catalog, findPlan, type Plan } from '../../domain/catalog.ts';
import { AppError, InvalidRequestError, NotFoundError, PaymentRequiredError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import { prorateChange } from '../../domain/pricing.ts';
import { assertAction, isLive } from '../../domain/subscription.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { cardToken, firstCharge } from '../../providers/sandbox/cards.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { requireCustomer } from '../customers/customers.service.ts';
import * as paymentsRepo from '../payments/payments.repository.ts';
import { recordPayment } from '../payments/payments.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './subscriptions.repository.ts';
import { billCurrentPeriod, subscriptionCharge } from './subscriptions.renewal.ts';
import { chargeContext, chargeSavedCard, couponFields, couponOf, emitUpdated, isManaged, lockForAction, nextCharge, requireManaged, requirePlan, reschedule, resolveCoupon, subscriptionView, viaProvider, viaProviderOutsideTx } from './subscriptions.view.ts';

/** Plan changes with proration, coupons and card replacement. */
export const ChangeBody = z
  .object({
    plan: z.string().min(1).max(64),
    quantity: z.number().int().min(1).max(10_000).optional(),
    /** true: answer what the change would do and charge, change nothing (as `?preview=true`). */
    preview: z.boolean().optional(),
  })
  .strict();

export const ChangeQuery = z.object({ preview: z.enum(['true', 'false']).optional() });

export const PreviewQuery = z
  .object({ plan: z.string().min(1).max(64), quantity: z.coerce.number().int().min(1).max(10_000).optional() })
  .strict();

/**
 * What a plan change does, decided once for the preview and the change: upgrade, downgrade or
 * nothing, and the prorated charge now (prorateChange: on what the customer pays, coupon and
 * quantity included, for the time left in the period).
 */
function changeTerms(row: repo.SubscriptionRow, plan: Plan, quantity: number, catalog: Catalog, at: Date) {
  const kind = classifyChange(row, plan, quantity, catalog);
  const chargedNow = kind === 'upgrade' && row.status === 'active';
  const proration = chargedNow
    ? prorateChange({
        from: { unitAmount: row.price_amount, quantity: row.quantity },
        to: { unitAmount: plan.price.amount, quantity },
        coupon: couponOf(row),
        cycle: Math.max(0, row.cycles_billed - 1),
        interval: row.interval,
        periodStart: row.current_period_start,
        periodEnd: row.current_period_end,
        at,
      })
    : null;
  return { kind, proration: proration && proration.due > 0 ? proration : null };
}

/** Applies a change's outcome to the row (not saved): the plan now, or pending until the period ends. */
function applyTerms(row: repo.SubscriptionRow, plan: Plan, quantity: number, kind: ChangeKind) {
  if (kind === 'unchanged') {
    row.pending_plan_id = null;
    row.pending_price_amount = null;
  } else if (row.status === 'trialing' || kind === 'upgrade') {
    row.plan_id = plan.id;
    row.price_amount = plan.price.amount;
    row.quantity = quantity;
    row.pending_plan_id = null;
    row.pending_price_amount = null;
  } else {
    row.pending_plan_id = plan.id;
    row.pending_price_amount = plan.price.amount;
  }
}

/**
 * `preview`: what changing to `plan` would charge now and next, computed as the change computes
 * it; reads only (no lock, no row, no event).
 */
export async function previewChange(ctx: AppContext, q: Queryable, projectId: string, customerId: string, body: { plan: string; quantity?: number }) {
  await requireCustomer(q, projectId, customerId);
  const { catalog } = await getCatalog(ctx, projectId);
  const at = await projectNow(ctx, projectId);
  const plan = requirePlan(catalog, body.plan);
  const current = await repo.findCurrentSubscription(q, projectId, customerId);
  if (!current || !isLive(current.status)) throw new NotFoundError('subscription', customerId);
  assertAction(current.status, 'change_plan');
  requireCompatible(plan, current);
  const quantity = plan.per_seat ? (body.quantity ?? current.quantity) : 1;
  const { kind, proration } = changeTerms(current, plan, quantity, catalog, at);
  const after = { ...current };
  applyTerms(after, plan, quantity, kind);
  return {
    object: 'subscription_change_preview',
    customer_id: customerId,
    subscription_id: current.id,
    plan: plan.id,
    quantity,
    change: kind,
    proration: proration ? prorationView(proration, current.currency) : null,
    /** What the change charges now: the prorated amount, plus VAT when the price excludes it (as the change charges). */
    amount_due_today: { amount: (await subscriptionCharge(ctx, q, current, proration?.due ?? 0, at)).amount, currency: current.currency },
    next_charge: nextCharge(after, await chargeContext(q, current)),
    current_period_end: current.current_period_end,
  };
}

function prorationView(p: NonNullable<ReturnType<typeof changeTerms>['proration']>, currency: string) {
  return { amount: p.due, currency, credit: p.credit, charge: p.charge, old_amount: p.oldAmount, new_amount: p.newAmount };
}

/** Upgrade now with a prorated charge on the saved card; downgrade at the end of the period. */
/** Called outside any transaction: a subscription a provider bills is changed there first (no transaction held meanwhile). */
export async function changePlan(ctx: AppContext, db: Queryable, caller: Caller, customerId: string, body: z.infer<typeof ChangeBody>) {
  const { catalog } = await getCatalog(ctx, caller.projectId);
  const plan = requirePlan(catalog, body.plan);
  const extra = { planRef: plan.id, ...(body.quantity ? { quantity: body.quantity } : {}) };
  const outside = await viaProviderOutsideTx(ctx, caller, customerId, 'change_plan', extra, (row) => assertAction(row.status, 'change_plan'));
  if (outside) return { ...outside, change: 'provider' as const, proration: null };
  return db.tx((q) => changePlanInTx(ctx, q, caller, customerId, body));
}

async function changePlanInTx(
  ctx: AppContext,
  q: Queryable,
  caller: Caller,
  customerId: string,
  body: z.infer<typeof ChangeBody>,
) {
  const projectId = caller.projectId;
  const { catalog } = await getCatalog(ctx, projectId);
  const at = await projectNow(ctx, projectId);
  const plan = requirePlan(catalog, body.plan);
  const row = await lockForAction(q, projectId, customerId);
  assertAction(row.status, 'change_plan');
  const extra = { planRef: plan.id, ...(body.quantity ? { quantity: body.quantity } : {}) };
  const delegated = await viaProvider(ctx, q, caller, row, 'change_plan', extra, catalog);
  if (delegated) return { ...delegated, change: 'provider' as const, proration: null };
  requireCompatible(plan, row);
  const quantity = plan.per_seat ? (body.quantity ?? row.quantity) : 1;
  const { kind, proration } = changeTerms(row, plan, quantity, catalog, at);
  const planBefore = row.plan_id;
  const payment = proration ? await chargeProration(ctx, q, row, plan, proration, at) : null;
  applyTerms(row, plan, quantity, kind);
  row.updated_at = at;
  reschedule(row);
  const saved = await repo.saveSubscription(q, row);
  await emitUpdated(ctx, q, saved, at, planBefore !== saved.plan_id, catalog);
  await audit(q, caller, { action: 'subscription.plan_changed', customerId, target: row.id, details: { from: planBefore, to: plan.id, kind } }, at);
  return {
    ...subscriptionView(saved, catalog, at, await chargeContext(q, saved)),
    change: kind,
    proration: payment && proration ? { ...prorationView(proration, payment.currency), payment_id: payment.id } : null,
  };
}

type ChangeKind = 'unchanged' | 'upgrade' | 'downgrade';

function requireCompatible(plan: Plan, row: repo.SubscriptionRow) {
  if (plan.interval !== row.interval) {
    throw new InvalidRequestError(`Plan '${plan.id}' is billed per ${plan.interval}; this subscription per ${row.interval}`, 'plan');
  }
  if (plan.price.currency !== row.currency) throw new InvalidRequestError(`Plan '${plan.id}' is priced in ${plan.price.currency}`, 'plan');
}

/** An upgrade costs more per period (or the same at a higher rank); anything else but the same plan and quantity is a downgrade. */
function classifyChange(row: repo.SubscriptionRow, plan: Plan, quantity: number, catalog: Catalog): ChangeKind {
  if (plan.id === row.plan_id && quantity === row.quantity) return 'unchanged';
  const oldAmount = row.price_amount * row.quantity;
  const newAmount = plan.price.amount * quantity;
  const current = findPlan(catalog, row.plan_id);
  if (newAmount > oldAmount || (newAmount === oldAmount && (plan.rank ?? 0) > (current?.rank ?? 0))) return 'upgrade';
  return 'downgrade';
}

/** Charges the prorated difference of an upgrade (changeTerms) now, on the saved card. */
async function chargeProration(ctx: AppContext, q: Queryable, row: repo.SubscriptionRow, plan: Plan, p: ReturnType<typeof prorateChange>, at: Date) {
  const charge = await chargeSavedCard(q, row);
  const charged = await subscriptionCharge(ctx, q, row, p.due, at);
  if (!charge.ok) {
    if (charge.reason === 'no_payment_method') throw new PaymentRequiredError('Add a card before upgrading', { reason: charge.reason });
    throw new AppError('card_declined', charge.message, { decline_code: charge.reason });
  }
  return recordPayment(ctx, q, {
      id: newId('payment'),
      project_id: row.project_id,
      customer_id: row.customer_id,
      amount: charged.amount,
      currency: row.currency,
      status: 'succeeded',
      provider: row.provider,
      provider_ref: `pi_${row.id.slice(4)}_prorate_${at.getTime()}`,
      kind: 'subscription',
      item_id: plan.id,
      checkout_session_id: null,
      subscription_id: row.id,
      order_id: null,
      period_start: at,
      period_end: row.current_period_end,
      failure_reason: null,
      details: { proration: { from: row.plan_id, to: plan.id, credit: p.credit, charge: p.charge }, ...(charged.tax ? { tax: charged.tax } : {}) },
      created_at: at,
  });
}

export const CouponBody = z.object({ promotion_code: z.string().min(1).max(64) }).strict();

/** Applies a promotion code to the live subscription, from its next charge on. */
export async function applyCoupon(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, code: string) {
  const projectId = caller.projectId;
  const { catalog } = await getCatalog(ctx, projectId);
  const at = await projectNow(ctx, projectId);
  const row = await lockForAction(q, projectId, customerId);
  assertAction(row.status, 'change_plan');
  requireManaged(row);
  const plan = requirePlan(catalog, row.plan_id, 'promotion_code');
  const coupon = resolveCoupon(catalog, code, plan);
  Object.assign(row, couponFields(coupon, row.cycles_billed));
  row.updated_at = at;
  const saved = await repo.saveSubscription(q, row);
  await emitUpdated(ctx, q, saved, at, false, catalog);
  await audit(q, caller, { action: 'subscription.coupon_applied', customerId, target: row.id, details: { coupon: coupon?.id } }, at);
  return subscriptionView(saved, catalog, at, await chargeContext(q, saved));
}

/**
 * A card added or replaced (the portal): saved as the default, and a past_due subscription's
 * open invoice is retried with it at once.
 */
export async function replaceCard(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, cardNumber: string) {
  const projectId = caller.projectId;
  const outcome = firstCharge(cardNumber);
  if (!outcome.ok) throw new AppError('card_declined', outcome.message, { decline_code: outcome.code });
  const at = await projectNow(ctx, projectId);
  await paymentsRepo.upsertPaymentMethod(q, {
    id: newId('paymentMethod'),
    projectId,
    customerId,
    provider: 'sandbox',
    brand: outcome.brand,
    last4: outcome.last4,
    token: cardToken(cardNumber),
    country: outcome.country,
    at,
  });
  await audit(q, caller, { action: 'payment_method.updated', customerId, details: { brand: outcome.brand, last4: outcome.last4 } }, at);
  const row = await repo.lockLiveSubscription(q, projectId, customerId);
  if (row && row.status === 'past_due' && isManaged(row)) {
    const paid = await billCurrentPeriod(ctx, q, row, at, { onSession: true, paymentRef: `pi_${row.id.slice(4)}_${row.period_index}_card_${at.getTime()}` });
    if (paid) {
      row.updated_at = at;
      reschedule(row);
      const saved = await repo.saveSubscription(q, row);
      await emitUpdated(ctx, q, saved, at, false);
      return { recovered: true as const, subscription: saved };
    }
    return { recovered: false as const, subscription: row };
  }
  return { recovered: null, subscription: row ?? null };
}
