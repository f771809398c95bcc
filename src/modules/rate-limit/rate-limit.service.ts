import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Redis } from 'ioredis';
import { AppError } from '../../domain/errors.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { getProject } from '../projects/projects.service.ts';
import { type CountStore, WindowCounter } from './counter.ts';
import * as repo from './rate-limit.repository.ts';

/** Where the shared counts live: Redis when configured, else PostgreSQL. Never process memory. */
interface CounterStore extends CountStore {
  /** Resolves once connected (or after a short wait: counting then fails open until it connects). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Counts attempts of something sensitive (failed dashboard sign-ins) in PostgreSQL, per bucket and
 * fixed window of `windowMs` on the project clock: `n = 0` reads, `n = 1` counts one more. Returns
 * each bucket's count in this window and the seconds until the window ends.
 */
export async function countAttempts(
  ctx: AppContext,
  buckets: string[],
  windowMs: number,
  n: 0 | 1,
): Promise<{ counts: number[]; retryAfter: number }> {
  const nowMs = ctx.clock.now().getTime();
  const window = Math.floor(nowMs / windowMs);
  const sorted = [...new Set(buckets)].sort();
  const rows = await repo.addCounts(ctx.db, sorted.map((bucket) => ({ bucket, window, n })));
  const byBucket = new Map(rows.map((r) => [r.bucket, r.window_start === window ? r.count : 0]));
  return { counts: buckets.map((b) => byBucket.get(b) ?? 0), retryAfter: Math.max(1, Math.ceil(((window + 1) * windowMs - nowMs) / 1000)) };
}

function pgStore(ctx: AppContext): CounterStore {
  return {
    async add(entries) {
      return (await repo.addCounts(ctx.db, entries)).map((r) => ({ bucket: r.bucket, window: r.window_start, count: r.count }));
    },
    ready: async () => {},
    close: async () => {},
  };
}

function redisStore(url: string): CounterStore {
  // No offline queue: while Redis is unreachable a count fails at once (and the request passes) instead of waiting.
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
  redis.on('error', () => {});
  return {
    async ready() {
      if (redis.status === 'ready') return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        t.unref();
        redis.once('ready', () => {
          clearTimeout(t);
          resolve();
        });
      });
    },
    async add(entries) {
      const pipe = redis.pipeline();
      for (const e of entries) {
        const key = `tollgate:rl:${e.bucket}:${e.window}`;
        pipe.incrby(key, e.n).pexpire(key, 2000);
      }
      const res = (await pipe.exec()) ?? [];
      return entries.map((e, i) => {
        const [err, count] = res[i * 2] ?? [new Error('no reply'), 0];
        if (err) throw err;
        return { bucket: e.bucket, window: e.window, count: Number(count) };
      });
    },
    async close() {
      redis.disconnect();
    },
  };
}

export interface Limits {
  perKeyPerSecond: number;
  perCustomerPerSecond: number;
}

/** The project's `settings.rate_limit` over the server defaults; 0 = unlimited. */
export async function limitsFor(ctx: AppContext, projectId: string): Promise<Limits> {
  const project = await getProject(ctx, projectId);
  const rl = (project.settings?.rate_limit ?? {}) as { per_key_per_second?: unknown; per_customer_per_second?: unknown };
  const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : d);
  return {
    perKeyPerSecond: num(rl.per_key_per_second, ctx.config.rateLimit.perKeyPerSecond),
    perCustomerPerSecond: num(rl.per_customer_per_second, ctx.config.rateLimit.perCustomerPerSecond),
  };
}

function customerOf(req: FastifyRequest, caller: Caller): string | undefined {
  if (caller.customerId) return caller.customerId;
  if (req.routeOptions.url?.startsWith('/v1/customers/:id')) return (req.params as { id?: string } | undefined)?.id;
  const body = req.body as { customer_id?: unknown; id?: unknown } | undefined;
  if (req.routeOptions.url === '/v1/customers' && typeof body?.id === 'string') return body.id;
  return typeof body?.customer_id === 'string' ? body.customer_id : undefined;
}

/**
 * Fixed one-second windows per API key and per customer, counted in Redis or PostgreSQL so every
 * instance shares them (see WindowCounter for how writes are batched). Without a configured limit a
 * request costs one cached project lookup.
 */
export function registerRateLimit(app: FastifyInstance, ctx: AppContext): void {
  const store = ctx.config.redisUrl ? redisStore(ctx.config.redisUrl) : pgStore(ctx);
  const counter = new WindowCounter(store, (err) => ctx.log.warn({ err: (err as Error).message }, 'rate limit store unavailable; requests not limited'));
  app.addHook('onReady', async () => store.ready());
  app.addHook('onClose', async () => {
    await counter.close();
    await store.close();
  });
  app.addHook('preValidation', async (req, reply) => {
    const caller = req.caller;
    if (!caller) return;
    const limits = await limitsFor(ctx, caller.projectId);
    if (limits.perKeyPerSecond === 0 && limits.perCustomerPerSecond === 0) return;
    const nowMs = ctx.clock.now().getTime();
    const window = Math.floor(nowMs / 1000);
    const checks: { bucket: string; limit: number; scope: 'key' | 'customer' }[] = [];
    if (limits.perKeyPerSecond > 0) checks.push({ bucket: `k:${caller.keyId}`, limit: limits.perKeyPerSecond, scope: 'key' });
    const customerId = limits.perCustomerPerSecond > 0 ? customerOf(req, caller) : undefined;
    if (customerId !== undefined) {
      checks.push({ bucket: `c:${caller.projectId}:${customerId}`, limit: limits.perCustomerPerSecond, scope: 'customer' });
    }
    if (checks.length === 0) return;
    const over = (await counter.take(checks, window)) as (typeof checks)[number] | undefined;
    if (!over) return;
    const retryAfter = Math.max(1, Math.ceil(((window + 1) * 1000 - nowMs) / 1000));
    reply.header('retry-after', String(retryAfter));
    throw new AppError('rate_limited', `Rate limit exceeded: ${over.limit} requests per second per ${over.scope}`, {
      retry_after: retryAfter,
      limit: over.limit,
      scope: over.scope,
    });
  });
}
