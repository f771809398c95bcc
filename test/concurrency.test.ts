import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { NEEDS_PG, onPostgres } from './support/engine.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const catalog = { ...DEMO_CATALOGS.aurisvoice!.catalog, signup_credits: 0 };

async function ledgerInvariants(p: TestProject, customer: string) {
  const acct = (
    await h.db.query<{ balance: number; held: number }>(
      'SELECT balance, held FROM credit_accounts WHERE project_id = $1 AND customer_id = $2',
      [p.id, customer],
    )
  ).rows[0]!;
  const sum = (
    await h.db.query<{ s: number }>(
      'SELECT COALESCE(SUM(amount),0)::bigint AS s FROM ledger_entries WHERE project_id = $1 AND customer_id = $2',
      [p.id, customer],
    )
  ).rows[0]!.s;
  const negatives = (
    await h.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND customer_id = $2 AND balance_after < 0',
      [p.id, customer],
    )
  ).rows[0]!.n;
  const openHolds = (
    await h.db.query<{ s: number }>(
      "SELECT COALESCE(SUM(amount),0)::bigint AS s FROM credit_holds WHERE project_id = $1 AND customer_id = $2 AND status = 'held'",
      [p.id, customer],
    )
  ).rows[0]!.s;
  expect(Number(sum)).toBe(acct.balance); // the cached balance equals the sum of its entries
  expect(acct.balance).toBeGreaterThanOrEqual(0);
  expect(negatives).toBe(0);
  expect(acct.held).toBe(Number(openHolds)); // held equals the open holds
  return acct;
}

describe.skipIf(!onPostgres)(`issue 17 item 3: credits under concurrency (${NEEDS_PG})`, () => {
  it('64 parallel deducts on a balance that covers 10: exactly 10 succeed and the balance is exact', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers/hot/credits/grant', { amount: 100, reason: 'seed' });
    const rs = await Promise.all(Array.from({ length: 64 }, () => p.call('POST', '/v1/customers/hot/credits/deduct', { amount: 10 })));
    expect(rs.filter((r) => r.status === 200)).toHaveLength(10);
    expect(rs.filter((r) => r.status === 402)).toHaveLength(54);
    const acct = await ledgerInvariants(p, 'hot');
    expect(acct.balance).toBe(0);
  });

  it('two parallel jobs cannot both reserve the last credits', async () => {
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers/j/credits/grant', { amount: 30, reason: 'seed' });
    const rs = await Promise.all(Array.from({ length: 6 }, () => p.call('POST', '/v1/customers/j/credits/holds', { amount: 20 })));
    expect(rs.filter((r) => r.status === 201)).toHaveLength(1);
    expect(rs.filter((r) => r.status === 402)).toHaveLength(5);
    const c = await p.call('GET', '/v1/customers/j/credits');
    expect(c.body).toMatchObject({ balance: 30, held: 20, available: 10 });
    await ledgerInvariants(p, 'j');
  });

  it('a first use from many requests at once creates the customer and its sign-up credits once', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const rs = await Promise.all(Array.from({ length: 12 }, () => p.call('POST', '/v1/customers/fresh/credits/deduct', { amount: 1 })));
    expect(rs.filter((r) => r.status === 200)).toHaveLength(10);
    const tx = await p.call('GET', '/v1/customers/fresh/credits/transactions?limit=100');
    expect(tx.body.data.filter((e: { kind: string }) => e.kind === 'signup')).toHaveLength(1);
    await ledgerInvariants(p, 'fresh');
  });

});

describe('credits under any sequence of operations', () => {
  it('any sequence of grants, deducts, holds, captures and releases keeps the ledger invariants', async () => {
    const Op = fc.oneof(
      fc.record({ op: fc.constant('grant' as const), amount: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ op: fc.constant('deduct' as const), amount: fc.integer({ min: 1, max: 60 }) }),
      fc.record({ op: fc.constant('hold' as const), amount: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ op: fc.constant('capture' as const), frac: fc.integer({ min: 0, max: 100 }) }),
      fc.record({ op: fc.constant('release' as const) }),
      fc.record({ op: fc.constant('retry' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(Op, { minLength: 1, maxLength: 25 }), async (ops) => {
        const p = await h.project({ catalog });
        await p.call('POST', '/v1/customers', { id: 'c' });
        const holds: { id: string; amount: number }[] = [];
        let model = 0;
        let last: { key: string; amount: number } | null = null;
        for (const [i, o] of ops.entries()) {
          if (o.op === 'grant') {
            const r = await p.call('POST', '/v1/customers/c/credits/grant', { amount: o.amount, reason: 'g' });
            expect(r.status).toBe(200);
            model += o.amount;
          } else if (o.op === 'deduct') {
            const key = `k${i}`;
            const r = await p.call('POST', '/v1/customers/c/credits/deduct', { amount: o.amount }, { 'idempotency-key': key });
            const held = holds.reduce((s, x) => s + x.amount, 0);
            if (model - held >= o.amount) {
              expect(r.status).toBe(200);
              model -= o.amount;
              last = { key, amount: o.amount };
            } else expect(r.status).toBe(402);
          } else if (o.op === 'retry' && last) {
            const r = await p.call('POST', '/v1/customers/c/credits/deduct', { amount: last.amount }, { 'idempotency-key': last.key });
            expect(r.status).toBe(200); // replayed: no second debit
          } else if (o.op === 'hold') {
            const r = await p.call('POST', '/v1/customers/c/credits/holds', { amount: o.amount });
            const held = holds.reduce((s, x) => s + x.amount, 0);
            if (model - held >= o.amount) {
              expect(r.status).toBe(201);
              holds.push({ id: r.body.id, amount: o.amount });
            } else expect(r.status).toBe(402);
          } else if (o.op === 'capture' && holds.length) {
            const hd = holds.shift()!;
            const take = Math.floor((hd.amount * o.frac) / 100);
            const r = await p.call('POST', `/v1/holds/${hd.id}/capture`, { amount: take });
            expect(r.status).toBe(200);
            model -= take;
          } else if (o.op === 'release' && holds.length) {
            const hd = holds.shift()!;
            expect((await p.call('POST', `/v1/holds/${hd.id}/release`)).status).toBe(200);
          }
        }
        const acct = await ledgerInvariants(p, 'c');
        expect(acct.balance).toBe(model);
      }),
      { numRuns: 15 },
    );
  });
});
