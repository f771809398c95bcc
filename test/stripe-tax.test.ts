import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
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

const URLS = { success_url: 'https://app.example.com/ok', cancel_url: 'https://app.example.com/cancel' };
const seller = { name: 'Auris Voice SAS', country: 'FR', vat_id: 'FR12345678901' };

async function stripeProject(opts: { automaticTax?: boolean; pricesIncludeTax?: boolean; catalog?: Record<string, unknown> } = {}) {
  const p = await h.project({ catalog: { ...DEMO_CATALOGS.aurisvoice!.catalog, signup_credits: 0, ...(opts.catalog ?? {}) } });
  expect((await p.call('PUT', '/v1/invoice-settings', { seller, prices_include_tax: opts.pricesIncludeTax ?? false })).status).toBe(200);
  const sk = `sk_test_${p.id.replace(/-/g, '_')}_${randomToken(8)}`;
  const whsec = `whsec_${randomToken(32)}`;
  const r = await p.call('PUT', '/v1/providers/stripe', {
    secret_key: sk,
    webhook_secrets: [whsec],
    default: true,
    ...(opts.automaticTax === undefined ? {} : { automatic_tax: opts.automaticTax }),
  });
  expect(r.status).toBe(200);
  return { ...p, sk, whsec };
}

async function deliver(p: TestProject & { whsec: string }, event: object): Promise<Res> {
  const body = JSON.stringify(event);
  const t = Math.floor(h.clock.now().getTime() / 1000);
  return h.inject({
    method: 'POST',
    url: `/v1/webhooks/stripe/${p.id}`,
    headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, p.whsec, t) },
    payload: body,
  });
}

describe('Stripe Tax (automatic_tax in the Stripe settings)', () => {
  it('the setting is stored and shown; the session is created with automatic_tax, Stripe’s computed tax is charged and recorded on the invoice (computed_by stripe) with the card’s country', async () => {
    const p = await stripeProject({ automaticTax: true });
    const settings = (await p.call('GET', '/v1/providers')).body.data.find((d: { provider: string }) => d.provider === 'stripe');
    expect(settings.automatic_tax).toBe(true);

    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'ana', credit_pack: 'pro', ...URLS });
    expect(cs.status).toBe(201);
    // Stripe computes the tax on its page: Tollgate adds none and says so.
    expect(cs.body).toMatchObject({ amount_total: { amount: 1500 }, amount_subtotal: { amount: 1500 }, amount_tax: null, tax: { computed_by: 'stripe', behavior: 'exclusive' } });
    const create = stripe.writes(p.sk, '/v1/checkout/sessions')[0]!;
    expect(create.params).toMatchObject({ automatic_tax: { enabled: 'true' }, billing_address_collection: 'required', customer_update: { address: 'auto' } });
    expect(create.params.line_items).toMatchObject([{ price_data: { unit_amount: '1500', tax_behavior: 'exclusive' } }]);

    const session = stripe.list(p.sk, 'checkout.session')[0]!;
    const [completed] = stripe.completeCheckout(p.sk, session.id, { country: 'FR', cardCountry: 'DE' });
    expect(completed!.data.object).toMatchObject({ amount_total: 1800, total_details: { amount_tax: 300 } });
    expect((await deliver(p, completed!)).body).toMatchObject({ status: 'processed' });

    const payment = (await p.call('GET', '/v1/payments?customer_id=ana')).body.data[0];
    expect(payment.amount).toBe(1800);
    const invoice = (await p.call('GET', '/v1/customers/ana/invoices')).body.data[0];
    expect(invoice).toMatchObject({
      payment_id: payment.id,
      subtotal: 1500,
      tax: 300,
      total: 1800,
      tax_details: { computed_by: 'stripe', treatment: 'standard', country: 'FR', rate: 20, prices_include_tax: false, evidence: { card_country: 'DE' } },
    });
  });

  it('without Stripe Tax, an exclusive price is sent to Stripe as its net line plus Tollgate’s VAT line, and the card’s country is read from the charge', async () => {
    const p = await stripeProject();
    const settings = (await p.call('GET', '/v1/providers')).body.data.find((d: { provider: string }) => d.provider === 'stripe');
    expect(settings.automatic_tax).toBe(false);
    await p.call('POST', '/v1/customers', { id: 'ben' });
    await p.call('PUT', '/v1/customers/ben/billing-details', { country: 'DE' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'ben', credit_pack: 'pro', ...URLS });
    expect(cs.body).toMatchObject({ amount_total: { amount: 1785 }, amount_tax: { amount: 285 }, tax: { computed_by: 'tollgate' } });
    const create = stripe.writes(p.sk, '/v1/checkout/sessions')[0]!;
    expect(create.params.automatic_tax).toBeUndefined();
    expect(create.params.line_items).toMatchObject([
      { quantity: '1', price_data: { unit_amount: '1500' } },
      { quantity: '1', price_data: { unit_amount: '285', product_data: { name: 'VAT 19 % (DE)' } } },
    ]);
    const session = stripe.list(p.sk, 'checkout.session')[0]!;
    expect(session.amount_total).toBe(1785);
    const [completed] = stripe.completeCheckout(p.sk, session.id, { cardCountry: 'AT' });
    expect((await deliver(p, completed!)).body).toMatchObject({ status: 'processed' });
    const invoice = (await p.call('GET', '/v1/customers/ben/invoices')).body.data[0];
    expect(invoice).toMatchObject({
      subtotal: 1500,
      tax: 285,
      total: 1785,
      tax_details: { computed_by: 'tollgate', country: 'DE', evidence: { billing_country: 'DE', card_country: 'AT', countries_disagree: true } },
    });
  });

  it('automatic_tax must be a boolean: 400 and the settings stay', async () => {
    const p = await stripeProject({ automaticTax: true });
    const r = await p.call('PUT', '/v1/providers/stripe', { secret_key: p.sk, webhook_secrets: [p.whsec], automatic_tax: 'yes' });
    expect(r.status).toBe(400);
    const settings = (await p.call('GET', '/v1/providers')).body.data.find((d: { provider: string }) => d.provider === 'stripe');
    expect(settings.automatic_tax).toBe(true);
  });

  it('a plan through Stripe with Stripe Tax: the first and the renewal invoices record the tax of Stripe’s paid invoices', async () => {
    const ark = DEMO_CATALOGS.arkwatch!.catalog;
    const p = await stripeProject({ automaticTax: true, catalog: { features: ark.features, plans: ark.plans, free_plan: ark.free_plan } });
    await p.call('POST', '/v1/customers', { id: 'sub1', email: 'sub1@example.com' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'sub1', plan: 'starter', trial_days: 0, ...URLS });
    expect(cs.status).toBe(201);
    expect(stripe.writes(p.sk, '/v1/checkout/sessions').at(-1)!.params.automatic_tax).toEqual({ enabled: 'true' });
    const session = stripe.list(p.sk, 'checkout.session').at(-1)!;
    const events = stripe.completeCheckout(p.sk, session.id, { country: 'FR' });
    for (const e of events) expect((await deliver(p, e)).status).toBe(200);
    const sub = stripe.list(p.sk, 'subscription').at(-1)!;
    for (const e of stripe.renew(p.sk, sub.id)) expect((await deliver(p, e)).status).toBe(200);
    const payments = (await p.call('GET', '/v1/payments?customer_id=sub1')).body.data;
    expect(payments.map((x: { amount: number }) => x.amount)).toEqual([1080, 1080]);
    const invoices = (await p.call('GET', '/v1/customers/sub1/invoices')).body.data;
    expect(invoices).toHaveLength(2);
    for (const inv of invoices) {
      expect(inv).toMatchObject({ subtotal: 900, tax: 180, total: 1080, tax_details: { computed_by: 'stripe', rate: 20, country: 'FR', treatment: 'standard' } });
    }
  });
});
