import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AppContext, Caller } from '../../app/context.ts';
import type { PaymentRecordedHook, SubscriptionStartedHook } from '../../app/registry.ts';
import type { Queryable } from '../../db/db.ts';
import { findPlan } from '../../domain/catalog.ts';
import { ConflictError, CustomerDeletedError, CustomerNotFoundError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { newId, randomToken } from '../../domain/ids.ts';
import { audit } from '../audit/audit.service.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { requireCustomer } from '../customers/customers.service.ts';
import { ApiKeyPrefixSchema, getProject, projectNow } from '../projects/projects.service.ts';
import { countAttempts } from '../rate-limit/rate-limit.service.ts';
import { entitlementsOf } from '../usage/usage.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './api-keys.repository.ts';

export type { CustomerApiKeyRow } from './api-keys.repository.ts';

export const CreateApiKeyBody = z
  .object({
    name: z.string().min(1).max(100).optional(),
    scopes: z.array(z.string().min(1).max(100)).max(50).default([]),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    rate_limit: z
      .object({ limit: z.number().int().min(1).max(1_000_000_000), window_seconds: z.number().int().min(1).max(86_400 * 31) })
      .strict()
      .optional(),
    remaining: z.number().int().min(0).max(1_000_000_000_000).optional(),
  })
  .strict();
export type CreateApiKeyBody = z.infer<typeof CreateApiKeyBody>;

const SECRET_LENGTH = 43; // base62: 43 characters ≈ 256 bits (≥ 32 random bytes)

export function hashApiKey(raw: string): string {
  return createHash('sha256').update(raw).digest('hex');
}

/** The default prefix: the project id's letters and digits (up to 12), or `key`. */
export function defaultPrefix(projectId: string): string {
  const p = projectId.toLowerCase().replace(/[^a-z0-9]/g, '').replace(/^[0-9]+/, '').slice(0, 12);
  return p.length >= 2 && p !== 'sk' && p !== 'pk' ? p : 'key';
}

async function prefixFor(ctx: AppContext, projectId: string): Promise<string> {
  const project = await getProject(ctx, projectId);
  const set = (project.settings?.api_keys as { prefix?: unknown } | undefined)?.prefix;
  return typeof set === 'string' && ApiKeyPrefixSchema.safeParse(set).success ? set : defaultPrefix(projectId);
}

export function apiKeyView(k: repo.CustomerApiKeyRow, now: Date) {
  const status = k.revoked_at ? 'revoked' : k.expires_at && k.expires_at <= now ? 'expired' : 'active';
  return {
    id: k.id,
    object: 'customer_api_key' as const,
    customer_id: k.customer_id,
    name: k.name,
    preview: k.preview,
    scopes: k.scopes,
    status,
    expires_at: k.expires_at,
    rate_limit: k.rate_limit && k.rate_limit_window_seconds ? { limit: k.rate_limit, window_seconds: k.rate_limit_window_seconds } : null,
    remaining: k.remaining,
    auto_issued: k.auto_issued,
    rolled_to: k.rolled_to,
    created_at: k.created_at,
    revoked_at: k.revoked_at,
  };
}

interface KeySettings {
  name: string | null;
  scopes: string[];
  expiresAt: Date | null;
  rateLimit: { limit: number; window_seconds: number } | null;
  remaining: number | null;
  autoIssued: boolean;
}

async function issue(ctx: AppContext, q: Queryable, projectId: string, customerId: string, s: KeySettings, at: Date) {
  const raw = `${await prefixFor(ctx, projectId)}_${randomToken(SECRET_LENGTH)}`;
  const row = await repo.insertKey(q, {
    project_id: projectId,
    id: newId('customerApiKey'),
    customer_id: customerId,
    key_hash: hashApiKey(raw),
    preview: `${raw.slice(0, raw.indexOf('_') + 5)}…${raw.slice(-4)}`,
    name: s.name,
    scopes: s.scopes,
    expires_at: s.expiresAt,
    rate_limit: s.rateLimit?.limit ?? null,
    rate_limit_window_seconds: s.rateLimit?.window_seconds ?? null,
    remaining: s.remaining,
    auto_issued: s.autoIssued,
    created_at: at,
  });
  // For the app's webhooks and the "API key ready" e-mail of an automatic key; never the key itself.
  if (row) await emit(q, { projectId, type: 'api_key.created', customerId, data: apiKeyView(row, at), at });
  return row ? { row, key: raw } : undefined;
}

/** Creates a key for the customer; the reply is the only time the key is shown. */
export async function createApiKey(ctx: AppContext, q: Queryable, caller: Caller, customerId: string, body: CreateApiKeyBody) {
  await requireCustomer(q, caller.projectId, customerId);
  const at = await projectNow(ctx, caller.projectId);
  const expiresAt = body.expires_at ? new Date(body.expires_at) : null;
  if (expiresAt && expiresAt <= at) throw new InvalidRequestError('expires_at must be in the future', 'expires_at');
  const out = await issue(
    ctx,
    q,
    caller.projectId,
    customerId,
    { name: body.name ?? null, scopes: [...new Set(body.scopes)], expiresAt, rateLimit: body.rate_limit ?? null, remaining: body.remaining ?? null, autoIssued: false },
    at,
  );
  if (!out) throw new Error('key insert returned no row');
  await audit(q, caller, { action: 'api_key.created', customerId, target: out.row.id, details: { name: out.row.name, scopes: out.row.scopes } }, at);
  return { ...apiKeyView(out.row, at), key: out.key };
}

export async function listApiKeys(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  await requireCustomer(q, projectId, customerId);
  const now = await projectNow(ctx, projectId);
  return { object: 'list' as const, data: (await repo.listKeys(q, projectId, customerId)).map((k) => apiKeyView(k, now)), has_more: false };
}

async function lockLiveKey(q: Queryable, projectId: string, id: string, customerId?: string) {
  const k = await repo.lockKey(q, projectId, id);
  // A customer (billing portal) reaches its own keys only.
  if (!k || (customerId !== undefined && k.customer_id !== customerId)) throw new NotFoundError('api key', id);
  await requireCustomer(q, projectId, k.customer_id); // an erased customer's keys: 404 customer_deleted
  return k;
}

/**
 * Replaces a key by a new one with the same settings (shown once); the old key keeps working until
 * `grace_seconds` from now (0: it stops at once), then verifies as `expired`.
 */
export async function rollApiKey(ctx: AppContext, q: Queryable, caller: Caller, id: string, graceSeconds: number, opts: { customerId?: string } = {}) {
  const old = await lockLiveKey(q, caller.projectId, id, opts.customerId);
  const at = await projectNow(ctx, caller.projectId);
  if (old.revoked_at) throw new ConflictError(`API key '${id}' is revoked`);
  if (old.rolled_to) throw new ConflictError(`API key '${id}' was already rolled to '${old.rolled_to}'`, { rolled_to: old.rolled_to });
  if (old.expires_at && old.expires_at <= at) throw new ConflictError(`API key '${id}' has expired`);
  const fresh = await issue(
    ctx,
    q,
    caller.projectId,
    old.customer_id,
    {
      name: old.name,
      scopes: old.scopes,
      expiresAt: old.expires_at,
      rateLimit: old.rate_limit && old.rate_limit_window_seconds ? { limit: old.rate_limit, window_seconds: old.rate_limit_window_seconds } : null,
      remaining: old.remaining,
      autoIssued: false,
    },
    at,
  );
  if (!fresh) throw new Error('key insert returned no row');
  const graceEnd = new Date(at.getTime() + graceSeconds * 1000);
  const expires = old.expires_at && old.expires_at < graceEnd ? old.expires_at : graceEnd;
  const updated = await repo.updateKey(q, caller.projectId, id, { expires_at: expires, rolled_to: fresh.row.id });
  await audit(
    q,
    caller,
    { action: 'api_key.rolled', customerId: old.customer_id, target: id, details: { new_key_id: fresh.row.id, grace_seconds: graceSeconds } },
    at,
  );
  return { ...apiKeyView(fresh.row, at), key: fresh.key, previous: apiKeyView(updated, at) };
}

export async function revokeApiKey(ctx: AppContext, q: Queryable, caller: Caller, id: string) {
  const at = await projectNow(ctx, caller.projectId);
  // One statement (lock, revoke, audit): a revocation reaches the SDK caches sooner with fewer round trips.
  const r = await repo.revokeKey(q, caller.projectId, id, at, { id: newId('audit'), actor: caller.actor, ip: caller.ip ?? null });
  if (!r) throw new NotFoundError('api key', id);
  if (!r.customerFound) throw new CustomerNotFoundError(r.key.customer_id);
  if (r.customerDeleted) throw new CustomerDeletedError(r.key.customer_id); // an erased customer's keys: 404 customer_deleted
  return apiKeyView(r.key, at);
}

/** The customer's keys for the billing portal (no secrets). */
export async function portalKeys(ctx: AppContext, projectId: string, customerId: string) {
  const now = await projectNow(ctx, projectId);
  return (await repo.listKeys(ctx.db, projectId, customerId)).map((k) => apiKeyView(k, now));
}

export type VerifyCode = 'not_found' | 'revoked' | 'expired' | 'usage_exceeded' | 'rate_limited' | 'customer_deleted';

/**
 * Checks a key: one lookup by its hash, then (when set) the key's rate limit, counted in the shared
 * rate-limit counters, and its remaining budget, taken atomically. A valid key answers its customer,
 * scopes, plan and entitlements.
 */
export async function verifyApiKey(ctx: AppContext, q: Queryable, projectId: string, raw: string) {
  const k = await repo.findByHash(q, projectId, hashApiKey(raw));
  if (!k) return { valid: false, code: 'not_found' as VerifyCode };
  const base = { key_id: k.id, customer_id: k.customer_id };
  if (k.customer_deleted_at) return { valid: false, code: 'customer_deleted' as VerifyCode, ...base };
  if (k.revoked_at) return { valid: false, code: 'revoked' as VerifyCode, ...base };
  const now = await projectNow(ctx, projectId);
  if (k.expires_at && k.expires_at <= now) return { valid: false, code: 'expired' as VerifyCode, ...base };
  // A key rolled with a grace period shares its budget and rate-limit window with the key that replaced it.
  const owner = k.rolled_to && (k.rate_limit || k.remaining !== null) ? await repo.chainHead(q, projectId, k.id) : k.id;
  let rateLimit: { limit: number; remaining: number; reset: string } | null = null;
  if (k.rate_limit && k.rate_limit_window_seconds) {
    const windowMs = k.rate_limit_window_seconds * 1000;
    const { counts, retryAfter } = await countAttempts(ctx, [`ak:${projectId}:${owner}`], windowMs, 1);
    const used = counts[0] ?? 0;
    rateLimit = {
      limit: k.rate_limit,
      remaining: Math.max(0, k.rate_limit - used),
      reset: new Date(ctx.clock.now().getTime() + retryAfter * 1000).toISOString(),
    };
    if (used > k.rate_limit) return { valid: false, code: 'rate_limited' as VerifyCode, ...base, rate_limit: rateLimit };
  }
  let remaining: number | null = null;
  if (k.remaining !== null) {
    const left = await repo.takeRemaining(q, projectId, owner);
    if (left === undefined) return { valid: false, code: 'usage_exceeded' as VerifyCode, ...base, remaining: 0, rate_limit: rateLimit };
    remaining = left;
  }
  const ent = await entitlementsOf(ctx, q, projectId, k.customer_id);
  return {
    valid: true,
    ...base,
    name: k.name,
    scopes: k.scopes,
    plan: ent.plan,
    entitlements: ent.features,
    remaining,
    expires_at: k.expires_at,
    rate_limit: rateLimit,
  };
}

/** Issues the customer's one automatic key (idempotent: a second call issues nothing). */
async function autoIssue(ctx: AppContext, q: Queryable, projectId: string, customerId: string, at: Date, reason: string): Promise<void> {
  const out = await issue(
    ctx,
    q,
    projectId,
    customerId,
    { name: 'Default', scopes: [], expiresAt: null, rateLimit: null, remaining: null, autoIssued: true },
    at,
  );
  if (!out) return;
  const system: Caller = { projectId, keyId: 'system', kind: 'secret', scopes: [], actor: 'system:api-keys' };
  await audit(q, system, { action: 'api_key.created', customerId, target: out.row.id, details: { auto_issued: true, reason } }, at);
}

/** A paid credit pack or plan whose catalog entry says `issues_api_key: true` gives the customer a key. */
export const issueApiKeyOnPayment: PaymentRecordedHook = async (ctx, q, payment) => {
  if (payment.status !== 'succeeded' || !payment.customer_id || !payment.item_id) return;
  const { catalog } = await getCatalog(ctx, payment.project_id);
  const issues =
    payment.kind === 'credit_pack'
      ? catalog.credit_packs.find((p) => p.id === payment.item_id)?.issues_api_key
      : payment.kind === 'plan' || payment.kind === 'subscription'
        ? findPlan(catalog, payment.item_id)?.issues_api_key
        : false;
  if (issues) await autoIssue(ctx, q, payment.project_id, payment.customer_id, payment.created_at, `payment ${payment.id}`);
};

/** A subscription (a trial too) started on a plan that says `issues_api_key: true` gives the customer a key. */
export const issueApiKeyOnSubscriptionStart: SubscriptionStartedHook = async (ctx, q, sub, at) => {
  const { catalog } = await getCatalog(ctx, sub.project_id);
  if (findPlan(catalog, sub.plan_id)?.issues_api_key) await autoIssue(ctx, q, sub.project_id, sub.customer_id, at, `subscription ${sub.id}`);
};
