import type { AppContext } from '../../app/context.ts';
import { GroupCommit } from '../../db/group-commit.ts';
import { type Feature, findFeature, findPlan } from '../../domain/catalog.ts';
import { AppError } from '../../domain/errors.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { ensureCustomer } from '../customers/customers.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './usage.repository.ts';
import { check, checkAnswer, counterAnswer, grantOf, meteredPeriod, track, type UsageAnswer, type UsageBody, validateQuantity } from './usage.service.ts';

/**
 * `POST /v1/track` on a counted feature (metered, allocated), group-committed: the tracks of one
 * project that arrive while a batch is in flight go together as the next batch, in one
 * transaction and a handful of statements whatever its size — the Idempotency-Key claims, one lock
 * of every counter touched (created at 0 if absent), the decisions in arrival order (each its own
 * `limit_reached` or count after), one write of every counter changed, and every stored reply —
 * and no reply leaves before the commit. A batch of one (an idle server) takes the one-statement
 * path of `track`, so batching adds no latency when idle.
 */

export interface TrackOp {
  body: UsageBody;
  feature: Feature;
  key: string | null;
  hash: string | null;
  /** The one-at-a-time path (its reply already set): for a batch of one. */
  single: () => Promise<unknown>;
}

export type TrackOutcome = { direct: unknown } | { status: number; body: unknown; replayed: boolean };

const batchers = new WeakMap<AppContext, Map<string, GroupCommit<TrackOp, TrackOutcome>>>();

/** The project's track batcher: one batch in flight per project and instance, so one counter's tracks apply in arrival order. */
export function trackBatcher(ctx: AppContext, projectId: string): GroupCommit<TrackOp, TrackOutcome> {
  let byProject = batchers.get(ctx);
  if (!byProject) {
    byProject = new Map();
    batchers.set(ctx, byProject);
  }
  let b = byProject.get(projectId);
  if (!b) {
    b = new GroupCommit<TrackOp, TrackOutcome>((ops) => runBatch(ctx, projectId, ops), {
      maxBatch: 256,
      yieldFirst: ctx.db.kind === 'pglite',
      metrics: { owner: ctx.db, path: 'track' },
    });
    byProject.set(projectId, b);
  }
  return b;
}

function conflict(key: string, message: string): AppError {
  return new AppError('idempotency_conflict', message, { idempotency_key: key });
}

interface Pair extends repo.CounterKey {
  granted: boolean;
  planId: string | null;
  used: number;
  changed: boolean;
}

async function runBatch(ctx: AppContext, projectId: string, ops: TrackOp[]): Promise<(TrackOutcome | Error)[]> {
  if (ops.length === 1) return [{ direct: await (ops[0] as TrackOp).single() }];
  const { catalog } = await getCatalog(ctx, projectId);
  const now = await projectNow(ctx, projectId);
  const out: (TrackOutcome | Error | undefined)[] = ops.map(() => undefined);
  // A key sent twice within the batch: the later one answers as a replay of the first.
  const firstOfKey = new Map<string, number>();
  const twinOf = new Map<number, number>();
  ops.forEach((op, i) => {
    if (op.key === null) return;
    const first = firstOfKey.get(op.key);
    if (first === undefined) firstOfKey.set(op.key, i);
    else twinOf.set(i, first);
  });

  await ctx.db.tx(async (trx) => {
    const customers = [...new Set(ops.map((o) => o.body.customer_id))].sort();
    let inputs = await repo.trackInputs(trx, projectId, customers);
    const refused = new Map<string, Error>();
    const unknown = customers.filter((c) => !inputs.get(c)?.known);
    if (unknown.length > 0) {
      for (const c of unknown) {
        try {
          await ensureCustomer(ctx, trx, projectId, c);
        } catch (err) {
          if (err instanceof AppError) refused.set(c, err);
          else throw err;
        }
      }
      inputs = await repo.trackInputs(trx, projectId, customers);
    }
    const todo: number[] = [];
    ops.forEach((op, i) => {
      if (twinOf.has(i)) return;
      const err = refused.get(op.body.customer_id);
      if (err) out[i] = err;
      else todo.push(i);
    });

    // Idempotency-Keys: claimed in this transaction; a key seen before replays its stored reply.
    const keyed = todo.filter((i) => ops[i]!.key !== null);
    if (keyed.length > 0) {
      const claimed = await repo.claimKeys(
        trx,
        projectId,
        keyed.map((i) => ({ key: ops[i]!.key as string, hash: ops[i]!.hash as string })),
        ctx.clock.now(),
      );
      const seen = keyed.filter((i) => !claimed.has(ops[i]!.key as string));
      if (seen.length > 0) {
        const prior = await repo.priorReplies(
          trx,
          projectId,
          seen.map((i) => ops[i]!.key as string),
        );
        for (const i of seen) {
          const key = ops[i]!.key as string;
          const p = prior.get(key);
          if (!p || p.request_hash !== ops[i]!.hash) out[i] = conflict(key, 'This Idempotency-Key was already used with a different request');
          else if (p.status_code === null) out[i] = conflict(key, 'A request with this Idempotency-Key is still in progress');
          else out[i] = { status: p.status_code, body: p.response, replayed: true };
        }
      }
    }
    const apply = todo.filter((i) => out[i] === undefined);

    // The counters: each (customer, feature) once, locked in a fixed order, then decided in arrival order.
    const pairs = new Map<string, Pair>();
    const pairOf = (op: TrackOp) => `${op.body.customer_id}\u0000${op.feature.id}`;
    for (const i of apply) {
      const op = ops[i]!;
      const k = pairOf(op);
      if (pairs.has(k)) continue;
      const sub = inputs.get(op.body.customer_id);
      const planId = sub?.plan_id ?? catalog.free_plan ?? null;
      const g = grantOf(planId ? findPlan(catalog, planId) : undefined, op.feature.id);
      const period = op.feature.type === 'metered' ? meteredPeriod(sub?.current_period_start ?? null, now) : null;
      pairs.set(k, { customer_id: op.body.customer_id, feature: op.feature.id, period_start: period, lim: g.limit, granted: g.granted, planId, used: 0, changed: false });
    }
    const sameTime = (a: Date | string | null, b: Date | null) => (a === null ? null : new Date(a).getTime()) === (b?.getTime() ?? null);
    const granted = [...pairs.values()].filter((p) => p.granted).sort((a, b) => (a.customer_id + a.feature < b.customer_id + b.feature ? -1 : 1));
    if (granted.length > 0) {
      for (const row of await repo.lockCounters(trx, projectId, granted, now)) {
        const p = pairs.get(`${row.customer_id}\u0000${row.feature}`);
        if (!p) continue;
        const same = sameTime(row.period_start, p.period_start);
        p.used = same ? Number(row.used) : 0;
        if (!same) p.changed = true;
      }
    }
    for (const p of pairs.values()) {
      if (p.granted) continue;
      // Not included: the answer still says the current count (as the one-at-a-time path).
      const read = await repo.readUsage(trx, projectId, p.customer_id, p.feature);
      p.used = sameTime(read.period_start, p.period_start) ? Number(read.used ?? 0) : 0;
    }
    const replies: Record<string, unknown> = {};
    for (const i of apply) {
      const op = ops[i]!;
      const p = pairs.get(pairOf(op))!;
      const q = op.body.quantity;
      let answer: UsageAnswer;
      if (!p.granted) answer = counterAnswer(op.feature, p.planId, false, 0, p.used, q, false);
      else if (q <= 0) {
        p.used = Math.max(0, p.used + q);
        p.changed = true;
        answer = counterAnswer(op.feature, p.planId, true, p.lim, p.used, 0, true);
      } else if (p.lim !== null && p.used + q > p.lim) {
        answer = counterAnswer(op.feature, p.planId, true, p.lim, p.used, q, false);
      } else {
        p.used += q;
        p.changed = true;
        answer = counterAnswer(op.feature, p.planId, true, p.lim, p.used, 0, true);
      }
      out[i] = { status: 200, body: answer, replayed: false };
      if (op.key !== null) replies[op.key] = answer;
    }
    await repo.writeCounters(
      trx,
      projectId,
      [...pairs.values()].filter((p) => p.granted && p.changed),
      now,
    );
    await repo.storeReplies(trx, projectId, replies);
  });

  for (const [i, first] of twinOf) {
    const f = out[first];
    const key = ops[i]!.key as string;
    if (ops[i]!.hash !== ops[first]!.hash) out[i] = conflict(key, 'This Idempotency-Key was already used with a different request');
    else if (f instanceof Error || f === undefined) out[i] = f ?? new Error('no answer');
    else if ('direct' in f) out[i] = f;
    else out[i] = { ...f, replayed: true };
  }
  return out as (TrackOutcome | Error)[];
}

/**
 * `POST /v1/check` on a feature that is not a credits feature, batched the same way: the checks of
 * a project arriving while one is in flight are read together in one statement (a read: no
 * transaction, nothing written). A customer not known yet, and a batch of one, take the one-at-a-time
 * path (which creates the customer, as before).
 */
export interface CheckOp {
  body: UsageBody;
  feature: Feature;
}

const checkBatchers = new WeakMap<AppContext, Map<string, GroupCommit<CheckOp, UsageAnswer>>>();

export function checkBatcher(ctx: AppContext, projectId: string): GroupCommit<CheckOp, UsageAnswer> {
  let byProject = checkBatchers.get(ctx);
  if (!byProject) {
    byProject = new Map();
    checkBatchers.set(ctx, byProject);
  }
  let b = byProject.get(projectId);
  if (!b) {
    b = new GroupCommit<CheckOp, UsageAnswer>((ops) => runChecks(ctx, projectId, ops), {
      maxBatch: 256,
      yieldFirst: ctx.db.kind === 'pglite',
      metrics: { owner: ctx.db, path: 'check' },
    });
    byProject.set(projectId, b);
  }
  return b;
}

export async function checkRequest(ctx: AppContext, projectId: string, body: UsageBody): Promise<UsageAnswer> {
  const { catalog } = await getCatalog(ctx, projectId);
  const feature = findFeature(catalog, body.feature);
  if (!feature || feature.type === 'credits') return check(ctx, projectId, body);
  try {
    validateQuantity(feature, body.quantity, false);
  } catch {
    return check(ctx, projectId, body);
  }
  return checkBatcher(ctx, projectId).submit({ body, feature });
}

async function runChecks(ctx: AppContext, projectId: string, ops: CheckOp[]): Promise<(UsageAnswer | Error)[]> {
  if (ops.length === 1) return [await check(ctx, projectId, (ops[0] as CheckOp).body)];
  const { catalog } = await getCatalog(ctx, projectId);
  const now = await projectNow(ctx, projectId);
  const reads = await repo.readUsages(
    ctx.db,
    projectId,
    ops.map((o) => ({ customer: o.body.customer_id, feature: o.feature.id })),
  );
  const out: (UsageAnswer | Error)[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as CheckOp;
    const read = reads[i];
    if (read?.known) {
      out.push(checkAnswer(catalog, op.feature, read, now, op.body.quantity));
      continue;
    }
    try {
      out.push(await check(ctx, projectId, op.body));
    } catch (err) {
      out.push(err instanceof Error ? err : new Error(String(err)));
    }
  }
  return out;
}
