import { findPlan, type Plan } from '../../domain/catalog.ts';
import { priceSummary } from '../../domain/pricing.ts';
import { ConflictError, InvalidRequestError } from '../../domain/errors.ts';
import { isLive, mapProviderStatus, syncFromProvider, transition } from '../../domain/subscription.ts';
import { getCatalog, onCatalogPush } from '../catalog/catalog.service.ts';
import { ensureCustomer, extendCustomerView, onCustomerCreated } from '../customers/customers.service.ts';
import { registerCheckoutItem } from '../payments/checkout.service.ts';
import type { AppContext } from '../../app/context.ts';
import type { Fulfillment, ProviderEventHandler } from '../../app/registry.ts';
import type { Queryable } from '../../db/db.ts';
import type { ProviderEvent } from '../../providers/provider.ts';
import { projectNow } from '../projects/projects.service.ts';
import { findCustomerByProviderRef } from '../providers/providers.repository.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './subscriptions.repository.ts';
import { type InvoiceInput, recordInvoiceFailed, recordInvoicePaid } from './subscriptions.renewal.ts';
import { startSubscription } from './subscriptions.start.ts';
import { currentView, emitUpdated, endReplaced, isManaged, managedProvider, oneLiveSubscription, requirePlan, reschedule, resolveCoupon, saveAndAnnounce, subscriptionView } from './subscriptions.view.ts';

// Every new customer starts the catalog's default trial (once). ------------------------------------

onCustomerCreated(async (ctx, q, c, at) => {
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
});

extendCustomerView(async (ctx, q, c) => {
  const row = await repo.findCurrentSubscription(q, c.project_id, c.id);
  const { catalog } = await getCatalog(ctx, c.project_id);
  const now = await projectNow(ctx, c.project_id);
  return { subscription: currentView(row, catalog, now, c.id) };
});

/** A plan that live subscriptions use cannot disappear from the catalog (they would lose their entitlements). */
onCatalogPush(async (_ctx, q, { projectId, previous, next }) => {
  const kept = new Set(next.plans.map((p) => p.id));
  const removed = previous.plans.map((p) => p.id).filter((id) => !kept.has(id));
  if (removed.length === 0) return;
  const inUse = await repo.livePlansAmong(q, projectId, removed);
  if (inUse.length > 0) {
    throw new InvalidRequestError(
      `Plan '${inUse[0]}' has live subscriptions: keep it in the catalog with "active": false instead of removing it`,
      'plans',
      { plans: inUse },
    );
  }
});

// Checkout for a plan ----------------------------------------------------------------------------

registerCheckoutItem('plan', async (ctx, q, { projectId, customerId, body, at }) => {
  const { catalog } = await getCatalog(ctx, projectId);
  const plan = requirePlan(catalog, body.plan as string);
  const coupon = resolveCoupon(catalog, body.promotion_code, plan);
  const quantity = plan.per_seat ? body.quantity : 1;
  if (!plan.per_seat && body.quantity !== 1) throw new InvalidRequestError(`Plan '${plan.id}' is not sold per seat`, 'quantity');
  const live = customerId ? await repo.lockLiveSubscription(q, projectId, customerId) : undefined;
  if (live && live.status !== 'trialing') {
    throw new ConflictError(`Customer '${customerId}' already has a ${live.status} subscription; change its plan instead`, {
      subscription_id: live.id,
      status: live.status,
    });
  }
  // A customer still in a trial (the default one) keeps its end date: the first charge is taken then.
  const runningTrialEnd =
    live?.metadata.source === 'default_trial' && live.trial_end && live.trial_end.getTime() > at.getTime() ? live.trial_end : null;
  const usedTrial = customerId ? await repo.hadTrial(q, projectId, customerId) : false;
  const trialDays = runningTrialEnd
    ? Math.ceil((runningTrialEnd.getTime() - at.getTime()) / 86_400_000)
    : usedTrial
      ? 0
      : (body.trial_days ?? plan.trial_days);
  if (customerId && !runningTrialEnd && trialDays > 0 && !plan.trial_requires_card) {
    const provider = await managedProvider(ctx, projectId);
    const row = await oneLiveSubscription(customerId, () =>
      startSubscription(ctx, q, { projectId, customerId, plan, quantity, trialDays, coupon, provider, at, metadata: { ...(body.metadata ?? {}), source: 'checkout' } }),
    );
    return { complete: { session_id: null, url: null, status: 'complete', subscription: subscriptionView(row, catalog, at) } };
  }
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
});

function couponView(c: NonNullable<ReturnType<typeof resolveCoupon>>) {
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
  const frozen = { ...plan, price: { amount: Number(d.unit_amount ?? plan.price.amount), currency: session.currency } };
  if (session.provider !== 'sandbox') {
    // The provider owns this subscription; its events keep our row in step. Link it if it is new.
    if (event.subscriptionRef && !(await repo.lockByProviderRef(q, session.project_id, session.provider, event.subscriptionRef))) {
      await startSubscription(ctx, q, {
        projectId: session.project_id,
        customerId,
        plan: frozen,
        quantity: Number(d.quantity ?? session.quantity),
        trialDays: Number(d.trial_days ?? 0),
        coupon,
        provider: session.provider,
        providerRef: event.subscriptionRef,
        at,
        onTrialDenied: 'charge',
        metadata: { checkout_session_id: session.id },
      });
    }
    return;
  }
  await startSubscription(ctx, q, {
    projectId: session.project_id,
    customerId,
    plan: frozen,
    quantity: Number(d.quantity ?? session.quantity),
    trialDays: Number(d.trial_days ?? 0),
    coupon,
    provider: 'sandbox',
    at,
    trialEnd: promisedTrialEnd,
    onTrialDenied: 'charge',
    paid: promisedTrialEnd || Number(d.trial_days ?? 0) > 0 ? null : { paymentRef: event.paymentRef ?? `pi_${session.id}`, amount: event.amount ?? session.amount, sessionId: session.id },
    metadata: { checkout_session_id: session.id, ...(session.payment_link_id ? { payment_link_id: session.payment_link_id } : {}) },
  });
};

// Provider events (provider-agnostic) -------------------------------------------------------------

/**
 * The provider's view of a subscription, applied if it is newer than what we hold. A deleted
 * subscription stays canceled whatever arrives after; an `updated` before its `created` creates
 * the row and the late `created` is then ignored as older.
 */
export const onSubscriptionChanged: ProviderEventHandler<'subscription.changed'> = async (ctx, q, ev, e) => {
  const at = ev.occurredAt ?? (await projectNow(ctx, ev.projectId));
  const existing = await repo.lockByProviderRef(q, ev.projectId, ev.provider, e.subscriptionRef);
  if (existing?.provider_deleted) return { ignored: 'subscription already deleted' };
  if (existing?.provider_updated_at && at.getTime() < existing.provider_updated_at.getTime()) return { ignored: 'older than the state we hold' };
  const status = mapProviderStatus(e.status, e.deleted);
  if (!status) return { ignored: `untracked status ${e.status}` };
  let customerId: string | undefined = e.metadata?.tollgate_customer || existing?.customer_id;
  if (!customerId && e.customerRef) customerId = await findCustomerByProviderRef(q, ev.projectId, ev.provider, e.customerRef);
  if (!customerId) return { ignored: 'subscription of an unknown customer' };
  const { catalog } = await getCatalog(ctx, ev.projectId);
  const plan = e.planRef ? findPlan(catalog, e.planRef) : undefined;
  const planId = plan?.id ?? existing?.plan_id;
  if (!planId) return { ignored: `unknown plan ${e.planRef}` };
  const planOf = plan ?? findPlan(catalog, planId);
  if (!existing) return adoptProviderSubscription(ctx, q, ev, e, { customerId, planId, planOf, status, at });
  const before = { plan: existing.plan_id, live: isLive(existing.status), status: existing.status };
  if (isLive(status) && !before.live) {
    const live = await repo.lockLiveSubscription(q, ev.projectId, existing.customer_id);
    if (live && live.id !== existing.id) await endReplaced(ctx, q, live, at);
  }
  if (planId !== existing.plan_id && planOf) {
    existing.plan_id = planId;
    existing.price_amount = planOf.price.amount;
  }
  applyProviderState(existing, e, status, at);
  const saved = await repo.saveSubscription(q, reschedule(existing));
  await emitUpdated(ctx, q, saved, at, before.plan !== saved.plan_id || before.live !== isLive(saved.status), catalog);
  return 'applied';
};

/** A provider's subscription Tollgate does not hold yet: stored as the provider reports it. */
async function adoptProviderSubscription(
  ctx: AppContext,
  q: Queryable,
  ev: EventMeta,
  e: Extract<ProviderEvent, { kind: 'subscription.changed' }>,
  k: { customerId: string; planId: string; planOf: Plan | undefined; status: repo.SubscriptionRow['status']; at: Date },
): Promise<'applied' | { ignored: string }> {
  const { customerId, planId, planOf, status, at } = k;
  await ensureCustomer(ctx, q, ev.projectId, customerId);
  if (!planOf) return { ignored: `unknown plan ${planId}` };
  const start = e.currentPeriodStart ?? at;
  const row = await startSubscription(ctx, q, {
    projectId: ev.projectId,
    customerId,
    plan: planOf,
    quantity: 1,
    trialDays: 0,
    coupon: null,
    provider: ev.provider,
    providerRef: e.subscriptionRef,
    at: start,
    providerUpdatedAt: at,
    metadata: { source: 'provider' },
    apply: (r) => applyProviderState(r, e, status, at),
  });
  if (row.status === 'trialing') {
    await repo.recordTrial(q, { projectId: ev.projectId, customerId, planId: row.plan_id, subscriptionId: row.id, at });
  }
  return 'applied';
}

function applyProviderState(
  row: repo.SubscriptionRow,
  e: {
    currentPeriodStart: Date | null;
    currentPeriodEnd: Date | null;
    trialEnd: Date | null;
    cancelAtPeriodEnd: boolean;
    canceledAt: Date | null;
    deleted: boolean;
  },
  status: repo.SubscriptionRow['status'],
  at: Date,
) {
  row.status = syncFromProvider(row.status, status);
  if (e.currentPeriodStart) row.current_period_start = e.currentPeriodStart;
  if (e.currentPeriodEnd) row.current_period_end = e.currentPeriodEnd;
  if (e.currentPeriodStart && e.currentPeriodEnd && !isManaged(row)) row.billing_anchor = e.currentPeriodStart;
  if (e.trialEnd) {
    row.trial_end = e.trialEnd;
    row.trial_start = row.trial_start ?? e.currentPeriodStart ?? at;
  }
  row.cancel_at_period_end = e.cancelAtPeriodEnd;
  row.canceled_at = e.canceledAt ?? (status === 'canceled' ? (row.canceled_at ?? at) : row.canceled_at);
  if (!isLive(status)) row.ended_at = row.ended_at ?? at;
  else row.ended_at = null;
  row.provider_deleted = row.provider_deleted || e.deleted;
  row.provider_updated_at = at;
  row.updated_at = at;
}


type InvoiceEvent = Extract<ProviderEvent, { kind: 'invoice.paid' | 'invoice.payment_failed' }>;
type EventMeta = Parameters<ProviderEventHandler<'invoice.paid'>>[2];

/** The subscription an invoice event pays for (locked), its time, and the invoice to record. */
async function invoiceContext(ctx: AppContext, q: Queryable, ev: EventMeta, e: InvoiceEvent) {
  if (!e.subscriptionRef) return null;
  const sub = await repo.lockByProviderRef(q, ev.projectId, ev.provider, e.subscriptionRef);
  // Retried by the inbox until the subscription it pays for is known (an invoice before its subscription).
  if (!sub) throw new Error(`invoice ${e.invoiceRef} names unknown subscription ${e.subscriptionRef}`);
  const at = ev.occurredAt ?? (await projectNow(ctx, ev.projectId));
  const invoice: InvoiceInput = {
    invoiceRef: e.invoiceRef,
    paymentRef: e.paymentRef,
    amount: e.amount,
    currency: e.currency,
    periodStart: e.periodStart,
    periodEnd: e.periodEnd,
    at,
  };
  return { sub, at, invoice };
}

/** Whether an invoice event may still move the subscription (not older than its state, not deleted). */
function mayMove(sub: repo.SubscriptionRow, at: Date): boolean {
  const newer = !sub.provider_updated_at || at.getTime() >= sub.provider_updated_at.getTime();
  return newer && !sub.provider_deleted;
}

export const onInvoicePaid: ProviderEventHandler<'invoice.paid'> = async (ctx, q, ev, e) => {
  const found = await invoiceContext(ctx, q, ev, e);
  if (!found) return { ignored: 'not a subscription invoice' };
  const { sub, at, invoice } = found;
  await recordInvoicePaid(ctx, q, sub, invoice);
  if (sub.status === 'past_due' && mayMove(sub, at)) {
    sub.status = transition(sub.status, 'pay');
    sub.open_invoice_amount = null;
    sub.open_invoice_ref = null;
    sub.retry_count = 0;
    sub.next_retry_at = null;
    sub.provider_updated_at = at;
    sub.updated_at = at;
    await saveAndAnnounce(ctx, q, sub, at);
  }
  return 'applied';
};

export const onInvoicePaymentFailed: ProviderEventHandler<'invoice.payment_failed'> = async (ctx, q, ev, e) => {
  const found = await invoiceContext(ctx, q, ev, e);
  if (!found) return { ignored: 'not a subscription invoice' };
  const { sub, at, invoice } = found;
  await recordInvoiceFailed(ctx, q, sub, { ...invoice, failureReason: e.failureReason ?? null });
  if ((sub.status === 'active' || sub.status === 'trialing') && mayMove(sub, at)) {
    sub.status = transition(sub.status, 'payment_failed');
    sub.open_invoice_amount = e.amount;
    sub.open_invoice_ref = e.invoiceRef;
    sub.provider_updated_at = at;
    sub.updated_at = at;
    await saveAndAnnounce(ctx, q, sub, at);
  }
  return 'applied';
};

export const onTrialWillEnd: ProviderEventHandler<'subscription.trial_will_end'> = async (ctx, q, ev, e) => {
  const sub = await repo.lockByProviderRef(q, ev.projectId, ev.provider, e.subscriptionRef);
  if (!sub) return { ignored: `unknown subscription ${e.subscriptionRef}` };
  if (sub.status !== 'trialing') return { ignored: `subscription is ${sub.status}` };
  const at = ev.occurredAt ?? (await projectNow(ctx, ev.projectId));
  if (e.trialEnd) sub.trial_end = e.trialEnd;
  sub.trial_will_end_sent = true;
  const saved = await repo.saveSubscription(q, reschedule(sub));
  const { catalog } = await getCatalog(ctx, ev.projectId);
  await emit(q, { projectId: ev.projectId, type: 'subscription.trial_will_end', customerId: saved.customer_id, data: subscriptionView(saved, catalog, at), at });
  return 'applied';
};

