import { z } from 'zod';
import { DAY } from '../../clock.ts';
import type { Queryable } from '../../db/db.ts';
import { ConflictError } from '../../domain/errors.ts';
import { TRIAL_WILL_END_DAYS } from '../../domain/subscription.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './subscriptions.repository.ts';
import { chargeContext, emitUpdated, lockForAction, requireManaged, reschedule, subscriptionView } from './subscriptions.view.ts';

/** Extend a trial by whole days (the first charge moves with it). */
export const ExtendTrialBody = z
  .object({
    days: z.number().int('must be a whole number of days').min(1).max(365).describe('Days added to the trial'),
    reason: z.string().trim().max(500).optional().describe('Kept in the audit log'),
  })
  .strict();

/**
 * Moves the end of a trial Tollgate bills `days` later: the trial end, the end of the trial period and
 * the billing anchor move together, so the first charge is made when the longer trial ends. A
 * subscription that is not trialing, or that a provider bills, is refused (409).
 */
export async function extendTrial(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, body: z.infer<typeof ExtendTrialBody>) {
  const row = await lockForAction(q, caller.projectId, customerId);
  if (row.status !== 'trialing' || !row.trial_end) throw new ConflictError(`Only a trial can be extended; this subscription is ${row.status}`, { status: row.status });
  requireManaged(row);
  const at = await projectNow(ctx, caller.projectId);
  const from = row.trial_end;
  const to = new Date(from.getTime() + body.days * DAY);
  row.trial_end = to;
  row.current_period_end = to;
  row.billing_anchor = to;
  // The "trial ends soon" e-mail is due again when its time before the new end is still ahead.
  if (to.getTime() - TRIAL_WILL_END_DAYS * DAY > at.getTime()) row.trial_will_end_sent = false;
  row.updated_at = at;
  reschedule(row);
  const saved = await repo.saveSubscription(q, row);
  const { catalog } = await getCatalog(ctx, caller.projectId);
  await emitUpdated(ctx, q, saved, at, false, catalog);
  await audit(
    q,
    caller,
    { action: 'subscription.trial_extended', customerId, target: row.id, details: { days: body.days, from: from.toISOString(), to: to.toISOString(), ...(body.reason ? { reason: body.reason } : {}) } },
    at,
  );
  return subscriptionView(saved, catalog, at, await chargeContext(q, saved));
}
