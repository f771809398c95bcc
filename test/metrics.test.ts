import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { newId } from '../src/domain/ids.ts';
import { insertPayment } from '../src/modules/payments/payments.repository.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let p: TestProject;
beforeAll(async () => {
  h = await createHarness({ clock: new ManualClock('2026-01-15T12:00:00Z') });
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  await seed();
});
afterAll(async () => h?.close());

async function buy(customer: string, pack: string) {
  const s = await p.call('POST', '/v1/checkout', {
    customer_id: customer,
    credit_pack: pack,
    success_url: 'https://app.example/ok',
    cancel_url: 'https://app.example/no',
  });
  expect(s.status).toBe(201);
  const paid = await p.call('POST', `/v1/test_helpers/checkout/${s.body.session_id}/pay`, { card: '4242424242424242' });
  expect(paid.status).toBe(200);
}

async function seededPayment(o: { amount: number; currency: string; status: 'succeeded' | 'failed' | 'partially_refunded'; refunded?: number }) {
  const row = await insertPayment(h.db, {
    id: newId('payment'),
    project_id: p.id,
    customer_id: 'shop',
    amount: o.amount,
    currency: o.currency,
    status: o.status,
    provider: 'sandbox',
    provider_ref: newId('payment'),
    kind: 'order',
    item_id: 'ord_seeded',
    checkout_session_id: null,
    subscription_id: null,
    order_id: 'ord_seeded',
    period_start: null,
    period_end: null,
    failure_reason: o.status === 'failed' ? 'card_declined' : null,
    created_at: h.clock.now(),
  });
  if (o.refunded) await h.db.query('UPDATE payments SET amount_refunded = $2 WHERE id = $1', [row?.id, o.refunded]);
}

/**
 * January: a buys Pro (15 €, 60 credits). February: b buys Starter (5 €, 15 credits), a spends 20,
 * an order paid 20 $ of which 5 $ refunded, a failed 9.99 € payment. March: b buys Premium
 * (30 €, 150 credits) and spends 30 plus a hold captured at 10.
 */
async function seed() {
  await buy('a', 'pro');
  h.clock.set('2026-02-10T09:00:00Z');
  await buy('b', 'starter');
  expect((await p.call('POST', '/v1/customers/a/credits/deduct', { amount: 20 })).status).toBe(200);
  h.clock.set('2026-02-20T09:00:00Z');
  await seededPayment({ amount: 2000, currency: 'usd', status: 'partially_refunded', refunded: 500 });
  await seededPayment({ amount: 999, currency: 'eur', status: 'failed' });
  h.clock.set('2026-03-05T09:00:00Z');
  await buy('b', 'premium');
  expect((await p.call('POST', '/v1/customers/b/credits/deduct', { amount: 30 })).status).toBe(200);
  const hold = await p.call('POST', '/v1/customers/b/credits/holds', { amount: 25 });
  expect((await p.call('POST', `/v1/holds/${hold.body.id}/capture`, { amount: 10 })).status).toBe(200);
  h.clock.set('2026-03-10T09:00:00Z');
}

describe('GET /v1/metrics', () => {
  it('as of the end of February: revenue per month and currency, by product, credits sold and consumed', async () => {
    const r = await p.call('GET', '/v1/metrics?as_of=2026-02-28&months=3');
    expect(r.status).toBe(200);
    expect(r.body.period).toEqual({ from: '2026-02-01T00:00:00.000Z', to: '2026-03-01T00:00:00.000Z' });
    expect(r.body.revenue_by_month).toEqual([
      { month: '2025-12', currency: 'eur', amount: 0, gross: 0, refunded: 0, payments: 0 },
      { month: '2025-12', currency: 'usd', amount: 0, gross: 0, refunded: 0, payments: 0 },
      { month: '2026-01', currency: 'eur', amount: 1500, gross: 1500, refunded: 0, payments: 1 },
      { month: '2026-01', currency: 'usd', amount: 0, gross: 0, refunded: 0, payments: 0 },
      { month: '2026-02', currency: 'eur', amount: 500, gross: 500, refunded: 0, payments: 1 },
      { month: '2026-02', currency: 'usd', amount: 1500, gross: 2000, refunded: 500, payments: 1 },
    ]);
    expect(r.body.revenue).toEqual([
      { amount: 500, currency: 'eur' },
      { amount: 1500, currency: 'usd' },
    ]);
    expect(r.body.revenue_by_product).toEqual([
      { kind: 'order', item_id: 'ord_seeded', currency: 'usd', amount: 1500, payments: 1 },
      { kind: 'credit_pack', item_id: 'starter', currency: 'eur', amount: 500, payments: 1 },
    ]);
    expect(r.body.credits_sold).toEqual({ credits: 15, revenue: [{ amount: 500, currency: 'eur' }] });
    expect(r.body.credits_consumed).toEqual({ credits: 20 });
  });

  it('as of now (default) counts March to date; a custom period spans months', async () => {
    const now = await p.call('GET', '/v1/metrics');
    expect(now.status).toBe(200);
    expect(now.body.as_of).toBe('2026-03-10T09:00:00.000Z');
    expect(now.body.period.from).toBe('2026-03-01T00:00:00.000Z');
    expect(now.body.revenue).toEqual([{ amount: 3000, currency: 'eur' }]);
    expect(now.body.credits_sold).toEqual({ credits: 150, revenue: [{ amount: 3000, currency: 'eur' }] });
    expect(now.body.credits_consumed).toEqual({ credits: 40 });
    expect(now.body.revenue_by_month).toHaveLength(24); // 12 months x 2 currencies
    const q1 = await p.call('GET', '/v1/metrics?from=2026-01-01&as_of=2026-03-31T23:59:59Z');
    expect(q1.body.revenue).toEqual([
      { amount: 5000, currency: 'eur' },
      { amount: 1500, currency: 'usd' },
    ]);
    expect(q1.body.credits_sold.credits).toBe(60 + 15 + 150);
    expect(q1.body.credits_consumed.credits).toBe(60);
  });

  it('an instant inside a day counts only what happened before it', async () => {
    const r = await p.call('GET', '/v1/metrics?as_of=2026-02-10T08:59:59Z');
    expect(r.body.revenue).toEqual([]);
    const after = await p.call('GET', '/v1/metrics?as_of=2026-02-10T09:00:01Z');
    expect(after.body.revenue).toEqual([{ amount: 500, currency: 'eur' }]);
  });

  it('subscription figures are present and zero without subscriptions', async () => {
    const r = await p.call('GET', '/v1/metrics');
    expect(r.body).toMatchObject({
      mrr: [],
      active_subscriptions: 0,
      trialing_subscriptions: 0,
      trial_conversion: { trials_ended: 0, converted: 0, rate: null },
      churn: { active_at_start: 0, churned: 0, rate: null },
    });
  });

  it("another project's figures are its own", async () => {
    const other = await h.project();
    const r = await other.call('GET', '/v1/metrics?as_of=2026-02-28');
    expect(r.status).toBe(200);
    expect(r.body.revenue_by_month).toEqual([]);
    expect(r.body.credits_sold).toEqual({ credits: 0, revenue: [] });
  });

  it('bad dates and periods are 400 invalid_request', async () => {
    for (const [qs, param] of [
      ['as_of=yesterday', 'as_of'],
      ['as_of=2026-02-30T00:00:00', 'as_of'],
      ['months=0', 'months'],
      ['from=2026-03-01&as_of=2026-02-01', 'from'],
    ] as const) {
      const r = await p.call('GET', `/v1/metrics?${qs}`);
      expect(r.status, qs).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', param });
    }
  });

  it('is documented in the OpenAPI document with money per currency', async () => {
    const doc = await h.inject({ method: 'GET', url: '/openapi.json' });
    expect(doc.status).toBe(200);
    const op = doc.body.paths['/v1/metrics'].get;
    const schema = op.responses['200'].content['application/json'].schema;
    expect(schema.properties.mrr.items.properties).toHaveProperty('currency');
    expect(doc.body.paths).toHaveProperty('/v1/webhook-endpoints');
    expect(doc.body.paths).toHaveProperty('/v1/webhook-deliveries/{id}/redeliver');
  });
});

describe('subscription figures', () => {
  it('MRR normalises yearly prices and takes coupons in effect; active, trialing, trial conversion and churn as of a date', async () => {
    const q = await h.project();
    const t = (d: string | undefined) => (d ? new Date(`${d}T00:00:00Z`) : null);
    const sub = async (
      id: string,
      s: {
        status: string;
        price: number;
        currency?: string;
        interval?: string;
        quantity?: number;
        created: string;
        trial?: [string, string];
        canceled?: string;
        ended?: string;
        customer?: string;
        coupon?: { percent?: number; amount?: number; duration: string; months?: number; cycles: number };
      },
    ) =>
      h.db.query(
        `INSERT INTO subscriptions (id, project_id, customer_id, plan_id, status, provider, quantity, price_amount, currency, interval,
           billing_anchor, current_period_start, current_period_end, trial_start, trial_end, canceled_at, ended_at, created_at, updated_at,
           coupon_percent_off, coupon_amount_off, coupon_duration, coupon_months, cycles_billed)
         VALUES ($1, $2, $13, 'plan', $3, 'sandbox', $4, $5, $6, $7, $8, $8, $8, $9, $10, $11, $12, $8, $8, $14, $15, $16, $17, $18)`,
        [
          `${q.id}-${id}`,
          q.id,
          s.status,
          s.quantity ?? 1,
          s.price,
          s.currency ?? 'eur',
          s.interval ?? 'month',
          t(s.created),
          t(s.trial?.[0]),
          t(s.trial?.[1]),
          t(s.canceled),
          t(s.ended),
          s.customer ?? id,
          s.coupon?.percent ?? null,
          s.coupon?.amount ?? null,
          s.coupon?.duration ?? null,
          s.coupon?.months ?? null,
          s.coupon?.cycles ?? 1,
        ],
      );
    /** A charge of a subscription (trial conversion counts only trials followed by one). */
    const paid = (id: string, customer: string, amount: number, at: string) =>
      h.db.query(
        `INSERT INTO payments (id, project_id, customer_id, amount, currency, status, provider, provider_ref, kind, subscription_id, created_at)
         VALUES ($1, $2, $3, $4, 'eur', 'succeeded', 'sandbox', $1, 'subscription', $5, $6)`,
        [`pay_${q.id}-${id}-${at}`, q.id, customer, amount, `${q.id}-${id}`, t(at)],
      );
    // 20 % for 3 months, now in its 5th cycle: no discount any more.
    await sub('monthly', { status: 'active', price: 900, created: '2026-01-01', coupon: { percent: 20, duration: 'repeating', months: 3, cycles: 5 } });
    // 25 % forever: 12,000 - 3,000 a year = 750 a month.
    await sub('yearly', { status: 'active', price: 12000, interval: 'year', created: '2026-02-01', coupon: { percent: 25, duration: 'forever', cycles: 1 } });
    await sub('trialing', { status: 'trialing', price: 2900, created: '2026-03-05', trial: ['2026-03-05', '2026-03-19'] });
    await sub('converted', { status: 'active', price: 2900, quantity: 2, created: '2026-02-20', trial: ['2026-02-20', '2026-03-06'] });
    await paid('converted', 'converted', 5800, '2026-03-06');
    await sub('lapsed', { status: 'expired', price: 2900, created: '2026-02-22', trial: ['2026-02-22', '2026-03-08'], ended: '2026-03-08' });
    await sub('churned', { status: 'canceled', price: 900, currency: 'usd', created: '2026-01-10', canceled: '2026-03-02', ended: '2026-03-03' });
    await sub('past-due', { status: 'past_due', price: 1000, currency: 'usd', created: '2026-02-01' });
    // Paying during a trial replaces the trial subscription with a paid one: a conversion, not churn.
    await sub('replaced-trial', { customer: 'r', status: 'canceled', price: 900, created: '2026-03-02', trial: ['2026-03-02', '2026-03-16'], canceled: '2026-03-04', ended: '2026-03-04' });
    // 1 € off once, in its first cycle.
    await sub('replacing-paid', { customer: 'r', status: 'active', price: 900, created: '2026-03-04', coupon: { amount: 100, duration: 'once', cycles: 1 } });
    await paid('replacing-paid', 'r', 800, '2026-03-04');

    const march = await q.call('GET', '/v1/metrics?as_of=2026-03-10T09:00:00Z');
    expect(march.status).toBe(200);
    expect(march.body).toMatchObject({
      mrr: [
        { currency: 'eur', amount: 900 + 750 + 5800 + 800 },
        { currency: 'usd', amount: 1000 },
      ],
      active_subscriptions: 5,
      trialing_subscriptions: 1,
      trial_conversion: { trials_ended: 3, converted: 2, rate: 0.6667 },
      churn: { active_at_start: 4, churned: 1, rate: 0.25 },
    });
    const feb = await q.call('GET', '/v1/metrics?as_of=2026-02-28');
    expect(feb.body).toMatchObject({
      mrr: [
        { currency: 'eur', amount: 900 + 750 },
        { currency: 'usd', amount: 1900 },
      ],
      active_subscriptions: 4,
      trialing_subscriptions: 2,
      trial_conversion: { trials_ended: 0, converted: 0, rate: null },
      churn: { active_at_start: 4, churned: 0, rate: 0 },
    });
  });
});

describe('subscription figures through the API (ArkWatch)', () => {
  it('a trial paid early, a running trial, a cancellation and a paid plan give MRR, conversion and churn', async () => {
    const ark = await h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
    const checkout = (b: Record<string, unknown>) =>
      ark.call('POST', '/v1/checkout', { success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no', ...b });
    const pay = async (b: Record<string, unknown>) => {
      const cs = await checkout(b);
      expect(cs.status).toBe(201);
      expect((await ark.call('POST', `/v1/test_helpers/checkout/${cs.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(200);
    };
    expect((await checkout({ customer_id: 'alice', plan: 'starter' })).body.status).toBe('complete'); // no-card trial
    await pay({ customer_id: 'alice', plan: 'starter' }); // pays during the trial
    expect((await checkout({ customer_id: 'bob', plan: 'pro' })).body.status).toBe('complete'); // trial still running
    await pay({ customer_id: 'carol', plan: 'business', trial_days: 0 });
    await pay({ customer_id: 'dave', plan: 'pro', trial_days: 0 });
    expect((await ark.call('POST', '/v1/customers/carol/subscription/cancel', { at_period_end: false })).status).toBe(200);
    // No clock advance here: it would run every job at this file's clock, over other files' rows too.
    const r = await ark.call('GET', '/v1/metrics');
    expect(r.body).toMatchObject({
      mrr: [{ amount: 900 + 2900, currency: 'eur' }],
      active_subscriptions: 2,
      trialing_subscriptions: 1,
      trial_conversion: { trials_ended: 1, converted: 1, rate: 1 },
      churn: { active_at_start: 0, churned: 1, rate: null },
      revenue: [{ amount: 900 + 9900 + 2900, currency: 'eur' }],
    });
    expect(r.body.revenue_by_product).toContainEqual({ kind: 'subscription', item_id: 'business', currency: 'eur', amount: 9900, payments: 1 });
  });
});
