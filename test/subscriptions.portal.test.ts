import type { Browser } from 'playwright-core';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness } from './support/harness.ts';

let h: Harness;
let browser: Browser;
beforeAll(async () => {
  h = await createHarness();
  await h.listen();
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const catalog: CatalogInput = {
  name: 'ArkWatch',
  theme: { name: 'ArkWatch', primary_color: '#0f766e' },
  features: [{ id: 'watches', type: 'allocated' }],
  plans: [
    { id: 'starter', name: 'Starter', price: { amount: 900, currency: 'eur' }, features: { watches: { limit: 10 } } },
    { id: 'pro', name: 'Pro', price: { amount: 2900, currency: 'eur' }, features: { watches: { limit: 100 } } },
    { id: 'business', name: 'Business', price: { amount: 9900, currency: 'eur' }, features: { watches: { limit: 1000 } } },
  ],
};

describeBrowser('billing portal in Chromium', () => {
  it('a past_due customer replaces the card, then changes plan, cancels and resumes', async () => {
    const p = await h.project({ catalog });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'zoe', plan: 'pro', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
    await p.call('POST', `/v1/test_helpers/checkout/${cs.body.session_id}/pay`, { card: '4000 0000 0000 0341' });
    await p.call('POST', '/v1/test_helpers/clock/advance', { seconds: 32 * 86_400 });
    expect((await p.call('GET', '/v1/customers/zoe/subscription')).body.status).toBe('past_due');

    const portal = await p.call('POST', '/v1/portal', { customer_id: 'zoe', return_url: 'https://a.example/account' });
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(portal.body.url);
    expect(await page.textContent('[data-testid=status]')).toBe('past due');
    expect(await page.isVisible('[data-testid=past-due]')).toBe(true);
    expect(await page.textContent('[data-testid=card]')).toContain('0341');
    expect(await page.textContent('[data-testid=payments]')).toContain('failed');

    await page.fill('#card-number', '4000 0000 0000 0002');
    await page.click('#save-card');
    expect(await page.textContent('[data-testid=error]')).toContain('declined');

    await page.fill('#card-number', '4242 4242 4242 4242');
    await page.click('#save-card');
    await page.waitForSelector('[data-testid=notice]');
    expect(await page.textContent('[data-testid=notice]')).toContain('active again');
    expect(await page.textContent('[data-testid=status]')).toBe('active');
    expect(await page.textContent('[data-testid=card]')).toContain('4242');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/portal-recovered.png`, fullPage: true });

    await page.selectOption('#plan', 'business');
    await page.click('#change');
    await page.waitForSelector('[data-testid=notice]');
    expect(await page.textContent('h1')).toContain('Business');
    const afterUpgrade = (await p.call('GET', '/v1/customers/zoe/subscription')).body;
    expect(afterUpgrade).toMatchObject({ plan: 'business', status: 'active' });

    await page.click('#cancel');
    await page.waitForSelector('#resume');
    expect((await p.call('GET', '/v1/customers/zoe/subscription')).body.cancel_at_period_end).toBe(true);
    await page.click('#resume');
    await page.waitForSelector('#cancel');
    expect((await p.call('GET', '/v1/customers/zoe/subscription')).body.cancel_at_period_end).toBe(false);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/portal.png`, fullPage: true });
    expect(await page.getAttribute('#return', 'href')).toBe('https://a.example/account');
    await page.close();
  });

  it('an unknown portal link is a 404 page', async () => {
    const page = await browser.newPage();
    const res = await page.goto(`${h.tg.ctx.config.publicUrl}/portal/ps_nope`);
    expect(res?.status()).toBe(404);
    await page.close();
  });
});
