import type { Browser, Page } from 'playwright-core';
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

async function signIn(page: Page, email: string) {
  await page.goto(`${base}/dashboard/`);
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('.topbar');
}

describeBrowser('dashboard Test / Live switch', () => {
  it('shows a test banner in test mode and switches the project id its API calls use, at 1280 and 390 px', async () => {
    const email = `modes-${Date.now()}@example.com`;
    await createOperator(h.tg.ctx, { email, password: PASSWORD });
    const test = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });
    const liveKey = (await test.call('POST', '/v1/keys', { mode: 'live' })).body.key as string;
    expect((await test.call('POST', '/v1/customers', { id: 'tess-test', email: 'tess@test.example' })).status).toBe(201);
    const live = await h.inject({
      method: 'POST',
      url: '/v1/customers',
      headers: { authorization: `Bearer ${liveKey}` },
      payload: { id: 'liv-live', email: 'liv@live.example' },
    });
    expect(live.status).toBe(201);

    for (const [width, height, name] of [
      [1280, 900, 'desktop'],
      [390, 844, 'phone'],
    ] as const) {
      const page = await browser.newPage({ viewport: { width, height }, isMobile: width < 500 });
      const calls: string[] = [];
      page.on('request', (r) => {
        if (r.url().includes('/dashboard/api/p/')) calls.push(new URL(r.url()).pathname);
      });
      await signIn(page, email);
      await page.goto(`${base}/dashboard/#/p/${test.id}/customers`);
      await page.waitForSelector('[data-testid=customers-table] tbody tr');
      expect(await page.textContent('[data-testid=customers-table]')).toContain('tess-test');
      expect(await page.textContent('[data-testid=customers-table]')).not.toContain('liv-live');
      expect(await page.isVisible('[data-testid=test-banner]')).toBe(true);
      expect(await page.textContent('[data-testid=test-banner]')).toContain('Test mode');
      expect(await page.getAttribute('[data-testid=mode-switch]:visible .mode-test', 'aria-pressed')).toBe('true');
      expect(calls.some((c) => c.startsWith(`/dashboard/api/p/${test.id}/v1/customers`))).toBe(true);
      expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `${SCREENSHOT_DIR}/modes-test-${name}.png`, fullPage: true });

      calls.length = 0;
      await page.click('[data-testid=mode-switch]:visible .mode-live');
      await page.waitForFunction(() => location.hash.includes('_live/customers'));
      await page.waitForSelector('[data-testid=customers-table] tbody tr');
      expect(await page.textContent('[data-testid=customers-table]')).toContain('liv-live');
      expect(await page.textContent('[data-testid=customers-table]')).not.toContain('tess-test');
      expect(await page.isVisible('[data-testid=test-banner]')).toBe(false);
      expect(await page.getAttribute('[data-testid=mode-switch]:visible .mode-live', 'aria-pressed')).toBe('true');
      expect(calls.some((c) => c.startsWith(`/dashboard/api/p/${test.id}_live/v1/customers`))).toBe(true);
      expect(calls.some((c) => c.startsWith(`/dashboard/api/p/${test.id}/`))).toBe(false);
      // The project picker still names the project, not its twin.
      expect(await page.inputValue('[data-testid=project-select]')).toBe(test.id);
      expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: `${SCREENSHOT_DIR}/modes-live-${name}.png`, fullPage: true });
      await page.close();
    }
  });
});
