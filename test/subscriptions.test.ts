import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const DAY = 86_400;
const ark = () => h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
const iac = () => h.project({ catalog: DEMO_CATALOGS.iacompagnon!.catalog });
const advance = (p: TestProject, days: number) => p.call('POST', '/v1/test_helpers/clock/advance', { seconds: Math.round(days * DAY) });
const sub = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/subscription`)).body;
const checkout = (p: TestProject, body: Record<string, unknown>) =>
  p.call('POST', '/v1/checkout', { success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no', ...body });
const pay = (p: TestProject, session: string, card = '4242424242424242') => p.call('POST', `/v1/test_helpers/checkout/${session}/pay`, { card });
const payments = async (p: TestProject, c: string) => (await p.call('GET', `/v1/payments?customer_id=${encodeURIComponent(c)}&limit=100`)).body.data;

describe('ArkWatch', () => {
  it('scenario: trial without card → pay → upgrade → cancel at period end → free', async () => {
    const p = await ark();
    await p.call('POST', '/v1/customers', { id: 'alice' });
    expect(await sub(p, 'alice')).toMatchObject({ plan: 'free', status: 'free' });

    const trial = await checkout(p, { customer_id: 'alice', plan: 'starter' });
    expect(trial.status).toBe(201);
    expect(trial.body).toMatchObject({ status: 'complete', url: null, subscription: { plan: 'starter', status: 'trialing', days_remaining: 14 } });

    const track = await p.call('POST', '/v1/track', { customer_id: 'alice', feature: 'watches', quantity: 4 });
    expect(track.body).toMatchObject({ allowed: true, usage: 4, limit: 10, remaining: 6 });

    // One trial per customer: paying for Starter now starts a paid subscription at once.
    const cs = await checkout(p, { customer_id: 'alice', plan: 'starter' });
    expect(cs.status).toBe(201);
    expect(cs.body).toMatchObject({ status: 'open', amount_total: { amount: 900, currency: 'eur' } });
    expect((await pay(p, cs.body.session_id)).status).toBe(200);
    const paid = await sub(p, 'alice');
    expect(paid).toMatchObject({ plan: 'starter', status: 'active', days_remaining: null, cancel_at_period_end: false });
    expect((await payments(p, 'alice')).map((x: { amount: number; kind: string }) => [x.amount, x.kind])).toEqual([[900, 'subscription']]);

    await advance(p, 15);
    const up = await p.call('POST', '/v1/customers/alice/subscription/change', { plan: 'pro' });
    expect(up.status).toBe(200);
    expect(up.body).toMatchObject({ plan: 'pro', change: 'upgrade', status: 'active' });
    expect(up.body.proration.amount).toBeGreaterThan(900);
    expect(up.body.proration.amount).toBeLessThan(1100);
    const check = await p.call('POST', '/v1/check', { customer_id: 'alice', feature: 'watches' });
    expect(check.body).toMatchObject({ allowed: true, usage: 4, limit: 100 });
    const interval = await p.call('POST', '/v1/check', { customer_id: 'alice', feature: 'check_interval_min' });
    expect(interval.body).toMatchObject({ allowed: true, value: 5 });

    const cancel = await p.call('POST', '/v1/customers/alice/subscription/cancel', {});
    expect(cancel.body).toMatchObject({ status: 'active', cancel_at_period_end: true, next_charge: null });
    await advance(p, 20);
    const ended = await sub(p, 'alice');
    expect(ended).toMatchObject({ plan: 'free', status: 'canceled', previous_plan: 'pro' });
    const limited = await p.call('POST', '/v1/track', { customer_id: 'alice', feature: 'watches', quantity: 1 });
    expect(limited.body).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 4, limit: 3, remaining: 0 });
    expect((await payments(p, 'alice')).length).toBe(2);
    const events = await h.db.query<{ type: string }>('SELECT type FROM outbox_events WHERE project_id = $1 AND customer_id = $2 ORDER BY seq', [p.id, 'alice']);
    const types = events.rows.map((r) => r.type);
    for (const t of ['subscription.created', 'subscription.updated', 'subscription.canceled', 'entitlements.updated', 'payment.succeeded']) {
      expect(types, t).toContain(t);
    }
    expect(types.filter((t) => t === 'subscription.canceled')).toHaveLength(1);
  });
});

describe('IAcompagnon', () => {
  it('scenario: sign-up trial → days_remaining counts down → expires → pays → active', async () => {
    const p = await iac();
    await p.call('POST', '/v1/customers', { id: 'marie' });
    const s0 = await sub(p, 'marie');
    expect(s0).toMatchObject({ plan: 'premium', status: 'trialing', days_remaining: 14 });
    await advance(p, 1);
    expect((await sub(p, 'marie')).days_remaining).toBe(13);
    await advance(p, 12.5);
    expect((await sub(p, 'marie')).days_remaining).toBe(1);
    await advance(p, 1);
    expect(await sub(p, 'marie')).toMatchObject({ status: 'expired', plan: null, previous_plan: 'premium', days_remaining: null });
    const cs = await checkout(p, { customer_id: 'marie', plan: 'standard' });
    expect(cs.body.amount_total).toEqual({ amount: 999, currency: 'eur' });
    await pay(p, cs.body.session_id);
    expect(await sub(p, 'marie')).toMatchObject({ plan: 'standard', status: 'active' });
    const customer = await p.call('GET', '/v1/customers/marie');
    expect(customer.body.subscription).toMatchObject({ plan: 'standard', status: 'active' });
    expect(customer.body.entitlements.features.voice_chat).toEqual({ type: 'boolean', allowed: true });
  });
});

const billing: CatalogInput = {
  features: [
    { id: 'api_calls', type: 'metered' },
    { id: 'seats', type: 'allocated' },
  ],
  plans: [
    {
      id: 'basic',
      name: 'Basic',
      price: { amount: 1000, currency: 'eur' },
      included_credits: 50,
      features: { api_calls: { limit: 100 }, seats: { limit: 2 } },
    },
    {
      id: 'team',
      name: 'Team',
      price: { amount: 3000, currency: 'eur' },
      per_seat: true,
      trial_days: 7,
      trial_requires_card: true,
      features: { api_calls: { limit: 1000 }, seats: { limit: null } },
    },
  ],
  coupons: [
    { id: 'early', code: 'EARLY', percent_off: 20, duration: 'repeating', duration_in_months: 2 },
    { id: 'tenoff', code: 'TENOFF', amount_off: { amount: 1000, currency: 'usd' }, duration: 'once' },
  ],
};

async function paidSubscription(p: TestProject, customer: string, body: Record<string, unknown> = {}, card = '4242424242424242') {
  const cs = await checkout(p, { customer_id: customer, plan: 'basic', ...body });
  expect(cs.status).toBe(201);
  const paid = await pay(p, cs.body.session_id, card);
  expect(paid.status).toBe(200);
  return cs.body;
}

async function ledger(p: TestProject, customer: string) {
  return (await p.call('GET', `/v1/customers/${customer}/credits/transactions?limit=100`)).body.data as { amount: number; kind: string }[];
}

describe('renewals', () => {
  it('advancing 40 days renews each period once: one payment, one credit grant, metered usage reset', async () => {
    const p = await h.project({ catalog: billing });
    await paidSubscription(p, 'bob');
    const s0 = await sub(p, 'bob');
    expect(s0).toMatchObject({ status: 'active', next_charge: { amount: 1000, currency: 'eur' } });
    await p.call('POST', '/v1/track', { customer_id: 'bob', feature: 'api_calls', quantity: 60 });
    await p.call('POST', '/v1/track', { customer_id: 'bob', feature: 'seats', quantity: 2 });
    await advance(p, 40);
    const s1 = await sub(p, 'bob');
    expect(s1.status).toBe('active');
    expect(s1.current_period_start).toBe(s0.current_period_end);
    const pays = await payments(p, 'bob');
    expect(pays.map((x: { amount: number; status: string }) => [x.amount, x.status])).toEqual([
      [1000, 'succeeded'],
      [1000, 'succeeded'],
    ]);
    expect(new Set(pays.map((x: { period_start: string }) => x.period_start)).size).toBe(2);
    expect((await ledger(p, 'bob')).filter((e) => e.kind === 'subscription_credits').map((e) => e.amount)).toEqual([50, 50]);
    const api = await p.call('POST', '/v1/check', { customer_id: 'bob', feature: 'api_calls', quantity: 1 });
    expect(api.body).toMatchObject({ allowed: true, usage: 0, limit: 100 });
    const seats = await p.call('POST', '/v1/check', { customer_id: 'bob', feature: 'seats', quantity: 1 });
    expect(seats.body).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 2, limit: 2 });
    // Advancing again (another runner pass) changes nothing that already happened.
    await p.call('POST', '/v1/test_helpers/clock/advance', { seconds: 60 });
    expect((await payments(p, 'bob')).length).toBe(2);
  });

  it('a repeating coupon discounts the first two monthly charges, then the full price is charged', async () => {
    const p = await h.project({ catalog: billing });
    const cs = await paidSubscription(p, 'carol', { promotion_code: 'early' });
    expect(cs.amount_total.amount).toBe(800);
    await advance(p, 95);
    const amounts = (await payments(p, 'carol')).map((x: { amount: number }) => x.amount).reverse();
    expect(amounts).toEqual([800, 800, 1000, 1000]);
  });

  it('the card 4000 0000 0000 0341 pays at checkout, fails at renewal → past_due, retried on days 1, 3, 5, then canceled', async () => {
    const p = await h.project({ catalog: billing });
    await paidSubscription(p, 'dave', {}, '4000000000000341');
    const s0 = await sub(p, 'dave');
    await p.call('POST', '/v1/test_helpers/clock/advance', { to: s0.current_period_end });
    const due = await sub(p, 'dave');
    expect(due).toMatchObject({ status: 'past_due', plan: 'basic' });
    expect(due.next_charge.amount).toBe(1000);
    await advance(p, 3.5);
    expect((await sub(p, 'dave')).status).toBe('past_due');
    await advance(p, 2);
    const ended = await sub(p, 'dave');
    expect(ended).toMatchObject({ status: 'canceled', plan: null });
    const pays = await payments(p, 'dave');
    expect(pays.filter((x: { status: string }) => x.status === 'failed')).toHaveLength(4);
    expect(pays.filter((x: { status: string }) => x.status === 'succeeded')).toHaveLength(1);
  });

  it('a past_due customer recovers by replacing the card in the portal: the open invoice is paid and the subscription is active', async () => {
    const p = await h.project({ catalog: billing });
    await paidSubscription(p, 'erin', {}, '4000000000000341');
    await advance(p, 32);
    expect((await sub(p, 'erin')).status).toBe('past_due');
    const portal = await p.call('POST', '/v1/portal', { customer_id: 'erin', return_url: 'https://app.example/account' });
    expect(portal.status).toBe(200);
    const path = new URL(portal.body.url).pathname;
    const page = await h.inject({ method: 'GET', url: path });
    expect(page.raw).toContain('Your last payment failed');
    const declined = await h.inject({ method: 'POST', url: `${path}/card`, payload: { card: '4000000000000002' } });
    expect(declined.status).toBe(402);
    expect((await sub(p, 'erin')).status).toBe('past_due');
    const saved = await h.inject({ method: 'POST', url: `${path}/card`, payload: { card: '4242 4242 4242 4242' } });
    expect(saved.status).toBe(303);
    expect(saved.headers.location).toContain('notice=recovered');
    expect(await sub(p, 'erin')).toMatchObject({ status: 'active', plan: 'basic' });
    expect((await payments(p, 'erin')).filter((x: { status: string }) => x.status === 'succeeded')).toHaveLength(2);
    await advance(p, 30);
    expect((await sub(p, 'erin')).status).toBe('active');
  });

  it('a trial that requires a card converts to active at trial end and charges per seat', async () => {
    const p = await h.project({ catalog: billing });
    const cs = await checkout(p, { customer_id: 'fay', plan: 'team', quantity: 3 });
    expect(cs.body).toMatchObject({ status: 'open', amount_total: { amount: 0, currency: 'eur' }, trial_days: 7 });
    await pay(p, cs.body.session_id);
    expect(await sub(p, 'fay')).toMatchObject({ status: 'trialing', quantity: 3, days_remaining: 7, next_charge: { amount: 9000 } });
    await advance(p, 7);
    expect(await sub(p, 'fay')).toMatchObject({ status: 'active', plan: 'team' });
    expect((await payments(p, 'fay')).map((x: { amount: number }) => x.amount)).toEqual([9000]);
  });

  it('paying two trial checkouts opened side by side charges nothing today: both pages showed the trial', async () => {
    const p = await h.project({ catalog: billing });
    const a = await checkout(p, { customer_id: 'twin', plan: 'team' });
    const b = await checkout(p, { customer_id: 'twin', plan: 'team' });
    expect(a.body.trial_days).toBe(7);
    expect(b.body.trial_days).toBe(7);
    await pay(p, a.body.session_id);
    await pay(p, b.body.session_id);
    expect(await sub(p, 'twin')).toMatchObject({ status: 'trialing', trial_end: a.body.trial.ends_at });
    expect(await payments(p, 'twin')).toEqual([]);
  });

  it('a trial without a card on file expires at its end and the customer falls back to the free plan', async () => {
    const p = await ark();
    await checkout(p, { customer_id: 'gus', plan: 'pro' });
    await advance(p, 14);
    expect(await sub(p, 'gus')).toMatchObject({ status: 'expired', plan: 'free' });
    const again = await checkout(p, { customer_id: 'gus', plan: 'pro' });
    expect(again.body).toMatchObject({ status: 'open', trial_days: null, amount_total: { amount: 2900 } });
  });

  it('sends subscription.trial_will_end 3 days before a trial ends, once', async () => {
    const p = await iac();
    await p.call('POST', '/v1/customers', { id: 'hana' });
    await advance(p, 10);
    const rows = await h.db.query<{ type: string }>('SELECT type FROM outbox_events WHERE project_id = $1 AND customer_id = $2 ORDER BY seq', [p.id, 'hana']);
    expect(rows.rows.filter((r) => r.type === 'subscription.trial_will_end')).toHaveLength(0);
    await advance(p, 1);
    await advance(p, 1);
    const after = await h.db.query<{ type: string }>('SELECT type FROM outbox_events WHERE project_id = $1 AND customer_id = $2 ORDER BY seq', [p.id, 'hana']);
    expect(after.rows.filter((r) => r.type === 'subscription.trial_will_end')).toHaveLength(1);
    expect(after.rows.map((r) => r.type)).toContain('subscription.created');
  });
});

describe('changes and hostile input', () => {
  it('a downgrade waits for the period end and then renews at the lower price', async () => {
    const p = await ark();
    const cs = await checkout(p, { customer_id: 'ian', plan: 'business', trial_days: 0 });
    await pay(p, cs.body.session_id);
    const down = await p.call('POST', '/v1/customers/ian/subscription/change', { plan: 'starter' });
    expect(down.body).toMatchObject({ plan: 'business', pending_plan: 'starter', change: 'downgrade', next_charge: { amount: 900 } });
    for (let i = 0; i < 20; i++) await p.call('POST', '/v1/track', { customer_id: 'ian', feature: 'watches', quantity: 1 });
    await advance(p, 31);
    expect(await sub(p, 'ian')).toMatchObject({ plan: 'starter', status: 'active', pending_plan: null });
    // Over the new limit after the downgrade: nothing new until usage is back under it; releases always work.
    const more = await p.call('POST', '/v1/track', { customer_id: 'ian', feature: 'watches', quantity: 1 });
    expect(more.body).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 20, limit: 10 });
    const release = await p.call('POST', '/v1/track', { customer_id: 'ian', feature: 'watches', quantity: -11 });
    expect(release.body).toMatchObject({ allowed: true, usage: 9, remaining: 1 });
    expect((await p.call('POST', '/v1/track', { customer_id: 'ian', feature: 'watches', quantity: 1 })).body.allowed).toBe(true);
    expect((await payments(p, 'ian')).map((x: { amount: number }) => x.amount)).toEqual([900, 9900]);
  });

  it('rejects illegal transitions with 409 and changes nothing', async () => {
    const p = await ark();
    await checkout(p, { customer_id: 'jo', plan: 'starter' });
    const notScheduled = await p.call('POST', '/v1/customers/jo/subscription/resume');
    expect(notScheduled.status).toBe(409);
    const now = await p.call('POST', '/v1/customers/jo/subscription/cancel', { at_period_end: false });
    expect(now.body).toMatchObject({ status: 'canceled' });
    for (const [path, body] of [
      ['cancel', {}],
      ['cancel', { at_period_end: false }],
      ['resume', undefined],
      ['change', { plan: 'pro' }],
    ] as const) {
      const r = await p.call('POST', `/v1/customers/jo/subscription/${path}`, body);
      expect(r.status).toBe(409);
      expect(r.body.error).toMatchObject({ code: 'conflict', status: 'canceled' });
    }
    expect((await p.call('POST', '/v1/customers/nobody/subscription/cancel', {})).status).toBe(404);
    expect(await sub(p, 'jo')).toMatchObject({ status: 'canceled' });
  });

  it('bad checkout and subscribe input is a 400/402/409 that changes nothing', async () => {
    const p = await ark();
    const unknownCode = await checkout(p, { customer_id: 'kim', plan: 'pro', promotion_code: 'NOPE' });
    expect(unknownCode.status).toBe(400);
    expect(unknownCode.body.error).toMatchObject({ code: 'invalid_request', param: 'promotion_code' });
    expect((await checkout(p, { customer_id: 'kim', plan: 'gold' })).body.error).toMatchObject({ param: 'plan' });
    expect((await checkout(p, { customer_id: 'kim', plan: 'pro', trial_days: -1 })).status).toBe(400);
    expect((await checkout(p, { customer_id: 'kim', plan: 'pro', quantity: 2 })).body.error).toMatchObject({ param: 'quantity' });
    await p.call('POST', '/v1/customers', { id: 'kim' });
    expect(await sub(p, 'kim')).toMatchObject({ status: 'free' });
    const noTrial = await checkout(p, { customer_id: 'kim', plan: 'pro', trial_days: 0, promotion_code: 'early2024' });
    expect(noTrial.body).toMatchObject({ status: 'open', amount_total: { amount: 2320 } });
    const paidPlan = await p.call('POST', '/v1/customers/kim/subscription', { plan: 'pro', trial_days: 0 });
    expect(paidPlan.status).toBe(402);
    expect(paidPlan.body.error.code).toBe('payment_required');
    const trial = await p.call('POST', '/v1/customers/kim/subscription', { plan: 'pro' });
    expect(trial.status).toBe(201);
    expect(trial.body).toMatchObject({ status: 'trialing', plan: 'pro' });
    await p.call('POST', '/v1/customers/kim/subscription/cancel', { at_period_end: false });
    // One trial per customer: a second one is not granted.
    expect((await p.call('POST', '/v1/customers/kim/subscription', { plan: 'starter' })).status).toBe(402);
    const free = await p.call('POST', '/v1/customers/kim/subscription', { plan: 'free' });
    expect(free.body).toMatchObject({ status: 'active', plan: 'free' });
    const dup = await p.call('POST', '/v1/customers/kim/subscription', { plan: 'free' });
    expect(dup.status).toBe(409);
    const wrongCurrency = await h.project({ catalog: billing });
    const r = await checkout(wrongCurrency, { customer_id: 'x', plan: 'basic', promotion_code: 'TENOFF' });
    expect(r.body.error).toMatchObject({ code: 'invalid_request', param: 'promotion_code' });
  });

  it("an operator's grant is audited; a catalog price change leaves existing subscriptions at their price", async () => {
    const p = await h.project({ catalog: billing });
    const g = await p.call('POST', '/v1/customers/vip/subscription', { plan: 'basic', grant: true });
    expect(g.body).toMatchObject({ status: 'active', price: { amount: 0 } });
    await paidSubscription(p, 'lee');
    const raised = structuredClone(billing);
    raised.plans![0]!.price.amount = 1500;
    expect((await p.call('PUT', '/v1/catalog', raised)).status).toBe(200);
    await advance(p, 31);
    expect((await payments(p, 'lee')).map((x: { amount: number }) => x.amount)).toEqual([1000, 1000]);
    const audit = await h.db.query<{ action: string }>('SELECT action FROM audit_log WHERE project_id = $1 ORDER BY seq', [p.id]);
    expect(audit.rows.map((r) => r.action)).toContain('subscription.created');
  });

  it('a payment link sells a plan to someone who is not a customer yet', async () => {
    const p = await ark();
    const link = await p.call('POST', '/v1/payment-links', { plan: 'pro' });
    expect(link.status).toBe(201);
    expect(link.body.url).toMatch(/\/pay\/plink_/);
    const path = new URL(link.body.url).pathname;
    expect((await h.inject({ method: 'GET', url: path })).raw).toContain('Pro plan');
    const bad = await h.inject({ method: 'POST', url: path, payload: { email: 'not-an-email' } });
    expect(bad.status).toBe(400);
    const go = await h.inject({ method: 'POST', url: path, payload: { email: 'New.Buyer@example.com' } });
    expect(go.status).toBe(303);
    const session = new URL(go.headers.location as string).pathname.split('/').pop() as string;
    await pay(p, session);
    expect(await sub(p, 'new.buyer@example.com')).toMatchObject({ plan: 'pro', status: 'trialing' });
    expect((await p.call('POST', '/v1/payment-links', { plan: 'nope' })).status).toBe(400);
    const other = await ark();
    expect((await other.call('GET', `/v1/payment-links/${link.body.id}`)).status).toBe(404);
  });
  it('a promotion code applied to a live subscription discounts its next charges; an active subscriber cannot check out again', async () => {
    const p = await ark();
    const cs = await checkout(p, { customer_id: 'max', plan: 'pro', trial_days: 0 });
    await pay(p, cs.body.session_id);
    const again = await checkout(p, { customer_id: 'max', plan: 'business', trial_days: 0 });
    expect(again.status).toBe(409);
    expect((await p.call('POST', '/v1/customers/max/subscription/coupon', { promotion_code: 'nope' })).body.error).toMatchObject({
      code: 'invalid_request',
      param: 'promotion_code',
    });
    const applied = await p.call('POST', '/v1/customers/max/subscription/coupon', { promotion_code: 'Early2024' });
    expect(applied.body).toMatchObject({ coupon: { id: 'early2024', percent_off: 20 }, next_charge: { amount: 2320 } });
    await advance(p, 125);
    expect((await payments(p, 'max')).map((x: { amount: number }) => x.amount).reverse()).toEqual([2900, 2320, 2320, 2320, 2900]);
  });

  it('a payment link sells a credit pack to a new customer, created from the checkout e-mail', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const link = await p.call('POST', '/v1/payment-links', { credit_pack: 'pro' });
    const path = new URL(link.body.url).pathname;
    const go = await h.inject({ method: 'POST', url: path, payload: { email: 'pack@example.com' } });
    const session = new URL(go.headers.location as string).pathname.split('/').pop() as string;
    await pay(p, session);
    expect((await p.call('GET', '/v1/customers/pack@example.com/credits')).body.balance).toBe(70);
  });
  it('a portal link expires after an hour; a publishable key cannot read or open subscriptions', async () => {
    const p = await ark();
    const portal = await p.call('POST', '/v1/portal', { customer_id: 'ola', return_url: 'https://app.example/account' });
    expect(portal.body.url).toMatch(/\/portal\/ps_/);
    const path = new URL(portal.body.url).pathname;
    expect((await h.inject({ method: 'GET', url: path })).status).toBe(200);
    expect((await p.call('POST', '/v1/portal', { customer_id: 'ola', return_url: 'javascript:alert(1)' })).body.error).toMatchObject({
      param: 'return_url',
    });
    await advance(p, 1 / 12);
    expect((await h.inject({ method: 'GET', url: path })).status).toBe(403);
    expect((await h.inject({ method: 'POST', url: `${path}/cancel` })).status).toBe(403);
    const pk = { authorization: `Bearer ${p.publishableKey}` };
    expect((await h.inject({ method: 'GET', url: '/v1/customers/ola/subscription', headers: pk })).status).toBe(403);
    expect((await h.inject({ method: 'POST', url: '/v1/track', headers: pk, payload: { customer_id: 'ola', feature: 'watches' } })).status).toBe(403);
  });
  it('a catalog push cannot remove a plan live subscriptions use; deactivating it keeps them entitled', async () => {
    const p = await ark();
    await checkout(p, { customer_id: 'pia', plan: 'business' });
    const cat = structuredClone(DEMO_CATALOGS.arkwatch!.catalog);
    const without = { ...cat, plans: cat.plans!.filter((x) => x.id !== 'business') };
    const refused = await p.call('PUT', '/v1/catalog', without);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'invalid_request', param: 'plans', plans: ['business'] });
    const inactive = { ...cat, plans: cat.plans!.map((x) => (x.id === 'business' ? { ...x, active: false } : x)) };
    expect((await p.call('PUT', '/v1/catalog', inactive)).status).toBe(200);
    expect((await p.call('POST', '/v1/check', { customer_id: 'pia', feature: 'watches' })).body).toMatchObject({ allowed: true, limit: 1000 });
    expect((await checkout(p, { customer_id: 'newbie', plan: 'business' })).body.error).toMatchObject({ param: 'plan' });
    expect((await p.call('PUT', '/v1/catalog', { ...cat, plans: cat.plans!.filter((x) => x.id !== 'starter') })).status).toBe(200);
  });
});
