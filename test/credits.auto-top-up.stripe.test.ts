import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { topUpLeaseMs } from '../src/modules/credits/credits.topup.ts';
import { findProviderCustomerRef } from '../src/modules/providers/providers.repository.ts';
import { createHarness, type Harness, type Res, type TestProject } from './support/harness.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';

let h: Harness;
let stripe: LocalStripe;

beforeAll(async () => {
  stripe = await new LocalStripe().start();
  h = await createHarness({ config: { stripeApiBase: stripe.url } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
});
afterAll(async () => {
  await h?.close();
  await stripe?.close();
});

interface StripeProject extends TestProject {
  sk: string;
  whsec: string;
}

const URLS = { success_url: 'https://app.example.com/ok', cancel_url: 'https://app.example.com/cancel' };

async function stripeProject(): Promise<StripeProject> {
  const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  const sk = `sk_test_${p.id.replace(/-/g, '_')}_${randomToken(8)}`;
  const whsec = `whsec_${randomToken(32)}`;
  expect((await p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec], default: true })).status).toBe(200);
  return { ...p, sk, whsec };
}

async function deliver(p: StripeProject, event: object): Promise<Res> {
  const body = JSON.stringify(event);
  const header = stripeSignature(body, p.whsec, Math.floor(h.clock.now().getTime() / 1000));
  return h.inject({ method: 'POST', url: `/v1/webhooks/stripe/${p.id}`, headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload: body });
}

const balance = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/credits`)).body.balance as number;
const setting = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/credits/auto-top-up`)).body;
const failedEvents = async (p: TestProject) =>
  (await h.db.query<{ payload: { data: Record<string, unknown> } }>("SELECT payload FROM outbox_events WHERE project_id = $1 AND type = 'credits.auto_top_up_failed'", [p.id])).rows;

/** A customer who bought a Starter pack (15 credits, plus the 10 of sign-up) at Stripe Checkout with `card`, which Stripe saved. */
async function stripeBuyer(p: StripeProject, id: string, card = '4242424242424242'): Promise<string> {
  const r = await p.call('POST', '/v1/checkout', { customer_id: id, credit_pack: 'starter', ...URLS });
  expect(r.status).toBe(201);
  const create = stripe.writes(p.sk, '/v1/checkout/sessions').at(-1)!;
  expect(create.params.payment_intent_data).toMatchObject({ setup_future_usage: 'off_session' });
  const cs = stripe.list(p.sk, 'checkout.session').at(-1)!;
  const [completed] = stripe.completeCheckout(p.sk, cs.id, { card });
  expect((await deliver(p, completed!)).status).toBe(200);
  expect(await balance(p, id)).toBe(25);
  const ref = await findProviderCustomerRef(h.db, p.id, id, 'stripe');
  expect(ref).toBeTruthy();
  expect(stripe.list(p.sk, 'payment_method').filter((m) => m.customer === ref)).toHaveLength(1);
  return ref!;
}

const enable = (p: TestProject, id: string) =>
  p.call('PUT', `/v1/customers/${id}/credits/auto-top-up`, { enabled: true, pack: 'pro', threshold: 20, monthly_cap: 30000 });

async function topUpPayments(p: TestProject, customer: string) {
  return (
    await h.db.query<{ id: string; amount: number; status: string; provider: string; provider_ref: string }>(
      "SELECT id, amount::int AS amount, status, provider, provider_ref FROM payments WHERE project_id = $1 AND customer_id = $2 AND details ? 'auto_top_up'",
      [p.id, customer],
    )
  ).rows;
}

describe('auto top-up through Stripe off-session', () => {
  it('crossing the threshold creates one off-session PaymentIntent with the top-up key; granted once, paid and invoiced; its later webhook grants nothing', async () => {
    const p = await stripeProject();
    const cus = await stripeBuyer(p, 'sa');
    expect((await enable(p, 'sa')).status).toBe(200);
    const rs = await Promise.all(Array.from({ length: 6 }, () => p.call('POST', '/v1/customers/sa/credits/deduct', { amount: 1 })));
    expect(rs.map((r) => r.status)).toEqual(Array(6).fill(200));
    expect(await balance(p, 'sa')).toBe(25 - 6 + 60);

    const pis = stripe.writes(p.sk, '/v1/payment_intents');
    expect(pis).toHaveLength(1);
    const topUp = (await setting(p, 'sa')).top_ups[0];
    expect(pis[0]!.idempotencyKey).toBe('auto_top_up:sa:1');
    expect(pis[0]!.params).toMatchObject({
      amount: '1500',
      currency: 'eur',
      customer: cus,
      confirm: 'true',
      off_session: 'true',
      payment_method: stripe.list(p.sk, 'payment_method')[0]!.id,
      metadata: { tollgate_project: p.id, tollgate_customer: 'sa', tollgate_auto_top_up: topUp.id },
    });
    const pi = stripe.list(p.sk, 'payment_intent').find((x) => x.off_session)!;
    expect(pi.status).toBe('succeeded');

    const pays = await topUpPayments(p, 'sa');
    expect(pays).toEqual([expect.objectContaining({ amount: 1500, status: 'succeeded', provider: 'stripe', provider_ref: pi.id })]);
    const invoices = (await p.call('GET', '/v1/customers/sa/invoices')).body.data;
    expect(invoices.filter((i: { payment_id: string }) => i.payment_id === pays[0]!.id)).toHaveLength(1);
    expect(await setting(p, 'sa')).toMatchObject({ enabled: true, spent_this_month: 1500, last_error: null });

    // Stripe's own events for that PaymentIntent arrive later: acknowledged, nothing granted or paid again.
    for (const type of ['charge.succeeded', 'payment_intent.succeeded']) {
      const r = await deliver(p, stripe.lastEvent(p.sk, type));
      expect(r.status).toBe(200);
    }
    expect(await balance(p, 'sa')).toBe(79);
    expect(await topUpPayments(p, 'sa')).toHaveLength(1);
  });

  it('prefers the Stripe customer\'s default payment method over their first card', async () => {
    const p = await stripeProject();
    const cus = await stripeBuyer(p, 'sd', '4000000000000341');
    const good = stripe.attachCard(p.sk, cus, '4242424242424242', { default: true });
    await enable(p, 'sd');
    expect((await p.call('POST', '/v1/customers/sd/credits/deduct', { amount: 10 })).status).toBe(200);
    expect(stripe.writes(p.sk, '/v1/payment_intents')[0]!.params.payment_method).toBe(good.id);
    expect(await balance(p, 'sd')).toBe(15 + 60);
  });

  for (const [card, code] of [
    ['4000002760003184', 'authentication_required'],
    ['4000000000000341', 'card_declined'],
  ] as const) {
    it(`a Stripe card that ${code === 'card_declined' ? 'is declined' : 'needs authentication'} turns auto top-up off with one event, no retry`, async () => {
      const p = await stripeProject();
      await stripeBuyer(p, 'sf', card);
      await enable(p, 'sf');
      for (let i = 0; i < 5; i++) expect((await p.call('POST', '/v1/customers/sf/credits/deduct', { amount: 2 })).status).toBe(200);
      await runDueJobs(h.tg.ctx);
      expect(stripe.writes(p.sk, '/v1/payment_intents')).toHaveLength(1);
      expect(await balance(p, 'sf')).toBe(15);
      const s = await setting(p, 'sf');
      expect(s).toMatchObject({ enabled: false, last_error: code, spent_this_month: 0 });
      expect(s.top_ups.map((t: { status: string; failure_reason: string }) => [t.status, t.failure_reason])).toEqual([['failed', code]]);
      const ev = await failedEvents(p);
      expect(ev).toHaveLength(1);
      expect(ev[0]?.payload.data).toMatchObject({ reason: code, pack: 'pro', auto_top_up: 'disabled' });
      expect(await topUpPayments(p, 'sf')).toHaveLength(0);
    });
  }

  it('a Stripe customer without a saved card: auto top-up off with no_payment_method, no PaymentIntent', async () => {
    const p = await stripeProject();
    await stripeBuyer(p, 'sn');
    for (const pm of stripe.list(p.sk, 'payment_method')) pm.customer = null;
    await enable(p, 'sn');
    expect((await p.call('POST', '/v1/customers/sn/credits/deduct', { amount: 10 })).status).toBe(200);
    expect(stripe.writes(p.sk, '/v1/payment_intents')).toHaveLength(0);
    expect(await setting(p, 'sn')).toMatchObject({ enabled: false, last_error: 'no_payment_method' });
    expect(await failedEvents(p)).toHaveLength(1);
  });

  it('a charge whose answer never came back is resumed by the job with the same key: Stripe answers the same PaymentIntent, granted once', async () => {
    const p = await stripeProject();
    await stripeBuyer(p, 'sc');
    await enable(p, 'sc');
    // Stripe charges, then the connection is cut for the first try and both SDK retries.
    for (let i = 0; i < 3; i++) stripe.fault('/v1/payment_intents', 'drop');
    expect((await p.call('POST', '/v1/customers/sc/credits/deduct', { amount: 10 })).status).toBe(200);
    const first = stripe.writes(p.sk, '/v1/payment_intents');
    expect(first).toHaveLength(3);
    expect(first.map((r) => r.replayed)).toEqual([false, true, true]);
    expect(stripe.list(p.sk, 'payment_intent').filter((x) => x.off_session)).toHaveLength(1);
    expect(await balance(p, 'sc')).toBe(15);
    expect((await setting(p, 'sc')).top_ups.map((t: { status: string }) => t.status)).toEqual(['pending']);
    // Before its lease ends the job leaves it alone, and no second top-up starts.
    expect((await p.call('POST', '/v1/customers/sc/credits/deduct', { amount: 1 })).status).toBe(200);
    await runDueJobs(h.tg.ctx);
    expect(stripe.writes(p.sk, '/v1/payment_intents')).toHaveLength(3);
    h.clock.advance(topUpLeaseMs(h.tg.ctx) + 1000);
    await runDueJobs(h.tg.ctx);
    await runDueJobs(h.tg.ctx);
    const all = stripe.writes(p.sk, '/v1/payment_intents');
    expect(all).toHaveLength(4);
    expect(new Set(all.map((r) => r.idempotencyKey))).toEqual(new Set(['auto_top_up:sc:1']));
    expect(all[3]!.replayed).toBe(true);
    const pis = stripe.list(p.sk, 'payment_intent').filter((x) => x.off_session);
    expect(pis).toHaveLength(1);
    expect((await setting(p, 'sc')).top_ups.map((t: { status: string }) => t.status)).toEqual(['succeeded']);
    expect(await balance(p, 'sc')).toBe(14 + 60);
    expect(await topUpPayments(p, 'sc')).toEqual([expect.objectContaining({ provider: 'stripe', provider_ref: pis[0]!.id, amount: 1500 })]);
  });
});
