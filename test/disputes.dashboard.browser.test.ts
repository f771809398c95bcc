import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { collectDueFees } from '../src/modules/payments/fees.service.ts';
import { buildDashboard } from '../web/dashboard/build.mjs';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';

let h: Harness;
let base: string;
let browser: Browser;
let stripe: LocalStripe;
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  await buildDashboard();
  stripe = await new LocalStripe().start();
  h = await createHarness({ config: { stripeApiBase: stripe.url } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
  base = await h.listen();
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
  await stripe?.close();
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

/** A Stripe project whose customer `una` bought the pro pack and disputed it; Stripe states its dispute fee. */
async function stripeDispute(): Promise<TestProject> {
  const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice Stripe' });
  const sk = `sk_test_${p.id.replace(/-/g, '_')}_${randomToken(8)}`;
  const whsec = `whsec_${randomToken(32)}`;
  expect((await p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec], default: true })).status).toBe(200);
  const deliver = async (event: object) => {
    const body = JSON.stringify(event);
    const headers = { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, whsec, Math.floor(h.clock.now().getTime() / 1000)) };
    expect((await h.inject({ method: 'POST', url: `/v1/webhooks/stripe/${p.id}`, headers, payload: body })).status).toBe(200);
  };
  const co = await p.call('POST', '/v1/checkout', { customer_id: 'una', credit_pack: 'pro', success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' });
  expect(co.status).toBe(201);
  const cs = stripe.list(sk, 'checkout.session').find((s) => s.client_reference_id === co.body.session_id)!;
  for (const ev of stripe.completeCheckout(sk, cs.id)) await deliver(ev);
  const pay = (await p.call('GET', '/v1/payments?customer_id=una')).body.data[0];
  for (const ev of stripe.openDispute(sk, pay.provider_ref).events) await deliver(ev);
  return p;
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
    const sp = await stripeDispute();
    const fee = (await sp.call('GET', '/v1/disputes')).body.data[0].fee;
    expect(fee).toEqual({ amount: LocalStripe.DISPUTE_FEE, currency: 'eur' });

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
      // A sandbox dispute states no fee.
      expect((await page.textContent('[data-testid=dispute-fee]'))?.trim()).toBe('—');
      if (width > 600) expect(card).toContain('45 held · 15 already spent');
      expect(await page.textContent('[data-testid=customer-balance]')).toContain('45 held');
      expect(await overflow(page)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `${SCREENSHOT_DIR}/disputes-customer-${width}.png`, fullPage: true });

      // A customer without disputes has no disputes card.
      await page.goto(`${base}/dashboard/#/p/${p.id}/customers/yan`);
      await page.waitForSelector('[data-testid=customer-balance]');
      expect(await page.locator('[data-testid=customer-disputes]').count()).toBe(0);

      // Stripe's dispute fee is shown next to the disputed amount.
      await page.goto(`${base}/dashboard/#/p/${sp.id}/customers/una`);
      await page.waitForSelector('[data-testid=customer-disputes]');
      const shown = await page.textContent('[data-testid=dispute-fee]');
      expect(shown).toContain((LocalStripe.DISPUTE_FEE / 100).toFixed(2));
      expect(shown).toContain('€');
      expect(await overflow(page)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `${SCREENSHOT_DIR}/disputes-fee-${width}.png`, fullPage: true });
      await page.close();
    }
  });
});

