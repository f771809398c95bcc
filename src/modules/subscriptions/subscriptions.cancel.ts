import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { ConflictError } from '../../domain/errors.ts';
import { assertAction, transition } from '../../domain/subscription.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './subscriptions.repository.ts';
import { chargeContext, emitUpdated, lockForAction, reschedule, subscriptionView, viaProvider, viaProviderOutsideTx } from './subscriptions.view.ts';

/** Cancel and resume. */
export const CancelBody = z.object({ at_period_end: z.boolean().default(true) }).strict();

/** Called outside any transaction: a subscription a provider bills is changed there first (no transaction held meanwhile). */
export async function cancelSubscription(ctx: AppContext, db: Queryable, caller: Caller, customerId: string, atPeriodEnd: boolean) {
  const action = atPeriodEnd ? 'cancel_at_period_end' : 'cancel_now';
  const outside = await viaProviderOutsideTx(ctx, caller, customerId, action, {}, (row) => assertAction(row.status, action));
  return outside ?? db.tx((q) => cancelInTx(ctx, q, caller, customerId, atPeriodEnd));
}

async function cancelInTx(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, atPeriodEnd: boolean) {
  const projectId = caller.projectId;
  const row = await lockForAction(q, projectId, customerId);
  assertAction(row.status, atPeriodEnd ? 'cancel_at_period_end' : 'cancel_now');
  const { catalog } = await getCatalog(ctx, projectId);
  const delegated = await viaProvider(ctx, q, caller, row, atPeriodEnd ? 'cancel_at_period_end' : 'cancel_now', {}, catalog);
  if (delegated) return delegated;
  const at = await projectNow(ctx, projectId);
  if (atPeriodEnd) {
    row.cancel_at_period_end = true;
    row.canceled_at = at;
  } else {
    row.status = transition(row.status, 'cancel');
    row.canceled_at = at;
    row.ended_at = at;
  }
  row.updated_at = at;
  reschedule(row);
  const saved = await repo.saveSubscription(q, row);
  await emitUpdated(ctx, q, saved, at, !atPeriodEnd, catalog);
  await audit(q, caller, { action: 'subscription.canceled', customerId, target: row.id, details: { at_period_end: atPeriodEnd } }, at);
  return subscriptionView(saved, catalog, at, await chargeContext(q, saved));
}

/** Called outside any transaction, as `cancelSubscription`. */
export async function resumeSubscription(ctx: AppContext, db: Queryable, caller: Caller, customerId: string) {
  const outside = await viaProviderOutsideTx(ctx, caller, customerId, 'resume', {}, (row) => {
    assertAction(row.status, 'resume');
    if (!row.cancel_at_period_end) throw new ConflictError('This subscription is not scheduled to cancel', { status: row.status });
  });
  return outside ?? db.tx((q) => resumeInTx(ctx, q, caller, customerId));
}

async function resumeInTx(ctx: AppContext, q: Queryable, caller: Caller, customerId: string) {
  const projectId = caller.projectId;
  const row = await lockForAction(q, projectId, customerId);
  assertAction(row.status, 'resume');
  if (!row.cancel_at_period_end) throw new ConflictError('This subscription is not scheduled to cancel', { status: row.status });
  const { catalog } = await getCatalog(ctx, projectId);
  const delegated = await viaProvider(ctx, q, caller, row, 'resume', {}, catalog);
  if (delegated) return delegated;
  const at = await projectNow(ctx, projectId);
  row.cancel_at_period_end = false;
  row.canceled_at = null;
  row.updated_at = at;
  reschedule(row);
  const saved = await repo.saveSubscription(q, row);
  await emitUpdated(ctx, q, saved, at, false, catalog);
  await audit(q, caller, { action: 'subscription.resumed', customerId, target: row.id }, at);
  return subscriptionView(saved, catalog, at, await chargeContext(q, saved));
}
