import { PDFParse } from 'pdf-parse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const auris = DEMO_CATALOGS.aurisvoice!.catalog;
const seller = { name: 'Auris Voice SAS', country: 'FR', vat_id: 'FR12345678901', address: { line1: '12 rue de la Paix', city: 'Paris' } };
const urls = { success_url: 'https://app.example/ok', cancel_url: 'https://app.example/cancel' };

async function project(opts: { pricesIncludeTax?: boolean; catalog?: Record<string, unknown> } = {}): Promise<TestProject> {
  const p = await h.project({ catalog: { ...auris, signup_credits: 0, ...(opts.catalog ?? {}) } });
  const body = { seller, ...(opts.pricesIncludeTax === undefined ? {} : { prices_include_tax: opts.pricesIncludeTax }) };
  const s = await p.call('PUT', '/v1/invoice-settings', body);
  expect(s.status).toBe(200);
  expect(s.body.prices_include_tax).toBe(opts.pricesIncludeTax ?? true);
  return p;
}

async function payPack(p: TestProject, customer: string, extra: Record<string, unknown> = {}, pack = 'pro', card = '4242424242424242') {
  const cs = await p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: pack, ...urls, ...extra });
  expect(cs.status).toBe(201);
  const paid = await p.call('POST', `/v1/test-helpers/checkout/${cs.body.session_id}/pay`, { card });
  expect(paid.status).toBe(200);
  const payment = (await p.call('GET', `/v1/payments?customer_id=${customer}&limit=1`)).body.data[0];
  const invoice = (await p.call('GET', `/v1/customers/${customer}/invoices`)).body.data[0];
  return { session: cs.body, payment, invoice };
}

describe('tax-exclusive prices: VAT added on top at checkout', () => {
  it('prices_include_tax false: a German consumer pays 15.00 € + 19 % = 17.85 €, and the invoice shows net 15.00, VAT 2.85, total 17.85', async () => {
    const p = await project({ pricesIncludeTax: false });
    await p.call('POST', '/v1/customers', { id: 'anna' });
    await p.call('PUT', '/v1/customers/anna/billing-details', { name: 'Anna Schmidt', country: 'DE' });
    const { session, payment, invoice } = await payPack(p, 'anna');
    expect(session).toMatchObject({
      amount_total: { amount: 1785, currency: 'eur' },
      amount_due_today: { amount: 1785 },
      amount_subtotal: { amount: 1500 },
      amount_tax: { amount: 285 },
      tax_rate: 19,
      tax: { behavior: 'exclusive', computed_by: 'tollgate', country: 'DE', treatment: 'standard' },
    });
    expect((await p.call('GET', `/v1/checkout/${session.session_id}`)).body.amount_total.amount).toBe(1785);
    expect(payment.amount).toBe(1785);
    expect(invoice).toMatchObject({
      payment_id: payment.id,
      subtotal: 1500,
      tax: 285,
      total: 1785,
      tax_details: { treatment: 'standard', country: 'DE', rate: 19, prices_include_tax: false, computed_by: 'tollgate' },
    });
    expect(invoice.lines[0]).toMatchObject({ net_amount: 1500, vat_amount: 285, amount: 1785, vat_rate: 19 });
    const pdf = await h.tg.app.inject({ method: 'GET', url: `/v1/invoices/${invoice.id}/pdf`, headers: { authorization: `Bearer ${p.key}` } });
    const parser = new PDFParse({ data: new Uint8Array(pdf.rawPayload) });
    const text = (await parser.getText()).text;
    await parser.destroy();
    expect(text).toContain('€15.00');
    expect(text).toContain('€2.85');
    expect(text).toContain('€17.85');
    expect(text).toContain('Prices exclude VAT: VAT is added on top.');
    expect(text).not.toContain('Prices include VAT');
  });

  it('the billing country given at checkout decides the VAT, else the seller country when the buyer has none', async () => {
    const p = await project({ pricesIncludeTax: false });
    await p.call('POST', '/v1/customers', { id: 'ben' });
    await p.call('PUT', '/v1/customers/ben/billing-details', { country: 'DE' });
    const given = await payPack(p, 'ben', { billing_details: { country: 'IT', name: 'Ben' } });
    expect(given.session).toMatchObject({ amount_total: { amount: 1830 }, amount_tax: { amount: 330 }, tax_rate: 22 });
    expect(given.invoice).toMatchObject({ subtotal: 1500, tax: 330, total: 1830, tax_details: { country: 'IT', evidence: { billing_country_source: 'checkout' } } });

    const none = await payPack(p, 'nobody', {}, 'starter');
    expect(none.session).toMatchObject({ amount_total: { amount: 600 }, amount_subtotal: { amount: 500 }, amount_tax: { amount: 100 }, tax_rate: 20, tax: { country: 'FR' } });
    expect(none.payment.amount).toBe(600);
    expect(none.invoice).toMatchObject({ subtotal: 500, tax: 100, total: 600 });
  });

  it('a reverse-charged business buyer pays the net price: no VAT is added', async () => {
    const p = await project({ pricesIncludeTax: false });
    await p.call('POST', '/v1/customers', { id: 'acme' });
    await p.call('PUT', '/v1/customers/acme/billing-details', { name: 'ACME GmbH', country: 'DE', vat_id: 'DE123456789' });
    const { session, payment, invoice } = await payPack(p, 'acme');
    expect(session).toMatchObject({ amount_total: { amount: 1500 }, amount_tax: { amount: 0 }, tax_rate: 0, tax: { treatment: 'reverse_charge' } });
    expect(payment.amount).toBe(1500);
    expect(invoice).toMatchObject({ subtotal: 1500, tax: 0, total: 1500, tax_details: { treatment: 'reverse_charge', prices_include_tax: false } });
  });

  it('a price’s own tax_behavior overrides the project setting, both ways', async () => {
    const packs = auris.credit_packs!.map((pk) => (pk.id === 'pro' ? { ...pk, price: { ...pk.price, tax_behavior: 'exclusive' } } : pk));
    const p = await project({ catalog: { credit_packs: packs } });
    await p.call('POST', '/v1/customers', { id: 'carl' });
    expect((await p.call('PUT', '/v1/customers/carl/billing-details', { country: 'FR' })).status).toBe(200);
    const pro = await payPack(p, 'carl', {}, 'pro');
    expect(pro.session.amount_total.amount).toBe(1800);
    expect(pro.invoice).toMatchObject({ subtotal: 1500, tax: 300, total: 1800 });
    const starter = await payPack(p, 'carl', {}, 'starter');
    expect(starter.session).toMatchObject({ amount_total: { amount: 500 }, amount_subtotal: { amount: 417 }, amount_tax: { amount: 83 }, tax: { behavior: 'inclusive' } });
    expect(starter.invoice).toMatchObject({ subtotal: 417, tax: 83, total: 500, tax_details: { prices_include_tax: true } });

    const inclusivePacks = auris.credit_packs!.map((pk) => (pk.id === 'pro' ? { ...pk, price: { ...pk.price, tax_behavior: 'inclusive' } } : pk));
    const q = await project({ pricesIncludeTax: false, catalog: { credit_packs: inclusivePacks } });
    const inc = await payPack(q, 'dora', {}, 'pro');
    expect(inc.session.amount_total.amount).toBe(1500);
    expect(inc.invoice).toMatchObject({ subtotal: 1250, tax: 250, total: 1500 });
  });

  it('a tax_behavior other than inclusive or exclusive is refused with the catalog path, and nothing changes', async () => {
    const p = await project();
    const before = await p.call('GET', '/v1/catalog');
    const packs = auris.credit_packs!.map((pk) => ({ ...pk, price: { ...pk.price, tax_behavior: 'sometimes' } }));
    const r = await p.call('PUT', '/v1/catalog', { ...auris, credit_packs: packs });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain('tax_behavior');
    expect((await p.call('GET', '/v1/catalog')).body).toEqual(before.body);
  });

  it('a subscription at exclusive prices is charged VAT on top at checkout, at each renewal and on an upgrade’s proration, and each invoice splits it', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
    expect((await p.call('PUT', '/v1/invoice-settings', { seller, prices_include_tax: false })).status).toBe(200);
    await p.call('POST', '/v1/customers', { id: 'sam' });
    await p.call('PUT', '/v1/customers/sam/billing-details', { country: 'FR' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'sam', plan: 'starter', trial_days: 0, ...urls });
    expect(cs.body).toMatchObject({ amount_total: { amount: 1080 }, amount_subtotal: { amount: 900 }, amount_tax: { amount: 180 }, recurring: { amount: { amount: 1080 } } });
    expect((await p.call('POST', `/v1/test-helpers/checkout/${cs.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(200);
    expect((await p.call('GET', '/v1/customers/sam/subscription')).body).toMatchObject({ price: { amount: 900 }, next_charge: { amount: 1080 } });
    await p.call('POST', '/v1/test-helpers/clock/advance', { seconds: 31 * 86_400 });
    const paid = (await p.call('GET', '/v1/payments?customer_id=sam&limit=10')).body.data.filter((x: { status: string }) => x.status === 'succeeded');
    expect(paid.map((x: { amount: number }) => x.amount)).toEqual([1080, 1080]);

    await p.call('POST', '/v1/test-helpers/clock/advance', { seconds: 10 * 86_400 });
    const preview = await p.call('GET', '/v1/customers/sam/subscription/preview?plan=pro');
    expect(preview.status).toBe(200);
    const net = preview.body.proration.amount as number;
    expect(net).toBeGreaterThan(0);
    const vat = Math.floor((net * 2000 + 5000) / 10000);
    expect(preview.body.amount_due_today.amount).toBe(net + vat);
    expect(preview.body.next_charge.amount).toBe(3480); // 29.00 € + 20 %
    const up = await p.call('POST', '/v1/customers/sam/subscription/change', { plan: 'pro' });
    expect(up.status).toBe(200);
    const latest = (await p.call('GET', '/v1/payments?customer_id=sam&limit=1')).body.data[0];
    expect(latest.amount).toBe(net + vat);
    expect(up.body.next_charge.amount).toBe(3480);

    const invoices = (await p.call('GET', '/v1/customers/sam/invoices')).body.data.reverse();
    expect(invoices.map((i: { subtotal: number; tax: number; total: number }) => [i.subtotal, i.tax, i.total])).toEqual([
      [900, 180, 1080],
      [900, 180, 1080],
      [net, vat, net + vat],
    ]);
    expect(invoices.every((i: { tax_details: { prices_include_tax: boolean } }) => i.tax_details.prices_include_tax === false)).toBe(true);
  });
});

describe('orders at exclusive prices', () => {
  it('an order of exclusive products is charged VAT on top; one mixing exclusive and inclusive products is refused at checkout (400 order_id) and stays pending', async () => {
    const products = [
      { id: 'mug', name: 'Mug', price: { amount: 1000, currency: 'eur', tax_behavior: 'exclusive' as const }, stock: 10 },
      { id: 'cap', name: 'Cap', price: { amount: 2000, currency: 'eur' }, stock: 10 },
    ];
    const p = await h.project({ catalog: { products } });
    expect((await p.call('PUT', '/v1/invoice-settings', { seller })).status).toBe(200);
    await p.call('POST', '/v1/customers', { id: 'olga' });
    await p.call('POST', '/v1/customers/olga/cart/items', { product_id: 'mug', quantity: 2 });
    const one = await p.call('POST', '/v1/customers/olga/orders', {});
    expect(one.status).toBe(201);
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'olga', order_id: one.body.id, ...urls });
    expect(cs.status).toBe(201);
    expect(cs.body).toMatchObject({ amount_total: { amount: 2400 }, amount_subtotal: { amount: 2000 }, amount_tax: { amount: 400 }, tax: { country: 'FR' } });

    await p.call('POST', '/v1/customers/olga/cart/items', { product_id: 'mug', quantity: 1 });
    await p.call('POST', '/v1/customers/olga/cart/items', { product_id: 'cap', quantity: 1 });
    const mixed = await p.call('POST', '/v1/customers/olga/orders', {});
    expect(mixed.status).toBe(201);
    const refused = await p.call('POST', '/v1/checkout', { customer_id: 'olga', order_id: mixed.body.id, ...urls });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'invalid_request', param: 'order_id' });
    expect((await p.call('GET', `/v1/orders/${mixed.body.id}`)).body.status).toBe('pending');
  });
});

describe('the card’s country as VAT evidence', () => {
  it('the sandbox’s French and German test cards are kept on the invoice as card_country; a disagreement with the billing country is kept and flagged, the VAT follows the billing country', async () => {
    const p = await project();
    await p.call('POST', '/v1/customers', { id: 'eva' });
    await p.call('PUT', '/v1/customers/eva/billing-details', { country: 'DE' });
    const fr = await payPack(p, 'eva', {}, 'pro', '4000 0025 0000 0003');
    expect(fr.invoice.tax_details).toMatchObject({
      country: 'DE',
      rate: 19,
      evidence: { billing_country: 'DE', billing_country_source: 'customer_billing_details', card_country: 'FR', countries_disagree: true },
    });
    const de = await payPack(p, 'eva', {}, 'starter', '4000002760000016');
    expect(de.invoice.tax_details.evidence).toEqual({
      billing_country: 'DE',
      billing_country_source: 'customer_billing_details',
      ip_country: null,
      card_country: 'DE',
    });
    const us = await payPack(p, 'otto', { billing_details: { country: 'AT' }, ip_country: 'AT' }, 'starter');
    expect(us.invoice.tax_details.evidence).toMatchObject({ billing_country: 'AT', ip_country: 'AT', card_country: 'US', countries_disagree: true });
  });

  it('a renewal charged on the saved card carries that card’s country', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
    expect((await p.call('PUT', '/v1/invoice-settings', { seller })).status).toBe(200);
    await p.call('POST', '/v1/customers', { id: 'rene' });
    await p.call('PUT', '/v1/customers/rene/billing-details', { country: 'FR' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'rene', plan: 'starter', trial_days: 0, ...urls });
    expect((await p.call('POST', `/v1/test-helpers/checkout/${cs.body.session_id}/pay`, { card: '4000002500000003' })).status).toBe(200);
    await p.call('POST', '/v1/test-helpers/clock/advance', { seconds: 31 * 86_400 });
    const invoices = (await p.call('GET', '/v1/customers/rene/invoices')).body.data;
    expect(invoices).toHaveLength(2);
    expect(invoices.map((i: { tax_details: { evidence: { card_country: string } } }) => i.tax_details.evidence.card_country)).toEqual(['FR', 'FR']);
  });
});
