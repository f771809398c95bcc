import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
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

const DAY = 86_400;
const urls = () => ({ success_url: `${base}/health?paid={CHECKOUT_SESSION_ID}`, cancel_url: `${base}/health?canceled=1` });
const payments = async (p: TestProject, c: string) =>
  (await p.call('GET', `/v1/payments?customer_id=${encodeURIComponent(c)}&limit=100`)).body.data as { amount: number }[];

/** The page's text with whitespace collapsed, as a reader sees it (rendered text: table cells are separated). */
// biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what a reader sees
const text = async (page: Page, sel = 'body') => (await page.innerText(sel)).replace(/\s+/g, ' ').trim();

/** Screenshots at desktop and phone width; the page must not scroll sideways on either. */
async function shoot(page: Page, name: string) {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.screenshot({ path: `${SCREENSHOT_DIR}/${name}-${width}.png`, fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${name} at ${width}px scrolls sideways`).toBeLessThanOrEqual(0);
  }
}

describe('issue 11 item 1: the hosted checkout page states what the session charges', () => {
  it('Ava pro × 3 with a trial: "Free for 14 days, then €147.00 per month (3 × €49.00)", €0.00 today, then 14700 charged at trial end', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.ava!.catalog, name: 'Ava' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'ava-1', plan: 'pro', quantity: 3, ...urls() });
    expect(cs.status).toBe(201);
    expect(cs.body).toMatchObject({
      amount_total: { amount: 0 },
      amount_due_today: { amount: 0 },
      subtotal: { amount: 14700 },
      trial: { days: 14 },
      recurring: { amount: { amount: 14700, currency: 'eur' }, interval: 'month' },
    });
    const page = await browser.newPage();
    await page.goto(cs.body.url);
    expect(await text(page, '[data-testid=headline]')).toBe('Free for 14 days, then €147.00 per month (3 × €49.00)');
    expect(await text(page, '[data-testid=due-today]')).toBe('€0.00');
    expect(await text(page, '#pay')).toBe('Start trial — €0.00 today');
    expect(await text(page, '[data-testid=lines]')).toContain('Pro × 3 €147.00');
    expect(await text(page, '[data-testid=recurring]')).toContain(`First charge €147.00 on ${cs.body.recurring.starts_at.slice(0, 10)}`);
    const body = await text(page);
    expect(body).not.toContain('Pay €0.00');
    expect(body).not.toContain('then €0.00');
    await shoot(page, 'checkout-ava-trial');

    await page.fill('#card', '4242 4242 4242 4242');
    await Promise.all([page.waitForURL(/\/health\?paid=/), page.click('#pay')]);
    await page.close();
    expect(await payments(p, 'ava-1')).toEqual([]);
    const sub = (await p.call('GET', '/v1/customers/ava-1/subscription')).body;
    expect(sub).toMatchObject({ status: 'trialing', quantity: 3, next_charge: { amount: 14700, at: cs.body.recurring.starts_at } });
    await p.call('POST', '/v1/test_helpers/clock/advance', { seconds: 15 * DAY });
    expect((await payments(p, 'ava-1')).map((x) => x.amount)).toEqual([14700]);
  });

  it('a subscription without a trial: the button pays the figure the session charges, with the interval and the coupon line', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog, name: 'ArkWatch' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'ark-1', plan: 'pro', trial_days: 0, promotion_code: 'EARLY2024', ...urls() });
    expect(cs.body).toMatchObject({ amount_total: { amount: 2320 }, discount: { amount: { amount: 580 } }, trial: null });
    const page = await browser.newPage();
    await page.goto(cs.body.url);
    expect(await text(page, '#pay')).toBe('Pay €23.20');
    expect(await text(page, '[data-testid=headline]')).toBe('€23.20 per month');
    expect(await text(page, '[data-testid=discount]')).toBe('EARLY2024 — 20 % off (3 months) −€5.80');
    await shoot(page, 'checkout-arkwatch-coupon');
    await page.fill('#card', '4242 4242 4242 4242');
    await Promise.all([page.waitForURL(/\/health\?paid=/), page.click('#pay')]);
    await page.close();
    expect((await payments(p, 'ark-1')).map((x) => x.amount)).toEqual([2320]);
  });

  it('an order checkout lists its line items and pays their total', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.webox!.catalog, name: 'Webox' });
    const added = await p.call('POST', '/v1/customers/shop-1/cart/items', { product_id: 'voice-clone-kit', quantity: 2 });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    await p.call('POST', '/v1/customers/shop-1/cart/items', { product_id: 'prompt-pack-marketing', quantity: 1 });
    const order = await p.call('POST', '/v1/customers/shop-1/orders', {});
    expect(order.status, JSON.stringify(order.body)).toBe(201);
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'shop-1', order_id: order.body.id, ...urls() });
    expect(cs.status).toBe(201);
    expect(cs.body.amount_total.amount).toBe(2 * 2900 + 1900);
    const page = await browser.newPage();
    await page.goto(cs.body.url);
    const lines = await text(page, '[data-testid=lines]');
    for (const l of cs.body.lines as { name: string }[]) expect(lines).toContain(l.name);
    expect(await text(page, '#pay')).toBe(`Pay ${await text(page, '[data-testid=due-today]')}`);
    expect(await text(page, '[data-testid=due-today]')).toBe('€77.00');
    await shoot(page, 'checkout-webox-order');
    await page.close();
  });
});
