import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { findPack } from '../../domain/catalog.ts';
import { InvalidRequestError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { AppContext } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import type { OffSessionResult } from '../../providers/provider.ts';
import { laterCharge } from '../../providers/sandbox/cards.ts';
import { providerCall } from '../providers/provider-call.ts';
import { findProviderCustomerRef } from '../providers/providers.repository.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { requireCustomer } from '../customers/customers.service.ts';
import * as paymentsRepo from '../payments/payments.repository.ts';
import { recordPayment } from '../payments/payments.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './credits.repository.ts';
import { grant } from './credits.service.ts';

export const AutoTopUpSchema = z
  .object({
    enabled: z.boolean(),
    threshold: z.number().int().min(0).max(1_000_000_000),
    pack: z.string().min(1).max(64),
    monthly_cap: z.number().int().min(0).max(1_000_000_000_000),
  })
  .strict();

function settingView(customerId: string, s: repo.AutoTopUpRow | undefined, month: string) {
  if (!s) return { object: 'auto_top_up', customer_id: customerId, enabled: false, threshold: null, pack: null, monthly_cap: null, spent_this_month: 0, last_error: null, disabled_at: null };
  return {
    object: 'auto_top_up',
    customer_id: customerId,
    enabled: s.enabled,
    threshold: s.threshold,
    pack: s.pack_id,
    monthly_cap: s.monthly_cap,
    spent_this_month: s.month === month ? s.spent : 0,
    last_error: s.last_error,
    disabled_at: s.disabled_at,
  };
}

const monthOf = (d: Date) => d.toISOString().slice(0, 7);

export async function getAutoTopUp(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  await requireCustomer(q, projectId, customerId);
  const [s, at] = await Promise.all([repo.findAutoTopUp(q, projectId, customerId), projectNow(ctx, projectId)]);
  return { ...settingView(customerId, s, monthOf(at)), top_ups: await repo.listTopUps(q, projectId, customerId) };
}

export async function putAutoTopUp(ctx: AppContext, q: Queryable, projectId: string, customerId: string, body: z.infer<typeof AutoTopUpSchema>) {
  await requireCustomer(q, projectId, customerId);
  const { catalog } = await getCatalog(ctx, projectId);
  const pack = findPack(catalog, body.pack);
  if (!pack?.active) throw new InvalidRequestError(`Unknown credit pack '${body.pack}'`, 'pack');
  if (body.enabled && body.monthly_cap < pack.price.amount) {
    throw new InvalidRequestError(`monthly_cap must allow at least one pack (${pack.price.amount} ${pack.price.currency})`, 'monthly_cap');
  }
  const at = await projectNow(ctx, projectId);
  const s = await repo.upsertAutoTopUp(q, { projectId, customerId, enabled: body.enabled, threshold: body.threshold, packId: pack.id, monthlyCap: body.monthly_cap, at });
  return settingView(customerId, s, monthOf(at));
}

/**
 * How long a claimed top-up may wait for its outcome before the resume job takes it up again: the
 * charge is bounded by the provider timeout, so past twice that plus a minute its process is gone.
 */
export function topUpLeaseMs(ctx: AppContext): number {
  return 2 * ctx.config.providerTimeoutMs + 60_000;
}

/**
 * Called after a deduct or a capture has committed (never inside its transaction): when the
 * customer's available balance is under the threshold, claims the one top-up (conditional UPDATE),
 * charges the saved card off-session outside any transaction with a deterministic idempotency key,
 * then grants the pack once, or turns auto top-up off with `credits.auto_top_up_failed`.
 */
export async function maybeStartTopUp(ctx: AppContext, projectId: string, customerId: string): Promise<void> {
  const setting = await repo.findAutoTopUp(ctx.db, projectId, customerId);
  if (!setting?.enabled || setting.running) return;
  const { catalog } = await getCatalog(ctx, projectId);
  const pack = findPack(catalog, setting.pack_id);
  if (!pack) return;
  const at = await projectNow(ctx, projectId);
  const topUp = await ctx.db.tx(async (trx): Promise<repo.TopUpRow | null> => {
    const claim = await repo.claimAutoTopUp(trx, { projectId, customerId, price: pack.price.amount, month: monthOf(at), at });
    if (!claim) return null;
    const row: repo.TopUpRow = {
      project_id: projectId,
      id: newId('topUp'),
      customer_id: customerId,
      pack_id: pack.id,
      credits: pack.credits,
      amount: pack.price.amount,
      currency: pack.price.currency,
      idempotency_key: `auto_top_up:${customerId}:${claim.attempts}`,
    };
    await repo.insertTopUp(trx, {
      projectId,
      id: row.id,
      customerId,
      packId: pack.id,
      credits: pack.credits,
      amount: pack.price.amount,
      currency: pack.price.currency,
      key: row.idempotency_key,
      at,
      retryAt: new Date(at.getTime() + topUpLeaseMs(ctx)),
    });
    return row;
  });
  if (topUp) await chargeTopUp(ctx, topUp, pack.name);
}

/**
 * Background: top-ups whose process died between the claim and the outcome are charged again with
 * their own idempotency key (the provider answers the first charge if it happened) and settled once.
 */
export async function resumeStuckTopUps(ctx: AppContext, batch = 20): Promise<number> {
  const rows = await ctx.db.tx((trx) => repo.claimStuckTopUps(trx, ctx.clock.now(), batch, topUpLeaseMs(ctx)));
  for (const t of rows) {
    const { catalog } = await getCatalog(ctx, t.project_id);
    await chargeTopUp(ctx, t, findPack(catalog, t.pack_id)?.name ?? t.pack_id);
  }
  return rows.length;
}

/** Providers that can charge a saved payment method off-session, in the order they are tried. */
const OFF_SESSION_PROVIDERS = ['stripe', 'paypal'] as const;

/**
 * The off-session charge, outside any transaction: the sandbox card saved at its checkout, else the
 * customer's payment method at a provider they are linked to. Throws when the provider cannot be
 * reached (the top-up stays pending and the resume job charges it again with the same key).
 */
async function chargeOffSession(ctx: AppContext, t: repo.TopUpRow, packName: string): Promise<{ provider: string; outcome: OffSessionResult }> {
  const { project_id: projectId, customer_id: customerId } = t;
  const card = await paymentsRepo.defaultPaymentMethod(ctx.db, projectId, customerId);
  if (card?.provider === 'sandbox') {
    const o = laterCharge(card.token);
    return { provider: 'sandbox', outcome: o.ok ? { ok: true, ref: t.idempotency_key } : o };
  }
  for (const name of OFF_SESSION_PROVIDERS) {
    const provider = getProvider(ctx, name);
    if (!provider?.chargeOffSession) continue;
    const customerRef = await findProviderCustomerRef(ctx.db, projectId, customerId, name);
    if (!customerRef) continue;
    const call = await providerCall(ctx, projectId, name);
    if (!call.settings) continue;
    const outcome = await provider.chargeOffSession(call, {
      customerRef,
      amount: t.amount,
      currency: t.currency,
      idempotencyKey: t.idempotency_key,
      description: `Auto top-up: ${packName}`,
      metadata: { tollgate_project: projectId, tollgate_customer: customerId, tollgate_auto_top_up: t.id, tollgate_item_type: 'credit_pack', tollgate_item: t.pack_id },
    });
    return { provider: name, outcome };
  }
  return {
    provider: card?.provider ?? 'sandbox',
    outcome: { ok: false, code: 'no_payment_method', message: card ? `Auto top-up is not available with ${card.provider}` : 'No payment method on file' },
  };
}

/** The charge (outside any transaction), then its outcome applied once: the payment and the grant, or auto top-up off. */
async function chargeTopUp(ctx: AppContext, t: repo.TopUpRow, packName: string): Promise<void> {
  const { project_id: projectId, customer_id: customerId } = t;
  let charged: Awaited<ReturnType<typeof chargeOffSession>>;
  try {
    charged = await chargeOffSession(ctx, t, packName);
  } catch (err) {
    // Unknown outcome (provider unreachable): left pending; after its lease the resume job charges it again.
    ctx.log.warn({ err, projectId, topUp: t.id }, 'auto top-up charge failed; it will be retried with the same idempotency key');
    return;
  }
  const { provider, outcome } = charged;
  await ctx.db.tx(async (trx) => {
    const at = await projectNow(ctx, projectId);
    if (!(await repo.settleTopUp(trx, projectId, t.id, outcome.ok ? 'succeeded' : 'failed', outcome.ok ? null : outcome.code))) return;
    if (outcome.ok) {
      // Recorded like every payment: payment.succeeded and its invoice.
      await recordPayment(ctx, trx, {
        id: newId('payment'),
        project_id: projectId,
        customer_id: customerId,
        amount: t.amount,
        currency: t.currency,
        status: 'succeeded',
        provider,
        provider_ref: outcome.ref,
        kind: 'credit_pack',
        item_id: t.pack_id,
        checkout_session_id: null,
        subscription_id: null,
        order_id: null,
        period_start: null,
        period_end: null,
        failure_reason: null,
        details: { auto_top_up: t.id },
        created_at: at,
      });
      await grant(ctx, trx, projectId, customerId, {
        amount: t.credits,
        kind: 'auto_top_up',
        sourceId: t.id,
        reason: `Auto top-up: ${packName}`,
        metadata: { top_up_id: t.id, pack: t.pack_id },
      });
      await repo.finishAutoTopUp(trx, { projectId, customerId, refund: 0, disable: false, error: null, at });
    } else {
      await repo.finishAutoTopUp(trx, { projectId, customerId, refund: t.amount, disable: true, error: outcome.code, at });
      await emit(trx, {
        projectId,
        type: 'credits.auto_top_up_failed',
        customerId,
        data: { top_up_id: t.id, pack: t.pack_id, reason: outcome.code, message: outcome.message, auto_top_up: 'disabled' },
        at,
      });
    }
  });
}
