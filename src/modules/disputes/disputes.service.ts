import { z } from 'zod';
import type { AppContext } from '../../app/context.ts';
import type { ProviderEventHandler } from '../../app/registry.ts';
import type { Queryable } from '../../db/db.ts';
import {
  advances,
  DEFAULT_DISPUTE_POLICY,
  DISPUTE_POLICIES,
  type DisputePolicy,
  type DisputeStatus,
  disputedCredits,
  isClosed,
} from '../../domain/disputes.ts';
import { ConflictError, ForbiddenError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { newId, randomToken } from '../../domain/ids.ts';
import { MAX_AMOUNT } from '../../domain/money.ts';
import type { DisputeEvent } from '../../providers/provider.ts';
import { grant, holdDisputedCredits, reverse, settleDisputedCredits } from '../credits/credits.service.ts';
import type { CustomerViewExtension } from '../customers/customers.service.ts';
import * as paymentsRepo from '../payments/payments.repository.ts';
import { sendSandboxEvent } from '../payments/sandbox-events.ts';
import { getProject, projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './disputes.repository.ts';

export type { DisputeRow } from './disputes.repository.ts';

/** `settings.disputes.on_open`: what Tollgate does to what a disputed payment bought (docs/disputes.md). */
export const DisputeSettingsSchema = z.object({ on_open: z.enum(DISPUTE_POLICIES) }).strict();

export async function disputePolicy(ctx: AppContext, projectId: string): Promise<DisputePolicy> {
  const project = await getProject(ctx, projectId);
  const on = (project.settings?.disputes as { on_open?: unknown } | undefined)?.on_open;
  return (DISPUTE_POLICIES as readonly unknown[]).includes(on) ? (on as DisputePolicy) : DEFAULT_DISPUTE_POLICY;
}

export function disputeView(d: repo.DisputeRow) {
  return {
    id: d.id,
    object: 'dispute' as const,
    payment_id: d.payment_id,
    customer_id: d.customer_id,
    amount: Number(d.amount),
    currency: d.currency,
    reason: d.reason,
    status: d.status,
    provider: d.provider,
    provider_ref: d.provider_ref,
    provider_status: d.provider_status,
    evidence_due_by: d.evidence_due_by,
    on_open: d.on_open,
    credits: {
      requested: Number(d.credits_requested),
      held: Number(d.credits_held),
      reversed: Number(d.credits_reversed),
      shortfall: Number(d.credits_shortfall),
    },
    subscription_id: d.subscription_id,
    fee: d.fee_amount === null ? null : { amount: Number(d.fee_amount), currency: d.fee_currency as string },
    created_at: d.created_at,
    updated_at: d.updated_at,
    closed_at: d.closed_at,
  };
}

/** The credits a payment bought (a credit pack's), from Tollgate's own record of its checkout session. */
async function creditsBought(q: Queryable, payment: paymentsRepo.PaymentRow): Promise<number> {
  if (payment.kind !== 'credit_pack' || !payment.checkout_session_id) return 0;
  const session = await paymentsRepo.findSession(q, payment.checkout_session_id, payment.project_id);
  const credits = Number(session?.details.credits ?? 0);
  return Number.isInteger(credits) && credits > 0 ? credits : 0;
}

const packName = (p: paymentsRepo.PaymentRow) => p.item_id ?? 'credit';

/** What opening a dispute does under the project's policy: hold or take back the credits, flag the subscription. */
async function applyOpening(ctx: AppContext, q: Queryable, d: repo.DisputeRow, payment: paymentsRepo.PaymentRow, at: Date): Promise<repo.DisputeRow> {
  if (d.on_open === 'none') return d;
  const requested = disputedCredits(await creditsBought(q, payment), Number(payment.amount), Number(d.amount));
  const patch: Parameters<typeof repo.updateDispute>[3] = { updated_at: at, credits_requested: requested };
  if (payment.subscription_id) patch.subscription_id = payment.subscription_id;
  if (requested > 0 && payment.customer_id) {
    if (d.on_open === 'hold') {
      const r = await holdDisputedCredits(ctx, q, d.project_id, payment.customer_id, requested);
      patch.credits_held = r.held;
      patch.credits_shortfall = r.shortfall;
    } else {
      const r = await reverse(ctx, q, d.project_id, payment.customer_id, {
        amount: requested,
        reason: `Dispute of ${packName(payment)} pack`,
        sourceId: d.id,
      });
      patch.credits_reversed = r.reversed;
      patch.credits_shortfall = r.shortfall;
    }
  }
  return repo.updateDispute(q, d.project_id, d.id, patch);
}

/** What closing a dispute does: won releases (or gives back) the credits; lost takes the held ones for good. */
async function applyClosing(ctx: AppContext, q: Queryable, d: repo.DisputeRow, outcome: 'won' | 'lost', at: Date): Promise<repo.DisputeRow> {
  const patch: Parameters<typeof repo.updateDispute>[3] = { updated_at: at, closed_at: at };
  if (d.customer_id && Number(d.credits_held) > 0) {
    const r = await settleDisputedCredits(ctx, q, d.project_id, d.customer_id, {
      held: Number(d.credits_held),
      outcome,
      disputeId: d.id,
      reason: `Dispute lost: credits of payment ${d.payment_id} taken back`,
    });
    patch.credits_held = 0;
    if (outcome === 'lost') patch.credits_reversed = r.reversed;
  } else if (d.customer_id && outcome === 'won' && Number(d.credits_reversed) > 0) {
    await grant(ctx, q, d.project_id, d.customer_id, {
      amount: Number(d.credits_reversed),
      kind: 'dispute_reinstated',
      sourceId: d.id,
      reason: `Dispute won: credits of payment ${d.payment_id} given back`,
      metadata: { dispute_id: d.id },
    });
    patch.credits_reversed = 0;
  }
  return repo.updateDispute(q, d.project_id, d.id, patch);
}

/** Keeps the dispute fee the event states, when it differs from the one recorded (an event stating none keeps it). */
async function recordFee(q: Queryable, d: repo.DisputeRow, event: DisputeEvent, at: Date): Promise<repo.DisputeRow> {
  const fee = event.fee;
  if (!fee || !Number.isInteger(fee.amount) || fee.amount < 0) return d;
  if (d.fee_amount !== null && Number(d.fee_amount) === fee.amount && d.fee_currency === fee.currency) return d;
  return repo.updateDispute(q, d.project_id, d.id, { fee_amount: Math.min(fee.amount, MAX_AMOUNT), fee_currency: fee.currency, updated_at: at });
}

/**
 * A provider's dispute event, in any order and any number of times: the first event seen creates the
 * dispute and applies the project's policy; later ones only move it forward (a closed dispute stays
 * closed, so a `created` arriving after `closed` changes nothing); closing releases or takes back.
 */
export const onDisputeChanged: ProviderEventHandler<'dispute.changed'> = async (ctx, q, ev, event: DisputeEvent) => {
  let payment: paymentsRepo.PaymentRow | undefined;
  for (const ref of event.paymentRefs) {
    payment = await paymentsRepo.lockPaymentByRef(q, ev.projectId, ev.provider, ref);
    if (payment) break;
  }
  if (!payment) return { ignored: `unknown payment ${event.paymentRefs.join(' / ')}` };
  const at = await projectNow(ctx, ev.projectId);
  let d = await repo.lockDisputeByRef(q, ev.projectId, ev.provider, event.disputeRef);
  if (!d) {
    const inserted = await repo.insertDispute(q, {
      project_id: ev.projectId,
      id: newId('dispute'),
      provider: ev.provider,
      provider_ref: event.disputeRef,
      payment_id: payment.id,
      customer_id: payment.customer_id,
      amount: Math.min(event.amount ?? Number(payment.amount), MAX_AMOUNT),
      currency: event.currency ?? payment.currency,
      reason: event.reason,
      // Opened as needs_response; a closed status seen first is applied just below.
      status: 'needs_response',
      provider_status: event.providerStatus,
      on_open: await disputePolicy(ctx, ev.projectId),
      evidence_due_by: event.evidenceDueBy,
      created_at: at,
      updated_at: at,
    });
    if (!inserted) return { ignored: 'dispute recorded by a twin event' };
    d = await applyOpening(ctx, q, await recordFee(q, inserted, event, at), payment, at);
    await emit(q, { projectId: d.project_id, type: 'dispute.created', customerId: d.customer_id, data: disputeView(d), at });
    if (event.status === 'needs_response') {
      await repo.markPayment(q, d.project_id, payment.id, d.id, d.status);
      return 'applied';
    }
  } else {
    // The fee is the provider's whole figure so far (funds_withdrawn states it with no status change).
    const before = d.fee_amount;
    d = await recordFee(q, d, event, at);
    if (!advances(d.status, event.status)) return d.fee_amount === before ? { ignored: `dispute already ${d.status}` } : 'applied';
  }
  d = await repo.updateDispute(q, d.project_id, d.id, {
    status: event.status,
    provider_status: event.providerStatus,
    ...(event.evidenceDueBy ? { evidence_due_by: event.evidenceDueBy } : {}),
    updated_at: at,
  });
  if (isClosed(event.status)) {
    d = await applyClosing(ctx, q, d, event.status as 'won' | 'lost', at);
    await emit(q, { projectId: d.project_id, type: 'dispute.closed', customerId: d.customer_id, data: disputeView(d), at });
  } else {
    await emit(q, { projectId: d.project_id, type: 'dispute.updated', customerId: d.customer_id, data: disputeView(d), at });
  }
  await repo.markPayment(q, d.project_id, payment.id, d.id, d.status);
  return 'applied';
};

export const DisputesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
  customer_id: z.string().max(255).optional(),
  payment_id: z.string().max(255).optional(),
  status: z.enum(['needs_response', 'under_review', 'won', 'lost']).optional(),
});

export async function listDisputes(q: Queryable, projectId: string, f: z.infer<typeof DisputesQuery>) {
  const rows = await repo.listDisputes(q, projectId, {
    limit: f.limit,
    startingAfter: f.starting_after,
    customerId: f.customer_id,
    paymentId: f.payment_id,
    status: f.status,
  });
  return { object: 'list' as const, data: rows.slice(0, f.limit).map(disputeView), has_more: rows.length > f.limit };
}

export async function getDispute(q: Queryable, projectId: string, id: string) {
  const d = await repo.findDispute(q, projectId, id);
  if (!d) throw new NotFoundError('dispute', id);
  return disputeView(d);
}

/** Open and lost disputes of the project (the dashboard's Overview). */
export async function disputeCounts(q: Queryable, projectId: string): Promise<{ open: number; lost: number }> {
  return repo.countOpen(q, projectId);
}

/** The customer view's `disputes`: open or lost disputes, the credits they hold, whether the subscription is at risk. */
export const disputesCustomerView: CustomerViewExtension = async (_ctx, q, c) => {
  const rows = await repo.standingDisputes(q, c.project_id, c.id);
  const open = rows.filter((d) => !isClosed(d.status));
  return {
    disputes: {
      open: open.length,
      lost: rows.length - open.length,
      credits_held: open.reduce((s, d) => s + Number(d.credits_held), 0),
      subscription_at_risk: rows.some((d) => d.subscription_id !== null),
      data: rows.map(disputeView),
    },
  };
};

// Sandbox test helpers -------------------------------------------------------------------

export const OpenDisputeBody = z
  .object({
    amount: z.number().int('must be an integer of minor units').min(1).max(MAX_AMOUNT).optional(),
    reason: z.string().min(1).max(100).default('fraudulent'),
  })
  .strict();

export const MoveDisputeBody = z.object({ status: z.enum(['under_review', 'won', 'lost']) }).strict();

async function requireSandboxProject(ctx: AppContext, projectId: string) {
  const project = await getProject(ctx, projectId);
  if (project.default_provider !== 'sandbox') throw new ForbiddenError('Test helpers are available only to projects on the sandbox provider');
  return project;
}

/** Opens a dispute on a sandbox payment through a signed sandbox event, as a provider would. */
export async function openSandboxDispute(ctx: AppContext, projectId: string, paymentId: string, body: z.infer<typeof OpenDisputeBody>) {
  const project = await requireSandboxProject(ctx, projectId);
  const payment = await paymentsRepo.findPayment(ctx.db, projectId, paymentId);
  if (!payment) throw new NotFoundError('payment', paymentId);
  if (payment.provider !== 'sandbox') throw new InvalidRequestError('Only a sandbox payment can be disputed by a test helper', 'id');
  if (payment.status === 'failed') throw new ConflictError('A failed payment cannot be disputed', { status: payment.status });
  const amount = body.amount ?? Number(payment.amount);
  if (amount > Number(payment.amount)) throw new InvalidRequestError(`At most ${payment.amount} can be disputed`, 'amount');
  const ref = `dp_sbx_${randomToken(20)}`;
  await sendSandboxEvent(ctx, project, 'charge.dispute.created', {
    id: ref,
    object: 'dispute',
    payment_intent: payment.provider_ref,
    amount,
    currency: payment.currency,
    reason: body.reason,
    status: 'needs_response',
    evidence_due_by: Math.floor((await projectNow(ctx, projectId)).getTime() / 1000) + 7 * 86_400,
  });
  const d = await repo.lockDisputeByRef(ctx.db, projectId, 'sandbox', ref);
  if (!d) throw new ConflictError('The sandbox dispute was not recorded');
  return disputeView(d);
}

/** Moves a sandbox dispute on (under review, won, lost) through a signed sandbox event. */
export async function moveSandboxDispute(ctx: AppContext, projectId: string, disputeId: string, body: z.infer<typeof MoveDisputeBody>) {
  const project = await requireSandboxProject(ctx, projectId);
  const d = await repo.findDispute(ctx.db, projectId, disputeId);
  if (!d) throw new NotFoundError('dispute', disputeId);
  if (d.provider !== 'sandbox') throw new InvalidRequestError('Only a sandbox dispute can be moved by a test helper', 'id');
  if (!advances(d.status, body.status as DisputeStatus)) throw new ConflictError(`The dispute is already ${d.status}`, { status: d.status });
  const payment = await paymentsRepo.findPayment(ctx.db, projectId, d.payment_id);
  await sendSandboxEvent(ctx, project, isClosed(body.status) ? 'charge.dispute.closed' : 'charge.dispute.updated', {
    id: d.provider_ref,
    object: 'dispute',
    payment_intent: payment?.provider_ref,
    amount: Number(d.amount),
    currency: d.currency,
    reason: d.reason,
    status: body.status,
  });
  return getDispute(ctx.db, projectId, disputeId);
}
