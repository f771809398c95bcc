import type { AppContext } from '../../app/context.ts';
import { getProvider, type PaymentRecordedHook } from '../../app/registry.ts';
import type { PaymentFee } from '../../providers/provider.ts';
import { providerCall } from '../providers/provider-call.ts';
import * as repo from './fees.repository.ts';

/** How long the `payments.fees` job waits before reading a fee again (doubling per attempt, up to an hour). */
const RETRY_MS = 60_000;
const MAX_ATTEMPTS = 12;

const isFee = (v: unknown): v is PaymentFee =>
  !!v && typeof v === 'object' && Number.isInteger((v as PaymentFee).fee) && Number.isInteger((v as PaymentFee).net) && typeof (v as PaymentFee).currency === 'string';

/**
 * In the transaction that recorded a payment: the fee the provider's event carried (PayPal's capture)
 * is kept at once; otherwise the payment is marked for the `payments.fees` job, which reads it from
 * the provider after this transaction committed (never inside it).
 */
export const recordFeeOnPayment: PaymentRecordedHook = async (ctx, q, payment) => {
  if (payment.status === 'failed' || Number(payment.amount) <= 0) return;
  const carried = payment.details?.provider_fee;
  if (isFee(carried)) {
    await repo.setFee(q, payment.project_id, payment.id, carried);
    return;
  }
  if (getProvider(ctx, payment.provider)?.paymentFee) await repo.setFeeDue(q, payment.project_id, payment.id, ctx.clock.now());
};

/** Background: reads the provider's fee of recorded payments, outside any transaction; returns how many it recorded. */
export async function collectDueFees(ctx: AppContext, batch = 20): Promise<number> {
  const now = ctx.clock.now();
  const due = await ctx.db.tx((trx) => repo.claimFeesDue(trx, now, batch, RETRY_MS));
  let done = 0;
  for (const p of due) {
    const attempts = Number((p as { fee_attempts?: number }).fee_attempts ?? 1);
    const provider = getProvider(ctx, p.provider);
    try {
      const fee = provider?.paymentFee
        ? await provider.paymentFee(await providerCall(ctx, p.project_id, p.provider), { paymentRef: p.provider_ref, amount: Number(p.amount), currency: p.currency })
        : null;
      if (fee) {
        await repo.setFee(ctx.db, p.project_id, p.id, fee);
        done++;
        continue;
      }
    } catch (err) {
      ctx.log.warn({ err, payment: p.id }, 'reading the provider fee failed; will retry');
    }
    // Not settled yet (or the provider failed): try again later, then give up (the fee stays unknown).
    const next = attempts >= MAX_ATTEMPTS ? null : new Date(now.getTime() + Math.min(RETRY_MS * 2 ** (attempts - 1), 3_600_000));
    await repo.setFeeDue(ctx.db, p.project_id, p.id, next);
  }
  return done;
}
