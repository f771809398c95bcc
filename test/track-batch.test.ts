import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { createTollgate } from '../src/server.ts';
import { UsageRecorder } from '../sdk/src/usage.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const catalog: CatalogInput = {
  signup_credits: 5,
  features: [
    { id: 'api_calls', type: 'metered' },
    { id: 'seats', type: 'allocated' },
    { id: 'sso', type: 'boolean' },
    { id: 'render_seconds', type: 'credits', credit_cost: { credits: 1, per: 10 } },
  ],
  free_plan: 'free',
  plans: [
    { id: 'free', name: 'Free', price: { amount: 0, currency: 'eur' }, features: { api_calls: { limit: 10 }, seats: { limit: 3 } } },
    { id: 'pro', name: 'Pro', price: { amount: 0, currency: 'eur' }, features: { api_calls: { limit: null }, seats: { limit: 100 }, sso: true } },
  ],
};

const usage = async (p: TestProject, customer: string, feature: string) =>
  (await p.call('POST', '/v1/check', { customer_id: customer, feature })).body.usage as number;

describe('POST /v1/track/batch', () => {
  it('applies events in order against the limits, per event: recorded, duplicate, error', async () => {
    const p = await h.project({ catalog });
    const r = await p.call('POST', '/v1/track/batch', {
      events: [
        { event_id: 'e1', customer_id: 'a', feature: 'api_calls', quantity: 6 },
        { event_id: 'e2', customer_id: 'a', feature: 'api_calls', quantity: 5 },
        { event_id: 'e3', customer_id: 'a', feature: 'api_calls', quantity: 4 },
        { event_id: 'e1', customer_id: 'a', feature: 'api_calls', quantity: 6 },
        { event_id: 'e4', customer_id: 'a', feature: 'nope' },
        { event_id: 'e5', customer_id: 'a', feature: 'sso' },
        { event_id: 'e6', customer_id: 'b', feature: 'seats', quantity: 3 },
        { event_id: 'e7', customer_id: 'b', feature: 'seats', quantity: -2 },
        { event_id: 'e8', customer_id: 'b', feature: 'render_seconds', quantity: 30 },
        { event_id: 'e9', customer_id: 'b', feature: 'render_seconds', quantity: 30, timestamp: '2026-03-01T09:00:00Z' },
        { event_id: 'e10', customer_id: 'b', feature: 'api_calls', quantity: 1.5 },
      ],
    });
    expect(r.status).toBe(200);
    const by = Object.fromEntries(r.body.results.map((x: { event_id: string; status: string; error?: { code: string } }) => [x.event_id + (x.status === 'duplicate' ? '#dup' : ''), x.error?.code ?? x.status]));
    expect(by).toEqual({
      e1: 'recorded',
      e2: 'limit_reached',
      e3: 'recorded',
      'e1#dup': 'duplicate',
      e4: 'invalid_request',
      e5: 'invalid_request',
      e6: 'recorded',
      e7: 'recorded',
      e8: 'recorded',
      e9: 'insufficient_credits',
      e10: 'invalid_request',
    });
    expect(r.body.results).toHaveLength(11);
    expect(await usage(p, 'a', 'api_calls')).toBe(10);
    expect(await usage(p, 'b', 'seats')).toBe(1);
    expect((await p.call('GET', '/v1/customers/b/credits')).body.balance).toBe(2);
  });

  it('a resend counts nothing again; an event refused before is tried again', async () => {
    const p = await h.project({ catalog });
    const events = [
      { event_id: 'x1', customer_id: 'c', feature: 'seats', quantity: 3 },
      { event_id: 'x2', customer_id: 'c', feature: 'seats', quantity: 1 },
    ];
    const first = await p.call('POST', '/v1/track/batch', { events });
    expect(first.body.results.map((x: { status: string }) => x.status)).toEqual(['recorded', 'error']);
    await p.call('POST', '/v1/track', { customer_id: 'c', feature: 'seats', quantity: -1 });
    const again = await p.call('POST', '/v1/track/batch', { events });
    expect(again.body.results.map((x: { status: string }) => x.status)).toEqual(['duplicate', 'recorded']);
    expect(await usage(p, 'c', 'seats')).toBe(3);
    const third = await p.call('POST', '/v1/track/batch', { events });
    expect(third.body.results.map((x: { status: string }) => x.status)).toEqual(['duplicate', 'duplicate']);
    expect(await usage(p, 'c', 'seats')).toBe(3);
  });

  it('two identical batches sent at once count once', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers/d/subscription', { plan: 'pro' });
    const events = Array.from({ length: 200 }, (_, i) => ({ event_id: `p${i}`, customer_id: 'd', feature: 'api_calls', quantity: 1 }));
    const [a, b] = await Promise.all([p.call('POST', '/v1/track/batch', { events }), p.call('POST', '/v1/track/batch', { events })]);
    const statuses = [...a.body.results, ...b.body.results].map((x: { status: string }) => x.status);
    expect(statuses.filter((s) => s === 'recorded')).toHaveLength(200);
    expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(200);
    expect(await usage(p, 'd', 'api_calls')).toBe(200);
  });

  it('batches and single tracks on the same customers at once: no deadlock, every unit counted once', async () => {
    const p = await h.project({ catalog });
    const customers = Array.from({ length: 12 }, (_, i) => `k${i}`);
    for (const c of customers) await p.call('POST', '/v1/customers/' + c + '/credits/grant', { amount: 1000, reason: 'test' });
    for (const c of customers) await p.call('POST', `/v1/customers/${c}/subscription`, { plan: 'pro' });
    const shuffled = <T>(xs: T[], seed: number) => xs.map((x, i) => ({ x, k: (i * 7919 + seed * 104729) % 9973 })).sort((a, b) => a.k - b.k).map((y) => y.x);
    const batches = Array.from({ length: 4 }, (_, b) => ({
      events: shuffled(
        customers.flatMap((c) => [
          { event_id: `b${b}-${c}-calls`, customer_id: c, feature: 'api_calls', quantity: 1 },
          { event_id: `b${b}-${c}-seats`, customer_id: c, feature: 'seats', quantity: 1 },
          { event_id: `b${b}-${c}-render`, customer_id: c, feature: 'render_seconds', quantity: 10 },
        ]),
        b,
      ),
    }));
    const singles = customers.map((c) => p.call('POST', '/v1/track', { customer_id: c, feature: 'api_calls', quantity: 1 }));
    const replies = await Promise.all([...batches.map((b) => p.call('POST', '/v1/track/batch', b)), ...singles]);
    expect(replies.map((r) => r.status)).toEqual(replies.map(() => 200));
    for (const r of replies.slice(0, 4)) expect(r.body.results.every((x: { status: string }) => x.status === 'recorded')).toBe(true);
    for (const c of customers) {
      expect(await usage(p, c, 'api_calls')).toBe(5);
      expect(await usage(p, c, 'seats')).toBe(4);
    }
    expect((await p.call('GET', '/v1/customers/k3/credits')).body.balance).toBe(1005 - 4);
  });

  it('an event id is remembered for 90 days, then forgotten by the usage.purge-events job', async () => {
    const p = await h.project({ catalog });
    const events = [{ event_id: 'old', customer_id: 'g', feature: 'seats', quantity: 1 }];
    expect((await p.call('POST', '/v1/track/batch', { events })).body.results[0].status).toBe('recorded');
    const count = async () => (await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_events WHERE project_id = $1', [p.id])).rows[0]!.n;
    h.clock.advance(89 * 86_400_000);
    await runDueJobs(h.tg.ctx);
    expect(await count()).toBe(1);
    expect((await p.call('POST', '/v1/track/batch', { events })).body.results[0].status).toBe('duplicate');
    h.clock.advance(2 * 86_400_000);
    await runDueJobs(h.tg.ctx);
    expect(await count()).toBe(0);
  });

  it('bad input is a 400 and records nothing', async () => {
    const p = await h.project({ catalog });
    const cases: unknown[] = [
      {},
      { events: [] },
      { events: Array.from({ length: 1001 }, (_, i) => ({ event_id: `e${i}`, customer_id: 'e', feature: 'api_calls' })) },
      { events: [{ customer_id: 'e', feature: 'api_calls' }] },
      { events: [{ event_id: 'z', customer_id: 'e', feature: 'api_calls', extra: 1 }] },
      { events: [{ event_id: 'z', customer_id: 'e', feature: 'api_calls', timestamp: 'yesterday' }] },
    ];
    for (const body of cases) {
      const r = await p.call('POST', '/v1/track/batch', body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    const n = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_events WHERE project_id = $1', [p.id]);
    expect(n.rows[0]!.n).toBe(0);
    expect((await p.call('GET', '/v1/customers/e')).status).toBe(404);
  });
});

describe('UsageRecorder (sdk/src/usage.ts)', () => {
  it('flushes when maxBatch events are waiting, and reports a batch the server refused as a whole', async () => {
    const p = await h.project({ catalog });
    const base = await h.listen();
    const sent: number[] = [];
    const spy: typeof fetch = async (input, init) => {
      sent.push(JSON.parse(String(init?.body)).events.length);
      return fetch(input, init);
    };
    const errors: unknown[] = [];
    const rec = new UsageRecorder({ baseUrl: base, apiKey: p.key, fetch: spy, maxBatch: 3, flushIntervalMs: 60_000, onError: (e) => errors.push(e) });
    for (let i = 0; i < 7; i++) rec.record({ customer_id: 'm', feature: 'seats', quantity: 1 });
    await rec.flush();
    expect(sent).toEqual([3, 3, 1]);
    expect(await usage(p, 'm', 'seats')).toBe(3);
    // Over the limit: not applied, reported per event (not retried forever).
    expect(errors).toHaveLength(4);
    await rec.close();
  });
  it('500 events with the server restarted mid-flush are counted exactly once', async () => {
    const h2 = await createHarness();
    const p = await h2.project({ catalog });
    await p.call('POST', '/v1/customers/r/subscription', { plan: 'pro' });
    const base = await h2.listen();
    const port = Number(new URL(base).port);
    let requests = 0;
    let restarted: Awaited<ReturnType<typeof createTollgate>> | null = null;
    let restart: Promise<void> | null = null;
    // The first batch reaches the server and is applied, but the connection is cut before the reply
    // arrives (the listener closes), so the recorder must resend the same events to a new server.
    const fetchThrough: typeof fetch = async (input, init) => {
      requests++;
      const res = await fetch(input, init);
      if (requests === 1) {
        restart = (async () => {
          await h2.tg.close();
          restarted = await createTollgate({ config: h2.config, db: h2.db, clock: h2.clock, runner: false, logger: false });
          await restarted.app.listen({ port, host: '127.0.0.1' });
        })();
        await restart;
        throw new TypeError('fetch failed: connection reset');
      }
      return res;
    };
    const rec = new UsageRecorder({ baseUrl: base, apiKey: p.key, fetch: fetchThrough, maxBatch: 200, flushIntervalMs: 60_000, retryDelayMs: 1 });
    for (let i = 0; i < 500; i++) rec.record({ customer_id: 'r', feature: 'api_calls', quantity: 1 });
    await rec.close();
    await restart;
    expect(requests).toBeGreaterThanOrEqual(4);
    const n = await h2.db.query<{ used: number }>("SELECT used FROM usage_counters WHERE project_id = $1 AND customer_id = 'r' AND feature = 'api_calls'", [
      p.id,
    ]);
    expect(Number(n.rows[0]!.used)).toBe(500);
    const events = await h2.db.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_events WHERE project_id = $1', [p.id]);
    expect(events.rows[0]!.n).toBe(500);
    await (restarted as unknown as { close(): Promise<void> } | null)?.close();
    await h2.db.close();
  });

});
