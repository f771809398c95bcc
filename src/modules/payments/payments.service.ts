import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { AppContext } from '../../app/context.ts';
import type { EventContext, Fulfillment, HandlerOutcome, ProviderEventHandler } from '../../app/registry.ts';
import type { ProviderEvent } from '../../providers/provider.ts';
import { grant } from '../credits/credits.service.ts';
import { ensureCustomer } from '../customers/customers.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './payments.repository.ts';

export type { CheckoutSessionRow, PaymentRow } from './payments.repository.ts';

export type { EventContext, HandlerOutcome } from '../../app/registry.ts';

export async function applyProviderEvent(
  ctx: AppContext,
  q: Queryable,
  e: EventContext,
  event: ProviderEvent,
): Promise<HandlerOutcome> {
  const handler = ctx.registry.providerEvents.get(event.kind) as ProviderEventHandler<typeof event.kind> | undefined;
  if (!handler) return { ignored: `no handler for ${event.kind === 'unsupported' ? event.type : event.kind}` };
  return handler(ctx, q, e, event as never);
}

/** A paid credit pack grants its credits. */
export const fulfillCreditPack: Fulfillment = async (ctx, q, { session }) => {
  const credits = Number(session.details.credits);
  if (!session.customer_id || !Number.isInteger(credits) || credits <= 0) throw new Error(`session ${session.id} has no credits to grant`);
  await grant(ctx, q, session.project_id, session.customer_id, {
    amount: credits,
    kind: 'purchase',
    sourceId: session.id,
    reason: `Purchased ${String(session.details.name ?? session.item_id)} pack`,
    metadata: { checkout_session_id: session.id, credit_pack: session.item_id },
  });
};

type CompletedEvent = Extract<ProviderEvent, { kind: 'checkout.completed' }>;

/** The customer a completed session belongs to; a Payment Link's buyer is created from the e-mail. */
async function sessionCustomer(ctx: AppContext, q: Queryable, session: repo.CheckoutSessionRow, event: CompletedEvent): Promise<string> {
  if (session.customer_id) return session.customer_id;
  const email = event.customerEmail ?? session.customer_email;
  if (!email) throw new Error(`session ${session.id} has neither a customer nor an e-mail`);
  const customerId = email.toLowerCase();
  await ensureCustomer(ctx, q, session.project_id, customerId, { email });
  return customerId;
}

/**
 * The one way a payment is recorded: inserted once per provider reference, announced as
 * payment.succeeded or payment.failed, and handed to the `onPaymentRecorded` hooks (the invoice)
 * in the same transaction. Null when that reference was already recorded.
 */
export async function recordPayment(
  ctx: AppContext,
  q: Queryable,
  p: Parameters<typeof repo.insertPayment>[1],
): Promise<repo.PaymentRow | null> {
  const payment = (await repo.insertPayment(q, p)) ?? null;
  if (!payment) return null;
  const type = payment.status === 'failed' ? 'payment.failed' : 'payment.succeeded';
  await emit(q, { projectId: payment.project_id, type, customerId: payment.customer_id, data: paymentView(payment), at: payment.created_at });
  for (const hook of ctx.registry.onPaymentRecorded) await hook(ctx, q, payment);
  return payment;
}

/** The payment a one-off checkout took (once per provider reference), announced as payment.succeeded. */
async function recordCheckoutPayment(
  ctx: AppContext,
  q: Queryable,
  session: repo.CheckoutSessionRow,
  e: { customerId: string; amount: number; currency: string; paymentRef: string; at: Date; details: Record<string, unknown> },
): Promise<repo.PaymentRow | null> {
  return recordPayment(ctx, q, {
    id: newId('payment'),
    project_id: session.project_id,
    customer_id: e.customerId,
    amount: e.amount,
    currency: e.currency,
    status: 'succeeded',
    provider: session.provider,
    provider_ref: e.paymentRef,
    kind: session.item_type,
    item_id: session.item_id,
    checkout_session_id: session.id,
    subscription_id: null,
    order_id: session.item_type === 'order' ? session.item_id : null,
    period_start: null,
    period_end: null,
    failure_reason: null,
    details: e.details,
    created_at: e.at,
  });
}

/** What the provider said about the payment that the invoice keeps: the card's country, the tax it computed. */
function paymentEvidence(event: CompletedEvent): Record<string, unknown> {
  const cardCountry = event.cardCountry ?? event.paymentMethod?.country ?? null;
  return {
    ...(cardCountry ? { card_country: cardCountry } : {}),
    ...(event.providerTax ? { provider_tax: event.providerTax } : {}),
    ...(event.fee ? { provider_fee: event.fee } : {}),
  };
}

async function fulfill(
  ctx: AppContext,
  q: Queryable,
  ev: EventContext,
  session: repo.CheckoutSessionRow,
  event: CompletedEvent,
  paymentRef: string | null,
): Promise<HandlerOutcome> {
  const at = await projectNow(ctx, session.project_id);
  const customerId = await sessionCustomer(ctx, q, session, event);
  const done = await repo.completeSession(q, session.id, {
    paymentStatus: event.paymentStatus === 'unpaid' ? 'paid' : event.paymentStatus,
    customerId,
    customerEmail: event.customerEmail ?? null,
    at,
  });
  if (event.paymentMethod) {
    await repo.upsertPaymentMethod(q, {
      id: newId('paymentMethod'),
      projectId: session.project_id,
      customerId,
      provider: session.provider,
      ...event.paymentMethod,
      at,
    });
  }
  const amount = event.amount ?? session.amount;
  const payment =
    amount > 0 && paymentRef && session.mode === 'payment'
      ? await recordCheckoutPayment(ctx, q, session, { customerId, amount, currency: event.currency ?? session.currency, paymentRef, at, details: paymentEvidence(event) })
      : null;
  const fulfillment = ctx.registry.fulfillments.get(session.item_type);
  const after = fulfillment ? await fulfillment(ctx, q, { session: done, payment, event, ev }) : undefined;
  await emit(q, {
    projectId: session.project_id,
    type: 'checkout.completed',
    customerId,
    data: { session_id: session.id, item_type: session.item_type, item_id: session.item_id, amount, currency: session.currency },
    at,
  });
  return after ?? 'applied';
}

export const onCheckoutCompleted: ProviderEventHandler<'checkout.completed'> = async (ctx, q, ev, event) => {
  let session = await repo.lockSessionByRef(q, ev.projectId, ev.provider, event.sessionRef);
  for (const adopt of ctx.registry.sessionAdopters) {
    if (session) break;
    session = await adopt(ctx, q, ev, event);
  }
  if (!session) return { ignored: `unknown checkout session ${event.sessionRef}` };
  if (session.status === 'complete' && session.payment_status !== 'unpaid') return { ignored: 'session already complete' };
  if (event.paymentStatus === 'unpaid') {
    // Delayed payment methods: nothing is granted until async_payment_succeeded.
    await repo.setSessionPaymentStatus(q, session.id, 'unpaid');
    return 'applied';
  }
  return fulfill(ctx, q, ev, session, event, event.paymentRef ?? `${session.provider}_${session.id}`);
};

export const onAsyncPaymentSucceeded: ProviderEventHandler<'checkout.async_payment_succeeded'> = async (ctx, q, ev, event) => {
  const session = await repo.lockSessionByRef(q, ev.projectId, ev.provider, event.sessionRef);
  if (!session) return { ignored: `unknown checkout session ${event.sessionRef}` };
  if (session.status === 'complete' && session.payment_status === 'paid') return { ignored: 'session already paid' };
  return fulfill(
    ctx,
    q,
    ev,
    session,
    {
      kind: 'checkout.completed',
      sessionRef: event.sessionRef,
      paymentRef: event.paymentRef,
      paymentStatus: 'paid',
      amount: null,
      currency: null,
    },
    event.paymentRef ?? `${session.provider}_${session.id}`,
  );
};

export const onAsyncPaymentFailed: ProviderEventHandler<'checkout.async_payment_failed'> = async (ctx, q, ev, event) => {
  const session = await repo.lockSessionByRef(q, ev.projectId, ev.provider, event.sessionRef);
  if (!session) return { ignored: `unknown checkout session ${event.sessionRef}` };
  if (session.payment_status === 'paid') return { ignored: 'session already paid' };
  await repo.setSessionPaymentStatus(q, session.id, 'failed');
  await emit(q, {
    projectId: session.project_id,
    type: 'payment.failed',
    customerId: session.customer_id,
    data: { session_id: session.id, reason: event.reason },
    at: await projectNow(ctx, session.project_id),
  });
  return 'applied';
};

export function paymentView(p: repo.PaymentRow) {
  return {
    id: p.id,
    object: 'payment',
    customer_id: p.customer_id,
    amount: p.amount,
    amount_refunded: p.amount_refunded,
    currency: p.currency,
    status: p.status,
    provider: p.provider,
    provider_ref: p.provider_ref,
    kind: p.kind,
    item_id: p.item_id,
    checkout_session_id: p.checkout_session_id,
    subscription_id: p.subscription_id,
    order_id: p.order_id,
    period_start: p.period_start,
    period_end: p.period_end,
    failure_reason: p.failure_reason,
    fee: p.fee_amount != null && p.fee_currency ? { amount: Number(p.fee_amount), currency: p.fee_currency } : null,
    net: p.net_amount != null && p.fee_currency ? { amount: Number(p.net_amount), currency: p.fee_currency } : null,
    dispute: p.dispute_id ? { id: p.dispute_id, status: p.dispute_status ?? 'needs_response' } : null,
    created_at: p.created_at,
  };
}

export const PaymentsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
  customer_id: z.string().max(255).optional(),
  status: z.enum(['succeeded', 'failed', 'refunded', 'partially_refunded']).optional(),
  created_gte: z.iso.datetime({ offset: true }).optional(),
  created_lt: z.iso.datetime({ offset: true }).optional(),
});

export async function listPayments(q: Queryable, projectId: string, f: z.infer<typeof PaymentsQuery>) {
  const rows = await repo.listPayments(q, projectId, {
    limit: f.limit,
    startingAfter: f.starting_after,
    customerId: f.customer_id,
    status: f.status,
    from: f.created_gte ? new Date(f.created_gte) : undefined,
    to: f.created_lt ? new Date(f.created_lt) : undefined,
  });
  return { object: 'list', data: rows.slice(0, f.limit).map(paymentView), has_more: rows.length > f.limit };
}

export async function getPayment(q: Queryable, projectId: string, id: string) {
  const p = await repo.findPayment(q, projectId, id);
  if (!p) throw new NotFoundError('payment', id);
  return paymentView(p);
}

/** Background: open sessions past their expiry become `expired`. */
export async function expireCheckoutSessions(ctx: AppContext, batch = 200): Promise<number> {
  return ctx.db.tx(async (trx) => (await repo.expireSessions(trx, ctx.clock.now(), batch)).length);
}
