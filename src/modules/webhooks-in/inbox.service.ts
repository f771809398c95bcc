import { z } from 'zod';
import { AppError, LivemodeForbiddenError, NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { AppContext } from '../../app/context.ts';
import { getProvider } from '../../app/registry.ts';
import type { VerifiedWebhook } from '../../providers/provider.ts';
import { applyProviderEvent, type HandlerOutcome } from '../payments/payments.service.ts';
import { findProject } from '../projects/projects.repository.ts';
import { keyMode } from '../projects/projects.service.ts';
import * as repo from './inbox.repository.ts';
import { providerCall } from '../providers/provider-call.ts';
import { storableJson, storableText } from '../../lib/text.ts';

/** Retry schedule for events whose processing failed: 30 s, 2 min, 10 min, 1 h, then every 6 h. */
const BACKOFF_S = [30, 120, 600, 3600, 6 * 3600];
const MAX_ATTEMPTS = 20;

export interface ReceiveResult {
  received: true;
  event_id: string;
  id: string;
  duplicate: boolean;
  status: repo.InboxRow['status'];
}

/**
 * The one door for provider webhooks: verify on the raw bytes, store once by event id, then
 * process. Answered 2xx once stored; a processing failure is retried in the background.
 */
export async function receiveWebhook(
  ctx: AppContext,
  providerName: string,
  projectId: string,
  rawBody: Buffer,
  headers: Record<string, string | string[] | undefined>,
): Promise<ReceiveResult> {
  const provider = getProvider(ctx, providerName);
  if (!provider) throw new NotFoundError('provider', providerName);
  const project = await findProject(ctx.db, projectId);
  if (!project) throw new NotFoundError('project', projectId);
  if (project.mode === 'live' && providerName === 'sandbox') {
    throw new LivemodeForbiddenError('The sandbox provider exists in test mode only: live mode takes no sandbox webhooks');
  }
  const verified = await provider.verifyWebhook(await providerCall(ctx, projectId, providerName), { project, rawBody, headers });
  return recordProviderEvent(ctx, providerName, projectId, verified);
}

/**
 * Stores a verified provider event once and processes it. Besides webhooks, a provider may record
 * what it learnt from its own API (PayPal's capture on the buyer's return), so both paths share
 * the inbox and whichever arrives first takes effect.
 */
export async function recordProviderEvent(
  ctx: AppContext,
  providerName: string,
  projectId: string,
  verified: VerifiedWebhook,
): Promise<ReceiveResult> {
  const now = ctx.clock.now();
  // A signed event is the provider's word: a NUL or a lone surrogate in it (which PostgreSQL cannot
  // store) must not block the purchase, so they are replaced rather than refused.
  const stored = await repo.insertEvent(ctx.db, {
    id: newId('event'),
    projectId,
    provider: providerName,
    eventId: storableText(verified.eventId),
    type: storableText(verified.type),
    payload: storableJson(verified.payload),
    occurredAt: verified.occurredAt,
    at: now,
    retryAt: new Date(now.getTime() + BACKOFF_S[0]! * 1000),
  });
  const status = stored.status === 'processed' || stored.status === 'ignored' ? stored.status : await processEvent(ctx, stored.id);
  return { received: true, event_id: verified.eventId, id: stored.id, duplicate: !stored.inserted, status };
}

/** Applies a stored event exactly once: the row lock serialises twins, the status skips repeats. */
export async function processEvent(ctx: AppContext, id: string, opts: { force?: boolean } = {}): Promise<repo.InboxRow['status']> {
  try {
    // What the provider adds to the payload from its own API (a charge's card country) is read
    // before the transaction, never inside it.
    const enriched = await enrichedPayload(ctx, id, opts.force === true);
    const outcome = await ctx.db.tx(async (trx): Promise<repo.InboxRow['status'] | { outside: (() => Promise<void>)[] }> => {
      const row = await repo.lockEvent(trx, id);
      if (!row) throw new Error(`inbox event ${id} not found`);
      if (!opts.force && (row.status === 'processed' || row.status === 'ignored')) return row.status;
      const provider = getProvider(ctx, row.provider);
      if (!provider) throw new Error(`provider ${row.provider} is not available`);
      const outcomes: HandlerOutcome[] = [];
      for (const event of provider.toEvents(enriched ?? row.payload)) {
        outcomes.push(
          await applyProviderEvent(ctx, trx, { projectId: row.project_id, provider: row.provider, inboxId: row.id, occurredAt: row.occurred_at }, event),
        );
      }
      const outside = outcomes.flatMap((o) => (typeof o === 'object' && 'outside' in o ? [o.outside] : []));
      // Provider calls wait for the commit: the event is marked once they succeeded.
      if (outside.length > 0) return { outside };
      const ignored = outcomes.filter((o): o is { ignored: string } => typeof o === 'object' && 'ignored' in o);
      const allIgnored = outcomes.length > 0 && ignored.length === outcomes.length;
      // A replay of an applied event finds nothing left to do: it stays "processed".
      const status = allIgnored && row.status !== 'processed' ? 'ignored' : 'processed';
      if (status === 'ignored') ctx.log.info({ event: row.event_id, type: row.type, why: ignored[0]?.ignored }, 'provider event acknowledged, nothing to do');
      await repo.markEvent(trx, id, status, { at: ctx.clock.now(), error: ignored[0]?.ignored ?? null });
      return status;
    });
    if (typeof outcome === 'string') return outcome;
    for (const work of outcome.outside) await work();
    await repo.markEvent(ctx.db, id, 'processed', { at: ctx.clock.now(), error: null });
    return 'processed';
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    ctx.log.warn({ err, inbox_id: id }, 'provider event processing failed; will retry');
    const attempts = (
      await ctx.db.query<{ attempts: number }>('SELECT attempts FROM provider_events WHERE id = $1', [id])
    ).rows[0]?.attempts ?? 0;
    const delay = BACKOFF_S[Math.min(attempts, BACKOFF_S.length - 1)]! * 1000;
    const giveUp = attempts + 1 >= MAX_ATTEMPTS;
    await repo.markEvent(ctx.db, id, 'failed', {
      error: message.slice(0, 2000),
      at: ctx.clock.now(),
      nextAttemptAt: giveUp ? null : new Date(ctx.clock.now().getTime() + delay),
    });
    return 'failed';
  }
}

/** The stored payload as the provider completes it from its API (outside any transaction), or undefined. */
async function enrichedPayload(ctx: AppContext, id: string, force: boolean): Promise<unknown> {
  const row = await repo.findEventById(ctx.db, id);
  if (!row || (!force && (row.status === 'processed' || row.status === 'ignored'))) return undefined;
  const provider = getProvider(ctx, row.provider);
  if (!provider?.enrichPayload) return undefined;
  return provider.enrichPayload(await providerCall(ctx, row.project_id, row.provider), row.payload);
}

/** Background: retries failed or stranded events whose time has come. */
export async function retryDueEvents(ctx: AppContext, batch = 50): Promise<number> {
  const ids = await ctx.db.tx((trx) => repo.claimRetries(trx, ctx.clock.now(), batch));
  for (const id of ids) await processEvent(ctx, id);
  return ids.length;
}

function eventView(r: repo.InboxRow, withPayload: boolean) {
  return {
    id: r.id,
    object: 'provider_event',
    livemode: keyMode(r.project_id) === 'live',
    provider: r.provider,
    event_id: r.event_id,
    type: r.type,
    status: r.status,
    attempts: r.attempts,
    last_error: r.last_error,
    occurred_at: r.occurred_at,
    received_at: r.received_at,
    processed_at: r.processed_at,
    ...(withPayload ? { payload: r.payload } : {}),
  };
}

export const EventsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
  provider: z.enum(['sandbox', 'stripe', 'paypal']).optional(),
  status: z.enum(['pending', 'processed', 'failed', 'ignored']).optional(),
  type: z.string().max(100).optional(),
});

export async function listEvents(ctx: AppContext, projectId: string, f: z.infer<typeof EventsQuery>) {
  const rows = await repo.listEvents(ctx.db, projectId, {
    limit: f.limit,
    startingAfter: f.starting_after,
    provider: f.provider,
    status: f.status,
    type: f.type,
  });
  return { object: 'list', data: rows.slice(0, f.limit).map((r) => eventView(r, true)), has_more: rows.length > f.limit };
}

export async function getEvent(ctx: AppContext, projectId: string, id: string) {
  const row = await repo.findEvent(ctx.db, projectId, id);
  if (!row) throw new NotFoundError('event', id);
  return eventView(row, true);
}

/** Re-runs an event's processing; handlers are idempotent, so a replay changes state at most once. */
export async function replayEvent(ctx: AppContext, projectId: string, id: string) {
  const row = await repo.findEvent(ctx.db, projectId, id);
  if (!row) throw new NotFoundError('event', id);
  const status = await processEvent(ctx, id, { force: true });
  if (status === 'failed') {
    const after = await repo.findEvent(ctx.db, projectId, id);
    throw new AppError('conflict', `Replay failed: ${after?.last_error ?? 'unknown error'}`);
  }
  return getEvent(ctx, projectId, id);
}
