import type { AppContext } from '../../app/context.ts';
import type { Queryable } from '../../db/db.ts';
import { GroupCommit } from '../../db/group-commit.ts';
import { AppError, ConflictError, InsufficientCreditsError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './credits.repository.ts';
import { holdView } from './credits.service.ts';

/**
 * Group commit of holds, captures and releases (issue 16): the ones arriving at this instance
 * while a batch is in flight go together as the next batch — one transaction and a fixed handful
 * of statements whatever its size: the Idempotency-Key claims, one lock of the holds and one of the
 * accounts they touch, the decisions in arrival order in memory (each op its own answer:
 * `insufficient_credits`, `conflict`, `not_found`, or its hold and balance after it), then ONE
 * statement for every write: one update of each account changed, the new holds, the closed ones,
 * the capture entries, every stored reply, and the freed keys of refused ops (as a rolled-back
 * request leaves them). No reply leaves before the commit; a batch failing at the
 * database answers each op with that error and leaves nothing of it. A batch of one (an idle server)
 * takes the one-at-a-time path, so batching adds no latency when idle.
 */

interface Base {
  ctx: AppContext;
  projectId: string;
  idempotency: { key: string; hash: string } | null;
  /** The one-at-a-time path (sets its own reply): for a batch of one. */
  single: () => Promise<unknown>;
}
export type HoldOp =
  | (Base & { kind: 'hold'; customerId: string; amount: number; reason: string | null; expiresIn: number })
  | (Base & { kind: 'capture'; holdId: string; amount?: number })
  | (Base & { kind: 'release'; holdId: string });

/**
 * The op's answer: a reply (replayed or new), the one-at-a-time answer, `retry` (its key was twice
 * in the batch, or freed meanwhile: it goes again) or `unbatched` (a new customer: the caller takes the one-at-a-time path).
 */
export type HoldOutcome = { direct: unknown } | { status: number; body: unknown; replayed: boolean } | 'retry' | 'unbatched';

const batchers = new WeakMap<object, GroupCommit<HoldOp, HoldOutcome>>();

/** This instance's holds batcher for its database (one per process and database). */
export function holdsBatcher(ctx: Pick<AppContext, 'db' | 'config'>): GroupCommit<HoldOp, HoldOutcome> {
  let b = batchers.get(ctx.db);
  if (!b) {
    b = new GroupCommit<HoldOp, HoldOutcome>(applyHoldBatch, {
      maxBatch: ctx.config.groupCommit.maxBatch,
      yieldFirst: ctx.db.kind === 'pglite',
      metrics: { owner: ctx.db, path: 'holds' },
      kindOf: (op) => op.kind,
    });
    batchers.set(ctx.db, b);
  }
  return b;
}

/** Submits an op until it has an answer (a twin of a key in the same batch goes again, after that batch committed). */
export async function submitHoldOp(op: HoldOp): Promise<Exclude<HoldOutcome, 'retry' | 'unbatched'>> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const r = await holdsBatcher(op.ctx).submit(op);
    if (r === 'unbatched') break;
    if (r !== 'retry') return r;
  }
  return { direct: await op.single() };
}

const sep = '\u0000';
const refusedKey = (key: string, message: string) => new AppError('idempotency_conflict', message, { idempotency_key: key });

interface Acct {
  projectId: string;
  customerId: string;
  balance: number;
  held: number;
  expiring: number;
  live: boolean;
  changed: boolean;
  at: Date;
}

export async function applyHoldBatch(ops: HoldOp[]): Promise<(HoldOutcome | Error)[]> {
  const first = ops[0];
  if (!first) return [];
  if (ops.length === 1) return [{ direct: await first.single() }];
  const ctx = first.ctx;
  const out: (HoldOutcome | Error | undefined)[] = ops.map(() => undefined);
  // A key twice in one batch goes to the database once; the twin goes again after this batch (then it replays the stored reply).
  const seen = new Set<string>();
  ops.forEach((op, i) => {
    if (!op.idempotency) return;
    const k = op.projectId + sep + op.idempotency.key;
    if (seen.has(k)) out[i] = 'retry';
    else seen.add(k);
  });
  const times = new Map<string, Date>();
  for (const p of new Set(ops.map((o) => o.projectId))) times.set(p, await projectNow(ctx, p));

  await ctx.db.tx(async (trx) => {
    const claimedIdx: number[] = [];
    const keyed = ops.flatMap((op, i) => (op.idempotency && out[i] === undefined ? [i] : []));
    if (keyed.length > 0) {
      const claimed = await repo.claimKeysMany(
        trx,
        keyed.map((i) => ({ projectId: ops[i]!.projectId, key: ops[i]!.idempotency!.key, hash: ops[i]!.idempotency!.hash })),
        ctx.clock.now(),
      );
      const unclaimed = keyed.filter((i) => !claimed.has(ops[i]!.projectId + sep + ops[i]!.idempotency!.key));
      claimedIdx.push(...keyed.filter((i) => claimed.has(ops[i]!.projectId + sep + ops[i]!.idempotency!.key)));
      const prior = await repo.storedKeys(
        trx,
        unclaimed.map((i) => ({ projectId: ops[i]!.projectId, key: ops[i]!.idempotency!.key })),
      );
      for (const i of unclaimed) {
        const op = ops[i]!;
        const { key, hash } = op.idempotency!;
        const p = prior.get(op.projectId + sep + key);
        if (!p) out[i] = 'retry'; // freed meanwhile
        else if (p.request_hash !== hash) out[i] = refusedKey(key, 'This Idempotency-Key was already used with a different request');
        else if (p.status_code === null) out[i] = refusedKey(key, 'A request with this Idempotency-Key is still in progress');
        else out[i] = { status: p.status_code, body: p.response, replayed: true };
      }
    }
    const todo = ops.flatMap((_op, i) => (out[i] === undefined ? [i] : []));
    const writes = await decide(trx, ops, todo, out, times);

    // The replies stored with the effect; the claims of refused ops freed.
    const stored: { projectId: string; key: string; status: number; body: unknown }[] = [];
    const freed: { projectId: string; key: string }[] = [];
    for (const i of claimedIdx) {
      const op = ops[i]!;
      const o = out[i];
      const key = op.idempotency!.key;
      if (o && typeof o === 'object' && !(o instanceof Error) && 'status' in o) stored.push({ projectId: op.projectId, key, status: o.status, body: o.body });
      else freed.push({ projectId: op.projectId, key });
    }
    await repo.writeHoldBatch(trx, { ...writes, stored, freed });
  });
  return out.map((o) => o ?? new Error('group commit: no answer for a hold operation'));
}

/**
 * Locks what the ops touch, decides each in arrival order and builds its reply (so every write,
 * replies included, goes in one statement after). Fills `out` for every op of `todo`.
 */
async function decide(
  trx: Queryable,
  ops: HoldOp[],
  todo: number[],
  out: (HoldOutcome | Error | undefined)[],
  times: Map<string, Date>,
): Promise<Omit<repo.HoldBatchWrites, 'stored' | 'freed'>> {
  const w: Omit<repo.HoldBatchWrites, 'stored' | 'freed'> = { accounts: [], inserts: [], closes: [], entries: [] };
  if (todo.length === 0) return w;
  // Lock the holds, then the accounts (the order the one-at-a-time capture and the expiry job lock them in).
  const holdRefs = new Map<string, { projectId: string; id: string }>();
  const acctRefs = new Map<string, { projectId: string; customerId: string }>();
  for (const i of todo) {
    const op = ops[i]!;
    if (op.kind === 'hold') acctRefs.set(op.projectId + sep + op.customerId, { projectId: op.projectId, customerId: op.customerId });
    else holdRefs.set(op.projectId + sep + op.holdId, { projectId: op.projectId, id: op.holdId });
  }
  const holds = new Map((await repo.lockHolds(trx, [...holdRefs.values()])).map((h) => [h.project_id + sep + h.id, h]));
  for (const h of holds.values()) acctRefs.set(h.project_id + sep + h.customer_id, { projectId: h.project_id, customerId: h.customer_id });
  const accts = new Map<string, Acct>();
  for (const a of await repo.lockAccounts(trx, [...acctRefs.values()])) {
    accts.set(a.project_id + sep + a.customer_id, {
      projectId: a.project_id,
      customerId: a.customer_id,
      balance: Number(a.balance),
      held: Number(a.held),
      expiring: Number(a.expiring_grants),
      live: a.live,
      changed: false,
      at: new Date(0),
    });
  }

  /** Holds as they stand after the ops so far (closed ones), and the new ones. */
  const current = new Map<string, repo.HoldRow>();
  const grants: { projectId: string; customerId: string; take: number }[] = [];
  for (const i of todo) {
    const op = ops[i]!;
    const at = times.get(op.projectId) as Date;
    if (op.kind === 'hold') {
      const a = accts.get(op.projectId + sep + op.customerId);
      // A customer not known yet (or deleted) takes the one-at-a-time path after this batch: there
      // the customer is created with its hold, or not at all if the hold is refused.
      if (!a?.live) {
        out[i] = 'unbatched';
        continue;
      }
      if (a.balance - a.held < op.amount) {
        out[i] = new InsufficientCreditsError(a.balance, op.amount, a.balance - a.held);
        continue;
      }
      a.held += op.amount;
      a.changed = true;
      a.at = at;
      const row: repo.HoldRow = {
        id: newId('hold'),
        project_id: op.projectId,
        customer_id: op.customerId,
        amount: op.amount,
        status: 'held',
        captured_amount: null,
        reason: op.reason,
        expires_at: new Date(at.getTime() + op.expiresIn * 1000),
        created_at: at,
        closed_at: null,
      };
      w.inserts.push({ id: row.id, projectId: op.projectId, customerId: op.customerId, amount: op.amount, reason: op.reason, expiresAt: row.expires_at, at });
      out[i] = { status: 201, body: holdView(row, a), replayed: false };
      continue;
    }
    const hk = op.projectId + sep + op.holdId;
    const h = current.get(hk) ?? holds.get(hk);
    if (!h) {
      out[i] = new NotFoundError('hold', op.holdId);
      continue;
    }
    if (h.status !== 'held') {
      out[i] = new ConflictError(`Hold is already ${h.status}`, { status: h.status });
      continue;
    }
    const amount = Number(h.amount);
    if (op.kind === 'capture' && h.expires_at.getTime() <= at.getTime()) {
      // As the one-at-a-time capture answers (its release rolls back with it; the expiry job releases the hold).
      out[i] = new ConflictError('Hold has expired and was released', { status: 'expired' });
      continue;
    }
    const take = op.kind === 'capture' ? (op.amount ?? amount) : 0;
    if (take > amount) {
      out[i] = new InvalidRequestError(`amount must not exceed the hold (${amount})`, 'amount');
      continue;
    }
    const a = accts.get(h.project_id + sep + h.customer_id) as Acct;
    a.balance -= take;
    a.held -= amount;
    a.changed = true;
    a.at = at;
    const status = op.kind === 'capture' ? 'captured' : 'released';
    const closed: repo.HoldRow = { ...h, status, captured_amount: op.kind === 'capture' ? take : null, closed_at: at };
    current.set(hk, closed);
    w.closes.push({ id: h.id, status, captured: closed.captured_amount, at });
    if (take !== 0) {
      if (a.expiring > 0) grants.push({ projectId: h.project_id, customerId: h.customer_id, take });
      w.entries.push({
        id: newId('ledger'),
        projectId: h.project_id,
        customerId: h.customer_id,
        amount: -take,
        balanceAfter: a.balance,
        reason: h.reason ?? 'Hold captured',
        holdId: h.id,
        held: amount,
        at,
      });
    }
    out[i] = { status: 200, body: holdView(closed, a), replayed: false };
  }
  // Expiring grants (rare): spent soonest-expiring first, one statement per capture, as the one-at-a-time capture does.
  for (const g of grants) await repo.consumeGrants(trx, g.projectId, g.customerId, g.take);
  for (const a of accts.values()) if (a.changed) w.accounts.push({ projectId: a.projectId, customerId: a.customerId, balance: a.balance, held: a.held, at: a.at });
  return w;
}
