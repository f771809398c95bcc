import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const auris = () => h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });

async function session(p: TestProject, customer: string): Promise<string> {
  const r = await p.call('POST', '/v1/customer_sessions', { customer_id: customer });
  expect(r.status).toBe(201);
  return r.body.token;
}

const as = (token: string) => ({ authorization: `Bearer ${token}` });

describe('customer sessions', () => {
  it('creates a short-lived token with links to the hosted pages, stored only as a hash', async () => {
    const p = await auris();
    const r = await p.call('POST', '/v1/customer_sessions', { customer_id: 'alice' });
    expect(r.status).toBe(201);
    expect(r.body.token).toMatch(/^tgcs_/);
    expect(new Date(r.body.expires_at).getTime() - h.clock.now().getTime()).toBe(HOUR);
    expect(r.body.urls.credits).toBe(`http://localhost:4242/p/${p.id}/credits?session=${r.body.token}`);
    expect(Object.keys(r.body.urls).sort()).toEqual(['credits', 'portal', 'pricing']);
    const stored = await h.db.query<{ token_hash: string }>('SELECT token_hash FROM customer_sessions WHERE project_id = $1', [p.id]);
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0]!.token_hash).not.toContain(r.body.token.slice(5));
    // The customer was created on first use, with its sign-up credits.
    const c = await p.call('GET', '/v1/customers/alice/credits');
    expect(c.body.balance).toBe(10);
  });

  it('/v1/customer-sessions is the primary path; /v1/customer_sessions answers identically, same idempotency key', async () => {
    const p = await auris();
    const key = { 'idempotency-key': 'cs-alias-1' };
    const primary = await p.call('POST', '/v1/customer-sessions', { customer_id: 'carol' }, key);
    expect(primary.status).toBe(201);
    expect(primary.body.token).toMatch(/^tgcs_/);
    // A retry under the older spelling is the same request: it replays the first reply.
    const alias = await p.call('POST', '/v1/customer_sessions', { customer_id: 'carol' }, key);
    expect(alias.status).toBe(201);
    expect(alias.headers['idempotent-replayed']).toBe('true');
    expect(alias.body).toEqual(primary.body);
    // Without a key each spelling creates its own session, with the same shape and rules.
    const other = await p.call('POST', '/v1/customer_sessions', { customer_id: 'carol' });
    expect(other.status).toBe(201);
    expect(Object.keys(other.body).sort()).toEqual(Object.keys(primary.body).sort());
    expect(other.body.token).not.toBe(primary.body.token);
    for (const url of ['/v1/customer-sessions', '/v1/customer_sessions']) {
      const bad = await p.call('POST', url, { customer_id: '' });
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('invalid_request');
    }
  });

  it('lets the browser read its own customer and start its checkout, and nothing else', async () => {
    const p = await auris();
    await p.call('POST', '/v1/customers', { id: 'bob' });
    const token = await session(p, 'alice');
    const own = await h.inject({ method: 'GET', url: '/v1/customers/alice', headers: as(token) });
    expect(own.status).toBe(200);
    expect(own.body.balance).toBe(10);
    expect((await h.inject({ method: 'GET', url: '/v1/customers/alice/credits/transactions', headers: as(token) })).status).toBe(200);
    expect((await h.inject({ method: 'GET', url: '/v1/plans', headers: as(token) })).body.credit_packs).toHaveLength(3);

    const other = await h.inject({ method: 'GET', url: '/v1/customers/bob/credits', headers: as(token) });
    expect(other.status).toBe(403);
    expect(other.body.error.code).toBe('forbidden');
    const grant = await h.inject({ method: 'POST', url: '/v1/customers/alice/credits/grant', headers: as(token), payload: { amount: 5, reason: 'x' } });
    expect(grant.status).toBe(403);
    const otherCheckout = await h.inject({
      method: 'POST',
      url: '/v1/checkout',
      headers: as(token),
      payload: { customer_id: 'bob', credit_pack: 'pro', success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' },
    });
    expect(otherCheckout.status).toBe(403);
    expect((await p.call('GET', '/v1/customers/alice/credits')).body.balance).toBe(10);

    const checkout = await h.inject({
      method: 'POST',
      url: '/v1/checkout',
      headers: as(token),
      payload: { customer_id: 'alice', credit_pack: 'pro', success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' },
    });
    expect(checkout.status).toBe(201);
    const read = await h.inject({ method: 'GET', url: `/v1/checkout/${checkout.body.session_id}`, headers: as(token) });
    expect(read.status).toBe(200);
    expect(read.body.customer_id).toBe('alice');
    // Bob's session cannot read Alice's checkout session.
    const bobs = await session(p, 'bob');
    expect((await h.inject({ method: 'GET', url: `/v1/checkout/${checkout.body.session_id}`, headers: as(bobs) })).status).toBe(404);
  });

  it('answers 401 once the token has expired, and for a token of no session', async () => {
    const p = await auris();
    const token = await session(p, 'carol');
    h.clock.advance(HOUR - 1000);
    expect((await h.inject({ method: 'GET', url: '/v1/customers/carol/credits', headers: as(token) })).status).toBe(200);
    h.clock.advance(1000);
    const late = await h.inject({ method: 'GET', url: '/v1/customers/carol/credits', headers: as(token) });
    expect(late.status).toBe(401);
    expect(late.body.error.code).toBe('unauthorized');
    expect((await h.inject({ method: 'GET', url: '/v1/customers/carol/credits', headers: as('tgcs_nope') })).status).toBe(401);
    const page = await h.inject({ method: 'GET', url: `/p/${p.id}/credits?session=${token}` });
    expect(page.status).toBe(401);
    expect(page.raw).toContain('This link has expired');
  });

  it('refuses bad input and keys of other projects without creating anything', async () => {
    const p = await auris();
    const q = await auris();
    for (const body of [{}, { customer_id: '' }, { customer_id: 'x'.repeat(256) }, { customer_id: 'a', extra: 1 }]) {
      const r = await p.call('POST', '/v1/customer_sessions', body);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    expect((await h.inject({ method: 'POST', url: '/v1/customer_sessions', payload: { customer_id: 'a' } })).status).toBe(401);
    const pk = await h.inject({
      method: 'POST',
      url: '/v1/customer_sessions',
      headers: { authorization: `Bearer ${p.publishableKey}` },
      payload: { customer_id: 'a' },
    });
    expect(pk.status).toBe(403);
    // A session cannot mint sessions.
    const token = await session(p, 'dave');
    expect((await h.inject({ method: 'POST', url: '/v1/customer_sessions', headers: as(token), payload: { customer_id: 'dave' } })).status).toBe(403);
    // Another project's session does not open this project's page or customers.
    const theirs = await session(q, 'dave');
    expect((await h.inject({ method: 'GET', url: `/p/${p.id}/credits?session=${theirs}` })).status).toBe(401);
    const n = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM customer_sessions WHERE project_id = $1', [p.id]);
    expect(n.rows[0]!.n).toBe(1);
  });

  it('is idempotent: a retry with the same key returns the same token', async () => {
    const p = await auris();
    const a = await p.call('POST', '/v1/customer_sessions', { customer_id: 'erin' }, { 'idempotency-key': 'k1' });
    const b = await p.call('POST', '/v1/customer_sessions', { customer_id: 'erin' }, { 'idempotency-key': 'k1' });
    expect(b.status).toBe(201);
    expect(b.body.token).toBe(a.body.token);
    expect(b.headers['idempotent-replayed']).toBe('true');
  });
});

describe('CORS per project', () => {
  it('allows a preflight and the real call from a listed origin, and refuses others', async () => {
    const p = await auris();
    // Origins unique to this test: on PostgreSQL other test files share the database.
    const app = `https://app-${p.id}.test`;
    const other = `https://other-${p.id}.test`;
    const bad = await p.call('PATCH', '/v1/project', { cors_origins: ['https://app.example.com/path'] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('cors_origins.0');
    const set = await p.call('PATCH', '/v1/project', { cors_origins: [app] });
    expect(set.status).toBe(200);
    expect(set.body.cors_origins).toEqual([app]);
    expect((await p.call('GET', '/v1/project')).body.cors_origins).toEqual([app]);

    const token = await session(p, 'frank');
    const preflight = (origin: string) =>
      h.inject({
        method: 'OPTIONS',
        url: '/v1/customers/frank/credits',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
    const ok = await preflight(app);
    expect(ok.status).toBe(204);
    expect(ok.headers['access-control-allow-origin']).toBe(app);
    expect(String(ok.headers['access-control-allow-headers'])).toContain('authorization');

    const refused = await preflight('https://evil.test');
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect(refused.status).toBeGreaterThanOrEqual(400);

    const real = await h.inject({ method: 'GET', url: '/v1/customers/frank/credits', headers: { ...as(token), origin: app } });
    expect(real.status).toBe(200);
    expect(real.headers['access-control-allow-origin']).toBe(app);
    const foreign = await h.inject({ method: 'GET', url: '/v1/customers/frank/credits', headers: { ...as(token), origin: 'https://evil.test' } });
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();

    // An origin listed by another project does not make this project's answers readable there.
    const q = await auris();
    await q.call('PATCH', '/v1/project', { cors_origins: [other] });
    const cross = await h.inject({ method: 'GET', url: '/v1/customers/frank/credits', headers: { ...as(token), origin: other } });
    expect(cross.headers['access-control-allow-origin']).toBeUndefined();

    // Removing the origin takes effect at once.
    await p.call('PATCH', '/v1/project', { cors_origins: [] });
    expect((await preflight(app)).headers['access-control-allow-origin']).toBeUndefined();
  });
});
