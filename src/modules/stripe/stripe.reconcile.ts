import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import { newId } from '../../domain/ids.ts';
import type { AppContext } from '../../app/context.ts';
import { projectNow } from '../projects/projects.service.ts';
import { getProviderMode } from '../providers/providers.service.ts';
import { insertEvent } from '../webhooks-in/inbox.repository.ts';
import { processEvent } from '../webhooks-in/inbox.service.ts';
import { callStripe, stripeFor } from '../../providers/stripe/stripe.client.ts';
import * as repo from './stripe.repository.ts';
import { providerCall } from '../providers/provider-call.ts';

/** The event types Tollgate acts on; reconcile asks Stripe for these only. */
export const HANDLED_EVENT_TYPES = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.trial_will_end',
  'invoice.paid',
  'invoice.payment_failed',
  'charge.refunded',
] as const;

const RECONCILE_EVERY_MS = 15 * 60_000;
const FIRST_LOOKBACK_S = 3 * 86400;
const OVERLAP_S = 300;

/**
 * Stores an event read from Stripe's API with our own key (so trusted without a signature) in the
 * same inbox as webhooks: an id already delivered is a duplicate, so nothing applies twice.
 */
export async function ingestStripeEvent(
  ctx: AppContext,
  projectId: string,
  ev: { id: string; type: string; created: number; payload: unknown },
): Promise<'new' | 'duplicate'> {
  const now = ctx.clock.now();
  const stored = await insertEvent(ctx.db, {
    id: newId('event'),
    projectId,
    provider: 'stripe',
    eventId: ev.id,
    type: ev.type,
    payload: ev.payload,
    occurredAt: new Date(ev.created * 1000),
    at: now,
    retryAt: new Date(now.getTime() + 30_000),
  });
  if (stored.status === 'pending' || stored.status === 'failed') await processEvent(ctx, stored.id);
  return stored.inserted ? 'new' : 'duplicate';
}

const fingerprint = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);

export interface ReconcileResult {
  object: 'stripe_reconcile';
  events_seen: number;
  events_missed: number;
  sessions_checked: number;
  sessions_repaired: number;
}

/**
 * Re-reads Stripe for what webhooks may have missed: the account's recent events (by the same ids,
 * so delivered ones are skipped), and our checkout sessions still open or unpaid.
 */
export async function reconcileStripe(ctx: AppContext, projectId: string): Promise<ReconcileResult> {
  const { stripe } = stripeFor(await providerCall(ctx, projectId, 'stripe'));
  const live = (await getProviderMode(ctx, projectId, 'stripe')) === 'live';
  const state = await repo.findSyncState(ctx.db, projectId);
  const nowS = Math.floor(ctx.clock.now().getTime() / 1000);
  const since = (state?.events_cursor ?? nowS - FIRST_LOOKBACK_S) - OVERLAP_S;
  const result: ReconcileResult = { object: 'stripe_reconcile', events_seen: 0, events_missed: 0, sessions_checked: 0, sessions_repaired: 0 };
  let cursor: number | null = null;
  await callStripe('events.list', async () => {
    for await (const ev of stripe.events.list({ types: [...HANDLED_EVENT_TYPES], created: { gte: since }, limit: 100 })) {
      if (ev.livemode !== live) continue;
      result.events_seen++;
      cursor = Math.max(cursor ?? 0, ev.created);
      if ((await ingestStripeEvent(ctx, projectId, { id: ev.id, type: ev.type, created: ev.created, payload: ev })) === 'new') {
        result.events_missed++;
      }
    }
  });

  const at = await projectNow(ctx, projectId);
  for (const s of await repo.openSessions(ctx.db, projectId, new Date(at.getTime() - 10 * 60_000), 100)) {
    result.sessions_checked++;
    const cs: Stripe.Checkout.Session = await callStripe('checkout.sessions.retrieve', () => stripe.checkout.sessions.retrieve(s.provider_ref));
    const type =
      cs.status === 'complete' ? 'checkout.session.completed' : cs.status === 'expired' ? 'checkout.session.expired' : null;
    if (!type) continue;
    const event = {
      id: `reconcile_${cs.id}_${fingerprint([cs.status, cs.payment_status])}`,
      object: 'event',
      type,
      created: nowS,
      livemode: cs.livemode,
      data: { object: cs },
    };
    if ((await ingestStripeEvent(ctx, projectId, { id: event.id, type, created: nowS, payload: event })) === 'new') result.sessions_repaired++;
  }
  await repo.setReconciled(ctx.db, projectId, cursor, new Date(at.getTime() + RECONCILE_EVERY_MS));
  return result;
}

/** Background: projects with Stripe settings are reconciled every 15 minutes of their own time. */
export async function runDueReconcile(ctx: AppContext): Promise<number> {
  const now = ctx.clock.now();
  await repo.scheduleReconciles(ctx.db, new Date(now.getTime() + RECONCILE_EVERY_MS));
  const claimed = await ctx.db.tx((trx) => repo.claimDueReconcile(trx, now, new Date(now.getTime() + RECONCILE_EVERY_MS)));
  if (!claimed) return 0;
  try {
    await reconcileStripe(ctx, claimed.project_id);
  } catch (err) {
    ctx.log.warn({ err, project: claimed.project_id }, 'Stripe reconcile failed; next run in 15 minutes');
  }
  return 1;
}
