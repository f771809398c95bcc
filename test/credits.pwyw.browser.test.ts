import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let browser: Browser;
beforeAll(async () => {
  h = await createHarness();
  await h.listen();
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const auris = DEMO_CATALOGS.aurisvoice!.catalog;
const flex = {
  id: 'flex',
  name: 'Flex',
  credits: 100,
  price: { amount: 1000, currency: 'eur' },
  pay_what_you_want: { min: 500, max: 5000, credits_per_unit: 10 },
};
// biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a reader sees
const text = async (page: Page, sel: string) => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();

async function project(locale?: string): Promise<TestProject> {
  return h.project({ catalog: { ...auris, signup_credits: 10, ...(locale ? { locale } : {}), credit_packs: [...(auris.credit_packs ?? []), flex] } as never });
}

async function creditsUrl(p: TestProject, customer: string): Promise<string> {
  const r = await p.call('POST', '/v1/customer_sessions', { customer_id: customer });
  expect(r.status).toBe(201);
  return r.body.urls.credits as string;
}

async function sessions(p: TestProject): Promise<number> {
  const r = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM checkout_sessions WHERE project_id = $1', [p.id]);
  return Number(r.rows[0]?.n);
}

describe('hosted credits page: a pay-what-you-want pack', () => {
  it('typing 12.50 shows 125 credits; buying charges €12.50 on the checkout page and adds 125 credits', async () => {
    const p = await project();
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(await creditsUrl(p, 'maya'));
    expect(await page.textContent('[data-testid=balance]')).toBe('10');
    const input = page.locator('#amount-flex');
    expect(await input.getAttribute('min')).toBe('5.00');
    expect(await input.getAttribute('max')).toBe('50.00');
    expect(await input.getAttribute('step')).toBe('0.01');
    expect(await input.inputValue()).toBe('10.00');
    expect(await text(page, '[data-testid=pwyw-credits-flex]')).toBe('100 credits');
    expect(await text(page, '[data-testid=pack-flex]')).toContain('Your amount (EUR)');
    expect(await text(page, '[data-testid=pack-flex]')).toContain('From €5.00 to €50.00');
    await input.fill('12.50');
    expect(await text(page, '[data-testid=pwyw-credits-flex]')).toBe('125 credits');
    expect(await page.isHidden('[data-testid=pwyw-error-flex]')).toBe(true);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/credits-pwyw.png`, fullPage: true });

    await Promise.all([page.waitForURL(/\/checkout\/cs_/), page.click('#buy-flex')]);
    expect(await text(page, '[data-testid=amount]')).toContain('€12.50');
    expect(await text(page, 'body')).toContain('Flex — 125 credits');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/credits-pwyw-checkout.png`, fullPage: true });
    await page.fill('#card', '4242 4242 4242 4242');
    await Promise.all([page.waitForURL(/\/p\/.*\/credits\?.*checkout=cs_/), page.click('#pay')]);
    await page.waitForSelector('[data-testid=paid]');
    expect(await page.textContent('[data-testid=balance]')).toBe('135');
    expect((await p.call('GET', '/v1/customers/maya/credits')).body.balance).toBe(135);
    const payment = (await p.call('GET', '/v1/payments?customer_id=maya&limit=1')).body.data[0];
    expect(payment.amount).toBe(1250);
    await page.close();
  });

  it('an amount out of range or finer than a cent shows an error and sends nothing', async () => {
    const p = await project();
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(await creditsUrl(p, 'lea'));
    for (const bad of ['4.99', '50.01', '7.505', '']) {
      await page.fill('#amount-flex', bad);
      expect(await page.isVisible('[data-testid=pwyw-error-flex]'), bad).toBe(true);
      expect(await text(page, '[data-testid=pwyw-error-flex]')).toBe('Enter an amount from €5.00 to €50.00.');
      await page.click('#buy-flex');
      expect(page.url()).toContain('/credits?');
    }
    expect(await sessions(p)).toBe(0);
    await page.fill('#amount-flex', '7.5');
    expect(await page.isHidden('[data-testid=pwyw-error-flex]')).toBe(true);
    expect(await text(page, '[data-testid=pwyw-credits-flex]')).toBe('75 credits');
    await page.close();
  });

  it('in French, and at phone width 390 px nothing scrolls sideways', async () => {
    const p = await project('fr');
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(await creditsUrl(p, 'zoe'));
    expect(await text(page, '[data-testid=pack-flex]')).toContain('Votre montant (EUR)');
    await page.fill('#amount-flex', '20');
    expect(await text(page, '[data-testid=pwyw-credits-flex]')).toBe('200 crédits');
    await page.fill('#amount-flex', '60');
    expect(await text(page, '[data-testid=pwyw-error-flex]')).toMatch(/^Saisissez un montant de 5,00\s€ à 50,00\s€\.$/);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, 'scrolls sideways at 390px').toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/credits-pwyw-390.png`, fullPage: true });
    await page.close();
  });
});
