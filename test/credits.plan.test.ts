import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const catalog: CatalogInput = {
  features: [],
  plans: [
    {
      id: 'reset',
      name: 'Reset',
      price: { amount: 1000, currency: 'eur' },
      included_credits: 100,
      included_credits_mode: 'reset',
    },
    {
      id: 'roll',
      name: 'Roll',
      price: { amount: 1000, currency: 'eur' },
      included_credits: 100,
      included_credits_mode: 'rollover',
      included_credits_rollover_cap: 30,
    },
  ],
};

async function ledgerSum(p: TestProject, customer: string): Promise<number> {
  const r = await h.db.query<{ s: number }>(
    'SELECT COALESCE(SUM(amount),0)::bigint AS s FROM ledger_entries WHERE project_id = $1 AND customer_id = $2',
    [p.id, customer],
  );
  return Number(r.rows[0]?.s);
}
const balance = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/credits`)).body.balance as number;
const sub = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/subscription`)).body;
const history = async (p: TestProject, c: string) =>
  (await p.call('GET', `/v1/customers/${c}/credits/transactions?limit=100`)).body.data as {
    amount: number;
    kind: string;
    reason: string;
    metadata: Record<string, unknown>;
  }[];
const expiredEvents = async (p: TestProject) =>
  (
    await h.db.query<{ payload: { data: { amount: number; carried_over: number } } }>(
      "SELECT payload FROM outbox_events WHERE project_id = $1 AND type = 'credits.expired' ORDER BY created_at",
      [p.id],
    )
  ).rows.map((r) => r.payload.data);

async function subscribe(p: TestProject, customer: string, plan: string) {
  const cs = await p.call('POST', '/v1/checkout', {
    customer_id: customer,
    plan,
    success_url: 'https://app.example/ok',
    cancel_url: 'https://app.example/no',
  });
  expect(cs.status).toBe(201);
  expect((await p.call('POST', `/v1/test_helpers/checkout/${cs.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(200);
}

/** Moves the project's clock to the end of the customer's current period (renewal + expiry run). */
async function toPeriodEnd(p: TestProject, customer: string) {
  const s = await sub(p, customer);
  const r = await p.call('POST', '/v1/test_helpers/clock/advance', { to: s.current_period_end });
  expect(r.status).toBe(200);
  expect((await sub(p, customer)).current_period_start).toBe(s.current_period_end);
}

describe('plan credits', () => {
  it('reset: unused credits expire at period end with an entry and credits.expired; plan credits are spent before permanent ones', async () => {
    const p = await h.project({ catalog });
    await subscribe(p, 'ann', 'reset');
    await p.call('POST', '/v1/customers/ann/credits/grant', { amount: 5, reason: 'gift' });
    expect(await balance(p, 'ann')).toBe(105);
    expect((await p.call('POST', '/v1/customers/ann/credits/deduct', { amount: 40 })).status).toBe(200);

    await toPeriodEnd(p, 'ann');
    // 60 plan credits left expire, the gift stays, the new period brings 100.
    expect(await balance(p, 'ann')).toBe(105);
    expect(await ledgerSum(p, 'ann')).toBe(105);
    const expiry = (await history(p, 'ann')).find((e) => e.kind === 'expiry');
    expect(expiry).toMatchObject({ amount: -60, reason: '60 credits expired at the end of the period' });
    expect(await expiredEvents(p)).toMatchObject([{ amount: 60, carried_over: 0 }]);

    await toPeriodEnd(p, 'ann');
    expect(await balance(p, 'ann')).toBe(105);
    expect(await ledgerSum(p, 'ann')).toBe(105);
    expect((await expiredEvents(p)).map((e) => e.amount)).toEqual([60, 100]);
  });

  it('rollover: unused credits carry into the next period up to the cap, the rest expire; cached balance = ledger each period', async () => {
    const p = await h.project({ catalog });
    await subscribe(p, 'bo', 'roll');
    expect(await balance(p, 'bo')).toBe(100);
    await p.call('POST', '/v1/customers/bo/credits/deduct', { amount: 40 });

    await toPeriodEnd(p, 'bo');
    // 60 left: 30 carried over, 30 expired; + 100 for the new period.
    expect(await balance(p, 'bo')).toBe(130);
    expect(await ledgerSum(p, 'bo')).toBe(130);
    const e1 = (await history(p, 'bo')).find((e) => e.kind === 'expiry');
    expect(e1).toMatchObject({ amount: -30, reason: '30 credits expired at the end of the period' });
    expect(e1?.metadata).toMatchObject({ carried_over: 30 });

    await toPeriodEnd(p, 'bo');
    // Nothing spent: 130 left, still only 30 carry over.
    expect(await balance(p, 'bo')).toBe(130);
    expect(await ledgerSum(p, 'bo')).toBe(130);

    // Spend more than the new period's 100: the carried credits (same expiry) go too.
    await p.call('POST', '/v1/customers/bo/credits/deduct', { amount: 120 });
    await toPeriodEnd(p, 'bo');
    expect(await balance(p, 'bo')).toBe(110);
    expect(await ledgerSum(p, 'bo')).toBe(110);
    expect((await expiredEvents(p)).map((e) => [e.amount, e.carried_over])).toEqual([
      [30, 30],
      [100, 30],
    ]);
  });

  it('a canceled rollover subscription: what is left expires at the end of its last period, nothing carries', async () => {
    const p = await h.project({ catalog });
    await subscribe(p, 'cy', 'roll');
    expect((await p.call('POST', '/v1/customers/cy/subscription/cancel', {})).status).toBe(200);
    const s = await sub(p, 'cy');
    await p.call('POST', '/v1/test_helpers/clock/advance', { to: s.current_period_end });
    expect(await balance(p, 'cy')).toBe(0);
    expect(await ledgerSum(p, 'cy')).toBe(0);
  });

  it('the catalog refuses rollover without a cap and a cap without rollover', async () => {
    const p = await h.project({ catalog });
    const plan = { id: 'x', name: 'X', price: { amount: 100, currency: 'eur' }, included_credits: 10 };
    const noCap = await p.call('PUT', '/v1/catalog', { plans: [{ ...plan, included_credits_mode: 'rollover' }] });
    expect(noCap.status).toBe(400);
    expect(JSON.stringify(noCap.body)).toContain('included_credits_rollover_cap');
    const capOnly = await p.call('PUT', '/v1/catalog', { plans: [{ ...plan, included_credits_rollover_cap: 5 }] });
    expect(capOnly.status).toBe(400);
    const ok = await p.call('PUT', '/v1/catalog', { plans: [{ ...plan, included_credits_mode: 'reset' }] });
    expect(ok.status).toBe(200);
  });
});
