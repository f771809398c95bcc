import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { creditsForUsage, findFeature } from '../../domain/catalog.ts';
import { ConflictError, InsufficientCreditsError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { CustomerIdSchema, ensureCustomer, requireCustomer } from '../customers/customers.service.ts';
import { getProject, projectNow, projectTime } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import { chargeMember } from './credits.members.ts';
import * as repo from './credits.repository.ts';

export const MAX_CREDITS = 1_000_000_000_000; // per operation
/** The largest balance kept: every balance and amount is an exact integer in JSON (2^53 - 1). */
export const MAX_BALANCE = Number.MAX_SAFE_INTEGER;

const CreditAmount = z
  .number({ error: 'must be a number' })
  .int('must be a positive integer')
  .positive('must be a positive integer')
  .max(MAX_CREDITS, `must be at most ${MAX_CREDITS}`);

export const UsageSchema = z
  .object({
    feature: z.string().min(1).max(64),
    quantity: z.number().positive('must be positive').max(MAX_CREDITS).finite(),
  })
  .strict();

/** What a deduct or a hold spends: `{amount}` or `{usage: {feature, quantity}}`, never both. */
const Spending = { amount: CreditAmount.optional(), usage: UsageSchema.optional(), reason: z.string().max(500).optional() };
const exactlyOneSpending: [(b: { amount?: number; usage?: unknown }) => boolean, { message: string; path: string[] }] = [
  (b) => (b.amount === undefined) !== (b.usage === undefined),
  { message: 'send exactly one of "amount" or "usage"', path: ['amount'] },
];

export const SpendSchema = z
  .object({
    ...Spending,
    metadata: z.record(z.string(), z.unknown()).optional(),
    /** A member of this customer's organisation spending from its balance, within the member's limit. */
    member_id: CustomerIdSchema.optional(),
  })
  .strict()
  .refine(...exactlyOneSpending);
export type SpendInput = z.infer<typeof SpendSchema>;

export const GrantSchema = z
  .object({
    amount: CreditAmount,
    reason: z.string().min(1).max(500).default('Manual grant'),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export const HoldSchema = z
  .object({ ...Spending, expires_in: z.number().int().min(1).max(7 * 24 * 3600).default(3600) })
  .strict()
  .refine(...exactlyOneSpending);

export const CaptureSchema = z.object({ amount: z.number().int().min(0).max(MAX_CREDITS).optional() }).strict();

/** Converts `{amount}` or `{usage}` to credits through the catalog. */
export async function creditsRequired(
  ctx: AppContext,
  projectId: string,
  input: { amount?: number; usage?: { feature: string; quantity: number } },
): Promise<{ amount: number; usage?: { feature: string; quantity: number } }> {
  if (input.amount !== undefined) return { amount: input.amount };
  const usage = input.usage as { feature: string; quantity: number };
  const { catalog } = await getCatalog(ctx, projectId);
  const feature = findFeature(catalog, usage.feature);
  if (!feature) throw new InvalidRequestError(`Unknown feature '${usage.feature}'`, 'usage.feature');
  if (feature.type !== 'credits' && !feature.credit_cost) {
    throw new InvalidRequestError(`Feature '${usage.feature}' is not paid in credits`, 'usage.feature');
  }
  const amount = creditsForUsage(feature, usage.quantity);
  if (amount < 1) throw new InvalidRequestError('usage.quantity converts to less than one credit', 'usage.quantity');
  return { amount, usage };
}

export interface DeductResult {
  balance: number;
  held: number;
  available: number;
  deducted: number;
  transaction_id: string;
}

export async function deduct(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  input: SpendInput,
): Promise<DeductResult> {
  const { amount, usage } = await creditsRequired(ctx, projectId, input);
  const [{ catalog }, project] = await Promise.all([getCatalog(ctx, projectId), getProject(ctx, projectId)]);
  const at = projectTime(ctx, project);
  if (input.member_id !== undefined) {
    // A member's spend: its limit and the organisation's balance change together, or neither does.
    const memberId = input.member_id;
    return q.tx(async (trx) => {
      await chargeMember(trx, projectId, customerId, memberId, amount, at);
      return deduct(ctx, trx, projectId, customerId, { ...input, member_id: undefined, metadata: { ...(input.metadata ?? {}), member_id: memberId } });
    });
  }
  const metadata = usage || input.metadata ? { ...(input.metadata ?? {}), ...(usage ? { usage } : {}) } : null;
  const reason = input.reason ?? (usage ? `${usage.feature}: ${usage.quantity}` : 'Deduct');
  const threshold = catalog.low_balance_threshold ?? null;
  for (let attempt = 0; attempt < 2; attempt++) {
    const entryId = newId('ledger');
    const r = await repo.deductFast(q, {
      projectId,
      customerId,
      amount,
      entryId,
      reason,
      metadata,
      at,
      lowBalanceThreshold: threshold,
      lowBalanceEventId: newId('outbox'),
      deductedEventId: newId('outbox'),
    });
    if (r.balance_after !== null) {
      const held = r.held ?? 0;
      return { balance: r.balance_after, held, available: r.balance_after - held, deducted: amount, transaction_id: entryId };
    }
    if (r.balance_before === null) {
      await ensureCustomer(ctx, q, projectId, customerId);
      continue;
    }
    if ((r.expiring_grants ?? 0) > 0) {
      return deductLocked(q, { projectId, customerId, amount, reason, metadata, at, threshold });
    }
    throw new InsufficientCreditsError(r.balance_before, amount, r.balance_before - (r.held ?? 0));
  }
  throw new Error('deduct: customer could not be created');
}

/** The careful path for accounts holding expiring grants: lock, spend soonest-expiring first. */
async function deductLocked(
  q: Queryable,
  d: {
    projectId: string;
    customerId: string;
    amount: number;
    reason: string;
    metadata: Record<string, unknown> | null;
    at: Date;
    threshold: number | null;
  },
): Promise<DeductResult> {
  return q.tx(async (trx) => {
    const acct = await repo.lockAccount(trx, d.projectId, d.customerId);
    if (!acct) throw new Error('account vanished');
    const available = acct.balance - acct.held;
    if (available < d.amount) throw new InsufficientCreditsError(acct.balance, d.amount, available);
    await repo.consumeGrants(trx, d.projectId, d.customerId, d.amount);
    const entryId = newId('ledger');
    const after = await repo.applyEntry(trx, {
      projectId: d.projectId,
      customerId: d.customerId,
      id: entryId,
      amount: -d.amount,
      kind: 'deduct',
      reason: d.reason,
      metadata: d.metadata,
      at: d.at,
    });
    if (!after) throw new Error('account vanished');
    if (d.threshold !== null && acct.balance > d.threshold && after.balance <= d.threshold) {
      await emit(trx, {
        projectId: d.projectId,
        type: 'credits.low_balance',
        customerId: d.customerId,
        data: { balance: after.balance, threshold: d.threshold },
        at: d.at,
      });
    }
    if (await repo.emitsDeducted(trx, d.projectId)) {
      await emit(trx, {
        projectId: d.projectId,
        type: 'credits.deducted',
        customerId: d.customerId,
        data: { amount: d.amount, balance: after.balance, transaction_id: entryId, reason: d.reason },
        at: d.at,
      });
    }
    return { balance: after.balance, held: after.held, available: after.balance - after.held, deducted: d.amount, transaction_id: entryId };
  });
}

export interface GrantInput {
  amount: number;
  reason: string;
  kind?: string;
  sourceId?: string | null;
  expiresAt?: Date | null;
  metadata?: Record<string, unknown> | null;
  /**
   * Plan credits: when this grant expires, what is left of it carries into the next grant of the
   * same `source` (the subscription's next period) up to `cap`; the rest expires. `cap: 0` = reset.
   */
  carry?: { source: string; cap: number } | null;
}

/**
 * Adds credits. With a `sourceId` the grant happens at most once per (kind, source) — a purchase
 * per checkout session, included credits per subscription period — and a repeat returns the first.
 */
export async function grant(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  g: GrantInput,
): Promise<{ balance: number; held: number; available: number; granted: number; transaction_id: string; duplicate: boolean }> {
  await ensureCustomer(ctx, q, projectId, customerId);
  return q.tx(async (trx) => {
    const at = await projectNow(ctx, projectId);
    const kind = g.kind ?? 'grant';
    if (g.sourceId) {
      const prior = await repo.findEntryBySource(trx, projectId, customerId, kind, g.sourceId);
      if (prior) {
        const acct = await repo.findAccount(trx, projectId, customerId);
        const balance = acct?.balance ?? 0;
        const held = acct?.held ?? 0;
        return { balance, held, available: balance - held, granted: 0, transaction_id: prior.id, duplicate: true };
      }
    }
    const locked = await repo.lockAccount(trx, projectId, customerId);
    if ((locked?.balance ?? 0) + g.amount > MAX_BALANCE) {
      throw new InvalidRequestError(
        `amount would take the balance above ${MAX_BALANCE}, the largest balance Tollgate keeps exactly`,
        'amount',
      );
    }
    const entryId = newId('ledger');
    const after = await repo.applyEntry(trx, {
      projectId,
      customerId,
      id: entryId,
      amount: g.amount,
      kind,
      reason: g.reason,
      sourceId: g.sourceId ?? null,
      metadata: g.metadata ?? null,
      expiresAt: g.expiresAt ?? null,
      expiringDelta: g.expiresAt ? 1 : 0,
      at,
    });
    if (!after) throw new Error('account vanished');
    if (g.expiresAt) {
      await repo.insertGrant(trx, {
        id: newId('grant'),
        projectId,
        customerId,
        amount: g.amount,
        expiresAt: g.expiresAt,
        at,
        reason: g.reason,
        carrySource: g.carry?.source ?? null,
        carryCap: g.carry?.cap ?? null,
      });
    }
    await emit(trx, {
      projectId,
      type: 'credits.granted',
      customerId,
      data: { amount: g.amount, balance: after.balance, reason: g.reason, kind, transaction_id: entryId },
      at,
    });
    return {
      balance: after.balance,
      held: after.held,
      available: after.balance - after.held,
      granted: g.amount,
      transaction_id: entryId,
      duplicate: false,
    };
  });
}

/** A grant made by an operator through the API or the dashboard: audited. */
export async function manualGrant(
  ctx: AppContext,
  q: Queryable,
  caller: Caller,
  customerId: string,
  body: z.infer<typeof GrantSchema>,
) {
  if (body.expires_at && new Date(body.expires_at).getTime() <= (await projectNow(ctx, caller.projectId)).getTime()) {
    throw new InvalidRequestError('expires_at must be in the future', 'expires_at');
  }
  const res = await grant(ctx, q, caller.projectId, customerId, {
    amount: body.amount,
    reason: body.reason,
    expiresAt: body.expires_at ? new Date(body.expires_at) : null,
    metadata: body.metadata ?? null,
  });
  await audit(
    q,
    caller,
    { action: 'credits.granted', customerId, details: { amount: body.amount, reason: body.reason, transaction_id: res.transaction_id } },
    ctx.clock.now(),
  );
  return res;
}

/**
 * Takes back up to `amount` credits (a refund of a pack): never below what is available, so
 * credits already spent are reported as `shortfall`, not turned into debt.
 */
export async function reverse(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  r: { amount: number; reason: string; sourceId: string },
): Promise<{ reversed: number; shortfall: number; balance: number; transaction_id: string | null }> {
  return q.tx(async (trx) => {
    const prior = await repo.findEntryBySource(trx, projectId, customerId, 'reversal', r.sourceId);
    const acct = await repo.lockAccount(trx, projectId, customerId);
    if (!acct) throw new NotFoundError('credit account', customerId);
    if (prior) return { reversed: -prior.amount, shortfall: r.amount + prior.amount, balance: acct.balance, transaction_id: prior.id };
    const at = await projectNow(ctx, projectId);
    const take = Math.min(r.amount, acct.balance - acct.held);
    if (take <= 0) return { reversed: 0, shortfall: r.amount, balance: acct.balance, transaction_id: null };
    if (acct.expiring_grants > 0) await repo.consumeGrants(trx, projectId, customerId, take);
    const id = newId('ledger');
    const after = await repo.applyEntry(trx, {
      projectId,
      customerId,
      id,
      amount: -take,
      kind: 'reversal',
      reason: r.reason,
      sourceId: r.sourceId,
      metadata: { requested: r.amount, shortfall: r.amount - take },
      at,
    });
    await emit(trx, {
      projectId,
      type: 'credits.reversed',
      customerId,
      data: { amount: take, shortfall: r.amount - take, balance: after?.balance ?? 0, reason: r.reason },
      at,
    });
    return { reversed: take, shortfall: r.amount - take, balance: after?.balance ?? 0, transaction_id: id };
  });
}

export async function balanceOf(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  await requireCustomer(q, projectId, customerId);
  const acct = await repo.findAccount(q, projectId, customerId);
  const balance = acct?.balance ?? 0;
  const held = acct?.held ?? 0;
  return { customer_id: customerId, balance, held, available: balance - held };
}

export async function history(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  opts: { limit: number; startingAfter?: string; memberId?: string },
) {
  await requireCustomer(q, projectId, customerId);
  const rows = await repo.listEntries(q, projectId, customerId, opts);
  const has_more = rows.length > opts.limit;
  return {
    object: 'list',
    data: rows.slice(0, opts.limit).map((e) => ({
      id: e.id,
      object: 'credit_transaction',
      customer_id: e.customer_id,
      amount: e.amount,
      type: e.amount > 0 ? 'credit' : 'debit',
      kind: e.kind,
      reason: e.reason,
      balance_after: e.balance_after,
      member_id: typeof e.metadata?.member_id === 'string' ? e.metadata.member_id : null,
      metadata: e.metadata ?? {},
      expires_at: e.expires_at,
      created_at: e.created_at,
    })),
    has_more,
  };
}

// Transfers -------------------------------------------------------------------------------

export const TransferSchema = z
  .object({
    from: CustomerIdSchema,
    to: CustomerIdSchema,
    amount: CreditAmount,
    reason: z.string().min(1).max(500).default('Transfer'),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((b) => b.from !== b.to, { message: 'from and to must be different customers', path: ['to'] });

/**
 * Moves credits between two customers of a project in one transaction: a `transfer_out` entry on
 * the sender, a `transfer_in` entry on the receiver, both naming the transfer. Both accounts are
 * locked in id order, so opposite transfers racing each other never deadlock. The sender spends
 * soonest-expiring credits first; what the receiver gets does not expire.
 */
export async function transfer(ctx: AppContext, q: Queryable, projectId: string, input: z.infer<typeof TransferSchema>) {
  await requireCustomer(q, projectId, input.from);
  await requireCustomer(q, projectId, input.to);
  return q.tx(async (trx) => {
    const at = await projectNow(ctx, projectId);
    for (const id of [input.from, input.to]) await repo.insertAccount(trx, projectId, id, at);
    const locked: Record<string, repo.AccountRow | undefined> = {};
    for (const id of [input.from, input.to].sort()) locked[id] = await repo.lockAccount(trx, projectId, id);
    const src = locked[input.from];
    if (!src) throw new Error('account vanished');
    const available = src.balance - src.held;
    if (available < input.amount) throw new InsufficientCreditsError(src.balance, input.amount, available);
    if (src.expiring_grants > 0) await repo.consumeGrants(trx, projectId, input.from, input.amount);
    const transferId = newId('transfer');
    const outId = newId('ledger');
    const inId = newId('ledger');
    const meta = input.metadata ?? {};
    const fromAfter = await repo.applyEntry(trx, {
      projectId,
      customerId: input.from,
      id: outId,
      amount: -input.amount,
      kind: 'transfer_out',
      reason: input.reason,
      sourceId: transferId,
      metadata: { ...meta, transfer_id: transferId, to: input.to },
      at,
    });
    const toAfter = await repo.applyEntry(trx, {
      projectId,
      customerId: input.to,
      id: inId,
      amount: input.amount,
      kind: 'transfer_in',
      reason: input.reason,
      sourceId: transferId,
      metadata: { ...meta, transfer_id: transferId, from: input.from },
      at,
    });
    if (!fromAfter || !toAfter) throw new Error('account vanished');
    await emit(trx, {
      projectId,
      type: 'credits.transferred',
      customerId: input.from,
      data: { transfer_id: transferId, from: input.from, to: input.to, amount: input.amount, reason: input.reason },
      at,
    });
    const side = (id: string, a: { balance: number; held: number }, tx: string) => ({
      customer_id: id,
      balance: a.balance,
      held: a.held,
      available: a.balance - a.held,
      transaction_id: tx,
    });
    return {
      id: transferId,
      object: 'credit_transfer',
      amount: input.amount,
      reason: input.reason,
      from: side(input.from, fromAfter, outId),
      to: side(input.to, toAfter, inId),
      created_at: at,
    };
  });
}

// Holds -----------------------------------------------------------------------------------

export function holdView(h: repo.HoldRow, acct?: { balance: number; held: number }) {
  return {
    id: h.id,
    object: 'hold',
    customer_id: h.customer_id,
    amount: h.amount,
    status: h.status,
    captured_amount: h.captured_amount,
    reason: h.reason,
    expires_at: h.expires_at,
    created_at: h.created_at,
    closed_at: h.closed_at,
    ...(acct ? { balance: acct.balance, held: acct.held, available: acct.balance - acct.held } : {}),
  };
}

export async function createHold(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  input: z.infer<typeof HoldSchema>,
) {
  const { amount } = await creditsRequired(ctx, projectId, input);
  await ensureCustomer(ctx, q, projectId, customerId);
  return q.tx(async (trx) => {
    const at = await projectNow(ctx, projectId);
    const acct = await repo.reserve(trx, projectId, customerId, amount, at);
    if (!acct) {
      const cur = await repo.findAccount(trx, projectId, customerId);
      throw new InsufficientCreditsError(cur?.balance ?? 0, amount, (cur?.balance ?? 0) - (cur?.held ?? 0));
    }
    const hold = await repo.insertHold(trx, {
      id: newId('hold'),
      projectId,
      customerId,
      amount,
      reason: input.reason ?? null,
      expiresAt: new Date(at.getTime() + input.expires_in * 1000),
      at,
    });
    return holdView(hold, acct);
  });
}

/** Spends what the job really cost (≤ the hold) and frees the rest. */
export async function captureHold(ctx: AppContext, q: Queryable, projectId: string, holdId: string, amount?: number) {
  return q.tx(async (trx) => {
    const hold = await repo.lockHold(trx, projectId, holdId);
    if (!hold) throw new NotFoundError('hold', holdId);
    if (hold.status !== 'held') throw new ConflictError(`Hold is already ${hold.status}`, { status: hold.status });
    const at = await projectNow(ctx, projectId);
    if (hold.expires_at.getTime() <= at.getTime()) {
      await releaseLocked(trx, hold, 'expired', at);
      throw new ConflictError('Hold has expired and was released', { status: 'expired' });
    }
    const take = amount ?? hold.amount;
    if (take > hold.amount) {
      throw new InvalidRequestError(`amount must not exceed the hold (${hold.amount})`, 'amount');
    }
    const acct = await repo.lockAccount(trx, projectId, hold.customer_id);
    if (acct && acct.expiring_grants > 0 && take > 0) await repo.consumeGrants(trx, projectId, hold.customer_id, take);
    const after = await repo.applyEntry(trx, {
      projectId,
      customerId: hold.customer_id,
      id: newId('ledger'),
      amount: -take,
      heldDelta: -hold.amount,
      kind: 'capture',
      reason: hold.reason ?? 'Hold captured',
      sourceId: hold.id,
      metadata: { hold_id: hold.id, held: hold.amount },
      at,
    });
    const closed = await repo.closeHold(trx, hold.id, 'captured', take, at);
    return holdView(closed, after);
  });
}

async function releaseLocked(q: Queryable, hold: repo.HoldRow, status: 'released' | 'expired', at: Date) {
  const after = await repo.applyEntry(q, {
    projectId: hold.project_id,
    customerId: hold.customer_id,
    id: newId('ledger'),
    amount: 0,
    heldDelta: -hold.amount,
    kind: 'release',
    reason: null,
    at,
  });
  const closed = await repo.closeHold(q, hold.id, status, null, at);
  return holdView(closed, after);
}

export async function releaseHold(ctx: AppContext, q: Queryable, projectId: string, holdId: string) {
  return q.tx(async (trx) => {
    const hold = await repo.lockHold(trx, projectId, holdId);
    if (!hold) throw new NotFoundError('hold', holdId);
    if (hold.status !== 'held') throw new ConflictError(`Hold is already ${hold.status}`, { status: hold.status });
    return releaseLocked(trx, hold, 'released', await projectNow(ctx, projectId));
  });
}

export async function getHold(q: Queryable, projectId: string, holdId: string) {
  const hold = await repo.findHold(q, projectId, holdId);
  if (!hold) throw new NotFoundError('hold', holdId);
  return holdView(hold);
}

/** Rows sorted by (project, customer) in code-unit order, the order batches lock accounts in. */
function byAccount<T extends { project_id: string; customer_id: string }>(rows: T[]): T[] {
  const k = (r: T) => `${r.project_id}\u0000${r.customer_id}`;
  return rows.sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));
}

/** Background: releases holds past their expiry and expires what is left of expiring grants. */
export async function expireDue(ctx: AppContext, batch = 100): Promise<{ holds: number; grants: number }> {
  const now = ctx.clock.now();
  const holds = await ctx.db.tx(async (trx) => {
    // Accounts are locked in (project, customer) byte order, as every batch locks them.
    const due = byAccount(await repo.claimDueHolds(trx, now, batch));
    for (const h of due) await releaseLocked(trx, h, 'expired', now);
    return due.length;
  });
  const grants = await ctx.db.tx(async (trx) => {
    const due = byAccount(await repo.claimDueGrants(trx, now, batch));
    for (const g of due) await expireGrant(trx, g);
    return due.length;
  });
  return { holds, grants };
}

/**
 * One grant at its expiry: what is left of it (never more than is available) either carries into
 * the next grant of the same source — plan credits rolling over, up to the plan's cap — or expires
 * as a ledger entry saying how many credits expired, announced as `credits.expired`.
 */
async function expireGrant(trx: Queryable, g: repo.DueGrantRow): Promise<void> {
  const acct = await repo.lockAccount(trx, g.project_id, g.customer_id);
  // Re-read: an earlier grant of this batch may have carried credits into this one.
  const remaining = (await repo.grantRemaining(trx, g.id)) ?? g.remaining;
  const left = Math.max(0, Math.min(remaining, acct ? acct.balance - acct.held : 0));
  let carried = 0;
  if (g.carry_source !== null && (g.carry_cap ?? 0) > 0 && left > 0) {
    const next = await repo.lockNextCarryGrant(trx, g.project_id, g.customer_id, g.carry_source, g.expires_at);
    if (next) {
      carried = Math.min(left, g.carry_cap ?? 0);
      await repo.addToGrant(trx, next, carried);
    }
  }
  const expired = left - carried;
  const planCredits = g.carry_source !== null;
  const reason = `${expired} credits expired${planCredits ? ' at the end of the period' : ''}`;
  const after = await repo.applyEntry(trx, {
    projectId: g.project_id,
    customerId: g.customer_id,
    id: newId('ledger'),
    amount: -expired,
    expiringDelta: -1,
    kind: 'expiry',
    reason,
    sourceId: g.id,
    metadata: { grant_id: g.id, granted_for: g.reason, ...(planCredits ? { carried_over: carried } : {}) },
    at: g.expires_at,
  });
  await repo.markGrantExpired(trx, g.id, g.expires_at);
  if (expired > 0) {
    await emit(trx, {
      projectId: g.project_id,
      type: 'credits.expired',
      customerId: g.customer_id,
      data: { amount: expired, carried_over: carried, balance: after?.balance ?? 0, grant_id: g.id, reason },
      at: g.expires_at,
    });
  }
}

// Disputes -------------------------------------------------------------------------------

/**
 * Sets aside up to `amount` credits while a payment is disputed (docs/disputes.md): they stay in the
 * balance but count as held, so they cannot be spent. Never more than is available: what was already
 * spent is reported as `shortfall`.
 */
export async function holdDisputedCredits(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  amount: number,
): Promise<{ held: number; shortfall: number }> {
  const acct = await repo.lockAccount(q, projectId, customerId);
  if (!acct || amount <= 0) return { held: 0, shortfall: Math.max(0, amount) };
  const take = Math.max(0, Math.min(amount, acct.balance - acct.held));
  if (take > 0) {
    await repo.applyEntry(q, {
      projectId,
      customerId,
      id: newId('ledger'),
      amount: 0,
      heldDelta: take,
      kind: 'dispute_hold',
      reason: null,
      at: await projectNow(ctx, projectId),
    });
  }
  return { held: take, shortfall: amount - take };
}

/**
 * Ends a dispute's hold: won, the credits are free again; lost, they are taken for good as a
 * `reversal` ledger entry (announced as `credits.reversed`), once per dispute.
 */
export async function settleDisputedCredits(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  e: { held: number; outcome: 'won' | 'lost'; disputeId: string; reason: string },
): Promise<{ reversed: number; balance: number }> {
  const acct = await repo.lockAccount(q, projectId, customerId);
  if (!acct || e.held <= 0) return { reversed: 0, balance: acct?.balance ?? 0 };
  const at = await projectNow(ctx, projectId);
  const take = e.outcome === 'lost' ? e.held : 0;
  if (take > 0 && acct.expiring_grants > 0) await repo.consumeGrants(q, projectId, customerId, take);
  const after = await repo.applyEntry(q, {
    projectId,
    customerId,
    id: newId('ledger'),
    amount: -take,
    heldDelta: -e.held,
    kind: 'reversal',
    reason: e.reason,
    sourceId: e.disputeId,
    metadata: { dispute_id: e.disputeId, held: e.held },
    at,
  });
  if (take > 0) {
    await emit(q, {
      projectId,
      type: 'credits.reversed',
      customerId,
      data: { amount: take, shortfall: 0, balance: after?.balance ?? 0, reason: e.reason },
      at,
    });
  }
  return { reversed: take, balance: after?.balance ?? acct.balance };
}
