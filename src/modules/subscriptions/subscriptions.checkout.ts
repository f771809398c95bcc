import type { Queryable } from '../../db/db.ts';
import { findPlan, type Plan } from '../../domain/catalog.ts';
import { priceSummary } from '../../domain/pricing.ts';
import { ConflictError, InvalidRequestError } from '../../domain/errors.ts';
import type { Fulfillment } from '../../app/registry.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import type { CheckoutBody, CheckoutItem, CheckoutItemBuilder } from '../payments/checkout.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './subscriptions.repository.ts';
import { startSubscription } from './subscriptions.start.ts';
import { chargeContext, managedProvider, oneLiveSubscription, requirePlan, resolveCoupon, subscriptionView } from './subscriptions.view.ts';

// Checkout for a plan: priced from the catalog (or started at once for a trial without a card),
// and the subscription a completed checkout starts. -----------------------------------------------

type Coupon = NonNullable<ReturnType<typeof resolveCoupon>>;

/** The customer's live subscription, which a plan checkout may only replace while it is a trial. */
async function trialToReplace(q: Queryable, projectId: string, customerId: string | null) {
  const live = customerId ? await repo.lockLiveSubscription(q, projectId, customerId) : undefined;
  if (live && live.status !== 'trialing') {
    throw new ConflictError(`Customer '${customerId}' already has a ${live.status} subscription; change its plan instead`, {
      subscription_id: live.id,
      status: live.status,
    });
  }
  return live;
}

/**
 * The trial a plan checkout gives: a running default trial keeps its end date (the first charge is
 * taken then); a customer who already had a trial gets none; otherwise the body's or the plan's.
 */
async function checkoutTrial(
  q: Queryable,
  e: { projectId: string; customerId: string | null; plan: Plan; body: CheckoutBody; at: Date },
): Promise<{ trialDays: number; runningTrialEnd: Date | null }> {
  const live = await trialToReplace(q, e.projectId, e.customerId);
  const runningTrialEnd =
    live?.metadata.source === 'default_trial' && live.trial_end && live.trial_end.getTime() > e.at.getTime() ? live.trial_end : null;
  if (runningTrialEnd) return { trialDays: Math.ceil((runningTrialEnd.getTime() - e.at.getTime()) / 86_400_000), runningTrialEnd };
  const usedTrial = e.customerId ? await repo.hadTrial(q, e.projectId, e.customerId) : false;
  return { trialDays: usedTrial ? 0 : (e.body.trial_days ?? e.plan.trial_days), runningTrialEnd: null };
}

/** The checkout item of a plan: what is due today after trial and coupon, and the recurring line. */
function planItem(
  plan: Plan,
  e: { quantity: number; coupon: Coupon | null; trialDays: number; runningTrialEnd: Date | null; at: Date },
): CheckoutItem {
  const { quantity, coupon, trialDays, runningTrialEnd, at } = e;
  const gross = plan.price.amount * quantity;
  const summary = priceSummary({
    currency: plan.price.currency,
    lines: [{ name: plan.name, unitAmount: plan.price.amount, quantity }],
    subscription: { interval: plan.interval, trialDays, trialEnd: runningTrialEnd },
    coupon: coupon ? { ...couponView(coupon), id: coupon.id, name: coupon.code } : null,
    at,
  });
  return {
    itemType: 'plan',
    itemId: plan.id,
    mode: 'subscription',
    amount: summary.amount_due_today,
    currency: plan.price.currency,
    quantity,
    lineItems: [{ name: plan.name, amount: plan.price.amount, currency: plan.price.currency, quantity, interval: plan.interval }],
    trialDays: trialDays > 0 ? trialDays : null,
    trialWithoutCard: false,
    taxBehavior: plan.price.tax_behavior,
    summary,
    discount: coupon
      ? {
          percentOff: coupon.percent_off,
          amountOff: coupon.amount_off?.amount,
          duration: coupon.duration,
          durationInMonths: coupon.duration_in_months,
        }
      : null,
    details: {
      name: plan.name,
      plan_id: plan.id,
      interval: plan.interval,
      unit_amount: plan.price.amount,
      gross_amount: gross,
      quantity,
      trial_days: trialDays,
      trial_end: summary.trial?.ends_at ?? null,
      coupon_id: coupon?.id ?? null,
    },
  };
}

/** A checkout for a plan; listed as the subscriptions capability's `checkoutItems.plan`. */
export const planCheckoutItem: CheckoutItemBuilder = async (ctx, q, { projectId, customerId, body, at }) => {
  const { catalog } = await getCatalog(ctx, projectId);
  const plan = requirePlan(catalog, body.plan as string);
  const coupon = resolveCoupon(catalog, body.promotion_code, plan);
  const quantity = plan.per_seat ? body.quantity : 1;
  if (!plan.per_seat && body.quantity !== 1) throw new InvalidRequestError(`Plan '${plan.id}' is not sold per seat`, 'quantity');
  const { trialDays, runningTrialEnd } = await checkoutTrial(q, { projectId, customerId, plan, body, at });
  if (customerId && !runningTrialEnd && trialDays > 0 && !plan.trial_requires_card) {
    // A trial that needs no card starts at once: no session, nothing to pay.
    const provider = await managedProvider(ctx, projectId);
    const row = await oneLiveSubscription(customerId, () =>
      startSubscription(ctx, q, { projectId, customerId, plan, quantity, trialDays, coupon, provider, at, metadata: { ...(body.metadata ?? {}), source: 'checkout' } }),
    );
    return { complete: { session_id: null, url: null, status: 'complete', subscription: subscriptionView(row, catalog, at, await chargeContext(q, row)) } };
  }
  return planItem(plan, { quantity, coupon, trialDays, runningTrialEnd, at });
};

function couponView(c: Coupon) {
  return {
    percentOff: c.percent_off ?? null,
    amountOff: c.amount_off?.amount ?? null,
    duration: c.duration,
    months: c.duration === 'repeating' ? (c.duration_in_months ?? null) : null,
    startCycle: 0,
  };
}

/** A completed plan checkout: the subscription starts (trialing or paid for its first period). */
export const fulfillPlan: Fulfillment = async (ctx, q, { session, event }) => {
  const customerId = session.customer_id;
  if (!customerId) throw new Error(`session ${session.id} has no customer`);
  const at = await projectNow(ctx, session.project_id);
  const { catalog } = await getCatalog(ctx, session.project_id);
  const plan = findPlan(catalog, session.item_id);
  if (!plan) throw new Error(`plan ${session.item_id} of session ${session.id} is no longer in the catalog`);
  const d = session.details as { unit_amount?: number; quantity?: number; trial_days?: number; trial_end?: string | null; coupon_id?: string | null };
  // The trial the page showed is the trial given (never more charged than shown), even if the customer's one trial was claimed meanwhile.
  const promisedTrialEnd = d.trial_end ? new Date(d.trial_end) : null;
  const coupon = d.coupon_id ? (catalog.coupons.find((c) => c.id === d.coupon_id) ?? null) : null;
  // The tax behaviour the checkout charged at is the subscription's.
  const charged = (session.details.summary as { tax?: { behavior?: 'inclusive' | 'exclusive' } | null } | undefined)?.tax?.behavior;
  const frozen = {
    ...plan,
    price: { amount: Number(d.unit_amount ?? plan.price.amount), currency: session.currency, tax_behavior: charged ?? plan.price.tax_behavior },
  };
  const trialDays = Number(d.trial_days ?? 0);
  const start = {
    projectId: session.project_id,
    customerId,
    plan: frozen,
    quantity: Number(d.quantity ?? session.quantity),
    trialDays,
    coupon,
    at,
    onTrialDenied: 'charge' as const,
  };
  if (session.provider !== 'sandbox') {
    // The provider owns this subscription; its events keep our row in step. Link it if it is new.
    if (event.subscriptionRef && !(await repo.lockByProviderRef(q, session.project_id, session.provider, event.subscriptionRef))) {
      await startSubscription(ctx, q, { ...start, provider: session.provider, providerRef: event.subscriptionRef, metadata: { checkout_session_id: session.id } });
    }
    return;
  }
  await startSubscription(ctx, q, {
    ...start,
    provider: 'sandbox',
    trialEnd: promisedTrialEnd,
    paid: promisedTrialEnd || trialDays > 0 ? null : { paymentRef: event.paymentRef ?? `pi_${session.id}`, amount: event.amount ?? session.amount, sessionId: session.id },
    metadata: { checkout_session_id: session.id, ...(session.payment_link_id ? { payment_link_id: session.payment_link_id } : {}) },
  });
};
