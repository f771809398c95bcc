import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { CustomerDeletedError, CustomerNotFoundError } from '../../domain/errors.ts';
import { cacheOf, invalidate } from '../../db/invalidation.ts';
import { newId } from '../../domain/ids.ts';
import type { AppContext } from '../../app/context.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import * as creditsRepo from '../credits/credits.repository.ts';
import { projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './customers.repository.ts';

export type { CustomerRow } from './customers.repository.ts';

export const CustomerIdSchema = z.string().min(1, 'must not be empty').max(255, 'must be at most 255 characters');

/** Runs when a customer is first seen, in the creating transaction (sign-up credits, default trial, ...). */
/** Listed as `onCustomerCreated` of a capability in src/app/capabilities.ts. */
export type CustomerCreatedHook = (ctx: AppContext, q: Queryable, c: repo.CustomerRow, at: Date, info?: CreatedInfo) => Promise<void>;

/** How a customer came to be: `imported` ones (tollgate import) get no sign-up credits and no default trial. */
export interface CreatedInfo {
  imported?: boolean;
}

/** Adds fields to the customer view (subscription, entitlements, ...); listed as `customerView` of a capability. */
export type CustomerViewExtension = (
  ctx: AppContext,
  q: Queryable,
  c: repo.CustomerRow,
) => Promise<Record<string, unknown>>;

export interface EnsureInput {
  email?: string | null;
  name?: string | null;
  metadata?: Record<string, unknown>;
}

/**
 * The customer named by the app's id, created on first use with its sign-up credits and the
 * catalog's default trial. Safe under concurrency: one creator wins, the others read its row.
 */
/**
 * Whether a patch of email, name or metadata changes the customer. Metadata merges key by key: a key
 * changes when its value differs, or when it is present and set to null or "" (which removes it).
 */
export function coreFieldsChange(c: repo.CustomerRow, input: EnsureInput): boolean {
  return (
    (input.email !== undefined && input.email !== c.email) ||
    (input.name !== undefined && input.name !== c.name) ||
    Object.entries(input.metadata ?? {}).some(([k, v]) =>
      repo.removesKey(v) ? Object.hasOwn(c.metadata, k) : JSON.stringify(v) !== JSON.stringify(c.metadata[k]),
    )
  );
}

async function announce(q: Queryable, type: 'customer.created' | 'customer.updated', c: repo.CustomerRow, at: Date): Promise<void> {
  await emit(q, { projectId: c.project_id, type, customerId: c.id, data: { id: c.id, email: c.email, name: c.name, metadata: c.metadata }, at });
}

export async function ensureCustomer(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  id: string,
  input: EnsureInput = {},
  info: CreatedInfo = {},
): Promise<{ customer: repo.CustomerRow; created: boolean }> {
  const existing = await repo.findCustomer(q, projectId, id);
  if (existing?.deleted_at) throw new CustomerDeletedError(id);
  if (existing) return { customer: existing, created: false };
  return q.tx(async (trx) => {
    const at = await projectNow(ctx, projectId);
    const inserted = await repo.insertCustomer(trx, { projectId, id, ...input, at });
    if (!inserted) {
      const row = await repo.findCustomer(trx, projectId, id);
      if (!row) throw new Error('customer insert conflicted but no row found');
      if (row.deleted_at) throw new CustomerDeletedError(id);
      return { customer: row, created: false };
    }
    await creditsRepo.insertAccount(trx, projectId, id, at);
    const { catalog } = await getCatalog(ctx, projectId);
    const signup = catalog.signup_credits > 0 && !info.imported ? { id: newId('ledger'), amount: catalog.signup_credits, reason: 'Sign-up credits' } : null;
    const after = signup
      ? await creditsRepo.applyEntry(trx, { projectId, customerId: id, ...signup, kind: 'signup', sourceId: 'signup', at })
      : null;
    await announce(trx, 'customer.created', inserted, at);
    if (signup && after) {
      // The same event as every other grant, after the customer it belongs to.
      await emit(trx, {
        projectId,
        type: 'credits.granted',
        customerId: id,
        data: { amount: signup.amount, balance: after.balance, reason: signup.reason, kind: 'signup', transaction_id: signup.id },
        at,
      });
    }
    for (const hook of ctx.registry.onCustomerCreated) await hook(ctx, trx, inserted, at, info);
    return { customer: inserted, created: true };
  });
}

/** A page of the project's customers by id, optionally matching id, email or name. */
export function listCustomers(
  q: Queryable,
  projectId: string,
  opts: { limit: number; startingAfter?: string; search?: string },
): Promise<repo.CustomerRow[]> {
  return repo.listCustomers(q, projectId, opts);
}

export async function requireCustomer(q: Queryable, projectId: string, id: string): Promise<repo.CustomerRow> {
  const row = await repo.findCustomer(q, projectId, id);
  if (!row) throw new CustomerNotFoundError(id);
  if (row.deleted_at) throw new CustomerDeletedError(id);
  return row;
}

/**
 * Refuses a request naming an erased customer (404 customer_deleted). Whether a customer was erased
 * is cached per instance for a moment and invalidated on every instance when it is erased
 * (src/db/invalidation.ts), so the check costs no query on the hot paths.
 */
export async function refuseDeletedCustomer(ctx: AppContext, projectId: string, id: string): Promise<void> {
  const cache = cacheOf<boolean>(ctx.db, 'customer');
  // Most projects have never erased a customer: one cached answer per project spares every request
  // naming a customer its own lookup (a round trip per request on a busy server's spread traffic).
  const projectKey = `${projectId}:*`;
  let anyErased = cache.get(projectKey);
  if (anyErased === undefined) {
    anyErased = await repo.anyErased(ctx.db, projectId);
    cache.set(projectKey, anyErased);
  }
  if (!anyErased) return;
  const key = `${projectId}:${id}`;
  let deleted = cache.get(key);
  if (deleted === undefined) {
    deleted = Boolean((await repo.deletedAtOf(ctx.db, projectId, id))?.deleted_at);
    cache.set(key, deleted);
  }
  if (deleted) throw new CustomerDeletedError(id);
}

/** After an erasure committed: every instance forgets that the customer was not erased. */
export async function invalidateCustomer(ctx: AppContext, projectId: string, id: string): Promise<void> {
  await invalidate(ctx.db, [
    { scope: 'customer', key: `${projectId}:${id}` },
    { scope: 'customer', key: `${projectId}:*` },
  ]);
}

export async function upsertCustomer(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  input: { id: string } & EnsureInput,
): Promise<{ customer: repo.CustomerRow; created: boolean }> {
  const { id, ...rest } = input;
  const res = await ensureCustomer(ctx, q, projectId, id, rest);
  if (res.created) return res;
  if (!coreFieldsChange(res.customer, rest)) return res;
  const at = await projectNow(ctx, projectId);
  const updated = await repo.updateCustomer(q, projectId, id, rest, at);
  if (!updated) throw new CustomerNotFoundError(id);
  await announce(q, 'customer.updated', updated, at);
  return { customer: updated, created: false };
}

export async function customerView(ctx: AppContext, q: Queryable, c: repo.CustomerRow): Promise<Record<string, unknown>> {
  const acct = await creditsRepo.findAccount(q, c.project_id, c.id);
  const balance = acct?.balance ?? 0;
  const held = acct?.held ?? 0;
  const view: Record<string, unknown> = {
    id: c.id,
    object: 'customer',
    email: c.email,
    name: c.name,
    metadata: c.metadata,
    created_at: c.created_at,
    updated_at: c.updated_at,
    balance,
    credits: { balance, held, available: balance - held },
  };
  for (const ext of ctx.registry.customerView) Object.assign(view, await ext(ctx, q, c));
  return view;
}

export { repo as customersRepository };
