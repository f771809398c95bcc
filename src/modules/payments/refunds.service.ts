import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { AppError, ConflictError, InvalidRequestError, NotFoundError, ProviderError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import { MAX_AMOUNT } from '../../domain/money.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import { audit } from '../audit/audit.service.ts';
import { reverse } from '../credits/credits.service.ts';
import { getProject, projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as paymentsRepo from './payments.repository.ts';
import type { ProviderEventHandler } from '../../app/registry.ts';
import { paymentView } from './payments.service.ts';
import * as repo from './refunds.repository.ts';
import { providerCall } from '../providers/provider-call.ts';

export const RefundBodySchema = z
  .object({
    amount: z.number().int('must be an integer of minor units').min(1).max(MAX_AMOUNT).optional(),
    reason: z.string().max(500).optional(),
  })
  .strict();
export type RefundBody = z.infer<typeof RefundBodySchema>;

/**
 * What a refund undoes for the thing the payment bought (an order, a credit pack), listed as
 * `refundEffects` of the capability that owns it. Runs in the refund's transaction; its result is
 * merged into the reply.
 */
export type RefundEffect = (
  ctx: AppContext,
  q: Queryable,
  e: { payment: paymentsRepo.PaymentRow; previouslyRefunded: number; refund: repo.RefundRow; full: boolean; at: Date },
) => Promise<Record<string, unknown>>;

export function refundView(r: repo.RefundRow) {
  return {
    id: r.id,
    object: 'refund',
    payment_id: r.payment_id,
    amount: r.amount,
    currency: r.currency,
    status: r.status,
    provider: r.provider,
    provider_ref: r.provider_ref,
    origin: r.origin,
    reason: (r.details.reason as string | undefined) ?? null,
    created_at: r.created_at,
  };
}

/** Records a refund the provider made and applies its effects; undefined when already recorded. */
async function applyRefund(
  ctx: AppContext,
  q: Queryable,
  e: {
    payment: paymentsRepo.PaymentRow;
    amount: number;
    refundRef: string;
    status: repo.RefundRow['status'];
    origin: repo.RefundRow['origin'];
    reason?: string | null;
  },
) {
  const at = await projectNow(ctx, e.payment.project_id);
  const refund = await repo.insertRefund(q, {
    id: newId('refund'),
    project_id: e.payment.project_id,
    payment_id: e.payment.id,
    amount: e.amount,
    currency: e.payment.currency,
    status: e.status,
    provider: e.payment.provider,
    provider_ref: e.refundRef,
    origin: e.origin,
    details: e.reason ? { reason: e.reason } : {},
    created_at: at,
  });
  if (!refund) return undefined;
  const payment = await repo.addRefunded(q, e.payment.id, e.amount);
  const full = payment.amount_refunded >= payment.amount;
  const effect = ctx.registry.refundEffects.get(payment.kind);
  const result = effect ? await effect(ctx, q, { payment, previouslyRefunded: e.payment.amount_refunded, refund, full, at }) : {};
  for (const hook of ctx.registry.onRefundRecorded) await hook(ctx, q, { payment, refund, at });
  const body = { ...refundView(refund), payment: paymentView(payment), ...result };
  await emit(q, { projectId: payment.project_id, type: 'payment.refunded', customerId: payment.customer_id, data: body, at });
  return body;
}

/**
 * Refunds a payment through the provider that took the money: the whole remainder by default,
 * never more than what is left. The provider call carries a key derived from the payment's state,
 * so a retry after a crash names the same provider refund.
 */
export async function refundPayment(ctx: AppContext, q: Queryable, caller: Caller, paymentId: string, body: RefundBody) {
  // Read, then call the provider outside any transaction, then apply in a short one: a slow
  // provider holds no connection. The provider's refund key is derived from the payment's state,
  // so a concurrent twin names the same refund, which is recorded once.
  const payment = await paymentsRepo.findPayment(q, caller.projectId, paymentId);
  if (!payment) throw new NotFoundError('payment', paymentId);
  if (payment.status === 'failed') throw new ConflictError('A failed payment cannot be refunded', { status: payment.status });
  const refundable = payment.amount - payment.amount_refunded;
  if (refundable <= 0) throw new ConflictError('This payment is already fully refunded', { amount_refunded: payment.amount_refunded });
  const amount = body.amount ?? refundable;
  if (amount > refundable) {
    throw new InvalidRequestError(`At most ${refundable} can still be refunded`, 'amount', { refundable, requested: amount });
  }
  const provider = getProvider(ctx, payment.provider);
  if (!provider) throw new ProviderError(payment.provider, 'provider is not available');
  const project = await getProject(ctx, caller.projectId);
  let result: Awaited<ReturnType<typeof provider.refund>>;
  try {
    result = await provider.refund(await providerCall(ctx, caller.projectId, provider.name), {
      project,
      paymentRef: payment.provider_ref,
      amount,
      currency: payment.currency,
      idempotencyKey: `tollgate-refund-${payment.id}-${payment.amount_refunded}-${amount}`,
    });
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new ProviderError(payment.provider, `refund failed: ${(err as Error).message}`);
  }
  if (result.status === 'failed') throw new ProviderError(payment.provider, 'the provider declined the refund');
  return q.tx(async (trx) => {
    const locked = await repo.lockPayment(trx, caller.projectId, paymentId);
    if (!locked) throw new NotFoundError('payment', paymentId);
    const applied = await applyRefund(ctx, trx, {
      payment: locked,
      amount,
      refundRef: result.refundRef,
      status: result.status,
      origin: 'api',
      reason: body.reason ?? null,
    });
    if (!applied) {
      // The provider's echo (or a twin request) recorded this very refund first: the same answer.
      const known = await repo.findRefundByRef(trx, caller.projectId, locked.provider, result.refundRef);
      if (!known) throw new ConflictError('The provider reports this refund as already recorded', { provider_ref: result.refundRef });
      return { ...refundView(known), payment: paymentView(locked) };
    }
    await audit(
      trx,
      caller,
      { action: 'payment.refunded', customerId: locked.customer_id ?? undefined, target: locked.id, details: { amount, refund_id: applied.id } },
      await projectNow(ctx, caller.projectId),
    );
    return applied;
  });
}

/** How long after a failed (or interrupted) owed refund the `payments.refund-owed` job tries again. */
export const OWED_REFUND_RETRY_MS = 60_000;

const SYSTEM_CALLER = (projectId: string): Caller => ({ projectId, keyId: 'system', kind: 'secret', scopes: ['full'], actor: 'system:refunds' });

/**
 * Records, in the caller's transaction, that Tollgate owes the customer this payment back (an order
 * paid after its stock was gone, after it was canceled, or twice). Returns the refund to run once
 * that transaction committed; the `payments.refund-owed` job retries it a minute later if it fails
 * or the process dies first.
 */
export async function owePaymentBack(ctx: AppContext, q: Queryable, payment: paymentsRepo.PaymentRow, reason: string, at: Date): Promise<() => Promise<void>> {
  await repo.setRefundDue(q, payment.project_id, payment.id, new Date(at.getTime() + OWED_REFUND_RETRY_MS));
  return async () => {
    await refundOwed(ctx, payment.project_id, payment.id, reason);
  };
}

/** Refunds what is left of an owed payment in full; twice or on two instances it refunds once. */
async function refundOwed(ctx: AppContext, projectId: string, paymentId: string, reason?: string): Promise<boolean> {
  const payment = await paymentsRepo.findPayment(ctx.db, projectId, paymentId);
  if (!payment || payment.status === 'failed' || payment.amount_refunded >= payment.amount) {
    await repo.setRefundDue(ctx.db, projectId, paymentId, null);
    return false;
  }
  const why = reason ?? (typeof payment.details.refund_reason === 'string' ? payment.details.refund_reason : 'Tollgate could not deliver what was paid for');
  await refundPayment(ctx, ctx.db, SYSTEM_CALLER(projectId), payment.id, { reason: why });
  return true;
}

/** Background: owed refunds whose attempt is due (the first one failed or was cut short). */
export async function refundOwedPayments(ctx: AppContext, batch = 20): Promise<number> {
  const due = await ctx.db.tx((trx) => repo.claimRefundsDue(trx, ctx.clock.now(), batch, OWED_REFUND_RETRY_MS));
  let done = 0;
  for (const p of due) {
    try {
      if (await refundOwed(ctx, p.project_id, p.id)) done++;
    } catch (err) {
      ctx.log.warn({ err, payment: p.id }, 'an owed refund failed; will retry');
    }
  }
  return done;
}

export async function listPaymentRefunds(q: Queryable, projectId: string, paymentId: string) {
  const p = await paymentsRepo.findPayment(q, projectId, paymentId);
  if (!p) throw new NotFoundError('payment', paymentId);
  return { object: 'list', data: (await repo.listRefunds(q, p.id)).map(refundView), has_more: false };
}

// A refund made in the provider's dashboard (or the echo of ours) is reflected once.
export const onPaymentRefunded: ProviderEventHandler<'payment.refunded'> = async (ctx, q, ev, event) => {
  const payment = await paymentsRepo.lockPaymentByRef(q, ev.projectId, ev.provider, event.paymentRef);
  if (!payment) return { ignored: `unknown payment ${event.paymentRef}` };
  if (event.refundRef && (await repo.findRefundByRef(q, ev.projectId, ev.provider, event.refundRef))) {
    return { ignored: 'refund already recorded' };
  }
  const delta = Math.min(event.amountRefunded, payment.amount) - payment.amount_refunded;
  if (delta <= 0) return { ignored: 'refund already reflected' };
  await applyRefund(ctx, q, {
    payment,
    amount: delta,
    refundRef: event.refundRef ?? `${payment.provider_ref}:${event.amountRefunded}`,
    status: 'succeeded',
    origin: 'provider',
  });
  return 'applied';
};

// A credit pack's refund takes back the credits it bought, in proportion; what was already spent
// is reported as the shortfall, never clawed into debt.
export const creditPackRefundEffect: RefundEffect = async (ctx, q, { payment, previouslyRefunded, refund }) => {
  const session = payment.checkout_session_id ? await paymentsRepo.findSession(q, payment.checkout_session_id) : undefined;
  const credits = Number(session?.details.credits ?? 0);
  if (!payment.customer_id || !Number.isInteger(credits) || credits <= 0 || payment.amount <= 0) return {};
  const share = (refunded: number) => Math.floor((credits * refunded) / payment.amount);
  const requested = share(payment.amount_refunded) - share(previouslyRefunded);
  if (requested <= 0) return { credits: { requested: 0, reversed: 0, shortfall: 0 } };
  const r = await reverse(ctx, q, payment.project_id, payment.customer_id, {
    amount: requested,
    reason: `Refund of ${String(session?.details.name ?? payment.item_id)} pack`,
    sourceId: refund.id,
  });
  return { credits: { requested, reversed: r.reversed, shortfall: r.shortfall, balance: r.balance, transaction_id: r.transaction_id } };
};
