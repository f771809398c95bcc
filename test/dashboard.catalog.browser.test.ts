import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { buildDashboard } from '../web/dashboard/build.mjs';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

// The catalog editor in Chromium: every change is a diff and a pricing preview first, then a pushed version.
let h: Harness;
let base: string;
let browser: Browser;
const PASSWORD = 'correct horse battery';
const EMAIL = 'catalog@example.com';

const CATALOG: CatalogInput = {
  currency: 'eur',
  features: [{ id: 'projects', name: 'Projects', type: 'allocated' }],
  plans: [
    { id: 'starter', name: 'Starter', price: { amount: 900, currency: 'eur' }, trial_days: 14, features: { projects: { limit: 3 } } },
    { id: 'pro', name: 'Pro', price: { amount: 2900, currency: 'eur' }, popular: true, features: { projects: { limit: 30 } } },
  ],
  credit_packs: [{ id: 'small', name: 'Small pack', credits: 100, price: { amount: 500, currency: 'eur' } }],
};

beforeAll(async () => {
  await buildDashboard();
  h = await createHarness();
  base = await h.listen();
  await createOperator(h.tg.ctx, { email: EMAIL, password: PASSWORD });
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

async function signIn(page: Page) {
  await page.goto(`${base}/dashboard/`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('.topbar');
}
const catalog = async (p: TestProject) => (await p.call('GET', '/v1/catalog')).body;
const diffLines = (page: Page) => page.locator('[data-testid=catalog-diff] > div').allTextContents();

async function pushReviewed(page: Page, version: number) {
  await page.click(`[data-testid=catalog-review] >> text=Push version ${version}`);
  await page.waitForSelector(`text=Pushed catalog version ${version}.`);
}

// One project and one page, changed step by step by the tests below (in order).
let p: TestProject;
let page: Page;
let v0: number;

describeBrowser('the catalog editor', () => {
  beforeAll(async () => {
    p = await h.project({ catalog: CATALOG, name: 'Studio' });
    await p.call('POST', '/v1/customers', { id: 'sam' });
    expect((await p.call('POST', '/v1/customers/sam/subscription', { plan: 'starter' })).status).toBe(201);
    v0 = (await catalog(p)).version;
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('dialog', (d) => void d.accept());
    await signIn(page);
    await page.goto(`${base}/dashboard/#/p/${p.id}/catalog`);
    await page.waitForSelector('[data-testid=catalog-plans] >> text=Starter');
  });
  afterAll(async () => page?.close());

  it('adds a plan: its diff and the pricing page it gives, nothing stored before the push', async () => {
    await page.click('text=Add plan');
    await page.fill('#item-id', 'team');
    await page.fill('#item-name', 'Team');
    await page.fill('#item-price', '49.50');
    await page.fill('#item-trial', '7');
    await page.click('text=Review the change');
    await page.waitForSelector('[data-testid=catalog-diff]');
    expect(await diffLines(page)).toEqual(['+ plan team']);
    const frame = page.frameLocator('[data-testid=pricing-preview]');
    await frame.locator('[data-testid=plan-team]').waitFor();
    expect(await frame.locator('[data-testid=plan-team]').textContent()).toContain('49.50');
    expect(await frame.locator('[data-testid=plan-pro]').textContent()).toContain('29.00');
    expect((await catalog(p)).version).toBe(v0);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-catalog-review.png`, fullPage: true });
    await pushReviewed(page, v0 + 1);
    const afterAdd = await catalog(p);
    expect(afterAdd.version).toBe(v0 + 1);
    expect(afterAdd.plans.find((x: { id: string }) => x.id === 'team')).toMatchObject({ name: 'Team', price: { amount: 4950, currency: 'eur' }, interval: 'month', trial_days: 7, active: true });
    await page.waitForSelector('[data-testid=row-team]');
  });

  it('archives a plan: no longer sold, its subscriber keeps it and its limits', async () => {
    await page.locator('[data-testid=row-starter]').locator('text=Archive').click();
    await page.waitForSelector('[data-testid=catalog-diff]');
    expect(await diffLines(page)).toEqual(['~ plan starter', '    active: true → false']);
    expect(await page.frameLocator('[data-testid=pricing-preview]').locator('[data-testid=plan-starter]').count()).toBe(0);
    await pushReviewed(page, v0 + 2);
    await page.waitForSelector('[data-testid=row-starter] >> text=archived');
    const plans = (await p.call('GET', '/v1/plans')).body.plans.map((x: { id: string }) => x.id);
    expect(plans).toEqual(['pro', 'team']);
    expect((await p.call('GET', '/v1/customers/sam/subscription')).body).toMatchObject({ plan: 'starter', status: 'trialing' });
    expect((await p.call('POST', '/v1/check', { customer_id: 'sam', feature: 'projects' })).body).toMatchObject({ allowed: true, limit: 3 });
  });

  it('adds a promotion code for one plan', async () => {
    await page.click('text=Add coupon');
    await page.fill('#item-id', 'launch');
    await page.fill('#item-code', 'LAUNCH20');
    await page.fill('#item-percent', '20');
    await page.selectOption('#item-duration', 'repeating');
    await page.fill('#item-months', '3');
    await page.locator('[data-testid=item-form] label', { hasText: 'Pro' }).locator('input').check();
    await page.click('text=Review the change');
    await page.waitForSelector('[data-testid=catalog-diff]');
    expect(await diffLines(page)).toEqual(['+ coupon launch']);
    await pushReviewed(page, v0 + 3);
    expect((await catalog(p)).coupons).toEqual([{ id: 'launch', code: 'LAUNCH20', percent_off: 20, duration: 'repeating', duration_in_months: 3, plans: ['pro'], active: true }]);
  });

  it('uploads a file as tollgate push takes it ("//" keys are comments): a pack changes price, one is added, the coupon goes', async () => {
    const doc = await catalog(p);
    const { version: _v, ...file } = doc;
    file['//'] = 'edited by hand';
    file.credit_packs = [
      { ...doc.credit_packs[0], price: { amount: 600, currency: 'eur' } },
      { id: 'large', name: 'Large pack', credits: 1000, price: { amount: 4000, currency: 'eur' }, '//': 'new this month' },
    ];
    file.coupons = [];
    await page.click('text=Upload a catalog file');
    await page.setInputFiles('#catalog-file', { name: 'catalog.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(file, null, 2)) });
    await page.click('text=Show the changes');
    await page.waitForSelector('[data-testid=catalog-diff]');
    expect(await diffLines(page)).toEqual(['~ credit pack small', '    price: 500 EUR → 600 EUR', '+ credit pack large', '- coupon launch']);
    await pushReviewed(page, v0 + 4);
    const uploaded = await catalog(p);
    expect(uploaded.credit_packs.map((x: { id: string; price: { amount: number } }) => [x.id, x.price.amount])).toEqual([
      ['small', 600],
      ['large', 4000],
    ]);
    expect(uploaded.coupons).toEqual([]);
  });

  it('refuses a file the catalog refuses, or that is not JSON, with its message; nothing to push, nothing stored', async () => {
    const { version: _v, ...file } = await catalog(p);
    await page.click('text=Upload a catalog file');
    await page.setInputFiles('#catalog-file', { name: 'bad.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ ...file, plans: [{ id: 'x', name: 'X', price: { amount: -5, currency: 'eur' } }] })) });
    await page.click('text=Show the changes');
    await page.waitForSelector('[data-testid=catalog-review] [role=alert]');
    expect(await page.textContent('[data-testid=catalog-review] [role=alert]')).toContain('plans.0.price.amount');
    expect(await page.locator('[data-testid=catalog-review] >> text=Push version').count()).toBe(0);
    await page.click('[data-testid=catalog-review] >> text=Discard');
    await page.click('text=Upload a catalog file');
    await page.setInputFiles('#catalog-file', { name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"plans": [') });
    await page.click('text=Show the changes');
    await page.waitForSelector('text=broken.json is not valid JSON');
    expect((await catalog(p)).version).toBe(v0 + 4);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-catalog.png`, fullPage: true });
  });

  it('does not push over a version pushed since the review', async () => {
    await page.locator('[data-testid=row-small]').locator('text=Archive').click();
    await page.waitForSelector('[data-testid=catalog-diff]');
    const { version, ...doc } = await catalog(p);
    const cli = await p.call('PUT', '/v1/catalog', { ...doc, signup_credits: 25 });
    expect(cli.body.version).toBe(version + 1);
    // The server refuses it (expected_version, checked under the project's lock), not a read before the push.
    const put = page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/v1/catalog'));
    await page.click(`[data-testid=catalog-review] >> text=Push version ${version + 1}`);
    expect((await put).status()).toBe(409);
    await page.waitForSelector(`text=The catalog changed since this review (now version ${version + 1}).`);
    const after = await catalog(p);
    expect(after.version).toBe(version + 1);
    expect(after.signup_credits).toBe(25);
    expect(after.credit_packs.find((x: { id: string }) => x.id === 'small').active).toBe(true);
    await page.click('[data-testid=catalog-review] >> text=Discard');
  });

  it('reviews a change on a phone without sideways scroll', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await signIn(phone);
    await phone.goto(`${base}/dashboard/#/p/${p.id}/catalog`);
    await phone.waitForSelector('[data-testid=row-pro]');
    await phone.locator('[data-testid=row-pro]').locator('text=Archive').click();
    await phone.waitForSelector('[data-testid=catalog-diff]');
    await phone.frameLocator('[data-testid=pricing-preview]').locator('[data-testid=plan-team]').waitFor();
    expect(await phone.frameLocator('[data-testid=pricing-preview]').locator('[data-testid=plan-pro]').count()).toBe(0);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await phone.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-catalog-phone.png`, fullPage: true });
    await phone.close();
  });
});
