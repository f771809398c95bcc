import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { buildDashboard } from '../web/dashboard/build.mjs';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness } from './support/harness.ts';

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

describeBrowser('team balances and auto top-up on the dashboard customer page', () => {
  it('shows the members with their spending and limits, the ledger says who spent, and the auto top-up setting', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await p.call('POST', '/v1/customers', { id: 'org_acme', name: 'Acme Inc.' });
    await p.call('POST', '/v1/customers/org_acme/credits/grant', { amount: 90, reason: 'Team budget' });
    await p.call('PUT', '/v1/customers/org_acme/members/alice', { limit: { amount: 30, period: 'month' } });
    await p.call('PUT', '/v1/customers/org_acme/members/bob', {});
    expect((await p.call('POST', '/v1/customers/org_acme/credits/deduct', { amount: 12, member_id: 'alice', reason: 'Dubbing' })).status).toBe(200);
    expect((await p.call('PUT', '/v1/customers/org_acme/credits/auto-top-up', { enabled: true, threshold: 20, pack: 'pro', monthly_cap: 3000 })).status).toBe(200);
    const email = `op-team-${Date.now()}@example.com`;
    await createOperator(h.tg.ctx, { email, password: PASSWORD });
    const page = await browser.newPage({ viewport: { width: 390, height: 900 } });
    await page.goto(`${base}/dashboard/`);
    await page.fill('#email', email);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('.topbar');
    await page.goto(`${base}/dashboard/#/p/${p.id}/customers/org_acme`);
    await page.locator('[data-testid=member-row]').first().waitFor();
    const rows = await page.locator('[data-testid=member-row]').allTextContents();
    expect(rows).toEqual(['alice1230 / month', 'bob0none']);
    expect(await page.textContent('[data-testid=ledger]')).toContain('Dubbing · by alice');
    const auto = await page.textContent('[data-testid=auto-top-up]');
    expect(auto).toContain('enabled');
    expect(auto).toContain('pack pro when fewer than 20 credits are available');
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-team.png`, fullPage: true });
    await page.close();
  });
});

it.skipIf(HAS_BROWSER)('needs Chromium for the dashboard customer page', () => {
  expect(HAS_BROWSER).toBe(false);
});
