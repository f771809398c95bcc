import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CreditPack, packCreditsFor } from '../src/domain/catalog.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const auris = DEMO_CATALOGS.aurisvoice!.catalog;
const urls = { success_url: 'https://app.example/ok', cancel_url: 'https://app.example/cancel' };
const flex = {
  id: 'flex',
  name: 'Flex',
  credits: 100,
  price: { amount: 1000, currency: 'eur' },
  pay_what_you_want: { min: 500, max: 5000, credits_per_unit: 10 },
};

async function project(extraPacks: unknown[] = [flex]): Promise<TestProject> {
  return h.project({ catalog: { ...auris, signup_credits: 0, credit_packs: [...(auris.credit_packs ?? []), ...extraPacks] } as never });
}

async function sessionsOf(p: TestProject): Promise<number> {
  const r = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM checkout_sessions WHERE project_id = $1', [p.id]);
  return Number(r.rows[0]?.n);
}

async function ledgerSum(p: TestProject, customer: string): Promise<number> {
  const r = await h.db.query<{ s: number }>('SELECT COALESCE(SUM(amount),0)::bigint AS s FROM ledger_entries WHERE project_id = $1 AND customer_id = $2', [p.id, customer]);
  return Number(r.rows[0]?.s);
}

describe('packCreditsFor', () => {
  const pack = (currency: string, credits_per_unit: number) =>
    ({ credits: 1, price: { amount: 1, currency }, pay_what_you_want: { min: 1, max: 10_000_000, credits_per_unit } }) as CreditPack;
  it('counts credits per major unit of the currency, rounding down to whole credits', () => {
    expect(packCreditsFor(pack('eur', 10), 750)).toBe(75);
    expect(packCreditsFor(pack('eur', 10), 759)).toBe(75);
    expect(packCreditsFor(pack('eur', 3), 1099)).toBe(32);
    expect(packCreditsFor(pack('jpy', 1), 500)).toBe(500);
    expect(packCreditsFor(pack('kwd', 2), 1999)).toBe(3);
  });
  it('a fixed pack buys its credits for its price only', () => {
    const fixed = { credits: 15, price: { amount: 500, currency: 'eur' } } as CreditPack;
    expect(packCreditsFor(fixed, 500)).toBe(15);
    expect(packCreditsFor(fixed, 499)).toBe(0);
  });
});

describe('pay-what-you-want credit packs', () => {
  it('buys at 7.50 €: the session charges 750, payment grants 75 credits, ledger equals balance', async () => {
    const p = await project();
    await p.call('POST', '/v1/customers', { id: 'ann' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'ann', credit_pack: 'flex', amount: 750, ...urls });
    expect(cs.status).toBe(201);
    expect(cs.body).toMatchObject({ amount_total: { amount: 750, currency: 'eur' }, quantity: 1, credit_pack: 'flex' });
    expect(cs.body.details.credits).toBe(75);
    expect(cs.body.lines[0]).toMatchObject({ name: 'Flex — 75 credits', amount: { amount: 750 } });
    const paid = await p.call('POST', `/v1/test-helpers/checkout/${cs.body.session_id}/pay`, { card: '4242424242424242' });
    expect(paid.status).toBe(200);
    const bal = await p.call('GET', '/v1/customers/ann/credits');
    expect(bal.body.balance).toBe(75);
    expect(await ledgerSum(p, 'ann')).toBe(75);
    const tx = await p.call('GET', '/v1/customers/ann/credits/transactions');
    expect(tx.body.data[0]).toMatchObject({ amount: 75, kind: 'purchase', balance_after: 75 });
    const payment = (await p.call('GET', '/v1/payments?customer_id=ann&limit=1')).body.data[0];
    expect(payment.amount).toBe(750);
  });

  it('a tax-exclusive price adds VAT on top of the chosen amount; the credits follow the amount', async () => {
    const p = await project([{ ...flex, price: { ...flex.price, tax_behavior: 'exclusive' } }]);
    const s = await p.call('PUT', '/v1/invoice-settings', { seller: { name: 'Auris Voice SAS', country: 'FR', vat_id: 'FR12345678901' } });
    expect(s.status).toBe(200);
    await p.call('POST', '/v1/customers', { id: 'anna' });
    await p.call('PUT', '/v1/customers/anna/billing-details', { country: 'DE' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'anna', credit_pack: 'flex', amount: 2000, ...urls });
    expect(cs.status).toBe(201);
    expect(cs.body).toMatchObject({ amount_total: { amount: 2380 }, amount_subtotal: { amount: 2000 }, amount_tax: { amount: 380 }, tax_rate: 19 });
    expect(cs.body.details.credits).toBe(200);
    expect((await p.call('POST', `/v1/test-helpers/checkout/${cs.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(200);
    expect((await p.call('GET', '/v1/customers/anna/credits')).body.balance).toBe(200);
  });

  it('refuses an amount out of range, an amount for a fixed pack, a missing amount and quantity > 1, creating no session', async () => {
    const p = await project();
    await p.call('POST', '/v1/customers', { id: 'bob' });
    const cases: [Record<string, unknown>, string][] = [
      [{ credit_pack: 'flex', amount: 499 }, 'amount'],
      [{ credit_pack: 'flex', amount: 5001 }, 'amount'],
      [{ credit_pack: 'flex' }, 'amount'],
      [{ credit_pack: 'flex', amount: 7.5 }, 'amount'],
      [{ credit_pack: 'starter', amount: 750 }, 'amount'],
      [{ plan: 'pro', amount: 750 }, 'amount'],
      [{ credit_pack: 'flex', amount: 750, quantity: 2 }, 'quantity'],
    ];
    for (const [body, param] of cases) {
      const r = await p.call('POST', '/v1/checkout', { customer_id: 'bob', ...urls, ...body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error, JSON.stringify(body)).toMatchObject({ code: 'invalid_request', param });
    }
    expect(await sessionsOf(p)).toBe(0);
    expect((await p.call('GET', '/v1/customers/bob/credits')).body.balance).toBe(0);
    const link = await p.call('POST', '/v1/payment-links', { credit_pack: 'flex' });
    expect(link.status).toBe(400);
    expect(link.body.error).toMatchObject({ code: 'invalid_request', param: 'credit_pack' });
  });

  it('GET /v1/plans exposes pay_what_you_want (null for fixed packs)', async () => {
    const p = await project();
    const r = await p.call('GET', '/v1/plans');
    expect(r.status).toBe(200);
    const packs = r.body.credit_packs as { id: string; pay_what_you_want: unknown }[];
    expect(packs.find((x) => x.id === 'flex')?.pay_what_you_want).toEqual({
      min: { amount: 500, currency: 'eur' },
      max: { amount: 5000, currency: 'eur' },
      credits_per_unit: 10,
      currency_exponent: 2,
    });
    expect(packs.find((x) => x.id === 'starter')?.pay_what_you_want).toBeNull();
  });

  it('a catalog with an inconsistent pay-what-you-want pack is refused naming the field, and nothing changes', async () => {
    const p = await project();
    const before = await p.call('GET', '/v1/catalog');
    const bad: [Record<string, unknown>, string][] = [
      [{ ...flex, credits: 99 }, 'credit_packs.3.credits'],
      [{ ...flex, price: { amount: 6000, currency: 'eur' }, credits: 600 }, 'credit_packs.3.price.amount'],
      [{ ...flex, pay_what_you_want: { min: 3000, max: 2000, credits_per_unit: 10 } }, 'credit_packs.3.pay_what_you_want.max'],
      [{ ...flex, pay_what_you_want: { min: 5, max: 5000, credits_per_unit: 10 } }, 'credit_packs.3.pay_what_you_want.min'],
      [{ ...flex, pay_what_you_want: { min: 500, max: 5000, credits_per_unit: 0.5 } }, 'credit_packs.3.pay_what_you_want.credits_per_unit'],
      [{ ...flex, pay_what_you_want: { min: 500, max: 5000 } }, 'credit_packs.3.pay_what_you_want.credits_per_unit'],
      [{ ...flex, price: { amount: 1000, currency: 'jpy' }, credits: 100 }, 'credit_packs.3.credits'],
    ];
    expect(auris.credit_packs).toHaveLength(3);
    for (const [pack, param] of bad) {
      const r = await p.call('PUT', '/v1/catalog', { ...auris, signup_credits: 0, credit_packs: [...(auris.credit_packs ?? []), pack] });
      expect(r.status, param).toBe(400);
      expect(r.body.error, param).toMatchObject({ code: 'invalid_request', param });
    }
    const after = await p.call('GET', '/v1/catalog');
    expect(after.body.version).toBe(before.body.version);
    expect(after.body.credit_packs.find((x: { id: string }) => x.id === 'flex')).toMatchObject(flex);
    // The same pack in yen: 1 credit per ¥1, so ¥1000 buys 1000 credits.
    const yen = await p.call('PUT', '/v1/catalog', {
      currency: 'jpy',
      credit_packs: [{ ...flex, price: { amount: 1000, currency: 'jpy' }, credits: 1000, pay_what_you_want: { min: 100, max: 5000, credits_per_unit: 1 } }],
    });
    expect(yen.status, JSON.stringify(yen.body)).toBe(200);
  });
});
