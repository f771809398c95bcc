import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createKey, invalidateProject, projectsRepository } from '../src/modules/projects/projects.service.ts';
import { createTollgate, type Tollgate } from '../src/server.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const ava = () => h.project({ catalog: DEMO_CATALOGS.ava!.catalog });

async function setLimits(p: TestProject, rate_limit: Record<string, number>) {
  await projectsRepository.updateProjectSettings(h.db, p.id, { settings: { rate_limit } });
  await invalidateProject(h.tg.ctx, p.id);
}

describe('audit log', () => {
  it('lists administrative changes newest first with who, what, when and from where, filtered and paged', async () => {
    const p = await ava();
    const k = await p.call('POST', '/v1/keys', { scopes: ['read'] });
    await p.call('POST', '/v1/customers/a1/credits/grant', { amount: 5, reason: 'gift' });
    await p.call('PUT', '/v1/customers/a1/secrets/vapi_api_key', { value: 'sk-audit-000001' });
    await p.call('POST', '/v1/customers/a1/secrets/vapi_api_key/reveal');
    await p.call('DELETE', '/v1/customers/a1/secrets/vapi_api_key');
    await p.call('PUT', '/v1/customers/a2/secrets/vapi_api_key', { value: 'sk-audit-000002' });
    await p.call('POST', '/v1/customers/a1/credits/deduct', { amount: 1 }); // not administrative

    const all = await p.call('GET', '/v1/audit');
    expect(all.status).toBe(200);
    expect(all.body.data.map((e: { action: string }) => e.action)).toEqual([
      'secret.stored',
      'secret.deleted',
      'secret.revealed',
      'secret.stored',
      expect.stringMatching(/^credits\./),
      'key.created',
      'catalog.pushed',
    ]);
    const entry = all.body.data[1];
    expect(entry).toMatchObject({ object: 'audit_entry', action: 'secret.deleted', customer_id: 'a1', target: 'secret:vapi_api_key' });
    expect(entry.actor).toMatch(/^key:key_/);
    expect(entry.ip).toBeTruthy();
    expect(entry.created_at).toBeTruthy();
    expect(entry.id).toMatch(/^aud_/);

    expect((await p.call('GET', '/v1/audit?customer_id=a2')).body.data.map((e: { action: string }) => e.action)).toEqual(['secret.stored']);
    expect((await p.call('GET', '/v1/audit?action=secret.revealed')).body.data).toHaveLength(1);
    expect((await p.call('GET', '/v1/audit?action=secret')).body.data).toHaveLength(4);
    expect((await p.call('GET', `/v1/audit?actor=key:${k.body.id}`)).body.data).toEqual([]);
    expect((await p.call('GET', `/v1/audit?actor=${encodeURIComponent(entry.actor)}&action=key.created`)).body.data).toHaveLength(1);

    const page1 = await p.call('GET', '/v1/audit?limit=3');
    expect(page1.body.has_more).toBe(true);
    const page2 = await p.call('GET', `/v1/audit?limit=3&starting_after=${page1.body.data[2].id}`);
    const page3 = await p.call('GET', `/v1/audit?limit=3&starting_after=${page2.body.data[2].id}`);
    expect(page3.body.has_more).toBe(false);
    expect([...page1.body.data, ...page2.body.data, ...page3.body.data].map((e: { id: string }) => e.id)).toEqual(
      all.body.data.map((e: { id: string }) => e.id),
    );

    // Another project sees none of it; a bad filter is a 400.
    const q = await ava();
    expect((await q.call('GET', '/v1/audit?customer_id=a1')).body.data).toEqual([]);
    expect((await p.call('GET', '/v1/audit?limit=0')).status).toBe(400);
    expect((await p.call('GET', '/v1/audit?colour=red')).status).toBe(400);
  });

  it('is append-only: UPDATE and DELETE of an entry fail', async () => {
    const p = await ava();
    await p.call('PUT', '/v1/customers/a1/secrets/vapi_api_key', { value: 'sk-audit-000003' });
    await expect(h.db.query("UPDATE audit_log SET action = 'nothing' WHERE project_id = $1", [p.id])).rejects.toThrow(/append-only/);
    await expect(h.db.query('DELETE FROM audit_log WHERE project_id = $1', [p.id])).rejects.toThrow(/append-only/);
    expect((await p.call('GET', '/v1/audit?action=secret.stored')).body.data).toHaveLength(1);
  });
});

describe('rate limits (PostgreSQL counters)', () => {
  it('are off unless configured', async () => {
    const p = await ava();
    for (let i = 0; i < 20; i++) expect((await p.call('GET', '/v1/catalog')).status).toBe(200);
    const n = await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM rate_limit_counters WHERE bucket LIKE 'c:' || $1 || ':%'", [p.id]);
    expect(n.rows[0]?.n).toBe(0);
  });

  it('answer 429 rate_limited with retry-after per key, and reset in the next second', async () => {
    const p = await ava();
    await setLimits(p, { per_key_per_second: 3 });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await p.call('GET', `/v1/catalog`)).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const r = await p.call('POST', '/v1/customers/k1/credits/deduct', { amount: 1 });
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.body.error).toMatchObject({ code: 'rate_limited', scope: 'key', limit: 3, retry_after: 1 });
    // A refused deduct changed nothing.
    expect((await h.db.query('SELECT 1 FROM ledger_entries WHERE project_id = $1 AND amount < 0', [p.id])).rowCount).toBe(0);
    // Another key of the same project has its own budget.
    const other = await createKey(h.db, p.id, { kind: 'secret', scopes: ['full'] });
    const o = await h.inject({ method: 'GET', url: '/v1/catalog', headers: { authorization: `Bearer ${other.key}` } });
    expect(o.status).toBe(200);
    h.clock.advance(1000);
    expect((await p.call('GET', '/v1/catalog')).status).toBe(200);
  });

  it('per customer: one busy customer is limited, the others are not', async () => {
    const p = await ava();
    await setLimits(p, { per_customer_per_second: 2 });
    const busy = [];
    for (let i = 0; i < 3; i++) busy.push((await p.call('POST', '/v1/customers/busy/credits/grant', { amount: 1 })).status);
    expect(busy).toEqual([200, 200, 429]);
    const viaBody = await p.call('POST', '/v1/check', { customer_id: 'busy', feature: 'seats' });
    expect(viaBody.status).toBe(429);
    expect(viaBody.body.error.scope).toBe('customer');
    expect((await p.call('POST', '/v1/customers', { id: 'busy' })).status).toBe(429);
    expect((await p.call('POST', '/v1/customers/calm/credits/grant', { amount: 1 })).status).toBe(200);
    h.clock.advance(1000);
    expect((await p.call('POST', '/v1/customers/busy/credits/grant', { amount: 1 })).status).toBe(200);
  });

  it('the server default applies to every project unless its settings override it', async () => {
    const p = await ava();
    const tg2 = await createTollgate({
      config: { ...h.config, rateLimit: { perKeyPerSecond: 2, perCustomerPerSecond: 0 } },
      db: h.db,
      clock: h.clock,
      runner: false,
    });
    try {
      const get = (url: string) => tg2.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${p.key}` } });
      expect([(await get('/v1/catalog')).statusCode, (await get('/v1/catalog')).statusCode]).toEqual([200, 200]);
      expect((await get('/v1/catalog')).statusCode).toBe(429);
      h.clock.advance(1000);
      await setLimits(p, { per_key_per_second: 0 });
      for (let i = 0; i < 4; i++) expect((await get('/v1/catalog')).statusCode).toBe(200);
    } finally {
      await tg2.close();
    }
  });

  it('two server instances on one database share the count', async () => {
    const p = await ava();
    await setLimits(p, { per_key_per_second: 4 });
    const tg2 = await createTollgate({ config: h.config, db: h.db, clock: h.clock, runner: false });
    try {
      const via2 = async () =>
        (await tg2.app.inject({ method: 'GET', url: '/v1/catalog', headers: { authorization: `Bearer ${p.key}` } })).statusCode;
      const seq = [(await p.call('GET', '/v1/catalog')).status, await via2(), (await p.call('GET', '/v1/catalog')).status, await via2()];
      expect(seq).toEqual([200, 200, 200, 200]);
      expect(await via2()).toBe(429);
      expect((await p.call('GET', '/v1/catalog')).status).toBe(429);
    } finally {
      await tg2.close();
    }
  });
});

describe('rate limits with larger limits (batched writes)', () => {
  it('one instance admits exactly the limit even though it writes counts in batches', async () => {
    const p = await ava();
    await setLimits(p, { per_key_per_second: 50 });
    h.clock.advance(1000);
    let ok = 0;
    for (let i = 0; i < 60; i++) if ((await p.call('GET', '/v1/catalog')).status === 200) ok++;
    expect(ok).toBe(50);
  });

  it('two instances together stay within the limit plus a tenth of it per instance', async () => {
    const p = await ava();
    await setLimits(p, { per_key_per_second: 50 });
    const tg2 = await createTollgate({ config: h.config, db: h.db, clock: h.clock, runner: false });
    try {
      h.clock.advance(1000);
      let ok = 0;
      for (let i = 0; i < 40; i++) {
        if ((await p.call('GET', '/v1/catalog')).status === 200) ok++;
        const r = await tg2.app.inject({ method: 'GET', url: '/v1/catalog', headers: { authorization: `Bearer ${p.key}` } });
        if (r.statusCode === 200) ok++;
      }
      expect(ok).toBeGreaterThanOrEqual(50);
      expect(ok).toBeLessThanOrEqual(60);
    } finally {
      await tg2.close();
    }
  });
});

describe('rate limits (Redis counters)', () => {
  it('two instances with REDIS_URL share the count in Redis, and the database is not used', async () => {
    const p = await ava();
    await setLimits(p, { per_key_per_second: 3, per_customer_per_second: 100 });
    const config = { ...h.config, redisUrl: 'redis://127.0.0.1:6379' };
    const a: Tollgate = await createTollgate({ config, db: h.db, clock: h.clock, runner: false });
    const b: Tollgate = await createTollgate({ config, db: h.db, clock: h.clock, runner: false });
    try {
      h.clock.advance(1000);
      const get = async (tg: Tollgate) =>
        (await tg.app.inject({ method: 'GET', url: '/v1/catalog', headers: { authorization: `Bearer ${p.key}` } })).statusCode;
      expect([await get(a), await get(b), await get(a)]).toEqual([200, 200, 200]);
      expect(await get(b)).toBe(429);
      expect(await get(a)).toBe(429);
      const rows = await h.db.query("SELECT 1 FROM rate_limit_counters WHERE bucket = 'c:' || $1 || ':r'", [p.id]);
      expect(rows.rowCount).toBe(0);
      h.clock.advance(1000);
      expect(await get(b)).toBe(200);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('an unreachable Redis lets requests through instead of failing them', async () => {
    const p = await ava();
    await setLimits(p, { per_key_per_second: 1 });
    const down = await createTollgate({ config: { ...h.config, redisUrl: 'redis://127.0.0.1:1' }, db: h.db, clock: h.clock, runner: false });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await down.app.inject({ method: 'GET', url: '/v1/catalog', headers: { authorization: `Bearer ${p.key}` } });
        expect(r.statusCode).toBe(200);
      }
    } finally {
      await down.close();
    }
  });
});
