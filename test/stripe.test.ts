import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { findProject } from '../src/modules/projects/projects.repository.ts';
import { providerCall } from '../src/modules/providers/provider-call.ts';
import { findProviderCustomerRef } from '../src/modules/providers/providers.repository.ts';
import { Stripe } from '../src/providers/stripe/stripe.client.ts';
import { stripeToEvents } from '../src/providers/stripe/stripe.events.ts';
import { importStripe } from '../src/modules/stripe/stripe.import.ts';
import { stripeProvider } from '../src/providers/stripe/stripe.provider.ts';
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
  sdk: Stripe;
}

const URLS = { success_url: 'https://app.example.com/ok?cs={CHECKOUT_SESSION_ID}', cancel_url: 'https://app.example.com/cancel' };

async function stripeProject(catalog = DEMO_CATALOGS.aurisvoice!.catalog, opts: { live?: boolean } = {}): Promise<StripeProject> {
  const p = await h.project({ catalog });
  const sk = `sk_${opts.live ? 'live' : 'test'}_${p.id.replace(/-/g, '_')}_${randomToken(8)}`;
  const whsec = `whsec_${randomToken(32)}`;
  const r = await p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec], default: true });
  expect(r.status).toBe(200);
  const url = new URL(stripe.url);
  const sdk = new Stripe(sk, { host: url.hostname, port: Number(url.port), protocol: 'http' });
  return { ...p, sk, whsec, sdk };
}

/** Delivers an event to Tollgate exactly as Stripe would: raw JSON, signed with the endpoint secret. */
async function deliver(
  p: StripeProject,
  event: object,
  opts: { secret?: string; t?: number; body?: string; header?: string | null } = {},
): Promise<Res> {
  const body = opts.body ?? JSON.stringify(event);
  const t = opts.t ?? Math.floor(h.clock.now().getTime() / 1000);
  const header = opts.header === undefined ? stripeSignature(opts.body ? JSON.stringify(event) : body, opts.secret ?? p.whsec, t) : opts.header;
  return h.inject({
    method: 'POST',
    url: `/v1/webhooks/stripe/${p.id}`,
    headers: { 'content-type': 'application/json', ...(header === null ? {} : { 'stripe-signature': header }) },
    payload: body,
  });
}

async function balance(p: TestProject, customer: string): Promise<number> {
  return (await p.call('GET', `/v1/customers/${customer}/credits`)).body.balance;
}

describe('Stripe settings', () => {
  it('stores the keys encrypted, answers previews only and takes the mode from the key', async () => {
    const p = await stripeProject();
    const list = await p.call('GET', '/v1/providers');
    const s = list.body.data.find((d: { provider: string }) => d.provider === 'stripe');
    expect(s).toMatchObject({ provider: 'stripe', mode: 'test', default: true });
    expect(JSON.stringify(list.body)).not.toContain(p.sk);
    expect(JSON.stringify(list.body)).not.toContain(p.whsec);
    expect(s.secret_key).toMatch(/^sk_test_…/);
    const stored = await h.db.query<{ config_encrypted: string }>('SELECT config_encrypted FROM provider_settings WHERE project_id = $1', [p.id]);
    expect(stored.rows[0]?.config_encrypted).not.toContain(p.sk);
    // Live credentials belong to the project's live mode (docs/modes.md): test mode refuses them.
    const live = await p.call('PUT', '/v1/providers/stripe', { secret_key: `sk_live_${randomToken(20)}`, webhook_secrets: [p.whsec] });
    expect(live.status).toBe(403);
    expect(live.body.error.code).toBe('livemode_forbidden');
  });

  it('rejects malformed keys and a publishable key of the other mode with 400 and keeps the old settings', async () => {
    const p = await stripeProject();
    for (const bad of [
      { secret_key: 'pk_test_abcdefghij' },
      { secret_key: 'sk_test_abcdefghij', webhook_secrets: ['nope'] },
      { secret_key: 'sk_test_abcdefghij', publishable_key: 'pk_live_abcdefghij' },
      { secret_key: 'sk_test_abcdefghij', extra: 1 },
    ]) {
      const r = await p.call('PUT', '/v1/providers/stripe', bad);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
    }
    const list = await p.call('GET', '/v1/providers');
    expect(list.body.data.find((d: { provider: string }) => d.provider === 'stripe').secret_key).toBe(`sk_test_…${p.sk.slice(-4)}`);
  });
});

describe('credit pack through Stripe Checkout', () => {
  it('creates the session through the SDK, then the signed event grants the credits once', async () => {
    const p = await stripeProject();
    const r = await p.call('POST', '/v1/checkout', { customer_id: 'ana', customer_email: 'ana@example.com', credit_pack: 'pro', ...URLS });
    expect(r.status).toBe(201);
    expect(r.body.provider).toBe('stripe');
    expect(r.body.url).toMatch(new RegExp(`^${stripe.url}/c/pay/cs_test_`));
    const create = stripe.writes(p.sk, '/v1/checkout/sessions')[0]!;
    expect(create.idempotencyKey).toBe(`tollgate-checkout-${r.body.session_id}`);
    expect(create.params).toMatchObject({
      mode: 'payment',
      client_reference_id: r.body.session_id,
      metadata: { tollgate_project: p.id, tollgate_session: r.body.session_id, tollgate_customer: 'ana', tollgate_item: 'pro' },
      line_items: [{ quantity: '1', price_data: { currency: 'eur', unit_amount: '1500' } }],
      success_url: `https://app.example.com/ok?cs=${r.body.session_id}`,
    });
    // The Stripe customer was created once, with a key derived from our customer, and linked.
    const cus = stripe.writes(p.sk, '/v1/customers');
    expect(cus).toHaveLength(1);
    expect(cus[0]!.idempotencyKey).toMatch(new RegExp(`^tollgate-customer-${p.id}-`));
    expect(create.params.customer).toBe(await findProviderCustomerRef(h.db, p.id, 'ana', 'stripe'));

    const cs = stripe.list(p.sk, 'checkout.session')[0]!;
    const [completed] = stripe.completeCheckout(p.sk, cs.id);
    const first = await deliver(p, completed!);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ received: true, duplicate: false, status: 'processed' });
    expect(await balance(p, 'ana')).toBe(10 + 60);
    const again = await deliver(p, completed!);
    expect(again.status).toBe(200);
    expect(again.body.duplicate).toBe(true);
    expect(await balance(p, 'ana')).toBe(70);
    const session = await p.call('GET', `/v1/checkout/${r.body.session_id}`);
    expect(session.body).toMatchObject({ status: 'complete', payment_status: 'paid' });
    const payments = await p.call('GET', '/v1/payments?customer_id=ana');
    expect(payments.body.data).toHaveLength(1);
    expect(payments.body.data[0]).toMatchObject({ amount: 1500, currency: 'eur', provider: 'stripe', provider_ref: completed!.data.object.payment_intent });

    // A second purchase reuses the Stripe customer.
    await p.call('POST', '/v1/checkout', { customer_id: 'ana', credit_pack: 'starter', ...URLS });
    expect(stripe.writes(p.sk, '/v1/customers')).toHaveLength(1);
    expect(stripe.writes(p.sk, '/v1/checkout/sessions')[1]!.params.customer).toBe(create.params.customer);
  });

  it('answers 400 without Stripe settings and 502 provider_error when Stripe refuses, storing no session either way', async () => {
    const plain = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const none = await plain.call('POST', '/v1/checkout', { customer_id: 'x', credit_pack: 'pro', provider: 'stripe', ...URLS });
    expect(none.status).toBe(400);
    expect(none.body.error.code).toBe('invalid_request');
    const p = await stripeProject();
    await p.call('POST', '/v1/customers', { id: 'gone' });
    await h.db.query(`INSERT INTO provider_customers (project_id, customer_id, provider, ref, created_at) VALUES ($1, 'gone', 'stripe', 'cus_deleted', now())`, [p.id]);
    const refused = await p.call('POST', '/v1/checkout', { customer_id: 'gone', credit_pack: 'pro', ...URLS });
    expect(refused.status).toBe(502);
    expect(refused.body.error).toMatchObject({ code: 'provider_error', provider: 'stripe', stripe_code: 'resource_missing' });
    const rows = await h.db.query('SELECT 1 FROM checkout_sessions WHERE project_id = ANY($1)', [[plain.id, p.id]]);
    expect(rows.rowCount).toBe(0);
  });

});

describe('crash between the Stripe call and our commit', () => {
  it('a connection cut after Stripe acted is retried by the SDK with our key, and Stripe replays the same session', async () => {
    const p = await stripeProject();
    stripe.fault('/v1/checkout/sessions', 'drop');
    const r = await p.call('POST', '/v1/checkout', { customer_id: 'cut', credit_pack: 'pro', ...URLS });
    expect(r.status).toBe(201);
    const creates = stripe.writes(p.sk, '/v1/checkout/sessions');
    expect(creates.length).toBe(2);
    expect(creates[1]!.idempotencyKey).toBe(creates[0]!.idempotencyKey);
    expect(creates[1]!.replayed).toBe(true);
    expect(stripe.list(p.sk, 'checkout.session')).toHaveLength(1);
  });

  it('the local Stripe refuses a reused idempotency key with other parameters, as Stripe does', async () => {
    const p = await stripeProject();
    await p.sdk.customers.create({ email: 'a@example.com' }, { idempotencyKey: 'k1' });
    await expect(p.sdk.customers.create({ email: 'b@example.com' }, { idempotencyKey: 'k1' })).rejects.toMatchObject({
      type: 'StripeIdempotencyError',
    });
  });
});

describe('catalog sync', () => {
  const ark = DEMO_CATALOGS.arkwatch!.catalog;

  it('a push creates Products and Prices after the commit; pushing again changes nothing', async () => {
    const p = await stripeProject(ark);
    expect((await p.call('PUT', '/v1/catalog', ark)).status).toBe(200);
    expect(stripe.writes(p.sk)).toHaveLength(0); // nothing inside the push transaction
    expect((await p.call('GET', '/v1/providers/stripe/sync')).body.status).toBe('pending');
    await runDueJobs(h.tg.ctx);
    const prices = stripe.list(p.sk, 'price');
    expect(prices.map((x) => [x.lookup_key, x.unit_amount, x.recurring?.interval, x.metadata.tollgate_plan])).toEqual([
      [`tollgate_${p.id}_plan_starter`, 900, 'month', 'starter'],
      [`tollgate_${p.id}_plan_pro`, 2900, 'month', 'pro'],
      [`tollgate_${p.id}_plan_business`, 9900, 'month', 'business'],
    ]);
    const status = await p.call('GET', '/v1/providers/stripe/sync');
    expect(status.body.status).toBe('idle');
    expect(status.body.data.map((d: { item_id: string; price: string }) => [d.item_id, d.price])).toEqual(
      expect.arrayContaining(prices.map((x) => [x.metadata.tollgate_plan, x.id])),
    );
    for (const w of stripe.writes(p.sk)) expect(w.idempotencyKey).toMatch(/^tollgate-/);

    const before = stripe.writes(p.sk).length;
    await p.call('PUT', '/v1/catalog', ark);
    await runDueJobs(h.tg.ctx);
    const again = await p.call('POST', '/v1/providers/stripe/sync', {});
    expect(again.body.changed).toBe(0);
    expect(stripe.writes(p.sk)).toHaveLength(before);
  });

  it('a changed price makes a new Price with the lookup key and archives the old one; dry run changes nothing', async () => {
    const p = await stripeProject(ark);
    await p.call('POST', '/v1/providers/stripe/sync', {});
    const oldPro = stripe.list(p.sk, 'price').find((x) => x.metadata.tollgate_plan === 'pro')!;
    const changed = structuredClone(ark);
    changed.plans!.find((x) => x.id === 'pro')!.price = { amount: 3900, currency: 'eur' };
    changed.plans!.find((x) => x.id === 'business')!.active = false;
    await p.call('PUT', '/v1/catalog', changed);
    const writes = stripe.writes(p.sk).length;
    const dry = await p.call('POST', '/v1/providers/stripe/sync', { dry_run: true });
    expect(dry.body.actions.filter((a: { action: string }) => a.action !== 'unchanged').map((a: { action: string; item_id: string }) => [a.action, a.item_id])).toEqual([
      ['replace', 'pro'],
      ['archive', 'business'],
    ]);
    expect(stripe.writes(p.sk)).toHaveLength(writes);
    await runDueJobs(h.tg.ctx);
    const newPro = stripe.list(p.sk, 'price').find((x) => x.lookup_key === `tollgate_${p.id}_plan_pro`)!;
    expect(newPro.id).not.toBe(oldPro.id);
    expect(newPro.unit_amount).toBe(3900);
    expect(newPro.product).toBe(oldPro.product);
    expect(stripe.get(p.sk, oldPro.id)!.active).toBe(false);
    expect(stripe.list(p.sk, 'price').find((x) => x.metadata.tollgate_plan === 'business')!.active).toBe(false);
  });

  it('a failed sync leaves the push committed, records the error and retries with backoff', async () => {
    const p = await stripeProject(ark);
    stripe.fault('/v1/prices', 'error', 400);
    expect((await p.call('PUT', '/v1/catalog', ark)).status).toBe(200);
    await runDueJobs(h.tg.ctx);
    let status = await p.call('GET', '/v1/providers/stripe/sync');
    expect(status.body.status).toBe('failed');
    expect(status.body.last_error).toMatch(/prices.list failed/);
    expect(stripe.list(p.sk, 'price')).toHaveLength(0);
    h.clock.advance(61_000);
    await runDueJobs(h.tg.ctx);
    status = await p.call('GET', '/v1/providers/stripe/sync');
    expect(status.body).toMatchObject({ status: 'idle', last_error: null });
    expect(stripe.list(p.sk, 'price')).toHaveLength(3);
  });

  it('adopts an existing Stripe price found by lookup key instead of duplicating it', async () => {
    const p = await stripeProject();
    const product = await p.sdk.products.create({ name: 'Pro pack (existing)' });
    const existing = await p.sdk.prices.create({ product: product.id, unit_amount: 1500, currency: 'eur', lookup_key: `tollgate_${p.id}_pack_pro` });
    const r = await p.call('POST', '/v1/providers/stripe/sync', {});
    expect(r.body.actions.find((a: { item_id: string }) => a.item_id === 'pro').action).toBe('adopt');
    expect(stripe.list(p.sk, 'price').filter((x) => x.lookup_key === `tollgate_${p.id}_pack_pro`).map((x) => x.id)).toEqual([existing.id]);
    // Checkout now sells the mapped price.
    await p.call('POST', '/v1/checkout', { customer_id: 'cy', credit_pack: 'pro', ...URLS });
    expect(stripe.writes(p.sk, '/v1/checkout/sessions').at(-1)!.params.line_items).toEqual([{ price: existing.id, quantity: '1' }]);
  });
});

describe('subscriptions through Stripe', () => {
  const ark = DEMO_CATALOGS.arkwatch!.catalog;

  async function subscriptionCheckout(p: StripeProject, customer: string, discount = false) {
    const project = (await findProject(h.db, p.id))!;
    await p.call('POST', '/v1/customers', { id: customer, email: `${customer}@example.com` });
    return stripeProvider.createCheckout(await providerCall(h.tg.ctx, project.id, 'stripe'), {
      project,
      sessionId: `cs_${customer}`,
      mode: 'subscription',
      customer: { id: customer, email: `${customer}@example.com` },
      lineItems: [{ name: 'Pro', amount: 2900, currency: 'eur', quantity: 1, interval: 'month' }],
      successUrl: URLS.success_url,
      cancelUrl: URLS.cancel_url,
      trialDays: 14,
      trialWithoutCard: true,
      discount: discount ? { percentOff: 20, duration: 'repeating', durationInMonths: 3 } : null,
      expiresAt: new Date(h.clock.now().getTime() + 86400_000),
      idempotencyKey: `tollgate-checkout-cs_${customer}`,
      metadata: { tollgate_project: p.id, tollgate_session: `cs_${customer}`, tollgate_customer: customer },
    });
  }

  it('subscription-mode sessions carry the trial without card, metadata and the coupon', async () => {
    const p = await stripeProject(ark);
    const out = await subscriptionCheckout(p, 'sam', true);
    expect(out.providerRef).toMatch(/^cs_test_/);
    const params = stripe.writes(p.sk, '/v1/checkout/sessions')[0]!.params;
    expect(params).toMatchObject({
      mode: 'subscription',
      payment_method_collection: 'if_required',
      subscription_data: {
        trial_period_days: '14',
        trial_settings: { end_behavior: { missing_payment_method: 'cancel' } },
        metadata: { tollgate_customer: 'sam', tollgate_project: p.id },
      },
      line_items: [{ price_data: { recurring: { interval: 'month' }, unit_amount: '2900' } }],
    });
    const coupon = stripe.get(p.sk, params.discounts[0].coupon)!;
    expect(coupon).toMatchObject({ percent_off: 20, duration: 'repeating', duration_in_months: 3 });
    expect(params.allow_promotion_codes).toBeUndefined();
    // The same discount later reuses the coupon.
    await subscriptionCheckout(p, 'sue', true);
    expect(stripe.list(p.sk, 'coupon')).toHaveLength(1);
  });

  it('maps subscription, invoice and refund events onto Tollgate events in every order, with the plan from the synced price', async () => {
    const p = await stripeProject(ark);
    await p.call('POST', '/v1/providers/stripe/sync', {});
    const pro = stripe.list(p.sk, 'price').find((x) => x.metadata.tollgate_plan === 'pro')!;
    const cs = await p.sdk.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: pro.id, quantity: 1 }],
      success_url: URLS.success_url,
      subscription_data: { trial_period_days: 14, metadata: { tollgate_customer: 'kim' } },
    });
    const events = stripe.completeCheckout(p.sk, cs.id, { email: 'kim@example.com' });
    await p.sdk.subscriptions.update(events[0]!.data.object.id, { cancel_at_period_end: true });
    stripe.cancelSubscription(p.sk, events[0]!.data.object.id);
    const all = [...events, stripe.lastEvent(p.sk, 'customer.subscription.updated'), stripe.lastEvent(p.sk, 'customer.subscription.deleted')];
    const mapped = all.map((e) => stripeToEvents(e)[0]!);
    expect(mapped.map((m) => m.kind)).toEqual(['subscription.changed', 'invoice.paid', 'checkout.completed', 'subscription.changed', 'subscription.changed']);
    const created = mapped[0] as Extract<(typeof mapped)[0], { kind: 'subscription.changed' }>;
    expect(created).toMatchObject({ status: 'trialing', planRef: 'pro', deleted: false, cancelAtPeriodEnd: false, metadata: { tollgate_customer: 'kim' } });
    expect(created.trialEnd?.getTime()).toBe(h.clock.now().getTime() + 14 * 86400_000);
    expect(created.currentPeriodEnd?.getTime()).toBe(created.trialEnd?.getTime());
    expect(mapped[1]).toMatchObject({ subscriptionRef: created.subscriptionRef, amount: 0, billingReason: 'subscription_create' });
    expect(mapped[2]).toMatchObject({ paymentStatus: 'no_payment_required', subscriptionRef: created.subscriptionRef });
    expect(mapped[3]).toMatchObject({ cancelAtPeriodEnd: true, status: 'trialing' });
    expect(mapped[4]).toMatchObject({ status: 'canceled', deleted: true });

    // Delivered in every order, each is stored once and acknowledged.
    const orders = permutations([0, 1, 3, 4]);
    for (const order of orders.slice(0, 6)) {
      const q = await stripeProject(ark);
      for (const i of order) {
        const e = { ...all[i]!, livemode: false };
        const r = await deliver(q, e);
        expect(r.status).toBe(200);
        expect((await deliver(q, e)).body.duplicate).toBe(true);
      }
      const stored = await q.call('GET', '/v1/events?limit=100');
      expect(stored.body.data).toHaveLength(4);
    }
  });

  it('charge.refunded maps to payment.refunded with the cumulative amount', async () => {
    const p = await stripeProject();
    await p.call('POST', '/v1/checkout', { customer_id: 'rae', credit_pack: 'pro', ...URLS });
    const [completed] = stripe.completeCheckout(p.sk, stripe.list(p.sk, 'checkout.session')[0]!.id);
    await deliver(p, completed!);
    const project = (await findProject(h.db, p.id))!;
    const pi = completed!.data.object.payment_intent;
    const refund = await stripeProvider.refund(await providerCall(h.tg.ctx, project.id, 'stripe'), { project, paymentRef: pi, amount: 500, currency: 'eur', idempotencyKey: 'tollgate-refund-x' });
    const replay = await stripeProvider.refund(await providerCall(h.tg.ctx, project.id, 'stripe'), { project, paymentRef: pi, amount: 500, currency: 'eur', idempotencyKey: 'tollgate-refund-x' });
    expect(replay.refundRef).toBe(refund.refundRef);
    expect(stripe.list(p.sk, 'refund')).toHaveLength(1);
    expect(stripeToEvents(stripe.lastEvent(p.sk, 'charge.refunded'))).toEqual([
      { kind: 'payment.refunded', paymentRef: pi, amountRefunded: 500, currency: 'eur', refundRef: refund.refundRef },
    ]);
  });

  it('a refund through Tollgate goes to Stripe once; its charge.refunded echo and a dashboard refund reverse credits once each', async () => {
    const p = await stripeProject();
    await p.call('POST', '/v1/checkout', { customer_id: 'ref', credit_pack: 'premium', ...URLS });
    const [completed] = stripe.completeCheckout(p.sk, stripe.list(p.sk, 'checkout.session').at(-1)!.id);
    await deliver(p, completed!);
    expect(await balance(p, 'ref')).toBe(160);
    const payment = (await p.call('GET', '/v1/payments?customer_id=ref')).body.data[0];
    const r = await p.call('POST', `/v1/payments/${payment.id}/refund`, { amount: 1500 }, { 'idempotency-key': 'refund-half' });
    expect(r.status).toBe(200);
    expect(stripe.writes(p.sk, '/v1/refunds')).toHaveLength(1);
    expect(stripe.writes(p.sk, '/v1/refunds')[0]!.idempotencyKey).toBe(`tollgate-refund-${payment.id}-0-1500`);
    expect(await balance(p, 'ref')).toBe(160 - 75);
    // Stripe's echo of our refund changes nothing more.
    expect((await deliver(p, stripe.lastEvent(p.sk, 'charge.refunded'))).status).toBe(200);
    expect(await balance(p, 'ref')).toBe(85);
    // The rest refunded in Stripe's dashboard arrives as an event only.
    await p.sdk.refunds.create({ payment_intent: completed!.data.object.payment_intent });
    const dashboard = stripe.lastEvent(p.sk, 'charge.refunded');
    expect((await deliver(p, dashboard)).status).toBe(200);
    expect((await deliver(p, dashboard)).body.duplicate).toBe(true);
    expect(await balance(p, 'ref')).toBe(10);
    expect((await p.call('GET', `/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'refunded', amount_refunded: 3000 });
  });

  it('opens a Billing Portal session for the linked Stripe customer', async () => {
    const p = await stripeProject(ark);
    await subscriptionCheckout(p, 'pat');
    const project = (await findProject(h.db, p.id))!;
    const portal = await stripeProvider.createPortal!(await providerCall(h.tg.ctx, project.id, 'stripe'), { project, customerId: 'pat', returnUrl: 'https://app.example.com/account', idempotencyKey: 'tollgate-portal-1' });
    expect(portal.url).toMatch(/\/p\/session\/bps_/);
    const req = stripe.writes(p.sk, '/v1/billing_portal')[0]!;
    expect(req.params.customer).toBe(await findProviderCustomerRef(h.db, p.id, 'pat', 'stripe'));
    expect(stripe.list(p.sk, 'customer')).toHaveLength(1);
  });
});

describe('reconcile and import', () => {
  it('reconcile applies a completed checkout whose webhook never arrived, once', async () => {
    const p = await stripeProject();
    await p.call('POST', '/v1/checkout', { customer_id: 'lou', credit_pack: 'premium', ...URLS });
    stripe.completeCheckout(p.sk, stripe.list(p.sk, 'checkout.session')[0]!.id);
    expect(await balance(p, 'lou')).toBe(10);
    const r = await p.call('POST', '/v1/providers/stripe/reconcile');
    expect(r.status).toBe(200);
    expect(r.body.events_missed).toBe(1);
    expect(await balance(p, 'lou')).toBe(160);
    const again = await p.call('POST', '/v1/providers/stripe/reconcile');
    expect(again.body.events_missed).toBe(0);
    // The real webhook arriving late is a duplicate of the reconciled event.
    const late = await deliver(p, stripe.lastEvent(p.sk, 'checkout.session.completed'));
    expect(late.body.duplicate).toBe(true);
    expect(await balance(p, 'lou')).toBe(160);
  });

  it('reconcile repairs an open session from Stripe when the event is gone from the events list', async () => {
    const p = await stripeProject();
    await p.call('POST', '/v1/checkout', { customer_id: 'mo', credit_pack: 'starter', ...URLS });
    stripe.completeCheckout(p.sk, stripe.list(p.sk, 'checkout.session')[0]!.id);
    stripe.account(p.sk).events.length = 0;
    h.clock.advance(20 * 60_000);
    const r = await p.call('POST', '/v1/providers/stripe/reconcile');
    expect(r.body).toMatchObject({ sessions_checked: 1, sessions_repaired: 1 });
    expect(await balance(p, 'mo')).toBe(25);
  });

  it('import brings customers and catalog prices in, and a second run changes nothing', async () => {
    const p = await stripeProject();
    await p.sdk.customers.create({ email: 'Old@Example.com', name: 'Old' });
    await p.sdk.customers.create({ email: 'app@example.com', metadata: { tollgate_customer: 'app-user-7' } });
    const product = await p.sdk.products.create({ name: 'Starter' });
    await p.sdk.prices.create({ product: product.id, unit_amount: 500, currency: 'eur', lookup_key: `tollgate_${p.id}_pack_starter` });
    await p.sdk.prices.create({ product: product.id, unit_amount: 700, currency: 'eur' });
    const phases = new Set<string>();
    const first = await importStripe(h.tg.ctx, p.id, (phase) => phases.add(phase));
    expect(first).toMatchObject({ customers: { seen: 2, imported: 2 }, prices: { seen: 2, mapped: 1 } });
    expect([...phases]).toEqual(['customers', 'prices']);
    expect((await p.call('GET', '/v1/customers/old@example.com')).status).toBe(200);
    expect((await p.call('GET', '/v1/customers/app-user-7')).status).toBe(200);
    const second = await importStripe(h.tg.ctx, p.id);
    expect(second).toMatchObject({ customers: { seen: 2, imported: 0 }, prices: { mapped: 0 } });
  });
});

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe('ArkWatch through Stripe (with the subscriptions module)', () => {
  const ark = structuredClone(DEMO_CATALOGS.arkwatch!.catalog);
  // A trial that takes the card at Stripe's Checkout: the whole subscription lives at Stripe.
  for (const plan of ark.plans ?? []) plan.trial_requires_card = true;

  /** A subscription's life at Stripe for one customer: created (trialing), first invoice, cancel at period end, deleted. */
  async function lifeAtStripe(p: StripeProject, customer: string, opts: { sameSecond?: boolean } = {}) {
    const step = opts.sameSecond ? 0 : 60_000;
    const pro = stripe.list(p.sk, 'price').find((x) => x.metadata.tollgate_plan === 'pro')!;
    const cs = await p.sdk.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: pro.id, quantity: 1 }],
      success_url: URLS.success_url,
      subscription_data: { trial_period_days: 14, metadata: { tollgate_customer: customer } },
    });
    const [created, invoice] = stripe.completeCheckout(p.sk, cs.id, { email: `${customer}@example.com` });
    h.clock.advance(step);
    await p.sdk.subscriptions.update(created!.data.object.id, { cancel_at_period_end: true });
    const updated = stripe.lastEvent(p.sk, 'customer.subscription.updated');
    h.clock.advance(step);
    stripe.cancelSubscription(p.sk, created!.data.object.id);
    const deleted = stripe.lastEvent(p.sk, 'customer.subscription.deleted');
    return [created!, invoice!, updated, deleted];
  }

  it('every ordering of a subscription’s events ends in the newest state: deleted stays canceled, the customer is back on free', async () => {
    const p = await stripeProject(ark);
    await p.call('POST', '/v1/providers/stripe/sync', {});
    const orders = permutations([0, 1, 2, 3]);
    for (const [n, order] of orders.entries()) {
      const customer = `order-${n}`;
      const events = await lifeAtStripe(p, customer);
      for (const i of order) expect((await deliver(p, events[i]!)).status).toBe(200);
      // An invoice that arrived before its subscription is retried by the inbox.
      h.clock.advance(31_000);
      await runDueJobs(h.tg.ctx);
      const sub = await p.call('GET', `/v1/customers/${customer}/subscription`);
      expect(sub.body, `order ${order}`).toMatchObject({ status: 'canceled', plan: 'free', previous_plan: 'pro' });
      const failed = await p.call('GET', '/v1/events?status=failed');
      expect(failed.body.data).toHaveLength(0);
    }
  }, 120_000);

  it('events of one second end in Stripe’s current state in every order, an invoice before its subscription applied at once', async () => {
    const p = await stripeProject(ark);
    await p.call('POST', '/v1/providers/stripe/sync', {});
    const orders = permutations([0, 1, 2, 3]);
    for (const [n, order] of orders.entries()) {
      const customer = `second-${n}`;
      const events = await lifeAtStripe(p, customer, { sameSecond: true });
      expect(new Set(events.map((e) => e.created)).size, 'all four events share one second').toBe(1);
      for (const i of order) expect((await deliver(p, events[i]!)).status).toBe(200);
      // No retry and no clock move: each delivery already left the subscription as Stripe holds it.
      const sub = await p.call('GET', `/v1/customers/${customer}/subscription`);
      expect(sub.body, `order ${order}`).toMatchObject({ status: 'canceled', plan: 'free', previous_plan: 'pro' });
      const failed = await p.call('GET', '/v1/events?status=failed');
      expect(failed.body.data).toHaveLength(0);
    }
  }, 120_000);

  it('updated (cancel at period end) then created of the same second, and updated (active) then created (incomplete), keep the newer state', async () => {
    const p = await stripeProject(ark);
    await p.call('POST', '/v1/providers/stripe/sync', {});
    const pro = stripe.list(p.sk, 'price').find((x) => x.metadata.tollgate_plan === 'pro')!;
    const start = async (customer: string, trial: boolean) => {
      const cs = await p.sdk.checkout.sessions.create({
        mode: 'subscription',
        line_items: [{ price: pro.id, quantity: 1 }],
        success_url: URLS.success_url,
        subscription_data: { ...(trial ? { trial_period_days: 14 } : {}), metadata: { tollgate_customer: customer } },
      });
      return stripe.completeCheckout(p.sk, cs.id)[0]!;
    };

    const created = await start('same-1', true);
    await p.sdk.subscriptions.update(created.data.object.id, { cancel_at_period_end: true });
    const updated = stripe.lastEvent(p.sk, 'customer.subscription.updated');
    expect(updated.created).toBe(created.created);
    expect((await deliver(p, updated)).status).toBe(200);
    expect((await deliver(p, created)).status).toBe(200);
    expect((await p.call('GET', '/v1/customers/same-1/subscription')).body).toMatchObject({ plan: 'pro', cancel_at_period_end: true });

    // Stripe sends `created` with the subscription incomplete and `updated` once the first payment
    // went through; both carry the same second and may arrive the other way round.
    const paid = await start('same-2', false);
    const incomplete = structuredClone(paid);
    incomplete.data.object.status = 'incomplete';
    const active = { ...structuredClone(paid), id: `${paid.id}_upd`, type: 'customer.subscription.updated' };
    expect((await deliver(p, active)).status).toBe(200);
    expect((await deliver(p, incomplete)).status).toBe(200);
    expect((await p.call('GET', '/v1/customers/same-2/subscription')).body).toMatchObject({ plan: 'pro', status: 'active' });
  });

  it('cancel, resume and change of plan through Tollgate go to Stripe (subscriptions.update) and the answer from Stripe updates the row', async () => {
    const p = await stripeProject(ark);
    await p.call('POST', '/v1/providers/stripe/sync', {});
    const prices = stripe.list(p.sk, 'price');
    const pro = prices.find((x) => x.metadata.tollgate_plan === 'pro')!;
    const business = prices.find((x) => x.metadata.tollgate_plan === 'business')!;
    const cs = await p.sdk.checkout.sessions.create({
      mode: 'subscription',
      line_items: [{ price: pro.id, quantity: 1 }],
      success_url: URLS.success_url,
      subscription_data: { metadata: { tollgate_customer: 'cora' } },
    });
    const [created] = stripe.completeCheckout(p.sk, cs.id);
    await deliver(p, created!);
    const subId = created!.data.object.id;
    const updates = () => stripe.writes(p.sk, `/v1/subscriptions/${subId}`);

    h.clock.advance(60_000);
    const cancel = await p.call('POST', '/v1/customers/cora/subscription/cancel', {});
    expect(cancel.status).toBe(200);
    expect(cancel.body.cancel_at_period_end).toBe(true);
    expect(updates().at(-1)!.params).toEqual({ cancel_at_period_end: 'true' });
    expect(updates().at(-1)!.idempotencyKey).toMatch(/^tollgate-sub_.+-cancel_at_period_end-.*\d+$/);
    // Stripe's answer is applied at once; its webhook arriving after changes nothing more.
    expect((await p.call('GET', '/v1/customers/cora/subscription')).body).toMatchObject({ plan: 'pro', cancel_at_period_end: true });
    await deliver(p, stripe.lastEvent(p.sk, 'customer.subscription.updated'));

    h.clock.advance(60_000);
    const resume = await p.call('POST', '/v1/customers/cora/subscription/resume', {});
    expect(resume.status).toBe(200);
    expect(updates().at(-1)!.params).toEqual({ cancel_at_period_end: 'false' });
    await deliver(p, stripe.lastEvent(p.sk, 'customer.subscription.updated'));
    expect((await p.call('GET', '/v1/customers/cora/subscription')).body).toMatchObject({ plan: 'pro', cancel_at_period_end: false });

    h.clock.advance(60_000);
    const change = await p.call('POST', '/v1/customers/cora/subscription/change', { plan: 'business' });
    expect(change.status).toBe(200);
    expect(updates().at(-1)!.params).toMatchObject({ items: [{ price: business.id }], metadata: { tollgate_plan: 'business' } });
    await deliver(p, stripe.lastEvent(p.sk, 'customer.subscription.updated'));
    expect((await p.call('GET', '/v1/customers/cora/subscription')).body).toMatchObject({ plan: 'business', status: 'active' });
  });

  it('checkout with a trial → trialing → paid → cancel at period end in the portal → deleted → free', async () => {
    const p = await stripeProject(ark);
    await p.call('PUT', '/v1/catalog', ark);
    await runDueJobs(h.tg.ctx);
    const pro = stripe.list(p.sk, 'price').find((x) => x.metadata.tollgate_plan === 'pro')!;

    const r = await p.call('POST', '/v1/checkout', { customer_id: 'site-owner', customer_email: 'owner@example.com', plan: 'pro', promotion_code: 'EARLY2024', ...URLS });
    expect(r.status).toBe(201);
    const params = stripe.writes(p.sk, '/v1/checkout/sessions').at(-1)!.params;
    expect(params).toMatchObject({
      mode: 'subscription',
      line_items: [{ price: pro.id, quantity: '1' }],
      subscription_data: { trial_period_days: '14', metadata: { tollgate_plan: 'pro', tollgate_customer: 'site-owner' } },
      client_reference_id: r.body.session_id,
    });
    expect(stripe.get(p.sk, params.discounts[0].coupon)).toMatchObject({ percent_off: 20, duration: 'repeating', duration_in_months: 3 });

    const cs = stripe.list(p.sk, 'checkout.session').at(-1)!;
    const events = stripe.completeCheckout(p.sk, cs.id);
    // Stripe does not promise an order: the session completes before the subscription is announced.
    for (const e of [events[2]!, events[1]!, events[0]!]) expect((await deliver(p, e)).status).toBe(200);
    h.clock.advance(31_000);
    await runDueJobs(h.tg.ctx);
    let sub = await p.call('GET', '/v1/customers/site-owner/subscription');
    expect(sub.body).toMatchObject({ plan: 'pro', status: 'trialing', days_remaining: 14, cancel_at_period_end: false });
    const subId = events[0]!.data.object.id;

    // The trial ends and Stripe charges the card.
    h.clock.advance(14 * 86400_000);
    for (const e of stripe.renew(p.sk, subId)) expect((await deliver(p, e)).status).toBe(200);
    sub = await p.call('GET', '/v1/customers/site-owner/subscription');
    expect(sub.body).toMatchObject({ plan: 'pro', status: 'active', cancel_at_period_end: false });
    const periodEnd = stripe.get(p.sk, subId)!.items.data[0].current_period_end;
    expect(new Date(sub.body.current_period_end).getTime()).toBe(periodEnd * 1000);
    const payments = await p.call('GET', '/v1/payments?customer_id=site-owner');
    expect(payments.body.data.map((x: { amount: number }) => x.amount)).toContain(2900);

    // The customer cancels at the end of the period in Stripe's Billing Portal.
    const portal = await p.call('POST', '/v1/portal', { customer_id: 'site-owner', return_url: 'https://app.example.com/account' });
    expect(portal.status).toBe(200);
    expect(portal.body.url).toMatch(/\/p\/session\/bps_/);
    h.clock.advance(3600_000);
    await p.sdk.subscriptions.update(subId, { cancel_at_period_end: true });
    expect((await deliver(p, stripe.lastEvent(p.sk, 'customer.subscription.updated'))).status).toBe(200);
    sub = await p.call('GET', '/v1/customers/site-owner/subscription');
    expect(sub.body).toMatchObject({ plan: 'pro', status: 'active', cancel_at_period_end: true });

    // The period ends: Stripe deletes the subscription and the customer is back on the free plan.
    h.clock.set(new Date(periodEnd * 1000 + 1000));
    stripe.cancelSubscription(p.sk, subId);
    const deleted = stripe.lastEvent(p.sk, 'customer.subscription.deleted');
    expect((await deliver(p, deleted)).status).toBe(200);
    sub = await p.call('GET', '/v1/customers/site-owner/subscription');
    expect(sub.body).toMatchObject({ plan: 'free', status: 'canceled' });
    // A stale "active" arriving late changes nothing.
    const stale = { ...stripe.lastEvent(p.sk, 'customer.subscription.updated'), id: `evt_stale_${randomToken(10)}` };
    expect((await deliver(p, stale)).status).toBe(200);
    expect((await p.call('GET', '/v1/customers/site-owner/subscription')).body).toMatchObject({ plan: 'free', status: 'canceled' });
  });
});
