import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { type Catalog, findFeature, findPlan } from '../../domain/catalog.ts';
import { AppError } from '../../domain/errors.ts';
import type { AppContext } from '../../app/context.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { deduct } from '../credits/credits.service.ts';
import { CustomerIdSchema, ensureCustomer } from '../customers/customers.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './usage.repository.ts';
import { grantOf, meteredPeriod } from './usage.service.ts';

export const MAX_BATCH = 1000;
/** How long a recorded event_id is remembered (a resend within it is a duplicate). */
export const EVENT_RETENTION_DAYS = 90;

export const BatchEvent = z
  .object({
    event_id: z.string().min(1).max(255).describe('Your id of the event: a resend with the same id is a duplicate, never counted twice'),
    customer_id: CustomerIdSchema,
    feature: z.string().min(1).max(64),
    quantity: z.number().finite().min(-1_000_000_000).max(1_000_000_000).default(1),
    timestamp: z.iso.datetime().optional().describe('When it happened (stored with the event; the count goes to the current period)'),
  })
  .strict();

export const TrackBatchBody = z.object({ events: z.array(BatchEvent).min(1).max(MAX_BATCH) }).strict();
export type TrackBatchBody = z.infer<typeof TrackBatchBody>;

export type BatchStatus = 'recorded' | 'duplicate' | 'error';
export interface BatchResult {
  event_id: string;
  status: BatchStatus;
  error?: { code: 'invalid_request' | 'limit_reached' | 'not_included' | 'insufficient_credits'; message: string };
}

type Ev = TrackBatchBody['events'][number];

function invalid(e: Ev, catalog: Catalog): BatchResult['error'] | null {
  const f = findFeature(catalog, e.feature);
  if (!f) return { code: 'invalid_request', message: `Unknown feature '${e.feature}'` };
  if (f.type === 'boolean' || f.type === 'value') return { code: 'invalid_request', message: `feature '${f.id}' is a ${f.type} feature: it records no usage` };
  if (f.type === 'credits') return e.quantity > 0 ? null : { code: 'invalid_request', message: 'quantity must be positive for a credits feature' };
  if (!Number.isInteger(e.quantity)) return { code: 'invalid_request', message: 'quantity must be an integer' };
  if (e.quantity === 0) return { code: 'invalid_request', message: 'quantity must not be 0' };
  if (e.quantity < 0 && f.type !== 'allocated') return { code: 'invalid_request', message: 'only an allocated feature can be released with a negative quantity' };
  return null;
}

/**
 * `POST /v1/track/batch`: up to 1000 usage events in one transaction and a handful of statements.
 * Each event is applied as `POST /v1/track` would (limits are checked in the order given), once per
 * `event_id`: the id is stored with the event in the same transaction, so a resend — even after a
 * restart — answers `duplicate` and counts nothing. An event that is not applied (unknown feature,
 * limit reached, not enough credits) is `error` and its id stays free for a later resend.
 */
export async function trackBatch(ctx: AppContext, q: Queryable, projectId: string, body: TrackBatchBody): Promise<{ results: BatchResult[] }> {
  const { catalog } = await getCatalog(ctx, projectId);
  const now = await projectNow(ctx, projectId);
  const results: BatchResult[] = body.events.map((e) => ({ event_id: e.event_id, status: 'recorded' }));
  const seen = new Set<string>();
  const valid: number[] = [];
  body.events.forEach((e, i) => {
    const r = results[i]!;
    if (seen.has(e.event_id)) {
      r.status = 'duplicate';
      return;
    }
    seen.add(e.event_id);
    const err = invalid(e, catalog);
    if (err) {
      r.status = 'error';
      r.error = err;
      return;
    }
    valid.push(i);
  });
  if (valid.length === 0) return { results };

  return q.tx(async (trx) => {
    const rows = valid.map((i) => {
      const e = body.events[i]!;
      return { event_id: e.event_id, customer_id: e.customer_id, feature: e.feature, quantity: e.quantity, occurred_at: e.timestamp ? new Date(e.timestamp) : null };
    });
    const claimed = await repo.claimEvents(trx, projectId, rows, now);
    const todo = valid.filter((i) => {
      if (claimed.has(body.events[i]!.event_id)) return true;
      results[i]!.status = 'duplicate';
      return false;
    });
    if (todo.length === 0) return { results };

    const customers = [...new Set(todo.map((i) => body.events[i]!.customer_id))].sort();
    const known = await repo.knownCustomers(trx, projectId, customers);
    for (const c of customers) if (!known.has(c)) await ensureCustomer(ctx, trx, projectId, c);

    const failed: string[] = [];
    const fail = (i: number, code: NonNullable<BatchResult['error']>['code'], message: string) => {
      results[i]!.status = 'error';
      results[i]!.error = { code, message };
      failed.push(body.events[i]!.event_id);
    };

    // Counters (metered, allocated): lock every counter the batch touches, decide in order, write once.
    const counterEvents = todo.filter((i) => findFeature(catalog, body.events[i]!.feature)!.type !== 'credits');
    if (counterEvents.length > 0) {
      const subs = await repo.liveSubscriptions(trx, projectId, [...new Set(counterEvents.map((i) => body.events[i]!.customer_id))]);
      interface Pair extends repo.CounterKey {
        granted: boolean;
        used: number;
        changed: boolean;
      }
      const pairs = new Map<string, Pair>();
      const keyOf = (e: Ev) => JSON.stringify([e.customer_id, e.feature]);
      for (const i of counterEvents) {
        const e = body.events[i]!;
        const k = keyOf(e);
        if (pairs.has(k)) continue;
        const f = findFeature(catalog, e.feature)!;
        const sub = subs.get(e.customer_id);
        const planId = sub?.plan_id ?? catalog.free_plan ?? null;
        const g = grantOf(planId ? findPlan(catalog, planId) : undefined, f.id);
        const period = f.type === 'metered' ? meteredPeriod(sub?.current_period_start ?? null, now) : null;
        pairs.set(k, { customer_id: e.customer_id, feature: f.id, period_start: period, lim: g.limit, granted: g.granted, used: 0, changed: false });
      }
      const granted = [...pairs.values()].filter((p) => p.granted).sort((a, b) => (a.customer_id + a.feature < b.customer_id + b.feature ? -1 : 1));
      const locked = granted.length ? await repo.lockCounters(trx, projectId, granted, now) : [];
      for (const row of locked) {
        const p = pairs.get(JSON.stringify([row.customer_id, row.feature]));
        if (!p) continue;
        const samePeriod = (row.period_start?.getTime() ?? null) === (p.period_start?.getTime() ?? null);
        p.used = samePeriod ? Number(row.used) : 0;
        if (!samePeriod) p.changed = true;
      }
      for (const i of counterEvents) {
        const e = body.events[i]!;
        const p = pairs.get(keyOf(e))!;
        if (!p.granted) {
          fail(i, 'not_included', `feature '${e.feature}' is not included in the customer's plan`);
          continue;
        }
        if (e.quantity <= 0) {
          p.used = Math.max(0, p.used + e.quantity);
          p.changed = true;
          continue;
        }
        if (p.lim !== null && p.used + e.quantity > p.lim) {
          fail(i, 'limit_reached', `limit of ${p.lim} reached (usage ${p.used})`);
          continue;
        }
        p.used += e.quantity;
        p.changed = true;
      }
      await repo.writeCounters(
        trx,
        projectId,
        [...pairs.values()].filter((p) => p.granted && p.changed),
        now,
      );
    }

    // Credits features: through the ledger, one deduction per event (as `POST /v1/track`), customer
    // by customer in id order (each customer's events in the order given), so two batches lock
    // credit accounts in the same order and never wait on each other in a cycle.
    const creditEvents = todo
      .filter((i) => findFeature(catalog, body.events[i]!.feature)!.type === 'credits')
      .sort((a, b) => {
        const x = body.events[a]!.customer_id;
        const y = body.events[b]!.customer_id;
        return x < y ? -1 : x > y ? 1 : a - b;
      });
    for (const i of creditEvents) {
      const e = body.events[i]!;
      try {
        await deduct(ctx, trx, projectId, e.customer_id, { usage: { feature: e.feature, quantity: e.quantity } });
      } catch (err) {
        if (err instanceof AppError && err.code === 'insufficient_credits') fail(i, 'insufficient_credits', err.message);
        else throw err;
      }
    }
    await repo.unclaimEvents(trx, projectId, failed);
    return { results };
  });
}

/** Background: forgets event ids older than the retention, a thousand at a time. */
export async function purgeUsageEvents(ctx: AppContext): Promise<number> {
  const before = new Date(ctx.clock.now().getTime() - EVENT_RETENTION_DAYS * 86_400_000);
  return repo.purgeEvents(ctx.db, before, 1000);
}
