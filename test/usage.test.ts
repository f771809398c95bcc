import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
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
    { id: 'watches', type: 'allocated' },
    { id: 'priority_support', type: 'boolean' },
    { id: 'check_interval_min', type: 'value' },
    { id: 'render_seconds', type: 'credits', credit_cost: { credits: 1, per: 10 } },
  ],
  free_plan: 'free',
  plans: [
    { id: 'free', name: 'Free', price: { amount: 0, currency: 'eur' }, features: { api_calls: { limit: 10 }, watches: { limit: 10 }, check_interval_min: { value: 60 } } },
    {
      id: 'pro',
      name: 'Pro',
      price: { amount: 0, currency: 'eur' },
      features: { api_calls: { limit: null }, watches: { limit: 100 }, priority_support: true, check_interval_min: { value: 5 } },
    },
  ],
};

const track = (p: TestProject, customer: string, feature: string, quantity?: number) =>
  p.call('POST', '/v1/track', { customer_id: customer, feature, ...(quantity !== undefined ? { quantity } : {}) });
const check = (p: TestProject, customer: string, feature: string, quantity?: number) =>
  p.call('POST', '/v1/check', { customer_id: customer, feature, ...(quantity !== undefined ? { quantity } : {}) });

describe('check and track', () => {
  it('64 parallel tracks on a limit of 10 allow exactly 10', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers', { id: 'race' });
    const results = await Promise.all(Array.from({ length: 64 }, () => track(p, 'race', 'watches', 1)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.filter((r) => r.body.allowed)).toHaveLength(10);
    const refused = results.find((r) => !r.body.allowed)!;
    expect(refused.body).toMatchObject({ allowed: false, reason: 'limit_reached', limit: 10, remaining: 0 });
    expect((await check(p, 'race', 'watches')).body).toMatchObject({ allowed: false, usage: 10, remaining: 0 });
  });

  it('a limit reached is 200 allowed:false and records nothing; check reads only', async () => {
    const p = await h.project({ catalog });
    expect((await track(p, 'a', 'api_calls', 8)).body).toMatchObject({ allowed: true, usage: 8, limit: 10, remaining: 2 });
    const over = await track(p, 'a', 'api_calls', 3);
    expect(over.status).toBe(200);
    expect(over.body).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 8, remaining: 2 });
    for (let i = 0; i < 3; i++) expect((await check(p, 'a', 'api_calls', 2)).body).toMatchObject({ allowed: true, usage: 8 });
    expect((await check(p, 'a', 'api_calls', 3)).body.allowed).toBe(false);
    expect((await track(p, 'a', 'api_calls', 2)).body).toMatchObject({ allowed: true, usage: 10, remaining: 0 });
  });

  it('allocated units are released by a negative track and never go below zero', async () => {
    const p = await h.project({ catalog });
    await track(p, 'b', 'watches', 4);
    expect((await track(p, 'b', 'watches', -3)).body).toMatchObject({ allowed: true, usage: 1 });
    expect((await track(p, 'b', 'watches', -5)).body).toMatchObject({ allowed: true, usage: 0, remaining: 10 });
  });

  it('metered usage on the free plan resets with the calendar month', async () => {
    const p = await h.project({ catalog });
    await track(p, 'c', 'api_calls', 10);
    expect((await check(p, 'c', 'api_calls')).body.allowed).toBe(false);
    await p.call('POST', '/v1/test_helpers/clock/advance', { to: '2026-04-01T00:00:01Z' });
    expect((await check(p, 'c', 'api_calls')).body).toMatchObject({ allowed: true, usage: 0 });
    expect((await track(p, 'c', 'api_calls', 1)).body).toMatchObject({ allowed: true, usage: 1 });
  });

  it('boolean and value features answer from the plan; tracking them records nothing', async () => {
    const p = await h.project({ catalog });
    expect((await check(p, 'd', 'priority_support')).body).toMatchObject({ allowed: false, reason: 'not_included', plan: 'free' });
    expect((await check(p, 'd', 'check_interval_min')).body).toMatchObject({ allowed: true, value: 60 });
    await p.call('POST', '/v1/customers/d/subscription', { plan: 'pro' });
    expect((await check(p, 'd', 'priority_support')).body).toMatchObject({ allowed: true, plan: 'pro' });
    expect((await track(p, 'd', 'check_interval_min')).body).toMatchObject({ allowed: true, value: 5 });
    expect((await track(p, 'd', 'api_calls', 1_000_000)).body).toMatchObject({ allowed: true, limit: null, remaining: null });
    const view = await p.call('GET', '/v1/customers/d');
    expect(view.body.entitlements).toMatchObject({
      plan: 'pro',
      features: { priority_support: { allowed: true }, watches: { usage: 0, limit: 100 }, api_calls: { usage: 1_000_000, limit: null } },
    });
  });

  it('a credits feature deducts through the ledger and answers insufficient_credits when short', async () => {
    const p = await h.project({ catalog });
    expect((await check(p, 'e', 'render_seconds', 50)).body).toMatchObject({ allowed: true, balance: 5, required: 5 });
    expect((await track(p, 'e', 'render_seconds', 25)).body).toMatchObject({ allowed: true, balance: 2, required: 3 });
    const short = await track(p, 'e', 'render_seconds', 30);
    expect(short.status).toBe(200);
    expect(short.body).toMatchObject({ allowed: false, reason: 'insufficient_credits', balance: 2, required: 3 });
    expect((await p.call('GET', '/v1/customers/e/credits')).body.balance).toBe(2);
  });

  it('bad input is a 400 naming the parameter and changes nothing', async () => {
    const p = await h.project({ catalog });
    const cases: [Record<string, unknown>, string][] = [
      [{ customer_id: 'f', feature: 'nope' }, 'feature'],
      [{ customer_id: 'f', feature: 'api_calls', quantity: 1.5 }, 'quantity'],
      [{ customer_id: 'f', feature: 'api_calls', quantity: -1 }, 'quantity'],
      [{ customer_id: 'f', feature: 'watches', quantity: '2' }, 'quantity'],
      [{ customer_id: 'f', feature: 'watches', quantity: 0 }, 'quantity'],
      [{ customer_id: '', feature: 'watches' }, 'customer_id'],
      [{ customer_id: 'f', feature: 'render_seconds', quantity: -5 }, 'quantity'],
      [{ customer_id: 'f', feature: 'watches', extra: 1 }, ''],
    ];
    for (const [body, param] of cases) {
      const r = await p.call('POST', '/v1/track', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      if (param) expect(r.body.error.param).toBe(param);
    }
    const counters = await h.db.query('SELECT 1 FROM usage_counters WHERE project_id = $1', [p.id]);
    expect(counters.rowCount).toBe(0);
  });

  it('a track retried with the same Idempotency-Key counts once', async () => {
    const p = await h.project({ catalog });
    const headers = { 'idempotency-key': 'track-1' };
    const a = await p.call('POST', '/v1/track', { customer_id: 'g', feature: 'watches', quantity: 2 }, headers);
    const b = await p.call('POST', '/v1/track', { customer_id: 'g', feature: 'watches', quantity: 2 }, headers);
    expect(b.body).toEqual(a.body);
    expect((await check(p, 'g', 'watches')).body.usage).toBe(2);
  });

  it("ArkWatch: watches_used / watches_limit come from check; another project's customer is separate", async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
    const other = await h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
    await track(p, 'shared', 'watches', 2);
    expect((await check(p, 'shared', 'watches')).body).toMatchObject({ usage: 2, limit: 3 });
    expect((await check(other, 'shared', 'watches')).body).toMatchObject({ usage: 0, limit: 3 });
  });
});

describe('subscribing concurrently', () => {
  it('ten parallel no-card trial subscriptions for one customer start one trial; the others are refused, none fails', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
    await p.call('POST', '/v1/customers', { id: 'para' });
    const rs = await Promise.all(Array.from({ length: 10 }, () => p.call('POST', '/v1/customers/para/subscription', { plan: 'pro' })));
    expect(rs.filter((r) => r.status === 201)).toHaveLength(1);
    // The others find the trial taken: the plan then needs a payment, never a second trial.
    const others = rs.filter((r) => r.status !== 201);
    expect(others.map((r) => [r.status, r.body.error.code])).toEqual(Array.from({ length: 9 }, () => [402, 'payment_required']));
    const live = await h.db.query(`SELECT 1 FROM subscriptions WHERE project_id = $1 AND status = 'trialing'`, [p.id]);
    expect(live.rowCount).toBe(1);
  });
});
