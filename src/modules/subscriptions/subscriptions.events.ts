import { findPlan, type Plan } from '../../domain/catalog.ts';
import { isLive, mapProviderStatus, syncFromProvider, transition } from '../../domain/subscription.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { ensureCustomer } from '../customers/customers.service.ts';
import type { AppContext } from '../../app/context.ts';
import { getProvider, type HandlerOutcome, type ProviderEventHandler } from '../../app/registry.ts';
import type { Queryable } from '../../db/db.ts';
import type { ProviderEvent } from '../../providers/provider.ts';
import { getProject, projectNow } from '../projects/projects.service.ts';
import { providerCall } from '../providers/provider-call.ts';
import { findCustomerByProviderRef } from '../providers/providers.repository.ts';
import { boundPlan } from '../imports/price-bindings.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './subscriptions.repository.ts';
import { type InvoiceInput, recordInvoiceFailed, recordInvoicePaid } from './subscriptions.renewal.ts';
import { startSubscription } from './subscriptions.start.ts';
import { emitUpdated, endReplaced, isManaged, reschedule, saveAndAnnounce, subscriptionView } from './subscriptions.view.ts';

// Provider events (provider-agnostic) -------------------------------------------------------------

/**
 * The provider's view of a subscription, applied if it is newer than what we hold. A deleted
 * subscription stays canceled whatever arrives after; an `updated` before its `created` creates
 * the row and the late `created` is then ignored as older.
 */
export const onSubscriptionChanged: ProviderEventHandler<'subscription.changed'> = async (ctx, q, ev, e) => {
  const outcome = await applySubscriptionState(ctx, q, ev, e);
  // Then the provider's current state, read once this commits: same-second events end the same in
  // any order. (An unknown customer or plan, or a deleted subscription, stays as it is.)
  const mayHaveMoved = outcome === 'applied' || (typeof outcome === 'object' && 'ignored' in outcome && outcome.ignored === OLDER);
  return mayHaveMoved && canReadCurrent(ctx, ev) ? { outside: () => readCurrentState(ctx, ev, e.subscriptionRef) } : outcome;
};

const OLDER = 'older than the state we hold';

/** Whether the provider can say what a subscription looks like now (and this is not that answer). */
function canReadCurrent(ctx: AppContext, ev: EventMeta): boolean {
  return !ev.current && !ev.inboxId.startsWith('api:') && typeof getProvider(ctx, ev.provider)?.retrieveSubscription === 'function';
}

/**
 * Reads the subscription from the provider, outside any transaction, and applies it as the newest
 * state known (what Stripe recommends when events of one second can come in any order).
 */
async function readCurrentState(ctx: AppContext, ev: EventMeta, subscriptionRef: string): Promise<void> {
  const provider = getProvider(ctx, ev.provider);
  if (!provider?.retrieveSubscription) return;
  const project = await getProject(ctx, ev.projectId);
  const state = await provider.retrieveSubscription(await providerCall(ctx, ev.projectId, provider.name), { project, subscriptionRef });
  if (!state) return;
  await ctx.db.tx(async (q) => {
    const row = await repo.lockByProviderRef(q, ev.projectId, ev.provider, subscriptionRef);
    const now = await projectNow(ctx, ev.projectId);
    const occurredAt = new Date(Math.max(now.getTime(), row?.provider_updated_at?.getTime() ?? 0));
    await applySubscriptionState(ctx, q, { ...ev, occurredAt, current: true }, state);
  });
}

async function applySubscriptionState(
  ctx: AppContext,
  q: Queryable,
  ev: EventMeta,
  e: Extract<ProviderEvent, { kind: 'subscription.changed' }>,
): Promise<HandlerOutcome> {
  const at = ev.occurredAt ?? (await projectNow(ctx, ev.projectId));
  const existing = await repo.lockByProviderRef(q, ev.projectId, ev.provider, e.subscriptionRef);
  if (existing?.provider_deleted) return { ignored: 'subscription already deleted' };
  if (existing?.provider_updated_at && at.getTime() < existing.provider_updated_at.getTime()) return { ignored: OLDER };
  const status = mapProviderStatus(e.status, e.deleted);
  if (!status) return { ignored: `untracked status ${e.status}` };
  let customerId: string | undefined = e.metadata?.tollgate_customer || existing?.customer_id;
  if (!customerId && e.customerRef) customerId = await findCustomerByProviderRef(q, ev.projectId, ev.provider, e.customerRef);
  if (!customerId) return { ignored: 'subscription of an unknown customer' };
  const { catalog } = await getCatalog(ctx, ev.projectId);
  // A price the app created before Tollgate (STRIPE_PRICE_*) maps through its binding.
  const planRef = e.planRef ?? (e.priceRef ? ((await boundPlan(q, ev.projectId, e.priceRef)) ?? null) : null);
  const plan = planRef ? findPlan(catalog, planRef) : undefined;
  const planId = plan?.id ?? existing?.plan_id;
  if (!planId) return { ignored: `unknown plan ${planRef ?? e.priceRef ?? null}` };
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
    providerTax: e.providerTax ?? null,
  };
  return { sub, at, invoice };
}

/** Whether an invoice event may still move the subscription (not older than its state, not deleted). */
function mayMove(sub: repo.SubscriptionRow, at: Date): boolean {
  const newer = !sub.provider_updated_at || at.getTime() >= sub.provider_updated_at.getTime();
  return newer && !sub.provider_deleted;
}

/**
 * An invoice for a subscription Tollgate does not hold yet: the subscription is read from the
 * provider once this transaction ends, then the invoice applied (instead of waiting for a retry).
 */
async function subscriptionFirst(
  ctx: AppContext,
  q: Queryable,
  ev: EventMeta,
  e: InvoiceEvent,
  rerun: (q: Queryable, ev: EventMeta) => Promise<HandlerOutcome>,
): Promise<HandlerOutcome | null> {
  if (!e.subscriptionRef || !canReadCurrent(ctx, ev)) return null;
  if (await repo.lockByProviderRef(q, ev.projectId, ev.provider, e.subscriptionRef)) return null;
  const ref = e.subscriptionRef;
  return {
    outside: async () => {
      await readCurrentState(ctx, ev, ref);
      await ctx.db.tx((q2) => rerun(q2, { ...ev, current: true }));
    },
  };
}

export const onInvoicePaid: ProviderEventHandler<'invoice.paid'> = async (ctx, q, ev, e) => {
  const first = await subscriptionFirst(ctx, q, ev, e, (q2, ev2) => onInvoicePaid(ctx, q2, ev2, e));
  if (first) return first;
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
  const first = await subscriptionFirst(ctx, q, ev, e, (q2, ev2) => onInvoicePaymentFailed(ctx, q2, ev2, e));
  if (first) return first;
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

