/**
 * Usage figures (issue 16 items 2 and 3): POST /v1/check and POST /v1/track on a metered feature,
 * without and with an Idempotency-Key (unique per request, as the SDK sends), at 32 clients and at
 * 1, as ratios to the one-at-a-time deduct ceiling measured just before; then the cost of rate
 * limits (counted in PostgreSQL, then Redis) on deduct and track against the same run without.
 */
import type pg from 'pg';
import { type Figures, fmt, httpLoad, type SectionOpts, startServer, stopServer } from './lib.ts';

export type UsageBenchOpts = SectionOpts;

let seq = 0;
const idem = () => ({ 'idempotency-key': `bench-${process.pid}-${seq++}` });

export async function usageBench(o: UsageBenchOpts): Promise<void> {
  const spread = () => `c${Math.floor(Math.random() * o.customers)}`;
  const body = () => JSON.stringify({ customer_id: spread(), feature: 'api_calls', quantity: 1 });
  for (const clients of [32, 1]) {
    o.out('');
    o.out(`PostgreSQL — usage (metered feature, spread), ${clients} client${clients === 1 ? '' : 's'}: ratio to the one-at-a-time deduct ceiling`);
    const base = await o.ceiling(clients);
    o.out(fmt(base));
    for (const [label, path, keyed] of [
      ['check', '/v1/check', false],
      ['track', '/v1/track', false],
      ['track with Idempotency-Key', '/v1/track', true],
    ] as const) {
      const f = await httpLoad(`POST ${path}${keyed ? ' (Idempotency-Key)' : ''}`, {
        url: o.url,
        clients,
        ms: o.ms,
        key: o.key,
        body: '',
        path: () => path,
        bodyFor: body,
        ...(keyed ? { headersFor: idem } : {}),
      });
      o.out(fmt(f));
      const line = `  ratio ${label} / ceiling at ${clients} clients: ${(f.opsPerSec / base.opsPerSec).toFixed(2)}   (p50 ${f.p50.toFixed(1)} ms, p99 ${f.p99.toFixed(1)} ms${f.errors ? `, errors ${f.errors}` : ''})`;
      o.out(line);
      o.ratios.push(line);
    }
  }
}

/** Rate limits on (never reached) vs off, per counter store, for deduct and for track with a key. */
export async function rateLimitBench(o: Omit<UsageBenchOpts, 'url' | 'ceiling'> & { env: Record<string, string>; port: number; redisUrl: string; pool: pg.Pool }): Promise<void> {
  const spread = () => `c${Math.floor(Math.random() * o.customers)}`;
  o.out('');
  o.out('Rate limits on (limits never reached) vs off, 32 clients, spread: deduct and track (Idempotency-Key)');
  const limits = { TOLLGATE_RATE_LIMIT_PER_KEY: '1000000', TOLLGATE_RATE_LIMIT_PER_CUSTOMER: '1000000' };
  const configs = [
    ['no limits', {}],
    ['limits counted in PostgreSQL', limits],
    ['limits counted in Redis', { ...limits, REDIS_URL: o.redisUrl }],
  ] as const;
  const workloads = [
    ['deduct', () => `/v1/customers/${spread()}/credits/deduct`, () => '{"amount":1}'],
    ['track', () => '/v1/track', () => JSON.stringify({ customer_id: spread(), feature: 'api_calls', quantity: 1 })],
  ] as const;
  const results = new Map<string, Figures>();
  for (const [label, extra] of configs) {
    const srv = await startServer({ ...o.env, ...extra }, o.port);
    try {
      const url = `http://127.0.0.1:${o.port}`;
      // warm-up
      await httpLoad('warm-up', { url, clients: 8, ms: 500, key: o.key, body: '{"amount":1}', path: () => `/v1/customers/${spread()}/credits/deduct` });
      for (const [w, path, bodyFor] of workloads) {
        const f = await httpLoad(`${w}, ${label}`, { url, clients: 32, ms: o.ms, key: o.key, body: '', path, bodyFor, headersFor: idem });
        o.out(fmt(f));
        results.set(`${w}|${label}`, f);
      }
    } finally {
      await stopServer(srv);
    }
  }
  for (const [w] of workloads) {
    const off = results.get(`${w}|no limits`)?.opsPerSec ?? 1;
    for (const [label] of configs.slice(1)) {
      const f = results.get(`${w}|${label}`);
      if (!f) continue;
      const line = `  ratio ${w} with ${label} / no limits: ${(f.opsPerSec / off).toFixed(2)}   (p99 ${f.p99.toFixed(1)} ms)`;
      o.out(line);
      o.ratios.push(line);
    }
  }
}
