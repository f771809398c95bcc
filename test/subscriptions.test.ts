import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  });
});

describe('IAcompagnon', () => {
  it('scenario: sign-up trial → days_remaining counts down → expires → pays → active', async () => {
    const p = await iac();
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
