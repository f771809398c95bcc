import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness } from './support/harness.ts';

/** Issue 15: the customer sees their API keys in the billing portal and rolls one; the new key is shown once. */
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
  name: 'KeyShop',
  features: [{ id: 'calls', type: 'metered' }],
  plans: [{ id: 'pro', name: 'Pro', price: { amount: 1900, currency: 'eur' }, trial_days: 14, features: { calls: { limit: 100 } }, issues_api_key: true }],
} as CatalogInput;

describeBrowser('API keys in the billing portal (Chromium)', () => {
  it('lists the keys without secrets and rolls one: the new key is shown once and verifies, the old one stops', async () => {
    const p = await h.project({ catalog });
    expect((await p.call('POST', '/v1/customers/kim/subscription', { plan: 'pro' })).status).toBeLessThan(300);
    const manual = await p.call('POST', '/v1/customers/kim/api-keys', { name: 'Laptop' });
    expect(manual.status).toBe(201);
    const portal = await p.call('POST', '/v1/portal', { customer_id: 'kim', return_url: 'https://a.example/account' });
    expect(portal.status, portal.raw).toBeLessThan(300);

    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(portal.body.url);
    const rows = page.locator('[data-testid=api-key]');
    expect(await rows.count()).toBe(2); // the plan's automatic key and the manual one
    const html = await page.content();
    expect(html).not.toContain(manual.body.key);
    expect(html).toContain(manual.body.preview);

    await page.locator(`[data-key-id="${manual.body.id}"] [data-testid=roll]`).click();
    await page.waitForSelector('[data-testid=new-key]');
    const shown = (await page.textContent('[data-testid=new-key]'))?.trim() ?? '';
    expect(shown).toMatch(/^[a-z0-9]+_[0-9A-Za-z]{43}$/);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/portal-api-keys.png`, fullPage: true });

    expect((await p.call('POST', '/v1/api-keys/verify', { key: shown })).body).toMatchObject({ valid: true, customer_id: 'kim' });
    expect((await p.call('POST', '/v1/api-keys/verify', { key: manual.body.key })).body).toMatchObject({ valid: false, code: 'expired' });

    // Reloading the page does not show the key again.
    await page.goto(portal.body.url);
    expect(await page.locator('[data-testid=new-key]').count()).toBe(0);
    expect(await page.content()).not.toContain(shown);
    await page.close();

    // A portal cannot roll another customer's key.
    await p.call('POST', '/v1/customers', { id: 'other' });
    expect((await p.call('POST', '/v1/customers/other/api-keys', {})).status).toBe(201);
    const other = (await p.call('GET', '/v1/customers/other/api-keys')).body.data[0];
    const token = new URL(portal.body.url).pathname.split('/')[2];
    const res = await h.inject({ method: 'POST', url: `/portal/${token}/api-keys/${other.id}/roll` });
    expect(res.status).toBe(404);
    expect((await p.call('GET', '/v1/customers/other/api-keys')).body.data).toHaveLength(1);
  });
});
