import { taxOnTop } from '../../domain/vat-rates.ts';
import { rateOnTop } from '../invoices/tax.service.ts';
import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { type Catalog, type Coupon, findCouponByCode, findPlan, type Plan } from '../../domain/catalog.ts';
import { ConflictError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { type AppliedCoupon, amountDue, daysRemaining, isLive, nextStep, type ScheduleState, transition } from '../../domain/subscription.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import type { UpdateSubscriptionInput } from '../../providers/provider.ts';
import { firstCharge, laterCharge } from '../../providers/sandbox/cards.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { ensureCustomer, requireCustomer } from '../customers/customers.service.ts';
import * as paymentsRepo from '../payments/payments.repository.ts';
import { applyProviderEvent } from '../payments/payments.service.ts';
import { getProject, projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './subscriptions.repository.ts';
import { providerCall } from '../providers/provider-call.ts';

/** Shared by every subscriptions use case: the public view, coupons, scheduling, saving and announcing, locking, the provider call. */
export type { SubscriptionRow } from './subscriptions.repository.ts';

/** Providers whose subscriptions Tollgate bills itself (the runner renews them). */
export const MANAGED_PROVIDERS = ['sandbox', 'tollgate'];
export function isManaged(row: { provider: string }): boolean {
  return MANAGED_PROVIDERS.includes(row.provider);
}

// Views -------------------------------------------------------------------------------------

export function couponOf(row: repo.SubscriptionRow): AppliedCoupon | null {
  if (!row.coupon_duration) return null;
  return {
    percentOff: row.coupon_percent_off,
    amountOff: row.coupon_amount_off,
    duration: row.coupon_duration,
    months: row.coupon_months,
    startCycle: row.coupon_start_cycle,
  };
}

export function scheduleOf(row: repo.SubscriptionRow): ScheduleState {
  return {
    status: row.status,
    trialStart: row.trial_start,
    trialEnd: row.trial_end,
    trialWillEndSent: row.trial_will_end_sent,
    currentPeriodEnd: row.current_period_end,
    cancelAtPeriodEnd: row.cancel_at_period_end,
    nextRetryAt: row.next_retry_at,
  };
}

/** Recomputes when the runner must next look at a subscription Tollgate bills. */
export function reschedule(row: repo.SubscriptionRow): repo.SubscriptionRow {
  row.next_action_at = isManaged(row) ? (nextStep(scheduleOf(row))?.at ?? null) : null;
  return row;
}

/** What decides whether a trial Tollgate bills ends with a charge: a card on file (unknown: assumed). */
export interface ChargeContext {
  cardOnFile?: boolean;
  /** The VAT rate added on top of the next charge (a subscription at exclusive prices). */
  vatOnTop?: number;
}

/**
 * The next charge: what, and when (null when nothing will be charged: a free plan, a trial that
 * ends without a card, a subscription ending at period end).
 */
export function nextCharge(row: repo.SubscriptionRow, c: ChargeContext = {}): { amount: number; currency: string; at: Date } | null {
  if (!isLive(row.status) || row.cancel_at_period_end) return null;
  // A trial Tollgate bills is charged at its end only from a sandbox card on file; without one it just ends.
  if (row.status === 'trialing' && isManaged(row) && (row.provider !== 'sandbox' || c.cardOnFile === false)) return null;
  if (row.status === 'past_due') {
    return row.open_invoice_amount !== null && row.next_retry_at
      ? { amount: row.open_invoice_amount, currency: row.currency, at: row.next_retry_at }
      : null;
  }
  const unit = row.pending_price_amount ?? row.price_amount;
  if (unit * row.quantity === 0) return null;
  const at = row.status === 'trialing' && row.trial_end ? row.trial_end : row.current_period_end;
  const net = amountDue(unit, row.quantity, couponOf(row), row.cycles_billed, row.interval);
  // At exclusive prices the charge is the net amount plus VAT on top (as subscriptionCharge charges it).
  return { amount: c.vatOnTop ? net + taxOnTop(net, c.vatOnTop) : net, currency: row.currency, at };
}

/** Whether the customer of a trial Tollgate bills has a card on file; undefined where it changes nothing. */
export async function chargeContext(q: Queryable, row: repo.SubscriptionRow | undefined): Promise<ChargeContext> {
  const tax = row?.tax_behavior === 'exclusive' && isManaged(row) ? { vatOnTop: await rateOnTop(q, row.project_id, row.customer_id, row.status === 'trialing' && row.trial_end ? row.trial_end : row.current_period_end) } : {};
  if (row?.status !== 'trialing' || row.provider !== 'sandbox') return tax;
  return { ...tax, cardOnFile: (await paymentsRepo.defaultPaymentMethod(q, row.project_id, row.customer_id)) !== undefined };
}

export function subscriptionView(row: repo.SubscriptionRow, catalog: Catalog, now: Date, charge: ChargeContext = {}) {
  const live = isLive(row.status);
  const plan = findPlan(catalog, row.plan_id);
  return {
    id: row.id,
    object: 'subscription',
    customer_id: row.customer_id,
    plan: live ? row.plan_id : (catalog.free_plan ?? null),
    plan_name: live ? (plan?.name ?? row.plan_id) : catalog.free_plan ? (findPlan(catalog, catalog.free_plan)?.name ?? null) : null,
    ...(live ? {} : { previous_plan: row.plan_id }),
    status: row.status,
    quantity: row.quantity,
    price: { amount: row.price_amount, currency: row.currency },
    interval: row.interval,
    trial_start: row.trial_start,
    trial_end: row.trial_end,
    days_remaining: row.status === 'trialing' && row.trial_end ? daysRemaining(row.trial_end, now) : null,
    current_period_start: row.current_period_start,
    current_period_end: row.current_period_end,
    cancel_at_period_end: row.cancel_at_period_end,
    canceled_at: row.canceled_at,
    ended_at: row.ended_at,
    pending_plan: row.pending_plan_id,
    coupon: row.coupon_id
      ? {
          id: row.coupon_id,
          percent_off: row.coupon_percent_off,
          amount_off: row.coupon_amount_off,
          duration: row.coupon_duration,
          duration_in_months: row.coupon_months,
        }
      : null,
    next_charge: nextCharge(row, charge),
    provider: row.provider,
    created_at: row.created_at,
  };
}

export type SubscriptionView = ReturnType<typeof subscriptionView>;

/**
 * The `subscription.canceled` payload: it names the plan that ended (whose price it carries) and,
 * as `next_plan`, what the customer falls back to (the catalog's free plan, or null).
 */
export function endedView(view: SubscriptionView, row: repo.SubscriptionRow, catalog: Catalog) {
  return {
    ...view,
    plan: row.plan_id,
    plan_name: findPlan(catalog, row.plan_id)?.name ?? row.plan_id,
    previous_plan: row.plan_id,
    next_plan: catalog.free_plan ?? null,
  };
}

/** `GET /v1/customers/:id/subscription`: the live subscription, else the last one, else "free". */
export async function getCustomerSubscription(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  await requireCustomer(q, projectId, customerId);
  // Sequential: inside a transaction every query shares one connection.
  const row = await repo.findCurrentSubscription(q, projectId, customerId);
  const { catalog } = await getCatalog(ctx, projectId);
  const now = await projectNow(ctx, projectId);
  return currentView(row, catalog, now, customerId, await chargeContext(q, row));
}

export function currentView(row: repo.SubscriptionRow | undefined, catalog: Catalog, now: Date, customerId: string, charge: ChargeContext = {}) {
  if (row) return subscriptionView(row, catalog, now, charge);
  return {
    object: 'subscription',
    customer_id: customerId,
    plan: catalog.free_plan ?? null,
    plan_name: catalog.free_plan ? (findPlan(catalog, catalog.free_plan)?.name ?? null) : null,
    status: 'free' as const,
    trial_end: null,
    days_remaining: null,
    current_period_end: null,
    cancel_at_period_end: false,
  };
}

// Creating ------------------------------------------------------------------------------------

export async function managedProvider(ctx: AppContext, projectId: string): Promise<'sandbox' | 'tollgate'> {
  const project = await getProject(ctx, projectId);
  return project.default_provider === 'sandbox' ? 'sandbox' : 'tollgate';
}

export function couponFields(c: Coupon | null, startCycle: number) {
  return {
    coupon_id: c?.id ?? null,
    coupon_percent_off: c?.percent_off ?? null,
    coupon_amount_off: c?.amount_off?.amount ?? null,
    coupon_duration: c?.duration ?? null,
    coupon_months: c?.duration === 'repeating' ? (c.duration_in_months ?? null) : null,
    coupon_start_cycle: startCycle,
  };
}

/** The coupon a promotion code names, checked against the plan (400 otherwise). */
export function resolveCoupon(catalog: Catalog, code: string | undefined, plan: Plan, param = 'promotion_code'): Coupon | null {
  if (code === undefined) return null;
  const coupon = findCouponByCode(catalog, code);
  if (!coupon) throw new InvalidRequestError(`Unknown promotion code '${code}'`, param);
  if (coupon.plans && !coupon.plans.includes(plan.id)) {
    throw new InvalidRequestError(`Promotion code '${code}' does not apply to plan '${plan.id}'`, param);
  }
  if (coupon.amount_off && coupon.amount_off.currency !== plan.price.currency) {
    throw new InvalidRequestError(`Promotion code '${code}' is in ${coupon.amount_off.currency}, the plan in ${plan.price.currency}`, param);
  }
  return coupon;
}

export function requirePlan(catalog: Catalog, id: string, param = 'plan'): Plan {
  const plan = findPlan(catalog, id);
  if (!plan?.active) throw new InvalidRequestError(`Unknown plan '${id}'`, param);
  return plan;
}

export async function oneLiveSubscription<T>(customerId: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { code?: string; constraint?: string };
    if (e?.code === '23505' && e.constraint === 'subscriptions_live') {
      throw new ConflictError(`Customer '${customerId}' is already being subscribed; retry to see the result`, { customer_id: customerId });
    }
    throw err;
  }
}

/** Saves a changed subscription (rescheduling its next due step) and tells the app's endpoints. */
export async function saveAndAnnounce(ctx: AppContext, q: Queryable, sub: repo.SubscriptionRow, at: Date): Promise<repo.SubscriptionRow> {
  const saved = await repo.saveSubscription(q, reschedule(sub));
  const { catalog } = await getCatalog(ctx, saved.project_id);
  await emit(q, {
    projectId: saved.project_id,
    type: 'subscription.updated',
    customerId: saved.customer_id,
    data: subscriptionView(saved, catalog, at, await chargeContext(q, saved)),
    at,
  });
  return saved;
}

/** Ends a live subscription that another one replaces (a trial replaced by a purchase). */
export async function endReplaced(ctx: AppContext, q: Queryable, live: repo.SubscriptionRow, at: Date, reason = 'replaced') {
  live.status = transition(live.status, 'cancel');
  live.canceled_at = live.canceled_at ?? at;
  live.ended_at = at;
  live.metadata = { ...live.metadata, ended_reason: reason };
  live.updated_at = at;
  await saveAndAnnounce(ctx, q, live, at);
}

/** Ends whatever live subscription the customer has. */
export async function endLiveSubscription(ctx: AppContext, q: Queryable, projectId: string, customerId: string, at: Date, reason: string) {
  const live = await repo.lockLiveSubscription(q, projectId, customerId);
  if (live) await endReplaced(ctx, q, live, at, reason);
}

/**
 * Creates a subscription: trialing when a trial is granted (once per customer), else active for
 * its first period. A live subscription it replaces (a trial) ends first.
 */
// Charging saved sandbox cards -------------------------------------------------------------------

type ChargeResult = { ok: true } | { ok: false; reason: string; message: string };

/** Charges the customer's saved sandbox card off-session (renewals, upgrades, retries). */
export async function chargeSavedCard(q: Queryable, sub: repo.SubscriptionRow, opts: { onSession?: boolean } = {}): Promise<ChargeResult> {
  if (sub.provider !== 'sandbox') return { ok: false, reason: 'no_payment_method', message: 'No payment method on file' };
  const card = await paymentsRepo.defaultPaymentMethod(q, sub.project_id, sub.customer_id);
  if (!card) return { ok: false, reason: 'no_payment_method', message: 'No payment method on file' };
  const outcome = opts.onSession ? firstCharge(card.token) : laterCharge(card.token);
  return outcome.ok ? { ok: true } : { ok: false, reason: outcome.code, message: outcome.message };
}

// The runner -------------------------------------------------------------------------------------

/** Announces a changed subscription (and its entitlements when they changed); pass the catalog the use case already loaded. */
export async function emitUpdated(
  ctx: AppContext,
  q: Queryable,
  row: repo.SubscriptionRow,
  at: Date,
  entitlementsChanged: boolean,
  loaded?: Catalog,
) {
  const catalog = loaded ?? (await getCatalog(ctx, row.project_id)).catalog;
  const view = subscriptionView(row, catalog, at, await chargeContext(q, row));
  const ended = row.status === 'canceled' || row.status === 'expired';
  const type = ended ? 'subscription.canceled' : 'subscription.updated';
  await emit(q, { projectId: row.project_id, type, customerId: row.customer_id, data: ended ? endedView(view, row, catalog) : view, at });
  if (entitlementsChanged) {
    await emit(q, {
      projectId: row.project_id,
      type: 'entitlements.updated',
      customerId: row.customer_id,
      data: { plan: view.plan, status: row.status, subscription_id: row.id },
      at,
    });
  }
}

export const invoiceRef = (row: repo.SubscriptionRow) => `in_${row.id.slice(4)}_${row.period_index}`;
export const attemptRef = (row: repo.SubscriptionRow) => `pi_${row.id.slice(4)}_${row.period_index}_${row.retry_count}`;

export async function lockForAction(q: Queryable, projectId: string, customerId: string) {
  const live = await repo.lockLiveSubscription(q, projectId, customerId);
  if (live) return live;
  const last = await repo.findCurrentSubscription(q, projectId, customerId);
  if (last) return last;
  throw new NotFoundError('subscription', customerId);
}

export function requireManaged(row: repo.SubscriptionRow) {
  if (!isManaged(row)) {
    throw new ConflictError(`This subscription is billed by ${row.provider}; change it through the provider's portal`, {
      provider: row.provider,
    });
  }
}

/**
 * A subscription billed by an outside provider is changed there; the provider answers with its
 * new state, applied through the same handler as its webhooks. Null for subscriptions Tollgate bills.
 */
export async function viaProvider(
  ctx: AppContext,
  q: Queryable,
  caller: Caller,
  row: repo.SubscriptionRow,
  action: UpdateSubscriptionInput['action'],
  extra: { planRef?: string; quantity?: number } = {},
  loaded?: Catalog,
): Promise<SubscriptionView | null> {
  if (isManaged(row)) return null;
  const at = await projectNow(ctx, row.project_id);
  const state = await callProvider(ctx, row, action, extra);
  // The provider's answer to our own request is the newest state we know of.
  const occurredAt = new Date(Math.max(at.getTime(), row.provider_updated_at?.getTime() ?? 0));
  await applyProviderEvent(ctx, q, { projectId: row.project_id, provider: row.provider, inboxId: `api:${caller.actor}`, occurredAt }, state);
  await audit(q, caller, { action: `subscription.${action}`, customerId: row.customer_id, target: row.id, details: { provider: row.provider, ...extra } }, at);
  const fresh = await repo.findSubscription(q, row.project_id, row.id);
  const catalog = loaded ?? (await getCatalog(ctx, row.project_id)).catalog;
  return subscriptionView(fresh ?? row, catalog, at);
}

/**
 * The same change as `viaProvider`, made before any transaction opens: the subscription is read,
 * `check` refuses what the action does not allow, the provider is called outside any transaction,
 * and its answer is applied in a short one. Null for subscriptions Tollgate bills (the caller then
 * makes the change in its own transaction).
 */
export async function viaProviderOutsideTx(
  ctx: AppContext,
  caller: Caller,
  customerId: string,
  action: UpdateSubscriptionInput['action'],
  extra: { planRef?: string; quantity?: number } = {},
  check: (row: repo.SubscriptionRow) => void = () => {},
): Promise<SubscriptionView | null> {
  const row = await ctx.db.tx((q) => lockForAction(q, caller.projectId, customerId));
  if (isManaged(row)) return null;
  check(row);
  const at = await projectNow(ctx, row.project_id);
  const state = await callProvider(ctx, row, action, extra);
  return ctx.db.tx(async (q) => {
    const fresh = (await repo.findSubscription(q, row.project_id, row.id)) ?? row;
    // The provider's answer to our own request is the newest state we know of.
    const occurredAt = new Date(Math.max(at.getTime(), fresh.provider_updated_at?.getTime() ?? 0));
    await applyProviderEvent(ctx, q, { projectId: row.project_id, provider: row.provider, inboxId: `api:${caller.actor}`, occurredAt }, state);
    await audit(q, caller, { action: `subscription.${action}`, customerId: row.customer_id, target: row.id, details: { provider: row.provider, ...extra } }, at);
    const after = await repo.findSubscription(q, row.project_id, row.id);
    return subscriptionView(after ?? fresh, (await getCatalog(ctx, row.project_id)).catalog, at);
  });
}

/** The one call to the provider port that changes a subscription it bills. */
async function callProvider(ctx: AppContext, row: repo.SubscriptionRow, action: UpdateSubscriptionInput['action'], extra: { planRef?: string; quantity?: number }) {
  const provider = getProvider(ctx, row.provider);
  if (!provider?.updateSubscription || !row.provider_ref) {
    throw new ConflictError(`This subscription is billed by ${row.provider}; change it through the provider's portal`, {
      provider: row.provider,
    });
  }
  const project = await getProject(ctx, row.project_id);
  return provider.updateSubscription(await providerCall(ctx, row.project_id, row.provider), {
    project,
    subscriptionRef: row.provider_ref,
    action,
    ...extra,
    idempotencyKey: `tollgate-${row.id}-${action}-${extra.planRef ?? ''}-${row.updated_at.getTime()}`,
  });
}

export const ListSubscriptionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
  customer_id: z.string().max(255).optional(),
  status: z.enum(['trialing', 'active', 'past_due', 'canceled', 'expired']).optional(),
});

export async function listSubscriptions(ctx: AppContext, projectId: string, f: z.infer<typeof ListSubscriptionsQuery>) {
  const [rows, { catalog }, now] = await Promise.all([
    repo.listSubscriptions(ctx.db, projectId, { customerId: f.customer_id, status: f.status, limit: f.limit, startingAfter: f.starting_after }),
    getCatalog(ctx, projectId),
    projectNow(ctx, projectId),
  ]);
  return { object: 'list', data: rows.slice(0, f.limit).map((r) => subscriptionView(r, catalog, now)), has_more: rows.length > f.limit };
}
