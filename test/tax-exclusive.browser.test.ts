import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { formatMoney } from '../src/domain/money.ts';
import { launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let base: string;
let browser: Browser;
beforeAll(async () => {
  h = await createHarness();
  base = await h.listen();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const seller = { name: 'Auris Voice SAS', country: 'FR', vat_id: 'FR12345678901' };
const urls = () => ({ success_url: `${base}/health?paid={CHECKOUT_SESSION_ID}`, cancel_url: `${base}/health?canceled=1` });
// biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a reader sees
const text = async (page: Page, sel = 'body') => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();
/** Money as the page writes it, with its spaces collapsed as `text` collapses them. */
const money = (amount: number, locale = 'en') => formatMoney({ amount, currency: 'eur' }, locale).replace(/\s+/g, ' ');

async function exclusiveProject(locale?: string): Promise<TestProject> {
  const catalog = { ...DEMO_CATALOGS.aurisvoice!.catalog, signup_credits: 0, ...(locale ? { locale } : {}) };
  const p = await h.project({ catalog });
  expect((await p.call('PUT', '/v1/invoice-settings', { seller, prices_include_tax: false })).status).toBe(200);
  return p;
}

async function payOnPage(p: TestProject, page: Page, customer: string, url: string) {
  await page.goto(url);
  await page.fill('#card', '4242 4242 4242 4242');
  await Promise.all([page.waitForURL(/\/health\?paid=/), page.click('#pay')]);
  const payment = (await p.call('GET', `/v1/payments?customer_id=${customer}&limit=1`)).body.data[0];
  const invoice = (await p.call('GET', `/v1/customers/${customer}/invoices`)).body.data[0];
  return { payment, invoice };
}

describe('the hosted checkout page at tax-exclusive prices', () => {
  it('shows the net line, "VAT 20 % (FR)" and a total equal to amount_total; paying charges exactly that and the invoice splits it', async () => {
    const p = await exclusiveProject();
    await p.call('POST', '/v1/customers', { id: 'claire' });
    await p.call('PUT', '/v1/customers/claire/billing-details', { country: 'FR' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'claire', credit_pack: 'pro', ...urls() });
    expect(cs.status).toBe(201);
    expect(cs.body).toMatchObject({ amount_total: { amount: 1800 }, amount_subtotal: { amount: 1500 }, amount_tax: { amount: 300 }, tax_rate: 20 });
    const page = await browser.newPage();
    await page.goto(cs.body.url);
    const lines = await text(page, '[data-testid=lines]');
    expect(lines).toContain('Pro — 60 credits €15.00');
    expect(await text(page, '[data-testid=tax]')).toBe('VAT 20 % (FR) €3.00');
    expect(await text(page, '[data-testid=due-today]')).toBe(money(cs.body.amount_total.amount));
    expect(await text(page, '[data-testid=due-today]')).toBe('€18.00');
    expect(await text(page, '#pay')).toBe('Pay €18.00');
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      await page.screenshot({ path: `${SCREENSHOT_DIR}/checkout-tax-exclusive-${width}.png`, fullPage: true });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, `scrolls sideways at ${width}px`).toBeLessThanOrEqual(0);
    }
    const { payment, invoice } = await payOnPage(p, page, 'claire', cs.body.url);
    expect(payment.amount).toBe(1800);
    expect(invoice).toMatchObject({ payment_id: payment.id, subtotal: 1500, tax: 300, total: 1800, tax_details: { prices_include_tax: false } });
    await page.close();
  });

  it('in French: "TVA 19 % (DE)", the total TTC, amounts as French writes them', async () => {
    const p = await exclusiveProject('fr');
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'jonas', credit_pack: 'starter', billing_details: { country: 'DE' }, ...urls() });
    expect(cs.body).toMatchObject({ amount_total: { amount: 595 }, amount_tax: { amount: 95 } });
    const page = await browser.newPage();
    await page.goto(cs.body.url);
    expect(await text(page, '[data-testid=tax]')).toBe(`TVA 19 % (DE) ${money(95, 'fr')}`);
    expect(await text(page, '[data-testid=lines]')).toContain(`Total TTC aujourd’hui ${money(595, 'fr')}`);
    const { payment, invoice } = await payOnPage(p, page, 'jonas', cs.body.url);
    expect(payment.amount).toBe(595);
    expect(invoice).toMatchObject({ subtotal: 500, tax: 95, total: 595, tax_details: { country: 'DE' } });
    await page.close();
  });

  it('a reverse-charged business sees no VAT added: the total is the net price', async () => {
    const p = await exclusiveProject();
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'acme', credit_pack: 'pro', billing_details: { country: 'DE', vat_id: 'DE123456789' }, ...urls() });
    expect(cs.body.amount_total.amount).toBe(1500);
    const page = await browser.newPage();
    await page.goto(cs.body.url);
    expect(await text(page, '[data-testid=tax]')).toBe('VAT reverse charged (DE) €0.00');
    expect(await text(page, '[data-testid=due-today]')).toBe('€15.00');
    const { payment, invoice } = await payOnPage(p, page, 'acme', cs.body.url);
    expect(payment.amount).toBe(1500);
    expect(invoice).toMatchObject({ subtotal: 1500, tax: 0, total: 1500, tax_details: { treatment: 'reverse_charge' } });
    await page.close();
  });
});
