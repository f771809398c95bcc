import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const auris = () => h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });

async function sumOfLedger(p: TestProject, customer: string): Promise<number> {
  const r = await h.db.query<{ s: number }>(
    'SELECT COALESCE(SUM(amount),0)::bigint AS s FROM ledger_entries WHERE project_id = $1 AND customer_id = $2',
    [p.id, customer],
  );
  return Number(r.rows[0]?.s);
}

describe('credits', () => {
  it('a new customer gets the sign-up credits exactly once', async () => {
    const p = await auris();
    const a = await p.call('POST', '/v1/customers', { id: 'u1', email: 'u1@example.com' });
    expect(a.status).toBe(201);
    expect(a.body.credits).toEqual({ balance: 10, held: 0, available: 10 });
    const b = await p.call('POST', '/v1/customers', { id: 'u1' });
    expect(b.status).toBe(200);
    expect(b.body.balance).toBe(10);
    const tx = await p.call('GET', '/v1/customers/u1/credits/transactions');
    expect(tx.body.data).toHaveLength(1);
    expect(tx.body.data[0]).toMatchObject({ amount: 10, kind: 'signup', balance_after: 10 });
  });

  it('deducts usage converted by the catalog, rounding up (25 s → 3 credits)', async () => {
    const p = await auris();
    const r = await p.call('POST', '/v1/customers/u2/credits/deduct', { usage: { feature: 'dubbing_seconds', quantity: 25 } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ balance: 7, deducted: 3 });
    expect(r.body.transaction_id).toMatch(/^led_/);
  });

  it('deduct returns 402 with balance and required and changes nothing when the balance is short', async () => {
    const p = await auris();
    const r = await p.call('POST', '/v1/customers/u3/credits/deduct', { amount: 11 });
    expect(r.status).toBe(402);
    expect(r.body.error).toMatchObject({ code: 'insufficient_credits', balance: 10, required: 11 });
    const c = await p.call('GET', '/v1/customers/u3/credits');
    expect(c.body.balance).toBe(10);
    expect(await sumOfLedger(p, 'u3')).toBe(10);
  });

  it('history is newest first with reasons and resulting balances', async () => {
    const p = await auris();
    await p.call('POST', '/v1/customers/u4/credits/grant', { amount: 5, reason: 'gift' });
    await p.call('POST', '/v1/customers/u4/credits/deduct', { amount: 2, reason: 'job 1' });
    const tx = await p.call('GET', '/v1/customers/u4/credits/transactions');
    expect(tx.body.data.map((e: { amount: number; reason: string; balance_after: number }) => [e.amount, e.reason, e.balance_after])).toEqual([
      [-2, 'job 1', 13],
      [5, 'gift', 15],
      [10, 'Sign-up credits', 10],
    ]);
    const page1 = await p.call('GET', '/v1/customers/u4/credits/transactions?limit=2');
    expect(page1.body.has_more).toBe(true);
    const page2 = await p.call('GET', `/v1/customers/u4/credits/transactions?limit=2&starting_after=${page1.body.data[1].id}`);
    expect(page2.body.data).toHaveLength(1);
    expect(page2.body.has_more).toBe(false);
  });
});
