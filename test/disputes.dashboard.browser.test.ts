import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { collectDueFees } from '../src/modules/payments/fees.service.ts';
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

async function buy(p: TestProject, customer: string, pack: string): Promise<string> {
  const s = await p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: pack, success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' });
  expect(s.status).toBe(201);
  expect((await p.call('POST', `/v1/test-helpers/checkout/${s.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(200);
  return (await p.call('GET', `/v1/payments?customer_id=${customer}`)).body.data[0].id;
}

async function signIn(page: Page, email: string) {
  await page.goto(`${base}/dashboard/`);
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('.topbar');
}

const overflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

describeBrowser('disputes and net revenue in the dashboard', () => {
  it('the Overview counts open disputes and shows net revenue; the customer page lists the dispute and what it held, at 1280 and 390 px', async () => {
    const email = `op-disputes-${Date.now()}@example.com`;
    await createOperator(h.tg.ctx, { email, password: PASSWORD });
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });
    const pro = await buy(p, 'zoe', 'pro'); // 15 €, 60 credits (+10 at sign-up)
    await buy(p, 'yan', 'starter'); // 5 €
    expect(await collectDueFees(h.tg.ctx)).toBe(2); // sandbox fees: 74 + 45
    await p.call('POST', '/v1/customers/zoe/credits/deduct', { amount: 25 });
    const d = await p.call('POST', `/v1/test-helpers/payments/${pro}/dispute`, { reason: 'fraudulent' });
    expect(d.status).toBe(200);

    for (const width of [1280, 390]) {
      const page = await browser.newPage({ viewport: { width, height: width > 600 ? 900 : 844 }, isMobile: width < 600 });
      await signIn(page, email);
      await page.goto(`${base}/dashboard/#/p/${p.id}`);
      await page.waitForSelector('[data-testid=stat-disputes]');
      expect(await page.textContent('[data-testid=stat-disputes]')).toContain('1');
      // 20.00 € gross − 1.19 € fees − 15.00 € held by the open dispute = 3.81 €.
      expect(await page.textContent('[data-testid=stat-net-revenue]')).toContain('3.81');
      expect(await overflow(page)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `${SCREENSHOT_DIR}/disputes-overview-${width}.png`, fullPage: true });

      await page.goto(`${base}/dashboard/#/p/${p.id}/customers/zoe`);
      await page.waitForSelector('[data-testid=customer-disputes]');
      const card = await page.textContent('[data-testid=customer-disputes]');
      expect(card).toContain('1 open, 0 lost');
      expect(card).toContain('needs_response');
      expect(card).toContain('15.00');
      if (width > 600) expect(card).toContain('45 held · 15 already spent');
      expect(await page.textContent('[data-testid=customer-balance]')).toContain('45 held');
      expect(await overflow(page)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `${SCREENSHOT_DIR}/disputes-customer-${width}.png`, fullPage: true });

      // A customer without disputes has no disputes card.
      await page.goto(`${base}/dashboard/#/p/${p.id}/customers/yan`);
      await page.waitForSelector('[data-testid=customer-balance]');
      expect(await page.locator('[data-testid=customer-disputes]').count()).toBe(0);
      await page.close();
    }
  });
});

