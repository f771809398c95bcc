import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

/** Issue 15: end-user API keys — issue, list, roll, revoke, verify (docs/api-keys.md). */
let h: Harness;
let p: TestProject;

const catalog: CatalogInput = {
  features: [{ id: 'calls', type: 'metered' }],
  plans: [
    { id: 'free', name: 'Free', price: { amount: 0, currency: 'eur' }, features: { calls: { limit: 10 } } },
    { id: 'pro', name: 'Pro', price: { amount: 1900, currency: 'eur' }, features: { calls: { limit: 1000 } }, trial_days: 14, issues_api_key: true },
  ],
  credit_packs: [
    { id: 'starter', name: 'Starter', credits: 100, price: { amount: 500, currency: 'eur' }, issues_api_key: true },
    { id: 'plain', name: 'Plain', credits: 100, price: { amount: 500, currency: 'eur' } },
  ],
  free_plan: 'free',
} as CatalogInput;

beforeAll(async () => {
  h = await createHarness();
  p = await h.project({ catalog });
});
afterAll(async () => h?.close());

async function customer(id: string) {
  expect((await p.call('POST', '/v1/customers', { id, email: `${id}@example.com` })).status).toBe(201);
}

async function newKey(customerId: string, body: Record<string, unknown> = {}) {
  const r = await p.call('POST', `/v1/customers/${customerId}/api-keys`, body);
  expect(r.status, r.raw).toBe(201);
  return r.body as { id: string; key: string; preview: string };
}

const verify = (key: string) => p.call('POST', '/v1/api-keys/verify', { key });

describe('issue 15: customer API keys', () => {
  it('creates a key shown once, stored as its SHA-256 only, listed without secrets; verify answers customer, plan and entitlements', async () => {
    await customer('ada');
    const k = await newKey('ada', { name: 'CI', scopes: ['read', 'write'] });
    expect(k.key).toMatch(/^[a-z][a-z0-9]+_[0-9A-Za-z]{43}$/);
    expect(k.key.startsWith(`${p.id.replace(/[^a-z0-9]/g, '').slice(0, 12)}_`)).toBe(true);
    expect(k.preview.endsWith(k.key.slice(-4))).toBe(true);
    const stored = await h.db.query<{ key_hash: string }>('SELECT key_hash FROM customer_api_keys WHERE project_id = $1 AND id = $2', [p.id, k.id]);
    expect(stored.rows[0]!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    const all = await h.db.query<{ t: string }>('SELECT to_jsonb(k)::text AS t FROM customer_api_keys k WHERE project_id = $1', [p.id]);
    expect(all.rows.some((r) => r.t.includes(k.key))).toBe(false);
    const list = await p.call('GET', '/v1/customers/ada/api-keys');
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ id: k.id, name: 'CI', status: 'active', scopes: ['read', 'write'] });
    expect(list.raw).not.toContain(k.key);
    const v = await verify(k.key);
    expect(v.status).toBe(200);
    expect(v.body).toMatchObject({ valid: true, customer_id: 'ada', key_id: k.id, scopes: ['read', 'write'], plan: 'free', remaining: null, rate_limit: null });
    expect(v.body.entitlements.calls).toMatchObject({ limit: 10, usage: 0 });
    const audited = await p.call('GET', `/v1/audit?customer_id=ada&action=api_key`);
    expect(audited.body.data.map((e: { action: string }) => e.action)).toEqual(['api_key.created']);
  });

  it('answers valid:false with not_found, revoked, expired, usage_exceeded, rate_limited and customer_deleted', async () => {
    expect((await verify(`${'x'.repeat(5)}_nope`)).body).toEqual({ valid: false, code: 'not_found' });

    await customer('bob');
    const revoked = await newKey('bob');
    const del = await p.call('DELETE', `/v1/api-keys/${revoked.id}`);
    expect(del.status).toBe(200);
    expect(del.body.status).toBe('revoked');
    expect((await verify(revoked.key)).body).toMatchObject({ valid: false, code: 'revoked', key_id: revoked.id });

    const expiring = await newKey('bob', { expires_at: new Date(h.clock.now().getTime() + 60_000).toISOString() });
    expect((await verify(expiring.key)).body.valid).toBe(true);
    h.clock.advance(60_000);
    expect((await verify(expiring.key)).body).toMatchObject({ valid: false, code: 'expired' });

    const budget = await newKey('bob', { remaining: 2 });
    expect((await verify(budget.key)).body).toMatchObject({ valid: true, remaining: 1 });
    expect((await verify(budget.key)).body).toMatchObject({ valid: true, remaining: 0 });
    expect((await verify(budget.key)).body).toMatchObject({ valid: false, code: 'usage_exceeded', remaining: 0 });

    const limited = await newKey('bob', { rate_limit: { limit: 2, window_seconds: 60 } });
    expect((await verify(limited.key)).body).toMatchObject({ valid: true, rate_limit: { limit: 2, remaining: 1 } });
    expect((await verify(limited.key)).body).toMatchObject({ valid: true, rate_limit: { limit: 2, remaining: 0 } });
    const over = await verify(limited.key);
    expect(over.body).toMatchObject({ valid: false, code: 'rate_limited', rate_limit: { limit: 2, remaining: 0 } });
    h.clock.advance(60_000);
    expect((await verify(limited.key)).body.valid).toBe(true);

    await customer('cleo');
    const erased = await newKey('cleo');
    expect((await p.call('DELETE', '/v1/customers/cleo')).status).toBe(200);
    expect((await verify(erased.key)).body).toMatchObject({ valid: false, code: 'customer_deleted' });
  });

  it('rolls a key: the new one works at once, the old one until the grace period ends (ManualClock)', async () => {
    await customer('dan');
    const old = await newKey('dan', { name: 'prod', scopes: ['x'] });
    const r = await p.call('POST', `/v1/api-keys/${old.id}/roll`, { grace_seconds: 300 });
    expect(r.status, r.raw).toBe(200);
    expect(r.body.key).not.toBe(old.key);
    expect(r.body).toMatchObject({ name: 'prod', scopes: ['x'], status: 'active' });
    expect(r.body.previous).toMatchObject({ id: old.id, rolled_to: r.body.id });
    expect((await verify(r.body.key)).body).toMatchObject({ valid: true, key_id: r.body.id });
    h.clock.advance(299_000);
    expect((await verify(old.key)).body).toMatchObject({ valid: true, key_id: old.id });
    h.clock.advance(1_000);
    expect((await verify(old.key)).body).toMatchObject({ valid: false, code: 'expired' });
    expect((await verify(r.body.key)).body.valid).toBe(true);
    expect((await p.call('POST', `/v1/api-keys/${old.id}/roll`, {})).status).toBe(409);
    const audit = await p.call('GET', '/v1/audit?customer_id=dan&action=api_key');
    expect(audit.body.data.map((e: { action: string }) => e.action)).toEqual(['api_key.rolled', 'api_key.created']);
  });

  it('during the grace period the old and the new key share one budget and one rate-limit window', async () => {
    await customer('dora');
    const old = await newKey('dora', { remaining: 3, rate_limit: { limit: 10, window_seconds: 3600 } });
    expect((await verify(old.key)).body).toMatchObject({ valid: true, remaining: 2, rate_limit: { remaining: 9 } });
    const rolled = (await p.call('POST', `/v1/api-keys/${old.id}/roll`, { grace_seconds: 600 })).body;
    expect(rolled.remaining).toBe(2);
    expect((await verify(old.key)).body).toMatchObject({ valid: true, remaining: 1, rate_limit: { remaining: 9 } });
    expect((await verify(rolled.key)).body).toMatchObject({ valid: true, remaining: 0, rate_limit: { remaining: 8 } });
    expect((await verify(old.key)).body).toMatchObject({ valid: false, code: 'usage_exceeded' });
    expect((await verify(rolled.key)).body).toMatchObject({ valid: false, code: 'usage_exceeded' });
  });

  it('refuses bad input with an error envelope and changes nothing', async () => {
    await customer('eve');
    const before = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM customer_api_keys WHERE project_id = $1', [p.id]);
    const bad = await p.call('POST', '/v1/customers/eve/api-keys', { remaining: -1 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    const past = await p.call('POST', '/v1/customers/eve/api-keys', { expires_at: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect((await p.call('POST', '/v1/customers/nobody/api-keys', {})).body.error.code).toBe('customer_not_found');
    expect((await p.call('GET', '/v1/customers/nobody/api-keys')).status).toBe(404);
    expect((await p.call('POST', '/v1/api-keys/ckey_unknown/roll', {})).status).toBe(404);
    expect((await p.call('DELETE', '/v1/api-keys/ckey_unknown')).status).toBe(404);
    const after = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM customer_api_keys WHERE project_id = $1', [p.id]);
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });

  it('uses the project prefix from settings api_keys.prefix', async () => {
    const q = await h.project({ catalog });
    const bad = await q.call('PATCH', '/v1/project', { api_keys: { prefix: 'sk' } });
    expect(bad.status).toBe(400);
    expect((await q.call('PATCH', '/v1/project', { api_keys: { prefix: 'acme' } })).status).toBe(200);
    await q.call('POST', '/v1/customers', { id: 'zed' });
    const k = await q.call('POST', '/v1/customers/zed/api-keys', {});
    expect(k.body.key).toMatch(/^acme_[0-9A-Za-z]{43}$/);
    // A key of one project does not verify in another.
    expect((await verify(k.body.key)).body).toEqual({ valid: false, code: 'not_found' });
  });

  it('issues one key automatically when a pack or plan says issues_api_key (once per customer)', async () => {
    await customer('fay');
    const pay = async (item: Record<string, string>) => {
      const s = await p.call('POST', '/v1/checkout', { customer_id: 'fay', ...item, success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' });
      expect(s.status, s.raw).toBeLessThan(300);
      const paid = await p.call('POST', `/v1/test_helpers/checkout/${s.body.session_id}/pay`, { card: '4242424242424242' });
      expect(paid.status, paid.raw).toBeLessThan(300);
    };
    await pay({ credit_pack: 'plain' });
    expect((await p.call('GET', '/v1/customers/fay/api-keys')).body.data).toHaveLength(0);
    await pay({ credit_pack: 'starter' });
    await pay({ credit_pack: 'starter' });
    const keys = (await p.call('GET', '/v1/customers/fay/api-keys')).body.data;
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ auto_issued: true, status: 'active' });

    await customer('gus');
    const sub = await p.call('POST', '/v1/customers/gus/subscription', { plan: 'pro' });
    expect(sub.status, sub.raw).toBeLessThan(300);
    const gus = (await p.call('GET', '/v1/customers/gus/api-keys')).body.data;
    expect(gus).toHaveLength(1);
    expect(gus[0].auto_issued).toBe(true);
  });

  it('20 parallel verifies of a key with remaining 5: exactly 5 are valid (run on PostgreSQL with DATABASE_URL)', async () => {
    await customer('hal');
    const k = await newKey('hal', { remaining: 5 });
    const results = await Promise.all(Array.from({ length: 20 }, () => verify(k.key)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.filter((r) => r.body.valid).length).toBe(5);
    expect(results.filter((r) => r.body.code === 'usage_exceeded').length).toBe(15);
    expect(results.filter((r) => r.body.valid).map((r) => r.body.remaining).sort()).toEqual([0, 1, 2, 3, 4]);
  });
});
