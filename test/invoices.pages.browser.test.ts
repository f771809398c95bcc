import type { Browser, Page } from 'playwright-core';
import { PDFParse } from 'pdf-parse';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { buildDashboard } from '../web/dashboard/build.mjs';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let base: string;
let browser: Browser;
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  await buildDashboard();
  h = await createHarness();
  base = await h.listen();
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const seller = { name: 'Auris Voice SAS', country: 'FR', vat_id: 'FR12345678901', address: { line1: '12 rue de la Paix', postal_code: '75002', city: 'Paris' } };

async function project(): Promise<TestProject> {
  const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });
  expect((await p.call('PUT', '/v1/invoice-settings', { seller, prefix: 'AV' })).status).toBe(200);
  return p;
}

async function session(p: TestProject, customer: string) {
  const r = await p.call('POST', '/v1/customer_sessions', { customer_id: customer });
  expect(r.status).toBe(201);
  return r.body as { token: string; urls: { credits: string; portal: string } };
}

/** Buys a pack through the sandbox; returns the checkout session id. */
async function buy(p: TestProject, customer: string, pack: string): Promise<string> {
  const s = await p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: pack, success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' });
  expect(s.status).toBe(201);
  expect((await p.call('POST', `/v1/test_helpers/checkout/${s.body.session_id}/pay`, { card: '4242424242424242' })).body.status).toBe('complete');
  return s.body.session_id;
}

/** Fetches a link as the page would (its cookies) and returns the PDF's text. */
async function pdfAt(page: Page, url: string): Promise<string> {
  const res = await page.request.get(url);
  expect(res.status(), url).toBe(200);
  expect(res.headers()['content-type']).toBe('application/pdf');
  const parser = new PDFParse({ data: new Uint8Array(await res.body()) });
  const text = (await parser.getText()).text;
  await parser.destroy();
  return text;
}

async function noSidewaysScroll(page: Page) {
  expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
}

describeBrowser('invoices where the customer and the operator look', () => {
  it('the credits page links the purchase’s invoice and lists the customer’s invoices; another customer’s invoice is 404', async () => {
    const p = await project();
    const sid = await buy(p, 'ines', 'pro');
    const invoice = (await p.call('GET', '/v1/customers/ines/invoices')).body.data[0];
    expect(invoice.number).toMatch(/^AV-\d{4}-000001$/);
    const s = await session(p, 'ines');
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await page.goto(`${s.urls.credits}&checkout=${sid}`);
    const link = page.locator('[data-testid=session-invoice]');
    expect(await link.textContent()).toBe(`Download invoice ${invoice.number} (PDF)`);
    expect(await page.locator('[data-testid=invoices] [data-testid=invoice-row]').count()).toBe(1);
    await noSidewaysScroll(page);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/credits-page-invoice.png`, fullPage: true });
    const text = await pdfAt(page, (await link.getAttribute('href'))!.startsWith('/') ? `${base}${await link.getAttribute('href')}` : (await link.getAttribute('href'))!);
    expect(text).toContain(invoice.number);
    expect(text).toContain('Auris Voice SAS');

    // The same link with another customer's session finds nothing.
    await buy(p, 'otto', 'starter');
    const other = await session(p, 'otto');
    const res = await page.request.get(`${base}/p/${p.id}/invoices/${invoice.id}/pdf?session=${other.token}`);
    expect(res.status()).toBe(404);
    // The account page lists the customer's own documents only.
    await page.goto(other.urls.portal);
    const rows = page.locator('[data-testid=invoices] [data-testid=invoice-row]');
    expect(await rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('AV-');
    expect(await rows.first().textContent()).not.toContain(invoice.number);
    await page.close();
  });

  it('the billing portal lists invoices and credit notes with their PDFs', async () => {
    const p = await project();
    await buy(p, 'paula', 'pro');
    const pay = (await p.call('GET', '/v1/payments?customer_id=paula')).body.data[0];
    expect((await p.call('POST', `/v1/payments/${pay.id}/refund`, { amount: 500 })).status).toBe(200);
    const docs = (await p.call('GET', '/v1/customers/paula/invoices')).body.data;
    expect(docs.map((d: any) => d.object).sort()).toEqual(['credit_note', 'invoice']);
    const portal = await p.call('POST', '/v1/portal', { customer_id: 'paula', return_url: 'https://a.example/account' });
    expect(portal.status).toBe(200);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(portal.body.url);
    const rows = page.locator('[data-testid=invoices] [data-testid=invoice-row]');
    expect(await rows.count()).toBe(2);
    expect(await page.textContent('[data-testid=invoices]')).toContain('credit note');
    const note = docs.find((d: any) => d.object === 'credit_note');
    const href = await page.locator(`a:text("${note.number}")`).getAttribute('href');
    const text = await pdfAt(page, `${base}${href}`);
    expect(text).toContain(note.number);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/portal-invoices.png`, fullPage: true });
    // An invoice of another customer through this portal link: 404.
    await buy(p, 'quinn', 'starter');
    const theirs = (await p.call('GET', '/v1/customers/quinn/invoices')).body.data[0];
    expect((await page.request.get(`${portal.body.url}/invoices/${theirs.id}/pdf`)).status()).toBe(404);
    await page.close();
  });

  it('the dashboard lists the project’s invoices and a customer’s, with PDFs, at desktop and phone width', async () => {
    const p = await project();
    await buy(p, 'rita', 'pro');
    await buy(p, 'sami', 'starter');
    const email = `op-inv-${Date.now()}@example.com`;
    await createOperator(h.tg.ctx, { email, password: PASSWORD });
    for (const width of [1280, 390]) {
      const page = await browser.newPage({ viewport: { width, height: 900 } });
      await page.goto(`${base}/dashboard/`);
      await page.fill('#email', email);
      await page.fill('#password', PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForSelector('.topbar');
      await page.goto(`${base}/dashboard/#/p/${p.id}/invoices`);
      await page.waitForSelector('[data-testid=invoice-row]');
      const rows = page.locator('[data-testid=invoice-row]');
      expect(await rows.count()).toBe(2);
      // Newest first: Sami's Starter pack (5 €) then Rita's Pro pack (15 €).
      expect(await rows.nth(0).textContent()).toContain('€5.00');
      expect(await rows.nth(1).textContent()).toContain('€15.00');
      await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-invoices-${width}.png`, fullPage: true });
      await noSidewaysScroll(page);
      const text = await pdfAt(page, `${base}${await rows.nth(1).locator('a:text("PDF")').getAttribute('href')}`);
      expect(text).toContain('-000001');

      await page.goto(`${base}/dashboard/#/p/${p.id}/customers/rita`);
      const card = page.locator('[data-testid=customer-invoices]');
      await card.locator('[data-testid=invoice-row]').first().waitFor();
      expect(await card.locator('[data-testid=invoice-row]').count()).toBe(1);
      expect(await card.textContent()).toContain('€15.00');
      await page.close();
    }
  });
});

it.skipIf(HAS_BROWSER)('needs Chromium for the invoice pages', () => {
  expect(HAS_BROWSER).toBe(false);
});
