import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { type Catalog, creditsForUsage, type Feature, findFeature, findPlan, type Plan } from '../../domain/catalog.ts';
import { AppError, InvalidRequestError } from '../../domain/errors.ts';
import { monthStart } from '../../domain/subscription.ts';
import type { AppContext } from '../../app/context.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import * as creditsRepo from '../credits/credits.repository.ts';
import { deduct } from '../credits/credits.service.ts';
import { CustomerIdSchema, type CustomerViewExtension, ensureCustomer } from '../customers/customers.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './usage.repository.ts';

export const UsageBody = z
  .object({
    customer_id: CustomerIdSchema,
    feature: z.string().min(1).max(64),
    quantity: z.number().finite().min(-1_000_000_000).max(1_000_000_000).default(1),
  })
  .strict();
export type UsageBody = z.infer<typeof UsageBody>;

export interface UsageAnswer {
  allowed: boolean;
  reason?: 'limit_reached' | 'insufficient_credits' | 'not_included';
  feature: string;
  type: Feature['type'];
  plan: string | null;
  usage?: number;
  limit?: number | null;
  remaining?: number | null;
  balance?: number;
  required?: number;
  value?: unknown;
}

/** What a plan grants for one feature. */
export function grantOf(plan: Plan | undefined, featureId: string): { granted: boolean; limit: number | null; value: unknown; reset?: string } {
  const pf = plan?.features[featureId];
  if (pf === undefined || pf === false) return { granted: false, limit: 0, value: null };
  if (pf === true) return { granted: true, limit: null, value: true };
  if (pf.value === false) return { granted: false, limit: 0, value: false };
  return { granted: true, limit: pf.limit ?? null, value: pf.value ?? null, reset: pf.reset };
}

const limitsCache = new WeakMap<Catalog, Map<string, { plans: string[]; limits: number[] }>>();
/** Per-plan limits of one feature, as arrays for the track statement (-1 = unlimited). */
function limitsOf(catalog: Catalog, featureId: string) {
  let byFeature = limitsCache.get(catalog);
  if (!byFeature) {
    byFeature = new Map();
    limitsCache.set(catalog, byFeature);
  }
  let entry = byFeature.get(featureId);
  if (!entry) {
    entry = { plans: [], limits: [] };
    for (const plan of catalog.plans) {
      const g = grantOf(plan, featureId);
      if (!g.granted) continue;
      entry.plans.push(plan.id);
      entry.limits.push(g.limit === null ? -1 : g.limit);
    }
    byFeature.set(featureId, entry);
  }
  return entry;
}

function requireFeature(catalog: Catalog, id: string): Feature {
  const f = findFeature(catalog, id);
  if (!f) throw new InvalidRequestError(`Unknown feature '${id}'`, 'feature');
  return f;
}

export function validateQuantity(feature: Feature, quantity: number, tracking: boolean) {
  if (feature.type === 'credits') {
    if (quantity <= 0) throw new InvalidRequestError('quantity must be positive for a credits feature', 'quantity');
    return;
  }
  if (!Number.isInteger(quantity)) throw new InvalidRequestError('quantity must be an integer', 'quantity');
  if (quantity < 0 && feature.type !== 'allocated') {
    throw new InvalidRequestError('only an allocated feature can be released with a negative quantity', 'quantity');
  }
  if (quantity === 0 && tracking && feature.type !== 'boolean' && feature.type !== 'value') {
    throw new InvalidRequestError('quantity must not be 0', 'quantity');
  }
}

/** The metered period a count belongs to: the subscription's, else the calendar month (as the track statement). */
export function meteredPeriod(subPeriod: Date | null, now: Date): Date {
  return subPeriod ?? monthStart(now);
}

/**
 * A counted (metered or allocated) feature as the plan grants it and as it is used now: the limit (0
 * when not granted, null when unlimited) and the count, a metered count being 0 once its period passed.
 * The one rule behind the customer view's entitlements and the stream's snapshots.
 */
export function counterStanding(
  f: Feature,
  g: { granted: boolean; limit: number | null },
  counter: { used: number | string | null; period_start: Date | string | null } | undefined,
  subscriptionPeriodStart: Date | null,
  now: Date,
): { limit: number | null; usage: number } {
  let usage = Number(counter?.used ?? 0);
  if (f.type === 'metered') {
    const counted = counter?.period_start ? new Date(counter.period_start).getTime() : null;
    if (counted !== meteredPeriod(subscriptionPeriodStart, now).getTime()) usage = 0;
  }
  return { limit: g.granted ? g.limit : 0, usage };
}

export function counterAnswer(
  feature: Feature,
  planId: string | null,
  granted: boolean,
  limit: number | null,
  usage: number,
  quantity: number,
  allowedOverride?: boolean,
): UsageAnswer {
  const base = { feature: feature.id, type: feature.type, plan: planId };
  if (!granted) return { allowed: false, reason: 'not_included', ...base, usage, limit: 0, remaining: 0 };
  const remaining = limit === null ? null : Math.max(0, limit - usage);
  const allowed = allowedOverride ?? (quantity <= 0 || limit === null || usage + quantity <= limit);
  return { allowed, ...(allowed ? {} : { reason: 'limit_reached' as const }), ...base, usage, limit, remaining };
}

/** `POST /v1/check`: may the customer use `quantity` of the feature now? Reads only. */
export async function check(ctx: AppContext, projectId: string, body: UsageBody): Promise<UsageAnswer> {
  const { catalog } = await getCatalog(ctx, projectId);
  const feature = requireFeature(catalog, body.feature);
  validateQuantity(feature, body.quantity, false);
  if (feature.type === 'credits') {
    let acct = await creditsRepo.findAccount(ctx.db, projectId, body.customer_id);
    if (!acct) {
      await ensureCustomer(ctx, ctx.db, projectId, body.customer_id);
      acct = await creditsRepo.findAccount(ctx.db, projectId, body.customer_id);
    }
    const required = creditsForUsage(feature, body.quantity);
    const available = (acct?.balance ?? 0) - (acct?.held ?? 0);
    const allowed = available >= required;
    return {
      allowed,
      ...(allowed ? {} : { reason: 'insufficient_credits' as const }),
      feature: feature.id,
      type: feature.type,
      plan: null,
      balance: acct?.balance ?? 0,
      required,
    };
  }
  let read = await repo.readUsage(ctx.db, projectId, body.customer_id, feature.id);
  if (!read.known) {
    await ensureCustomer(ctx, ctx.db, projectId, body.customer_id);
    read = await repo.readUsage(ctx.db, projectId, body.customer_id, feature.id);
  }
  return checkAnswer(catalog, feature, read, feature.type === 'metered' ? await projectNow(ctx, projectId) : null, body.quantity);
}

/** The answer of `POST /v1/check` for a feature that is not a credits feature, from what was read. */
export function checkAnswer(catalog: Catalog, feature: Feature, read: repo.UsageRead, now: Date | null, quantity: number): UsageAnswer {
  const planId = read.plan_id ?? catalog.free_plan ?? null;
  const g = grantOf(planId ? findPlan(catalog, planId) : undefined, feature.id);
  const base = { feature: feature.id, type: feature.type, plan: planId };
  if (feature.type === 'boolean') return g.granted ? { allowed: true, ...base } : { allowed: false, reason: 'not_included', ...base };
  if (feature.type === 'value') {
    return g.granted ? { allowed: true, ...base, value: g.value } : { allowed: false, reason: 'not_included', ...base, value: null };
  }
  let usage = Number(read.used ?? 0);
  if (feature.type === 'metered' && now) {
    const period = meteredPeriod(read.current_period_start, now);
    if ((read.period_start ? new Date(read.period_start).getTime() : null) !== period.getTime()) usage = 0;
  }
  return counterAnswer(feature, planId, g.granted, g.limit, usage, quantity);
}

/**
 * `POST /v1/track`: records usage if the customer's entitlements allow it, atomically; a limit
 * reached is an answer (`allowed: false`), not an error, and records nothing.
 */
export async function track(ctx: AppContext, q: Queryable, projectId: string, body: UsageBody): Promise<UsageAnswer> {
  const { catalog } = await getCatalog(ctx, projectId);
  const feature = requireFeature(catalog, body.feature);
  validateQuantity(feature, body.quantity, true);
  if (feature.type === 'credits') {
    try {
      const r = await deduct(ctx, q, projectId, body.customer_id, { usage: { feature: feature.id, quantity: body.quantity } });
      return { allowed: true, feature: feature.id, type: feature.type, plan: null, balance: r.balance, required: r.deducted };
    } catch (err) {
      if (err instanceof AppError && err.code === 'insufficient_credits') {
        return {
          allowed: false,
          reason: 'insufficient_credits',
          feature: feature.id,
          type: feature.type,
          plan: null,
          balance: Number(err.details.balance ?? 0),
          required: Number(err.details.required ?? 0),
        };
      }
      throw err;
    }
  }
  if (feature.type === 'boolean' || feature.type === 'value') return check(ctx, projectId, body);
  const { plans, limits } = limitsOf(catalog, feature.id);
  const now = await projectNow(ctx, projectId);
  const metered = feature.type === 'metered';
  const input: repo.TrackInput = {
    projectId,
    customerId: body.customer_id,
    feature: feature.id,
    quantity: body.quantity,
    freePlan: catalog.free_plan ?? null,
    metered,
    fallbackPeriod: metered ? monthStart(now) : null,
    plans,
    limits,
    at: now,
  };
  let r = await repo.trackCounter(q, input);
  if (!r.known) {
    await ensureCustomer(ctx, q, projectId, body.customer_id);
    r = await repo.trackCounter(q, input);
  }
  const limit = r.lim === null || r.lim === -1 ? null : r.lim;
  if (r.used_after !== null) return counterAnswer(feature, r.plan_id, true, limit, r.used_after, 0, true);
  let usage = r.used_before ?? 0;
  if (r.granted && limit !== null && usage + body.quantity <= limit) {
    // Refused after waiting on a concurrent writer: the statement's snapshot predates it, so read the count again.
    const fresh = await repo.readUsage(q, projectId, body.customer_id, feature.id);
    usage = fresh.used ?? 0;
  }
  return counterAnswer(feature, r.plan_id, r.granted, limit, usage, body.quantity, false);
}

/** Every feature as the customer's current plan grants it, with usage: the customer view's `entitlements`. */
export async function entitlementsOf(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  // Sequential: inside a transaction every query shares one connection.
  const { catalog } = await getCatalog(ctx, projectId);
  const now = await projectNow(ctx, projectId);
  const counters = await repo.listCounters(q, projectId, customerId);
  const sub = await q.query<{ plan_id: string; current_period_start: Date }>(
    `SELECT plan_id, current_period_start FROM subscriptions
     WHERE project_id = $1 AND customer_id = $2 AND status IN ('trialing', 'active', 'past_due') LIMIT 1`,
    [projectId, customerId],
  );
  const acct = await creditsRepo.findAccount(q, projectId, customerId);
  const live = sub.rows[0];
  const planId = live?.plan_id ?? catalog.free_plan ?? null;
  const plan = planId ? findPlan(catalog, planId) : undefined;
  const out: Record<string, unknown> = {};
  for (const f of catalog.features) {
    const g = grantOf(plan, f.id);
    if (f.type === 'credits') {
      out[f.id] = { type: f.type, allowed: (acct?.balance ?? 0) > 0, balance: acct?.balance ?? 0 };
      continue;
    }
    if (f.type === 'boolean') {
      out[f.id] = { type: f.type, allowed: g.granted };
      continue;
    }
    if (f.type === 'value') {
      out[f.id] = { type: f.type, allowed: g.granted, value: g.granted ? g.value : null };
      continue;
    }
    const { limit, usage } = counterStanding(f, g, counters.find((x) => x.feature === f.id), live?.current_period_start ?? null, now);
    out[f.id] = {
      type: f.type,
      allowed: g.granted && (limit === null || usage < limit),
      usage,
      limit,
      remaining: limit === null ? null : Math.max(0, limit - usage),
    };
  }
  return { plan: planId, features: out };
}

/** The customer's entitlements in the customer view. */
export const entitlementsCustomerView: CustomerViewExtension = async (ctx, q, c) => ({
  entitlements: await entitlementsOf(ctx, q, c.project_id, c.id),
});
