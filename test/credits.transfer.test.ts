import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

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

async function balance(p: TestProject, customer: string): Promise<number> {
  const r = await p.call('GET', `/v1/customers/${customer}/credits`);
  return r.body.balance;
}

/** Two customers with the 10 sign-up credits each. */
async function pair(p: TestProject, a: string, b: string) {
  for (const id of [a, b]) expect((await p.call('POST', '/v1/customers', { id })).status).toBe(201);
}

describe('POST /v1/credits/transfer', () => {
  it('moves credits with one entry on each side naming the transfer and emits credits.transferred', async () => {
    const p = await auris();
    await pair(p, 'org', 'alice');
    const r = await p.call('POST', '/v1/credits/transfer', { from: 'org', to: 'alice', amount: 4, reason: 'Seat budget' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      object: 'credit_transfer',
      amount: 4,
      reason: 'Seat budget',
      from: { customer_id: 'org', balance: 6, available: 6 },
      to: { customer_id: 'alice', balance: 14, available: 14 },
    });
    expect(r.body.id).toMatch(/^ctr_/);
    const out = (await p.call('GET', '/v1/customers/org/credits/transactions')).body.data[0];
    const inn = (await p.call('GET', '/v1/customers/alice/credits/transactions')).body.data[0];
    expect(out).toMatchObject({ amount: -4, kind: 'transfer_out', reason: 'Seat budget', balance_after: 6 });
    expect(out.metadata).toMatchObject({ transfer_id: r.body.id, to: 'alice' });
    expect(inn).toMatchObject({ amount: 4, kind: 'transfer_in', reason: 'Seat budget', balance_after: 14 });
    expect(inn.metadata).toMatchObject({ transfer_id: r.body.id, from: 'org' });
    expect(out.id).toBe(r.body.from.transaction_id);
    expect(inn.id).toBe(r.body.to.transaction_id);
    const ev = await h.db.query<{ payload: { data: Record<string, unknown> } }>(
      "SELECT payload FROM outbox_events WHERE project_id = $1 AND type = 'credits.transferred'",
      [p.id],
    );
    expect(ev.rows).toHaveLength(1);
    expect(ev.rows[0]?.payload.data).toMatchObject({ transfer_id: r.body.id, from: 'org', to: 'alice', amount: 4 });
  });

  it('is idempotent: the same key replays the first transfer and moves nothing more', async () => {
    const p = await auris();
    await pair(p, 'a', 'b');
    const body = { from: 'a', to: 'b', amount: 3, reason: 'gift' };
    const k = { 'idempotency-key': 'tr-1' };
    const [r1, r2] = await Promise.all([p.call('POST', '/v1/credits/transfer', body, k), p.call('POST', '/v1/credits/transfer', body, k)]);
    expect(r1.status).toBe(200);
    expect(r2.status).toBe(200);
    expect(r2.body.id).toBe(r1.body.id);
    const r3 = await p.call('POST', '/v1/credits/transfer', body, k);
    expect(r3.body.id).toBe(r1.body.id);
    expect(await balance(p, 'a')).toBe(7);
    expect(await balance(p, 'b')).toBe(13);
  });

  it('insufficient credits → 402 insufficient_credits and nothing moves', async () => {
    const p = await auris();
    await pair(p, 'a', 'b');
    const hold = await p.call('POST', '/v1/customers/a/credits/holds', { amount: 6 });
    expect(hold.status).toBe(201);
    const r = await p.call('POST', '/v1/credits/transfer', { from: 'a', to: 'b', amount: 5, reason: 'x' });
    expect(r.status).toBe(402);
    expect(r.body.error).toMatchObject({ code: 'insufficient_credits', balance: 10, required: 5, available: 4 });
    expect(await balance(p, 'a')).toBe(10);
    expect(await balance(p, 'b')).toBe(10);
    expect(await ledgerSum(p, 'a')).toBe(10);
    expect(await ledgerSum(p, 'b')).toBe(10);
  });

  it('bad input: same customer 400, unknown customer 404, non-positive amount 400 — nothing moves', async () => {
    const p = await auris();
    await pair(p, 'a', 'b');
    const same = await p.call('POST', '/v1/credits/transfer', { from: 'a', to: 'a', amount: 1 });
    expect(same.status).toBe(400);
    const zero = await p.call('POST', '/v1/credits/transfer', { from: 'a', to: 'b', amount: 0 });
    expect(zero.status).toBe(400);
    const unknownTo = await p.call('POST', '/v1/credits/transfer', { from: 'a', to: 'ghost', amount: 1 });
    expect(unknownTo.status).toBe(404);
    const unknownFrom = await p.call('POST', '/v1/credits/transfer', { from: 'ghost', to: 'a', amount: 1 });
    expect(unknownFrom.status).toBe(404);
    expect(await balance(p, 'a')).toBe(10);
    expect(await balance(p, 'b')).toBe(10);
    expect((await p.call('GET', '/v1/customers/ghost')).status).toBe(404);
  });

  it('spends the sender’s soonest-expiring credits first', async () => {
    const p = await auris();
    await pair(p, 'a', 'b');
    const soon = new Date(h.clock.now().getTime() + 3600_000).toISOString();
    await p.call('POST', '/v1/customers/a/credits/grant', { amount: 5, reason: 'promo', expires_at: soon });
    const r = await p.call('POST', '/v1/credits/transfer', { from: 'a', to: 'b', amount: 4 });
    expect(r.status).toBe(200);
    const g = await h.db.query<{ remaining: number }>('SELECT remaining FROM credit_grants WHERE project_id = $1 AND customer_id = $2', [
      p.id,
      'a',
    ]);
    expect(Number(g.rows[0]?.remaining)).toBe(1);
  });

  it('under concurrency: racing transfers never overdraw, opposite directions never deadlock, ledger = cached balance', async () => {
    const p = await auris();
    await pair(p, 'a', 'b');
    await p.call('POST', '/v1/customers', { id: 'c' });
    // a has 10: of 12 transfers of 3 to b, exactly 3 succeed.
    const rs = await Promise.all(
      Array.from({ length: 12 }, () => p.call('POST', '/v1/credits/transfer', { from: 'a', to: 'b', amount: 3 })),
    );
    expect(rs.filter((r) => r.status === 200)).toHaveLength(3);
    expect(rs.filter((r) => r.status === 402)).toHaveLength(9);
    expect(await balance(p, 'a')).toBe(1);
    expect(await balance(p, 'b')).toBe(19);
    // b ↔ c in both directions at once: all succeed (each side has enough), totals kept.
    const mixed = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        p.call('POST', '/v1/credits/transfer', i % 2 ? { from: 'b', to: 'c', amount: 1 } : { from: 'c', to: 'b', amount: 1 }),
      ),
    );
    expect(mixed.map((r) => r.status)).toEqual(Array(16).fill(200));
    for (const id of ['a', 'b', 'c']) expect(await ledgerSum(p, id)).toBe(await balance(p, id));
    expect((await balance(p, 'a')) + (await balance(p, 'b')) + (await balance(p, 'c'))).toBe(30);
    expect(await balance(p, 'b')).toBe(19);
  });
});
