import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { type Db, openDb } from '../src/db/db.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import * as creditsRepo from '../src/modules/credits/credits.repository.ts';
import { topUpLeaseMs } from '../src/modules/credits/credits.topup.ts';
import { createTollgate, type Tollgate } from '../src/server.ts';
import { createHarness, type Harness, type TestProject, testConfig } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const auris = () => h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });

async function ledgerSum(p: TestProject, customer: string): Promise<number> {
  const r = await h.db.query<{ s: number }>(
    'SELECT COALESCE(SUM(amount),0)::bigint AS s FROM ledger_entries WHERE project_id = $1 AND customer_id = $2',
    [p.id, customer],
  );
  return Number(r.rows[0]?.s);
}
const balance = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/credits`)).body.balance as number;
const topUps = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/credits/auto-top-up`)).body.top_ups as { status: string; failure_reason: string | null }[];
const failedEvents = async (p: TestProject) =>
  (await h.db.query<{ payload: { data: Record<string, unknown> } }>("SELECT payload FROM outbox_events WHERE project_id = $1 AND type = 'credits.auto_top_up_failed'", [p.id])).rows;

/** A customer with the sign-up 10 credits plus a Starter pack (15) bought with `card`, which is saved. */
async function buyer(p: TestProject, id: string, card = '4242424242424242') {
  const cs = await p.call('POST', '/v1/checkout', { customer_id: id, credit_pack: 'starter', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
  expect(cs.status).toBe(201);
  expect((await p.call('POST', `/v1/test_helpers/checkout/${cs.body.session_id}/pay`, { card })).status).toBe(200);
  expect(await balance(p, id)).toBe(25);
}

const enable = (p: TestProject, id: string, s: { threshold: number; monthly_cap: number; pack?: string }) =>
  p.call('PUT', `/v1/customers/${id}/credits/auto-top-up`, { enabled: true, pack: 'pro', ...s });

describe('auto top-up', () => {
  it('reads and changes the setting; bad input is 400 and changes nothing; unknown customer 404', async () => {
    const p = await auris();
    await buyer(p, 'u1');
    expect((await p.call('GET', '/v1/customers/u1/credits/auto-top-up')).body).toMatchObject({ enabled: false, pack: null });
    const put = await enable(p, 'u1', { threshold: 10, monthly_cap: 3000 });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ enabled: true, threshold: 10, pack: 'pro', monthly_cap: 3000, spent_this_month: 0 });
    expect((await enable(p, 'u1', { threshold: 10, monthly_cap: 3000, pack: 'nope' })).status).toBe(400);
    expect((await enable(p, 'u1', { threshold: 10, monthly_cap: 100 })).status).toBe(400);
    expect((await p.call('GET', '/v1/customers/u1/credits/auto-top-up')).body).toMatchObject({ enabled: true, monthly_cap: 3000 });
    expect((await p.call('GET', '/v1/customers/ghost/credits/auto-top-up')).status).toBe(404);
    expect((await enable(p, 'ghost', { threshold: 10, monthly_cap: 3000 })).status).toBe(404);
  });

  it('one threshold crossing under many concurrent deducts starts exactly one top-up, granted once and paid once', async () => {
    const p = await auris();
    await buyer(p, 'u2');
    await enable(p, 'u2', { threshold: 10, monthly_cap: 30000 });
    const rs = await Promise.all(Array.from({ length: 20 }, () => p.call('POST', '/v1/customers/u2/credits/deduct', { amount: 1 })));
    expect(rs.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(await balance(p, 'u2')).toBe(25 - 20 + 60);
    expect(await ledgerSum(p, 'u2')).toBe(65);
    expect((await topUps(p, 'u2')).map((t) => t.status)).toEqual(['succeeded']);
    const pays = await p.call('GET', '/v1/payments?customer_id=u2&limit=100');
    expect(pays.body.data.filter((x: { amount: number }) => x.amount === 1500)).toHaveLength(1);
    expect((await p.call('GET', '/v1/customers/u2/credits/auto-top-up')).body.spent_this_month).toBe(1500);
  });

  it('the monthly cap is never exceeded, even with every deduct under the threshold and racing', async () => {
    const p = await auris();
    await buyer(p, 'u3');
    // Always under the threshold: each deduct wants a top-up; the cap allows two packs (2 × 1500).
    await enable(p, 'u3', { threshold: 100_000, monthly_cap: 3999 });
    for (let round = 0; round < 4; round++) {
      await Promise.all(Array.from({ length: 8 }, () => p.call('POST', '/v1/customers/u3/credits/deduct', { amount: 1 })));
    }
    const done = await topUps(p, 'u3');
    expect(done.filter((t) => t.status === 'succeeded')).toHaveLength(2);
    expect(done).toHaveLength(2);
    expect(await balance(p, 'u3')).toBe(25 - 32 + 120);
    expect(await ledgerSum(p, 'u3')).toBe(113);
    expect((await p.call('GET', '/v1/customers/u3/credits/auto-top-up')).body).toMatchObject({ enabled: true, spent_this_month: 3000 });
  });

  for (const [card, code] of [
    ['4000002760003184', 'authentication_required'],
    ['4000000000000341', 'card_declined'],
  ] as const) {
    it(`a top-up that fails (${code}) turns auto top-up off with one event and never retries`, async () => {
      const p = await auris();
      await buyer(p, 'u4', card);
      await enable(p, 'u4', { threshold: 20, monthly_cap: 30000 });
      for (let i = 0; i < 5; i++) expect((await p.call('POST', '/v1/customers/u4/credits/deduct', { amount: 2 })).status).toBe(200);
      expect((await topUps(p, 'u4')).map((t) => [t.status, t.failure_reason])).toEqual([['failed', code]]);
      expect(await balance(p, 'u4')).toBe(15);
      expect(await ledgerSum(p, 'u4')).toBe(15);
      const s = (await p.call('GET', '/v1/customers/u4/credits/auto-top-up')).body;
      expect(s).toMatchObject({ enabled: false, last_error: code, spent_this_month: 0 });
      const ev = await failedEvents(p);
      expect(ev).toHaveLength(1);
      expect(ev[0]?.payload.data).toMatchObject({ reason: code, pack: 'pro', auto_top_up: 'disabled' });
    });
  }

  it('a top-up cut by a crash after its claim is charged again with the same key after the lease, paid, invoiced and granted once', async () => {
    const p = await auris();
    await buyer(p, 'u9');
    await enable(p, 'u9', { threshold: 10, monthly_cap: 30000 });
    // What a process killed between the claim and the charge leaves: the setting running, one pending top-up.
    const at = h.clock.now();
    await h.db.tx(async (q) => {
      await q.query('UPDATE credit_accounts SET balance = 5 WHERE project_id = $1 AND customer_id = $2', [p.id, 'u9']);
      await q.query(`INSERT INTO ledger_entries (id, project_id, customer_id, amount, balance_after, kind, created_at)
        VALUES ('led_u9_spent', $1, 'u9', -20, 5, 'deduct', $2)`, [p.id, at]);
      const claim = await creditsRepo.claimAutoTopUp(q, { projectId: p.id, customerId: 'u9', price: 1500, month: at.toISOString().slice(0, 7), at });
      expect(claim).toBeDefined();
      await creditsRepo.insertTopUp(q, {
        projectId: p.id, id: 'topup_cut', customerId: 'u9', packId: 'pro', credits: 60, amount: 1500, currency: 'eur',
        key: `auto_top_up:u9:${claim!.attempts}`, at, retryAt: new Date(at.getTime() + topUpLeaseMs(h.tg.ctx)),
      });
    });
    // While it is pending, deducts start no second top-up, and the job leaves it alone before the lease ends.
    expect((await p.call('POST', '/v1/customers/u9/credits/deduct', { amount: 1 })).status).toBe(200);
    await runDueJobs(h.tg.ctx);
    expect((await topUps(p, 'u9')).map((t) => t.status)).toEqual(['pending']);
    h.clock.advance(topUpLeaseMs(h.tg.ctx) + 1000);
    await runDueJobs(h.tg.ctx);
    await runDueJobs(h.tg.ctx);
    expect((await topUps(p, 'u9')).map((t) => t.status)).toEqual(['succeeded']);
    expect(await balance(p, 'u9')).toBe(4 + 60);
    expect(await ledgerSum(p, 'u9')).toBe(64);
    const pays = (
      await h.db.query<{ id: string; amount: number; status: string }>(
        "SELECT id, amount::int AS amount, status FROM payments WHERE project_id = $1 AND details->>'auto_top_up' = 'topup_cut'",
        [p.id],
      )
    ).rows;
    expect(pays).toHaveLength(1);
    expect(pays[0]).toMatchObject({ amount: 1500, status: 'succeeded' });
    // Paid like any payment: announced and invoiced.
    const invoices = (await p.call('GET', '/v1/customers/u9/invoices')).body.data;
    expect(invoices.filter((i: { payment_id: string }) => i.payment_id === pays[0]!.id)).toHaveLength(1);
    const succeeded = await h.db.query("SELECT 1 FROM outbox_events WHERE project_id = $1 AND type = 'payment.succeeded' AND payload->'data'->>'id' = $2", [p.id, pays[0]!.id]);
    expect(succeeded.rowCount).toBe(1);
    expect((await p.call('GET', '/v1/customers/u9/credits/auto-top-up')).body).toMatchObject({ enabled: true, spent_this_month: 1500 });
  });

  it('two server instances on one database: racing deducts still start exactly one top-up', async () => {
    const p = await auris();
    await buyer(p, 'u5');
    await enable(p, 'u5', { threshold: 10, monthly_cap: 30000 });
    // A second app instance with its own connection pool (PostgreSQL) on the same database and clock.
    let db2: Db = h.db;
    if (process.env.DATABASE_URL) {
      const schema = (await h.db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]?.s as string;
      const url = new URL(process.env.DATABASE_URL);
      url.searchParams.set('options', `-c search_path=${schema}`);
      db2 = await openDb({ databaseUrl: url.toString(), poolSize: 8 });
    }
    const tg2: Tollgate = await createTollgate({ config: testConfig(), db: db2, clock: h.clock, runner: false, logger: false });
    try {
      const call = (i: number) => {
        const o = { method: 'POST' as const, url: '/v1/customers/u5/credits/deduct', payload: { amount: 1 }, headers: { authorization: `Bearer ${p.key}` } };
        return i % 2 ? tg2.app.inject(o) : h.tg.app.inject(o);
      };
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => call(i)));
      expect(rs.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
      expect((await topUps(p, 'u5')).map((t) => t.status)).toEqual(['succeeded']);
      expect(await balance(p, 'u5')).toBe(65);
      expect(await ledgerSum(p, 'u5')).toBe(65);
    } finally {
      await tg2.app.close();
      if (db2 !== h.db) await db2.close();
    }
  });
});
