import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let p: TestProject;
let base: string;
let browser: Browser;
beforeAll(async () => {
  h = await createHarness();
  base = await h.listen();
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

async function checkout(customer: string) {
  const r = await p.call('POST', '/v1/checkout', {
    customer_id: customer,
    credit_pack: 'pro',
    success_url: `${base}/health?paid={CHECKOUT_SESSION_ID}`,
    cancel_url: `${base}/health?canceled=1`,
  });
  expect(r.status).toBe(201);
  return r.body as { session_id: string; url: string };
}

const balance = async (c: string) => (await p.call('GET', `/v1/customers/${c}/credits`)).body.balance;

describeBrowser('hosted sandbox checkout in Chromium', () => {
  it('declined cards show a clear message and change nothing; 4242 pays and lands on success_url with 70 credits', async () => {
    const s = await checkout('browser-1');
    expect(s.url.startsWith(base)).toBe(true);
    const page = await browser.newPage();
    await page.goto(s.url);
    expect(await page.textContent('h1')).toContain('Pro pack');
    expect(await page.textContent('[data-testid=amount]')).toContain('15.00');

    await page.fill('#card', '4000 0000 0000 0002');
    await page.click('#pay');
    expect(await page.textContent('[data-testid=error]')).toContain('Your card was declined.');
    await page.fill('#card', '4000 0000 0000 9995');
    await page.click('#pay');
    expect(await page.textContent('[data-testid=error]')).toContain('insufficient funds');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/checkout-declined.png`, fullPage: true });
    expect(await balance('browser-1')).toBe(10);

    await page.fill('#card', '4242 4242 4242 4242');
    await Promise.all([page.waitForURL(/\/health\?paid=/), page.click('#pay')]);
    expect(page.url()).toBe(`${base}/health?paid=${s.session_id}`);
    expect(await balance('browser-1')).toBe(70);
    const session = await p.call('GET', `/v1/checkout/${s.session_id}`);
    expect(session.body.status).toBe('complete');
    await page.close();
  });

  it('cancel returns to cancel_url and the session stays unpaid', async () => {
    const s = await checkout('browser-2');
    const page = await browser.newPage();
    await page.goto(s.url);
    await Promise.all([page.waitForURL(/canceled=1/), page.click('#cancel')]);
    expect(page.url()).toBe(`${base}/health?canceled=1`);
    expect((await p.call('GET', `/v1/checkout/${s.session_id}`)).body.payment_status).toBe('unpaid');
    expect(await balance('browser-2')).toBe(10);
    await page.close();
  });
});
