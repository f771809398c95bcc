import type { Queryable } from '../../db/db.ts';
import type { Catalog, } from '../../domain/catalog.ts';
import { newId } from '../../domain/ids.ts';
import { addDays, addInterval, amountDue, isLive, nextStep, periodAt, RETRY_SCHEDULE_DAYS, type Step, transition } from '../../domain/subscription.ts';
import type { AppContext } from '../../app/context.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import * as paymentsRepo from '../payments/payments.repository.ts';
import { recordPayment } from '../payments/payments.service.ts';
import { type ChargeTax, chargeFor } from '../invoices/tax.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './subscriptions.repository.ts';
import { startPeriod } from './subscriptions.start.ts';
import { chargeContext, attemptRef, chargeSavedCard, couponOf, emitUpdated, invoiceRef, reschedule, scheduleOf, subscriptionView } from './subscriptions.view.ts';

/** Renewals and dunning: the runner's steps, recorded invoices, retries. */
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
  /** The VAT added on top of an exclusive price (what `amount` is made of). */
  tax?: ChargeTax | null;
  /** The tax the provider computed and charged (Stripe Tax). */
  providerTax?: { amount: number; rate: number | null; country: string | null } | null;
}

/**
 * What is charged for a net amount of this subscription: the amount itself when its price includes
 * VAT, else the amount plus the VAT of the customer's country (chargeFor). Renewals, retries, a trial's
 * end and prorations all charge through here.
 */
export async function subscriptionCharge(ctx: AppContext, q: Queryable, row: repo.SubscriptionRow, net: number, at: Date): Promise<{ amount: number; tax: ChargeTax | null }> {
  if (row.tax_behavior !== 'exclusive' || net === 0) return { amount: net, tax: null };
  const tax = await chargeFor(ctx, q, { projectId: row.project_id, customerId: row.customer_id, amount: net, behavior: 'exclusive', at });
  return { amount: tax.total, tax };
}

/**
 * A paid invoice: recorded as a payment once per invoice, included credits granted once per
 * period. The provider handlers and the runner's renewals both come through here.
 */
export async function recordInvoicePaid(ctx: AppContext, q: Queryable, sub: repo.SubscriptionRow, i: InvoiceInput) {
  if (await repo.hasPaidInvoice(q, sub.project_id, sub.provider, i.invoiceRef)) return null;
  const payment = await recordInvoicePayment(ctx, q, sub, i, {
    status: 'succeeded',
    providerRef: i.paymentRef ?? i.invoiceRef,
    sessionId: i.sessionId ?? null,
    failureReason: null,
  });
  if (i.periodStart) await startPeriod(ctx, q, sub, (await getCatalog(ctx, sub.project_id)).catalog, i.periodStart);
  return payment ?? null;
}

/** A failed charge: recorded once per attempt reference, announced as payment.failed. */
export async function recordInvoiceFailed(ctx: AppContext, q: Queryable, sub: repo.SubscriptionRow, i: InvoiceInput) {
  return recordInvoicePayment(ctx, q, sub, i, {
    status: 'failed',
    providerRef: `${i.paymentRef ?? i.invoiceRef}:failed`,
    sessionId: null,
    failureReason: i.failureReason ?? 'card_declined',
  });
}

/** One payment row for an invoice attempt, announced as payment.succeeded or payment.failed (once per reference). */
async function recordInvoicePayment(
  ctx: AppContext,
  q: Queryable,
  sub: repo.SubscriptionRow,
  i: InvoiceInput,
  o: { status: 'succeeded' | 'failed'; providerRef: string; sessionId: string | null; failureReason: string | null },
) {
  return recordPayment(ctx, q, {
    id: newId('payment'),
    project_id: sub.project_id,
    customer_id: sub.customer_id,
    amount: i.amount,
    currency: i.currency,
    status: o.status,
    provider: sub.provider,
    provider_ref: o.providerRef,
    kind: 'subscription',
    item_id: sub.plan_id,
    checkout_session_id: o.sessionId,
    subscription_id: sub.id,
    order_id: null,
    period_start: i.periodStart,
    period_end: i.periodEnd,
    failure_reason: o.failureReason,
    details: { invoice_ref: i.invoiceRef, ...(i.tax ? { tax: i.tax } : {}), ...(i.providerTax ? { provider_tax: i.providerTax } : {}) },
    created_at: i.at,
  });
}

/** Bills the current period; on failure the subscription goes past_due with its retries scheduled. */
export async function billCurrentPeriod(
  ctx: AppContext,
  q: Queryable,
  row: repo.SubscriptionRow,
  at: Date,
  opts: { onSession?: boolean; paymentRef?: string } = {},
) {
  const amount = amountDue(row.price_amount, row.quantity, couponOf(row), row.cycles_billed, row.interval);
  const charged = await subscriptionCharge(ctx, q, row, amount, at);
  const invoice: InvoiceInput = {
    invoiceRef: invoiceRef(row),
    paymentRef: opts.paymentRef ?? attemptRef(row),
    amount: charged.amount,
    tax: charged.tax,
    currency: row.currency,
    periodStart: row.current_period_start,
    periodEnd: row.current_period_end,
    at,
  };
  const { catalog } = await getCatalog(ctx, row.project_id);
  if (amount === 0) {
    row.status = transition(row.status, 'pay');
    row.cycles_billed += 1;
    await startPeriod(ctx, q, row, catalog);
    return true;
  }
  const charge = await chargeSavedCard(q, row, opts);
  if (charge.ok) {
    row.status = transition(row.status, 'pay');
    row.cycles_billed += 1;
    row.open_invoice_amount = null;
    row.open_invoice_ref = null;
    row.retry_count = 0;
    row.next_retry_at = null;
    await recordInvoicePaid(ctx, q, row, invoice);
    return true;
  }
  await recordInvoiceFailed(ctx, q, row, { ...invoice, failureReason: charge.reason });
  row.open_invoice_amount = charged.amount;
  return false;
}

/** A failed charge of the current period: past_due, with the first retry scheduled. */
export function markPastDue(row: repo.SubscriptionRow, at: Date) {
  row.status = transition(row.status, 'payment_failed');
  // What the failed charge asked for (VAT included), set by billCurrentPeriod.
  row.open_invoice_amount = row.open_invoice_amount ?? amountDue(row.price_amount, row.quantity, couponOf(row), row.cycles_billed, row.interval);
  row.open_invoice_ref = invoiceRef(row);
  row.retry_count = 0;
  row.next_retry_at = addDays(at, RETRY_SCHEDULE_DAYS[0]);
}

/** The trial ends in a few days: tell the app once. */
async function remindTrialEnd(_ctx: AppContext, q: Queryable, row: repo.SubscriptionRow, at: Date, catalog: Catalog) {
  row.trial_will_end_sent = true;
  await emit(q, {
    projectId: row.project_id,
    type: 'subscription.trial_will_end',
    customerId: row.customer_id,
    data: subscriptionView(row, catalog, at, await chargeContext(q, row)),
    at,
  });
}

/** The trial ended: its first period starts and is billed; unpaid, the subscription expires. */
async function endTrial(ctx: AppContext, q: Queryable, row: repo.SubscriptionRow, at: Date, _catalog: Catalog) {
  row.period_index = 0;
  row.billing_anchor = at;
  row.current_period_start = at;
  row.current_period_end = addInterval(at, row.interval, 1);
  const hasCard = row.provider === 'sandbox' && (await paymentsRepo.defaultPaymentMethod(q, row.project_id, row.customer_id));
  const paid = hasCard ? await billCurrentPeriod(ctx, q, row, at) : false;
  if (!paid) {
    row.status = transition(row.status, 'expire');
    row.ended_at = at;
    row.metadata = { ...row.metadata, ended_reason: hasCard ? 'trial_payment_failed' : 'trial_ended_without_payment' };
  }
}

/** Canceled at the end of the period it was scheduled to end with. */
async function cancelAtPeriodEnd(_ctx: AppContext, _q: Queryable, row: repo.SubscriptionRow, at: Date, _catalog: Catalog) {
  row.status = transition(row.status, 'cancel');
  row.canceled_at = row.canceled_at ?? at;
  row.ended_at = at;
}

/** The next period starts (with a pending downgrade applied) and is billed; unpaid, it goes past_due and its metered usage starts over. */
async function renew(ctx: AppContext, q: Queryable, row: repo.SubscriptionRow, at: Date, catalog: Catalog) {
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
}

/** A past_due retry: paid, it is active again; after the last failed retry it is canceled. */
async function retry(ctx: AppContext, q: Queryable, row: repo.SubscriptionRow, at: Date, _catalog: Catalog) {
  row.retry_count += 1;
  const paid = await billCurrentPeriod(ctx, q, row, at);
  if (!paid) {
    const next = RETRY_SCHEDULE_DAYS[row.retry_count];
    if (next === undefined) {
      row.status = transition(row.status, 'cancel');
      row.canceled_at = at;
      row.ended_at = at;
      row.next_retry_at = null;
      row.metadata = { ...row.metadata, ended_reason: 'payment_failed' };
    } else {
      row.next_retry_at = addDays(row.current_period_start, next);
    }
  }
}

type StepFn = (ctx: AppContext, q: Queryable, row: repo.SubscriptionRow, at: Date, catalog: Catalog) => Promise<void>;
const STEPS: Record<Step['kind'], StepFn> = {
  trial_will_end: remindTrialEnd,
  trial_end: endTrial,
  cancel: cancelAtPeriodEnd,
  renew,
  retry,
};

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
  await STEPS[step.kind](ctx, q, row, at, catalog);
  row.updated_at = at;
  reschedule(row);
  const saved = await repo.saveSubscription(q, row);
  if (step.kind !== 'trial_will_end') {
    await emitUpdated(ctx, q, saved, at, planBefore !== saved.plan_id || liveBefore !== isLive(saved.status), catalog);
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
