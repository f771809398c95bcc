import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { newId, randomToken } from '../../domain/ids.ts';
import type { SessionAuthenticator } from '../../app/registry.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { cacheOf } from '../../db/invalidation.ts';
import { CustomerIdSchema, ensureCustomer } from '../customers/customers.service.ts';
import { hashKey, projectNow } from '../projects/projects.service.ts';
import * as repo from './customer-sessions.repository.ts';

export const SESSION_PREFIX = 'tgcs_';
export const CUSTOMER_SESSION_TTL_MS = 3600 * 1000;

export const CreateSessionBody = z.object({ customer_id: CustomerIdSchema }).strict();

export function hostedUrls(ctx: AppContext, projectId: string, token: string) {
  const base = `${ctx.config.publicUrl}/p/${encodeURIComponent(projectId)}`;
  const q = `?session=${encodeURIComponent(token)}`;
  return { pricing: `${base}/pricing${q}`, credits: `${base}/credits${q}`, portal: `${base}/portal${q}` };
}

/** A short-lived token that lets a browser act for one customer; only its hash is stored. */
export async function createCustomerSession(ctx: AppContext, q: Queryable, caller: Caller, customerId: string) {
  await ensureCustomer(ctx, q, caller.projectId, customerId);
  const at = await projectNow(ctx, caller.projectId);
  const token = `${SESSION_PREFIX}${randomToken(40)}`;
  const row = await repo.insertSession(q, {
    id: newId('session'),
    projectId: caller.projectId,
    customerId,
    tokenHash: hashKey(token),
    createdBy: caller.actor,
    at,
    expiresAt: new Date(at.getTime() + CUSTOMER_SESSION_TTL_MS),
  });
  return {
    id: row.id,
    object: 'customer_session',
    customer_id: customerId,
    token,
    expires_at: row.expires_at,
    urls: hostedUrls(ctx, caller.projectId, token),
  };
}

/** The live session a token names, or undefined (unknown or expired). */
export async function resolveCustomerSession(ctx: AppContext, token: string): Promise<repo.CustomerSessionRow | undefined> {
  if (!token.startsWith(SESSION_PREFIX) || token.length > 200) return undefined;
  const hash = hashKey(token);
  const sessionCache = cacheOf<repo.CustomerSessionRow | null>(ctx.db, 'session');
  let row = sessionCache.get(hash);
  if (row === undefined) {
    row = (await repo.findSessionByHash(ctx.db, hash)) ?? null;
    sessionCache.set(hash, row);
  }
  if (!row) return undefined;
  const now = await projectNow(ctx, row.project_id);
  return row.expires_at.getTime() > now.getTime() ? row : undefined;
}

export function sessionCaller(row: repo.CustomerSessionRow): Caller {
  return {
    projectId: row.project_id,
    keyId: row.id,
    kind: 'customer_session',
    scopes: [],
    customerId: row.customer_id,
    actor: `customer:${row.customer_id}`,
  };
}

export const authenticateCustomerSession: SessionAuthenticator = async (ctx, token) => {
  const row = await resolveCustomerSession(ctx, token);
  return row ? sessionCaller(row) : undefined;
};

/** Background: forgets sessions expired for a day. */
export async function sweepCustomerSessions(ctx: AppContext, batch = 500): Promise<number> {
  return repo.deleteExpired(ctx.db, new Date(ctx.clock.now().getTime() - 24 * 3600 * 1000), batch);
}

export { repo as customerSessionsRepository };
