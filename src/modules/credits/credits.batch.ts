import type { Db } from '../../db/db.ts';
import { outsideTransaction } from '../../db/db.ts';
import { GroupCommit } from '../../db/group-commit.ts';
import { AppError, InsufficientCreditsError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { AppContext } from '../../app/context.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { getProject, projectTime } from '../projects/projects.service.ts';
import * as repo from './credits.repository.ts';
import { creditsRequired, type DeductResult, type SpendInput } from './credits.service.ts';

/** One deduct waiting for its batch: everything the batch statement needs, computed beforehand. */
export interface BatchedDeduct {
  projectId: string;
  customerId: string;
  amount: number;
  reason: string;
  metadata: Record<string, unknown> | null;
  at: Date;
  threshold: number | null;
  idempotency: { key: string; hash: string } | null;
}

/** Each op's own answer (see migration 0036 for what each outcome means). */
export type DeductOutcome =
  | { outcome: 'ok'; result: DeductResult; topUp: boolean | null }
  | { outcome: 'insufficient'; balance: number; held: number; amount: number }
  | { outcome: 'replay'; status: number; response: unknown }
  | { outcome: 'conflict' | 'in_progress' | 'fallback' | 'retry' };

const APPLY = `SELECT op, outcome, balance, held, status_code, response, top_up FROM tg_deduct_batch(
  $1::text[], $2::text[], $3::int[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
  $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::timestamptz[])`;

interface Row {
  op: number;
  outcome: 'ok' | 'insufficient' | 'fallback' | 'replay' | 'conflict' | 'in_progress' | 'retry';
  balance: number | null;
  held: number | null;
  status_code: number | null;
  response: unknown;
  top_up: boolean | null;
}

/**
 * Applies a batch of deducts as ONE statement (so one transaction, one commit, one round trip):
 * `tg_deduct_batch` claims the keys, locks each account once, spends in arrival order, writes one
 * update per account, the entries and events in one insert each, and the replies of the keys.
 * A key twice in one batch goes to the database once; the twin is told to retry (after this batch
 * has committed, it finds the stored reply).
 */
export async function applyDeductBatch(db: Db, ops: BatchedDeduct[]): Promise<DeductOutcome[]> {
  const only = ops[0];
  // A batch of one without a key (an idle server): the one-statement deduct is cheaper than the batch function.
  if (ops.length === 1 && only && !only.idempotency) return [await deductOne(db, only)];
  const accounts = new Map<string, number>();
  const order = [...new Set(ops.map((o) => `${o.projectId}\u0000${o.customerId}`))].sort();
  for (const [i, a] of order.entries()) accounts.set(a, i + 1);
  const seen = new Set<string>();
  const sent: number[] = [];
  const out: DeductOutcome[] = ops.map(() => ({ outcome: 'retry' }));
  const cols = {
    acct: [] as number[],
    amount: [] as number[],
    entry: [] as string[],
    reason: [] as string[],
    meta: [] as (string | null)[],
    at: [] as string[],
    threshold: [] as (number | null)[],
    low: [] as string[],
    ded: [] as string[],
    key: [] as (string | null)[],
    hash: [] as (string | null)[],
  };
  ops.forEach((o, i) => {
    if (o.idempotency) {
      const k = `${o.projectId}\u0000${o.idempotency.key}`;
      if (seen.has(k)) return;
      seen.add(k);
    }
    sent.push(i);
    cols.acct.push(accounts.get(`${o.projectId}\u0000${o.customerId}`) as number);
    cols.amount.push(o.amount);
    cols.entry.push(newId('ledger'));
    cols.reason.push(o.reason);
    cols.meta.push(o.metadata ? JSON.stringify(o.metadata) : null);
    cols.at.push(o.at.toISOString());
    cols.threshold.push(o.threshold);
    cols.low.push(newId('outbox'));
    cols.ded.push(newId('outbox'));
    cols.key.push(o.idempotency?.key ?? null);
    cols.hash.push(o.idempotency?.hash ?? null);
  });
  const split = order.map((a) => a.split('\u0000') as [string, string]);
  const now = new Date().toISOString();
  const { rows } = await outsideTransaction(() =>
    db.query<Row>(APPLY, [
      split.map((a) => a[0]),
      split.map((a) => a[1]),
      cols.acct,
      cols.amount,
      cols.entry,
      cols.reason,
      cols.meta,
      cols.at,
      cols.threshold,
      cols.low,
      cols.ded,
      cols.key,
      cols.hash,
      cols.key.map(() => now),
    ]),
  );
  for (const r of rows) {
    const i = sent[r.op - 1] as number;
    const o = ops[i] as BatchedDeduct;
    const balance = Number(r.balance);
    const held = Number(r.held);
    if (r.outcome === 'ok') {
      const entryId = cols.entry[r.op - 1] as string;
      out[i] = {
        outcome: 'ok',
        result: { balance, held, available: balance - held, deducted: o.amount, transaction_id: entryId },
        topUp: r.top_up === true,
      };
    } else if (r.outcome === 'insufficient') out[i] = { outcome: 'insufficient', balance, held, amount: o.amount };
    else if (r.outcome === 'replay') out[i] = { outcome: 'replay', status: Number(r.status_code), response: r.response };
    else out[i] = { outcome: r.outcome };
  }
  return out;
}

async function deductOne(db: Db, o: BatchedDeduct): Promise<DeductOutcome> {
  const entryId = newId('ledger');
  const r = await outsideTransaction(() =>
    repo.deductFast(db, {
      projectId: o.projectId,
      customerId: o.customerId,
      amount: o.amount,
      entryId,
      reason: o.reason,
      metadata: o.metadata,
      at: o.at,
      lowBalanceThreshold: o.threshold,
      lowBalanceEventId: newId('outbox'),
      deductedEventId: newId('outbox'),
    }),
  );
  if (r.balance_after !== null) {
    const held = r.held ?? 0;
    const result = { balance: r.balance_after, held, available: r.balance_after - held, deducted: o.amount, transaction_id: entryId };
    return { outcome: 'ok', result, topUp: null };
  }
  if (r.balance_before === null || (r.expiring_grants ?? 0) > 0) return { outcome: 'fallback' };
  return { outcome: 'insufficient', balance: r.balance_before, held: r.held ?? 0, amount: o.amount };
}

const batchers = new WeakMap<Db, GroupCommit<BatchedDeduct, DeductOutcome>>();

/** This instance's deduct batcher for its database (one per process and database). */
export function deductBatcher(ctx: AppContext): GroupCommit<BatchedDeduct, DeductOutcome> {
  let b = batchers.get(ctx.db);
  if (!b) {
    const db = ctx.db;
    b = new GroupCommit((ops) => applyDeductBatch(db, ops), {
      maxBatch: ctx.config.groupCommit.maxBatch,
      metrics: { owner: db, path: 'deduct' },
    });
    batchers.set(ctx.db, b);
  }
  return b;
}

/** The batch's view of a deduct request: its amount through the catalog, its reason, time and threshold. */
export async function prepareDeduct(
  ctx: AppContext,
  projectId: string,
  customerId: string,
  input: SpendInput,
  idempotency: { key: string; hash: string } | null,
): Promise<BatchedDeduct> {
  const { amount, usage } = await creditsRequired(ctx, projectId, input);
  const [{ catalog }, project] = await Promise.all([getCatalog(ctx, projectId), getProject(ctx, projectId)]);
  const metadata = usage || input.metadata ? { ...(input.metadata ?? {}), ...(usage ? { usage } : {}) } : null;
  return {
    projectId,
    customerId,
    amount,
    reason: input.reason ?? (usage ? `${usage.feature}: ${usage.quantity}` : 'Deduct'),
    metadata,
    at: projectTime(ctx, project),
    threshold: catalog.low_balance_threshold ?? null,
    idempotency,
  };
}

/**
 * A deduct through this instance's group commit: its result (and whether its account has an auto
 * top-up to consider: true/false, or null when unknown), a replayed stored reply, or
 * `'unbatched'` when the batch cannot express it (no account yet, expiring grants to spend first, a
 * key twice in one batch or freed meanwhile) and the caller must take the one-at-a-time path.
 * Refusals are thrown as the unbatched path throws them (`insufficient_credits`, `idempotency_conflict`).
 */
export async function deductGrouped(
  ctx: AppContext,
  projectId: string,
  customerId: string,
  input: SpendInput,
  idempotency: { key: string; hash: string } | null,
): Promise<{ result: DeductResult; topUp: boolean | null } | { replayed: unknown; status: number } | 'unbatched'> {
  const op = await prepareDeduct(ctx, projectId, customerId, input, idempotency && { key: idempotency.key, hash: idempotency.hash });
  const r = await deductBatcher(ctx).submit(op);
  switch (r.outcome) {
    case 'ok':
      return { result: r.result, topUp: r.topUp };
    case 'insufficient':
      throw new InsufficientCreditsError(r.balance, r.amount, r.balance - r.held);
    case 'replay':
      return { replayed: r.response, status: r.status };
    case 'conflict':
      throw new AppError('idempotency_conflict', 'This Idempotency-Key was already used with a different request', { idempotency_key: idempotency?.key });
    case 'in_progress':
      throw new AppError('idempotency_conflict', 'A request with this Idempotency-Key is still in progress', { idempotency_key: idempotency?.key });
    default:
      return 'unbatched';
  }
}
