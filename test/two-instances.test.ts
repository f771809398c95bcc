import type { InjectOptions } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.ts';
import { type Db, openDb } from '../src/db/db.ts';
import { invalidationReceived, receivedInvalidations } from '../src/db/invalidation.ts';
import { randomToken } from '../src/domain/ids.ts';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { pushCatalog } from '../src/modules/catalog/catalog.service.ts';
import { createProject } from '../src/modules/projects/projects.service.ts';
import { createTollgate, type Tollgate } from '../src/server.ts';
import { type Receiver, startReceiver } from './support/receiver.ts';
import { testConfig } from './support/harness.ts';

/**
 * Two Tollgate instances (each with its own connection pool, caches and job runner calls) on one
 * PostgreSQL schema, as two processes behind a load balancer would be. PGlite is one process that
 * owns its data directory, so there is no second instance to run there.
 */
const url = process.env.DATABASE_URL;

const catalog: CatalogInput = {
  plans: [{ id: 'basic', name: 'Basic', price: { amount: 1000, currency: 'eur' }, included_credits: 10 }],
};

interface Instance {
  tg: Tollgate;
  db: Db;
  call(method: InjectOptions['method'], path: string, key: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
}

let a: Instance;
let b: Instance;
let receiver: Receiver;
const clock = new ManualClock('2031-03-01T10:00:00Z');

async function instance(scopedUrl: string): Promise<Instance> {
  const db = await openDb({ databaseUrl: scopedUrl, poolSize: 8 });
  const tg = await createTollgate({ config: testConfig({ webhookAllowPrivate: true, webhookTimeoutMs: 400 }), db, clock, runner: false, logger: false });
  return {
    tg,
    db,
    async call(method, path, key, body, headers = {}) {
      const r = await tg.app.inject({
        method,
        url: path,
        headers: { authorization: `Bearer ${key}`, ...headers },
        ...(body !== undefined ? { payload: body as InjectOptions['payload'] } : {}),
      });
      return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : undefined };
    },
  };
}

async function project(withCatalog = false) {
  const id = `t-${randomToken(10).toLowerCase()}`;
  const created = await createProject(a.tg.ctx, { id, name: id });
  if (withCatalog) await pushCatalog(a.tg.ctx, id, catalog, 'test');
  return { id, key: created.secretKey.key };
}

const count = async (sql: string, params: unknown[]) => (await a.db.query<{ n: number }>(sql, params)).rows[0]?.n;

beforeAll(async () => {
  if (!url) return;
  const schema = `t_${randomToken(12).toLowerCase()}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const scoped = new URL(url as string);
  scoped.searchParams.set('options', `-c search_path=${schema}`);
  a = await instance(scoped.toString());
  b = await instance(scoped.toString());
  receiver = await startReceiver();
});
afterAll(async () => {
  await a?.tg.close();
  await b?.tg.close();
  await a?.db.close();
  await b?.db.close();
  await receiver?.close();
});

describe.skipIf(!url)('issue 17 item 2: two instances on one PostgreSQL database (skipped on PGlite: one process owns the embedded database, so a second instance cannot exist)', () => {
  it('50 concurrent deducts across both instances on a balance covering 10: exactly 10 succeed, balance 0', async () => {
    const p = await project();
    expect((await a.call('POST', '/v1/customers/c1/credits/grant', p.key, { amount: 100 }, { 'idempotency-key': 'g1' })).status).toBe(200);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        (i % 2 ? a : b).call('POST', '/v1/customers/c1/credits/deduct', p.key, { amount: 10 }, { 'idempotency-key': `d${i}` }),
      ),
    );
    expect(results.filter((r) => r.status === 200)).toHaveLength(10);
    expect(results.filter((r) => r.status === 402)).toHaveLength(40);
    const acct = (await a.db.query<{ balance: number }>('SELECT balance FROM credit_accounts WHERE project_id = $1', [p.id])).rows[0];
    expect(acct?.balance).toBe(0);
    expect(await count("SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND kind = 'deduct'", [p.id])).toBe(10);
  });

  it('the same Idempotency-Key sent to both instances at once: one effect, the same reply', async () => {
    const p = await project();
    await a.call('POST', '/v1/customers/c2/credits/grant', p.key, { amount: 100 }, { 'idempotency-key': 'g2' });
    for (let round = 0; round < 5; round++) {
      const key = { 'idempotency-key': `twin-${round}` };
      const [ra, rb] = await Promise.all([
        a.call('POST', '/v1/customers/c2/credits/deduct', p.key, { amount: 7 }, key),
        b.call('POST', '/v1/customers/c2/credits/deduct', p.key, { amount: 7 }, key),
      ]);
      // The loser of the race either waits for the winner's reply or is told the key is in progress.
      const done = [ra, rb].filter((r) => r.status === 200);
      expect(done.length).toBeGreaterThanOrEqual(1);
      for (const r of [ra, rb]) if (r.status !== 200) expect(r.body.error.code).toBe('idempotency_in_progress');
      const again = await (round % 2 ? a : b).call('POST', '/v1/customers/c2/credits/deduct', p.key, { amount: 7 }, key);
      expect(again.body).toEqual(done[0]?.body);
    }
    expect(await count("SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND kind = 'deduct'", [p.id])).toBe(5);
    const acct = (await a.db.query<{ balance: number }>('SELECT balance FROM credit_accounts WHERE project_id = $1', [p.id])).rows[0];
    expect(acct?.balance).toBe(100 - 35);
  });

  it('the first use of a customer from both instances at once creates one customer and one sign-up', async () => {
    const p = await project();
    const rs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).call('POST', '/v1/customers/fresh/credits/grant', p.key, { amount: 5 }, { 'idempotency-key': `f${i}` }),
      ),
    );
    for (const r of rs) expect(r.status).toBe(200);
    expect(await count('SELECT count(*)::int AS n FROM customers WHERE project_id = $1', [p.id])).toBe(1);
    expect(await count('SELECT count(*)::int AS n FROM credit_accounts WHERE project_id = $1', [p.id])).toBe(1);
    const acct = (await a.db.query<{ balance: number }>('SELECT balance FROM credit_accounts WHERE project_id = $1', [p.id])).rows[0];
    expect(acct?.balance).toBe(50);
  });

  it('clock advances on both instances at once charge each renewal once', async () => {
    const p = await project(true);
    for (const c of ['s1', 's2', 's3']) {
      const cs = await a.call('POST', '/v1/checkout', p.key, { customer_id: c, plan: 'basic', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
      expect((await b.call('POST', `/v1/test-helpers/checkout/${cs.body.session_id}/pay`, p.key, {})).status).toBe(200);
    }
    // Each instance moves the clock by 16 days at the same moment, twice: 64 days in all, two renewals each.
    for (let i = 0; i < 2; i++) {
      const [ra, rb] = await Promise.all([
        a.call('POST', '/v1/test-helpers/clock/advance', p.key, { seconds: 16 * 86_400 }, { 'idempotency-key': `adv-a-${i}` }),
        b.call('POST', '/v1/test-helpers/clock/advance', p.key, { seconds: 16 * 86_400 }, { 'idempotency-key': `adv-b-${i}` }),
      ]);
      expect([ra.status, rb.status]).toEqual([200, 200]);
    }
    const pays = await a.db.query<{ n: number; periods: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT period_start)::int AS periods FROM payments
       WHERE project_id = $1 AND status = 'succeeded' GROUP BY customer_id`,
      [p.id],
    );
    expect(pays.rows).toEqual([
      { n: 3, periods: 3 },
      { n: 3, periods: 3 },
      { n: 3, periods: 3 },
    ]);
  });
});

describe.skipIf(!url)('issue 17 item 6: caches agree across two instances (PostgreSQL; skipped on PGlite: one process, local invalidation)', () => {
  it('an endpoint created on A for credits.deducted: every deduct on B right after emits the event', async () => {
    const p = await project();
    await a.call('POST', '/v1/customers/c3/credits/grant', p.key, { amount: 100 }, { 'idempotency-key': 'g3' });
    // B has the project (without the opt-in) cached before the endpoint exists.
    await b.call('POST', '/v1/customers/c3/credits/deduct', p.key, { amount: 1 }, { 'idempotency-key': 'pre' });
    const created = await a.call('POST', '/v1/webhook-endpoints', p.key, { url: receiver.url('/ded'), events: ['credits.deducted'] }, { 'idempotency-key': 'ep' });
    expect(created.status).toBe(201);
    for (let i = 0; i < 20; i++) {
      expect((await b.call('POST', '/v1/customers/c3/credits/deduct', p.key, { amount: 1 }, { 'idempotency-key': `post-${i}` })).status).toBe(200);
    }
    expect(await count("SELECT count(*)::int AS n FROM outbox_events WHERE project_id = $1 AND type = 'credits.deducted'", [p.id])).toBe(20);
  });

  it('clock/advance {to} on B after A moved the clock starts from the moved clock (no overshoot)', async () => {
    const p = await project();
    const start = await b.call('POST', '/v1/test-helpers/clock/advance', p.key, { seconds: 60 }, { 'idempotency-key': 'c0' });
    expect(start.status).toBe(200);
    await a.call('POST', '/v1/test-helpers/clock/advance', p.key, { seconds: 86_400 }, { 'idempotency-key': 'c1' });
    const target = new Date(new Date(start.body.now).getTime() + 2 * 86_400_000).toISOString();
    const r = await b.call('POST', '/v1/test-helpers/clock/advance', p.key, { to: target }, { 'idempotency-key': 'c2' });
    expect(r.status).toBe(200);
    expect(new Date(r.body.now).toISOString()).toBe(target);
    expect(r.body.advanced_seconds).toBe(86_400);
  });

  it('a catalog pushed on A is the one B prices with, once B hears the invalidation', async () => {
    const p = await project(true);
    const before = await b.call('GET', '/v1/catalog', p.key);
    expect(before.body.plans[0].price.amount).toBe(1000);
    const seen = receivedInvalidations(b.db);
    const raised = structuredClone(catalog);
    raised.plans![0]!.price.amount = 1500;
    expect((await a.call('PUT', '/v1/catalog', p.key, raised, { 'idempotency-key': 'cat' })).status).toBe(200);
    await invalidationReceived(b.db, seen);
    const after = await b.call('GET', '/v1/catalog', p.key);
    expect(after.body.plans[0].price.amount).toBe(1500);
  });

  it('a key revoked on A is refused by B, once B hears the invalidation', async () => {
    const p = await project();
    const made = await a.call('POST', '/v1/keys', p.key, { name: 'second' }, { 'idempotency-key': 'k' });
    expect(made.status).toBe(201);
    expect((await b.call('GET', '/v1/customers/c4/credits', made.body.key)).status).not.toBe(401);
    const seen = receivedInvalidations(b.db);
    expect((await a.call('DELETE', `/v1/keys/${made.body.id}`, p.key, undefined, { 'idempotency-key': 'rk' })).status).toBe(200);
    await invalidationReceived(b.db, seen);
    expect((await b.call('GET', '/v1/customers/c4/credits', made.body.key)).status).toBe(401);
  });
});
