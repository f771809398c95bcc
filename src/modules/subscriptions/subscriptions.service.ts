import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { type Catalog, type Coupon, findCouponByCode, findPlan, type Plan } from '../../domain/catalog.ts';
import { AppError, ConflictError, InvalidRequestError, NotFoundError, PaymentRequiredError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import {
  type AppliedCoupon,
  addDays,
  addInterval,
  amountDue,
  assertAction,
  daysRemaining,
  isLive,
  nextStep,
  periodAt,
  prorate,
  RETRY_SCHEDULE_DAYS,
  type ScheduleState,
} from '../../domain/subscription.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import type { UpdateSubscriptionInput } from '../../providers/provider.ts';
import { firstCharge, laterCharge } from '../../providers/sandbox/cards.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { grant } from '../credits/credits.service.ts';
import { ensureCustomer } from '../customers/customers.service.ts';
import * as paymentsRepo from '../payments/payments.repository.ts';
import { applyProviderEvent, paymentView } from '../payments/payments.service.ts';
import { getProject, projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './subscriptions.repository.ts';

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

function scheduleOf(row: repo.SubscriptionRow): ScheduleState {
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

/** The next charge: what, and when (null when nothing more will be charged). */
export function nextCharge(row: repo.SubscriptionRow): { amount: number; currency: string; at: Date } | null {
  if (!isLive(row.status) || row.cancel_at_period_end) return null;
  if (row.status === 'past_due') {
    return row.open_invoice_amount !== null && row.next_retry_at
      ? { amount: row.open_invoice_amount, currency: row.currency, at: row.next_retry_at }
      : null;
  }
  const unit = row.pending_price_amount ?? row.price_amount;
  const at = row.status === 'trialing' && row.trial_end ? row.trial_end : row.current_period_end;
  return { amount: amountDue(unit, row.quantity, couponOf(row), row.cycles_billed, row.interval), currency: row.currency, at };
}

export function subscriptionView(row: repo.SubscriptionRow, catalog: Catalog, now: Date) {
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
    next_charge: nextCharge(row),
    provider: row.provider,
    created_at: row.created_at,
  };
}

export type SubscriptionView = ReturnType<typeof subscriptionView>;

/** `GET /v1/customers/:id/subscription`: the live subscription, else the last one, else "free". */
export async function getCustomerSubscription(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  await ensureCustomer(ctx, q, projectId, customerId);
  // Sequential: inside a transaction every query shares one connection.
  const row = await repo.findCurrentSubscription(q, projectId, customerId);
  const { catalog } = await getCatalog(ctx, projectId);
  const now = await projectNow(ctx, projectId);
  return currentView(row, catalog, now, customerId);
}

export function currentView(row: repo.SubscriptionRow | undefined, catalog: Catalog, now: Date, customerId: string) {
  if (row) return subscriptionView(row, catalog, now);
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

export interface StartInput {
  projectId: string;
  customerId: string;
  plan: Plan;
  quantity: number;
  /** Price per unit frozen into the subscription (the catalog's unless granted). */
  unitAmount?: number;
  trialDays: number;
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
    data: subscriptionView(saved, catalog, at),
    at,
  });
  return saved;
}

/** Ends a live subscription that another one replaces (a trial replaced by a purchase). */
export async function endReplaced(ctx: AppContext, q: Queryable, live: repo.SubscriptionRow, at: Date, reason = 'replaced') {
  live.status = 'canceled';
  live.canceled_at = live.canceled_at ?? at;
  live.ended_at = at;
  live.metadata = { ...live.metadata, ended_reason: reason };
  live.updated_at = at;
  await saveAndAnnounce(ctx, q, live, at);
}

/** Ends whatever live subscription the customer has. */
async function endLiveSubscription(ctx: AppContext, q: Queryable, projectId: string, customerId: string, at: Date, reason: string) {
  const live = await repo.lockLiveSubscription(q, projectId, customerId);
  if (live) await endReplaced(ctx, q, live, at, reason);
}

/**
 * Creates a subscription: trialing when a trial is granted (once per customer), else active for
 * its first period. A live subscription it replaces (a trial) ends first.
 */
export async function startSubscription(ctx: AppContext, q: Queryable, s: StartInput): Promise<repo.SubscriptionRow> {
  const id = newId('subscription');
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
  const trialEnd = trialDays > 0 ? addDays(s.at, trialDays) : null;
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
    created_at: s.at,
    updated_at: s.at,
  };
  if (trialEnd) {
    // The trial counts as period "-1": the first paid period starts at trial end.
    row.period_index = -1;
  } else if (s.paid) {
    row.cycles_billed = 1;
  }
  s.apply?.(row);
  if (isLive(row.status)) await endLiveSubscription(ctx, q, s.projectId, s.customerId, s.at, 'replaced');
  reschedule(row);
  let saved = await repo.insertSubscription(q, row);
  const { catalog } = await getCatalog(ctx, s.projectId);
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
  const view = subscriptionView(saved, catalog, s.at);
  await emit(q, { projectId: s.projectId, type: 'subscription.created', customerId: s.customerId, data: view, at: s.at });
  await emit(q, {
    projectId: s.projectId,
    type: 'entitlements.updated',
    customerId: s.customerId,
    data: { plan: saved.plan_id, status: saved.status, subscription_id: saved.id },
    at: s.at,
  });
  return saved;
}

/** Grants the plan's included credits for the subscription's current period, once. */
async function startPeriod(ctx: AppContext, q: Queryable, row: repo.SubscriptionRow, catalog: Catalog) {
  const plan = findPlan(catalog, row.plan_id);
  if (!plan) return;
  if (plan.included_credits > 0) {
    await grant(ctx, q, row.project_id, row.customer_id, {
      amount: plan.included_credits * (plan.per_seat ? row.quantity : 1),
      kind: 'subscription_credits',
      sourceId: `${row.id}:${row.current_period_start.toISOString()}`,
      reason: `${plan.name} plan: credits included this period`,
      metadata: { subscription_id: row.id, period_start: row.current_period_start },
    });
  }
  const metered = catalog.features.filter((f) => f.type === 'metered').map((f) => f.id);
  await repo.resetMeteredUsage(q, row.project_id, row.customer_id, metered, row.current_period_start);
}

// Invoices -------------------------------------------------------------------------------------

export interface InvoiceInput {
  invoiceRef: string;
  paymentRef: string | null;
  amount: number;
  currency: string;
  periodStart: Date | null;
  periodEnd: Date | null;
  at: Date;
  sessionId?: string | null;
  failureReason?: string | null;
}

/**
 * A paid invoice: recorded as a payment once per invoice, included credits granted once per
 * period. The provider handlers and the runner's renewals both come through here.
 */
export async function recordInvoicePaid(ctx: AppContext, q: Queryable, sub: repo.SubscriptionRow, i: InvoiceInput) {
  const existing = await q.query(
    `SELECT 1 FROM payments WHERE project_id = $1 AND provider = $2 AND details->>'invoice_ref' = $3 AND status <> 'failed'`,
    [sub.project_id, sub.provider, i.invoiceRef],
  );
  if (existing.rowCount > 0) return null;
  const payment = await paymentsRepo.insertPayment(q, {
    id: newId('payment'),
    project_id: sub.project_id,
    customer_id: sub.customer_id,
    amount: i.amount,
    currency: i.currency,
    status: 'succeeded',
    provider: sub.provider,
    provider_ref: i.paymentRef ?? i.invoiceRef,
    kind: 'subscription',
    item_id: sub.plan_id,
    checkout_session_id: i.sessionId ?? null,
    subscription_id: sub.id,
    order_id: null,
    period_start: i.periodStart,
    period_end: i.periodEnd,
    failure_reason: null,
    details: { invoice_ref: i.invoiceRef },
    created_at: i.at,
  });
  if (payment) {
    await emit(q, { projectId: sub.project_id, type: 'payment.succeeded', customerId: sub.customer_id, data: paymentView(payment), at: i.at });
  }
  const { catalog } = await getCatalog(ctx, sub.project_id);
  const plan = findPlan(catalog, sub.plan_id);
  if (plan && plan.included_credits > 0 && i.periodStart) {
    await grant(ctx, q, sub.project_id, sub.customer_id, {
      amount: plan.included_credits * (plan.per_seat ? sub.quantity : 1),
      kind: 'subscription_credits',
      sourceId: `${sub.id}:${i.periodStart.toISOString()}`,
      reason: `${plan.name} plan: credits included this period`,
      metadata: { subscription_id: sub.id, period_start: i.periodStart },
    });
  }
  if (i.periodStart) {
    const metered = catalog.features.filter((f) => f.type === 'metered').map((f) => f.id);
    await repo.resetMeteredUsage(q, sub.project_id, sub.customer_id, metered, i.periodStart);
  }
  return payment ?? null;
}

/** A failed charge: recorded once per attempt reference, announced as payment.failed. */
export async function recordInvoiceFailed(_ctx: AppContext, q: Queryable, sub: repo.SubscriptionRow, i: InvoiceInput) {
  const payment = await paymentsRepo.insertPayment(q, {
    id: newId('payment'),
    project_id: sub.project_id,
    customer_id: sub.customer_id,
    amount: i.amount,
    currency: i.currency,
    status: 'failed',
    provider: sub.provider,
    provider_ref: `${i.paymentRef ?? i.invoiceRef}:failed`,
    kind: 'subscription',
    item_id: sub.plan_id,
    checkout_session_id: null,
    subscription_id: sub.id,
    order_id: null,
    period_start: i.periodStart,
    period_end: i.periodEnd,
    failure_reason: i.failureReason ?? 'card_declined',
    details: { invoice_ref: i.invoiceRef },
    created_at: i.at,
  });
  if (payment) {
    await emit(q, { projectId: sub.project_id, type: 'payment.failed', customerId: sub.customer_id, data: paymentView(payment), at: i.at });
  }
  return payment ?? null;
}

// Charging saved sandbox cards -------------------------------------------------------------------

type ChargeResult = { ok: true } | { ok: false; reason: string; message: string };

/** Charges the customer's saved sandbox card off-session (renewals, upgrades, retries). */
async function chargeSavedCard(q: Queryable, sub: repo.SubscriptionRow, opts: { onSession?: boolean } = {}): Promise<ChargeResult> {
  if (sub.provider !== 'sandbox') return { ok: false, reason: 'no_payment_method', message: 'No payment method on file' };
  const card = await paymentsRepo.defaultPaymentMethod(q, sub.project_id, sub.customer_id);
  if (!card) return { ok: false, reason: 'no_payment_method', message: 'No payment method on file' };
  const outcome = opts.onSession ? firstCharge(card.token) : laterCharge(card.token);
  return outcome.ok ? { ok: true } : { ok: false, reason: outcome.code, message: outcome.message };
}

// The runner -------------------------------------------------------------------------------------

async function emitUpdated(ctx: AppContext, q: Queryable, row: repo.SubscriptionRow, at: Date, entitlementsChanged: boolean) {
  const { catalog } = await getCatalog(ctx, row.project_id);
  const view = subscriptionView(row, catalog, at);
  const type = row.status === 'canceled' || row.status === 'expired' ? 'subscription.canceled' : 'subscription.updated';
  await emit(q, { projectId: row.project_id, type, customerId: row.customer_id, data: view, at });
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

const invoiceRef = (row: repo.SubscriptionRow) => `in_${row.id.slice(4)}_${row.period_index}`;
const attemptRef = (row: repo.SubscriptionRow) => `pi_${row.id.slice(4)}_${row.period_index}_${row.retry_count}`;

/** Bills the current period; on failure the subscription goes past_due with its retries scheduled. */
async function billCurrentPeriod(
  ctx: AppContext,
  q: Queryable,
  row: repo.SubscriptionRow,
  at: Date,
  opts: { onSession?: boolean; paymentRef?: string } = {},
) {
  const amount = amountDue(row.price_amount, row.quantity, couponOf(row), row.cycles_billed, row.interval);
  const invoice: InvoiceInput = {
    invoiceRef: invoiceRef(row),
    paymentRef: opts.paymentRef ?? attemptRef(row),
    amount,
    currency: row.currency,
    periodStart: row.current_period_start,
    periodEnd: row.current_period_end,
    at,
  };
  const { catalog } = await getCatalog(ctx, row.project_id);
  if (amount === 0) {
    row.status = 'active';
    row.cycles_billed += 1;
    await startPeriod(ctx, q, row, catalog);
    return true;
  }
  const charge = await chargeSavedCard(q, row, opts);
  if (charge.ok) {
    row.status = 'active';
    row.cycles_billed += 1;
    row.open_invoice_amount = null;
    row.open_invoice_ref = null;
    row.retry_count = 0;
    row.next_retry_at = null;
    await recordInvoicePaid(ctx, q, row, invoice);
    return true;
  }
  await recordInvoiceFailed(ctx, q, row, { ...invoice, failureReason: charge.reason });
  return false;
}

/** A failed charge of the current period: past_due, with the first retry scheduled. */
function markPastDue(row: repo.SubscriptionRow, at: Date) {
  row.status = 'past_due';
  row.open_invoice_amount = amountDue(row.price_amount, row.quantity, couponOf(row), row.cycles_billed, row.interval);
  row.open_invoice_ref = invoiceRef(row);
  row.retry_count = 0;
  row.next_retry_at = addDays(at, RETRY_SCHEDULE_DAYS[0]);
}

/** Applies the one step that is due for a claimed subscription, at the time it was due. */
export async function runStep(ctx: AppContext, q: Queryable, row: repo.SubscriptionRow): Promise<void> {
  const step = nextStep(scheduleOf(row));
  if (!step) {
    row.next_action_at = null;
    await repo.saveSubscription(q, row);
    return;
  }
  const at = step.at;
  const planBefore = row.plan_id;
  const liveBefore = isLive(row.status);
  const { catalog } = await getCatalog(ctx, row.project_id);
  switch (step.kind) {
    case 'trial_will_end': {
      row.trial_will_end_sent = true;
      await emit(q, {
        projectId: row.project_id,
        type: 'subscription.trial_will_end',
        customerId: row.customer_id,
        data: subscriptionView(row, catalog, at),
        at,
      });
      break;
    }
    case 'trial_end': {
      row.period_index = 0;
      row.billing_anchor = at;
      row.current_period_start = at;
      row.current_period_end = addInterval(at, row.interval, 1);
      const hasCard = row.provider === 'sandbox' && (await paymentsRepo.defaultPaymentMethod(q, row.project_id, row.customer_id));
      const paid = hasCard ? await billCurrentPeriod(ctx, q, row, at) : false;
      if (!paid) {
        row.status = 'expired';
        row.ended_at = at;
        row.metadata = { ...row.metadata, ended_reason: hasCard ? 'trial_payment_failed' : 'trial_ended_without_payment' };
      }
      break;
    }
    case 'cancel': {
      row.status = 'canceled';
      row.canceled_at = row.canceled_at ?? at;
      row.ended_at = at;
      break;
    }
    case 'renew': {
      if (row.pending_plan_id) {
        row.plan_id = row.pending_plan_id;
        row.price_amount = row.pending_price_amount ?? row.price_amount;
        row.pending_plan_id = null;
        row.pending_price_amount = null;
      }
      row.period_index += 1;
      const p = periodAt(row.billing_anchor, row.interval, row.period_index);
      row.current_period_start = p.start;
      row.current_period_end = p.end;
      const paid = await billCurrentPeriod(ctx, q, row, at);
      if (!paid) {
        markPastDue(row, at);
        // A new period started: its metered usage starts over even while payment is retried.
        await repo.resetMeteredUsage(
          q,
          row.project_id,
          row.customer_id,
          catalog.features.filter((f) => f.type === 'metered').map((f) => f.id),
          row.current_period_start,
        );
      }
      break;
    }
    case 'retry': {
      row.retry_count += 1;
      const paid = await billCurrentPeriod(ctx, q, row, at);
      if (!paid) {
        const next = RETRY_SCHEDULE_DAYS[row.retry_count];
        if (next === undefined) {
          row.status = 'canceled';
          row.canceled_at = at;
          row.ended_at = at;
          row.next_retry_at = null;
          row.metadata = { ...row.metadata, ended_reason: 'payment_failed' };
        } else {
          row.next_retry_at = addDays(row.current_period_start, next);
        }
      }
      break;
    }
  }
  row.updated_at = at;
  reschedule(row);
  const saved = await repo.saveSubscription(q, row);
  if (step.kind !== 'trial_will_end') {
    await emitUpdated(ctx, q, saved, at, planBefore !== saved.plan_id || liveBefore !== isLive(saved.status));
  }
}

/** Background: claims due subscriptions (SKIP LOCKED) and applies one step to each, in one transaction. */
export async function advanceDueSubscriptions(ctx: AppContext, batch = 50): Promise<number> {
  return ctx.db.tx(async (trx) => {
    const rows = await repo.claimDueSubscriptions(trx, ctx.clock.now(), batch);
    for (const row of rows) await runStep(ctx, trx, row);
    return rows.length;
  });
}

// Operations --------------------------------------------------------------------------------------

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

async function lockForAction(q: Queryable, projectId: string, customerId: string) {
  const live = await repo.lockLiveSubscription(q, projectId, customerId);
  if (live) return live;
  const last = await repo.findCurrentSubscription(q, projectId, customerId);
  if (last) return last;
  throw new NotFoundError('subscription', customerId);
}

function requireManaged(row: repo.SubscriptionRow) {
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
async function viaProvider(
  ctx: AppContext,
  q: Queryable,
  caller: Caller,
  row: repo.SubscriptionRow,
  action: UpdateSubscriptionInput['action'],
  extra: { planRef?: string; quantity?: number } = {},
): Promise<SubscriptionView | null> {
  if (isManaged(row)) return null;
  const provider = getProvider(ctx, row.provider);
  if (!provider?.updateSubscription || !row.provider_ref) {
    throw new ConflictError(`This subscription is billed by ${row.provider}; change it through the provider's portal`, {
      provider: row.provider,
    });
  }
  const project = await getProject(ctx, row.project_id);
  const at = await projectNow(ctx, row.project_id);
  const state = await provider.updateSubscription(ctx, {
    project,
    subscriptionRef: row.provider_ref,
    action,
    ...extra,
    idempotencyKey: `tollgate-${row.id}-${action}-${extra.planRef ?? ''}-${row.updated_at.getTime()}`,
  });
  // The provider's answer to our own request is the newest state we know of.
  const occurredAt = new Date(Math.max(at.getTime(), row.provider_updated_at?.getTime() ?? 0));
  await applyProviderEvent(ctx, q, { projectId: row.project_id, provider: row.provider, inboxId: `api:${caller.actor}`, occurredAt }, state);
  await audit(q, caller, { action: `subscription.${action}`, customerId: row.customer_id, target: row.id, details: { provider: row.provider, ...extra } }, at);
  const fresh = await repo.findSubscription(q, row.project_id, row.id);
  const { catalog } = await getCatalog(ctx, row.project_id);
  return subscriptionView(fresh ?? row, catalog, at);
}

export const CancelBody = z.object({ at_period_end: z.boolean().default(true) }).strict();

export async function cancelSubscription(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, atPeriodEnd: boolean) {
  const projectId = caller.projectId;
  const row = await lockForAction(q, projectId, customerId);
  assertAction(row.status, atPeriodEnd ? 'cancel_at_period_end' : 'cancel_now');
  const delegated = await viaProvider(ctx, q, caller, row, atPeriodEnd ? 'cancel_at_period_end' : 'cancel_now');
  if (delegated) return delegated;
  const at = await projectNow(ctx, projectId);
  if (atPeriodEnd) {
    row.cancel_at_period_end = true;
    row.canceled_at = at;
  } else {
    row.status = 'canceled';
    row.canceled_at = at;
    row.ended_at = at;
  }
  row.updated_at = at;
  reschedule(row);
  const saved = await repo.saveSubscription(q, row);
  await emitUpdated(ctx, q, saved, at, !atPeriodEnd);
  await audit(q, caller, { action: 'subscription.canceled', customerId, target: row.id, details: { at_period_end: atPeriodEnd } }, at);
  const { catalog } = await getCatalog(ctx, projectId);
  return subscriptionView(saved, catalog, at);
}

export async function resumeSubscription(ctx: AppContext, q: Queryable, caller: Caller, customerId: string) {
  const projectId = caller.projectId;
  const row = await lockForAction(q, projectId, customerId);
  assertAction(row.status, 'resume');
  if (!row.cancel_at_period_end) throw new ConflictError('This subscription is not scheduled to cancel', { status: row.status });
  const delegated = await viaProvider(ctx, q, caller, row, 'resume');
  if (delegated) return delegated;
  const at = await projectNow(ctx, projectId);
  row.cancel_at_period_end = false;
  row.canceled_at = null;
  row.updated_at = at;
  reschedule(row);
  const saved = await repo.saveSubscription(q, row);
  await emitUpdated(ctx, q, saved, at, false);
  await audit(q, caller, { action: 'subscription.resumed', customerId, target: row.id }, at);
  const { catalog } = await getCatalog(ctx, projectId);
  return subscriptionView(saved, catalog, at);
}

export const ChangeBody = z
  .object({ plan: z.string().min(1).max(64), quantity: z.number().int().min(1).max(10_000).optional() })
  .strict();

/** Upgrade now with a prorated charge on the saved card; downgrade at the end of the period. */
export async function changePlan(
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
  const delegated = await viaProvider(ctx, q, caller, row, 'change_plan', { planRef: plan.id, ...(body.quantity ? { quantity: body.quantity } : {}) });
  if (delegated) return { ...delegated, change: 'provider' as const, proration: null };
  if (plan.interval !== row.interval) {
    throw new InvalidRequestError(`Plan '${plan.id}' is billed per ${plan.interval}; this subscription per ${row.interval}`, 'plan');
  }
  if (plan.price.currency !== row.currency) throw new InvalidRequestError(`Plan '${plan.id}' is priced in ${plan.price.currency}`, 'plan');
  const quantity = plan.per_seat ? (body.quantity ?? row.quantity) : 1;
  const oldAmount = row.price_amount * row.quantity;
  const newAmount = plan.price.amount * quantity;
  const current = findPlan(catalog, row.plan_id);
  const sameTier = plan.id === row.plan_id && quantity === row.quantity;
  let kind: 'unchanged' | 'upgrade' | 'downgrade';
  if (sameTier) kind = 'unchanged';
  else if (newAmount > oldAmount || (newAmount === oldAmount && (plan.rank ?? 0) > (current?.rank ?? 0))) kind = 'upgrade';
  else kind = 'downgrade';
  let payment: paymentsRepo.PaymentRow | null = null;
  const planBefore = row.plan_id;
  if (kind === 'unchanged') {
    row.pending_plan_id = null;
    row.pending_price_amount = null;
  } else if (row.status === 'trialing' || kind === 'upgrade') {
    if (row.status === 'active') {
      const p = prorate({ oldAmount, newAmount, periodStart: row.current_period_start, periodEnd: row.current_period_end, at });
      if (p.due > 0) {
        const charge = await chargeSavedCard(q, row);
        if (!charge.ok) {
          if (charge.reason === 'no_payment_method') throw new PaymentRequiredError('Add a card before upgrading', { reason: charge.reason });
          throw new AppError('card_declined', charge.message, { decline_code: charge.reason });
        }
        payment =
          (await paymentsRepo.insertPayment(q, {
            id: newId('payment'),
            project_id: projectId,
            customer_id: customerId,
            amount: p.due,
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
            details: { proration: { from: row.plan_id, to: plan.id, credit: p.credit, charge: p.charge } },
            created_at: at,
          })) ?? null;
        if (payment) await emit(q, { projectId, type: 'payment.succeeded', customerId, data: paymentView(payment), at });
      }
    }
    row.plan_id = plan.id;
    row.price_amount = plan.price.amount;
    row.quantity = quantity;
    row.pending_plan_id = null;
    row.pending_price_amount = null;
  } else {
    row.pending_plan_id = plan.id;
    row.pending_price_amount = plan.price.amount;
  }
  row.updated_at = at;
  reschedule(row);
  const saved = await repo.saveSubscription(q, row);
  await emitUpdated(ctx, q, saved, at, planBefore !== saved.plan_id);
  await audit(q, caller, { action: 'subscription.plan_changed', customerId, target: row.id, details: { from: planBefore, to: plan.id, kind } }, at);
  return {
    ...subscriptionView(saved, catalog, at),
    change: kind,
    proration: payment ? { amount: payment.amount, currency: payment.currency, payment_id: payment.id } : null,
  };
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
  await emitUpdated(ctx, q, saved, at, false);
  await audit(q, caller, { action: 'subscription.coupon_applied', customerId, target: row.id, details: { coupon: coupon?.id } }, at);
  return subscriptionView(saved, catalog, at);
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
    token: cardNumber.replace(/[\s-]/g, ''),
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
