import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { buildDashboard } from '../web/dashboard/build.mjs';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

// The customer page's actions in Chromium: each goes through the public API, and the page shows the result.
let h: Harness;
let base: string;
let browser: Browser;
const PASSWORD = 'correct horse battery';
const EMAIL = 'support@example.com';

const CATALOG: CatalogInput = {
  currency: 'eur',
  features: [{ id: 'watches', name: 'Watched sites', type: 'allocated' }],
  plans: [
    { id: 'basic', name: 'Basic', price: { amount: 1000, currency: 'eur' }, features: { watches: { limit: 10 } } },
    { id: 'pro', name: 'Pro', price: { amount: 3000, currency: 'eur' }, features: { watches: { limit: 100 } } },
    { id: 'trial', name: 'Trial plan', price: { amount: 2000, currency: 'eur' }, trial_days: 14, features: { watches: { limit: 5 } } },
  ],
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

async function paid(p: TestProject, customer: string, plan: string, card = '4242424242424242') {
  await p.call('POST', '/v1/customers', { id: customer });
  const s = await p.call('POST', '/v1/checkout', { customer_id: customer, plan, success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' });
  expect(s.status, s.raw).toBe(201);
  const r = await p.call('POST', `/v1/test_helpers/checkout/${s.body.session_id}/pay`, { card });
  expect(r.body.status).toBe('complete');
}
const sub = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/subscription`)).body;
const noOverflow = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

// One project and one page for the actions below (in order); bob's subscription changes from test to test.
let p: TestProject;
let page: Page;

describeBrowser('customer actions in the dashboard', () => {
  beforeAll(async () => {
    p = await h.project({ catalog: CATALOG, name: 'Watchtower' });
    await p.call('POST', '/v1/customers', { id: 'carol' });
    expect((await p.call('POST', '/v1/customers/carol/subscription', { plan: 'trial' })).status).toBe(201);
    await paid(p, 'bob', 'basic');
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('dialog', (d) => void d.accept());
    await signIn(page);
  });
  afterAll(async () => page?.close());

  it('extends a trial: its end in words, then seven more days', async () => {
    await page.goto(`${base}/dashboard/#/p/${p.id}/customers/carol`);
    await page.waitForSelector('[data-testid=renewal]');
    expect(await page.textContent('[data-testid=renewal]')).toContain('14 days left');
    const before = (await sub(p, 'carol')).trial_end;
    await page.fill('#days', '7');
    await page.fill('[name=trial-reason]', 'Sales call next week');
    await page.click('[data-testid=extend-trial] button[type=submit]');
    await page.waitForSelector('text=Trial extended by 7 days.');
    await page.waitForSelector('[data-testid=renewal] >> text=21 days left');
    expect(new Date((await sub(p, 'carol')).trial_end).getTime() - new Date(before).getTime()).toBe(7 * 86_400_000);
  });

  it("changes plan after showing the upgrade's proration preview (the API's figures)", async () => {
    await page.goto(`${base}/dashboard/#/p/${p.id}/customers/bob`);
    await page.waitForSelector('[data-testid=renewal]');
    expect(await page.textContent('[data-testid=subscription]')).toContain('Renews');
    expect(await page.textContent('[data-testid=entitlements]')).toContain('Watched sites');
    await page.selectOption('#plan', 'pro');
    await page.click('[data-testid=change-plan] >> text=Preview');
    await page.waitForSelector('[data-testid=change-preview]');
    const preview = (await p.call('GET', '/v1/customers/bob/subscription/preview?plan=pro')).body;
    expect(preview.change).toBe('upgrade');
    expect(preview.amount_due_today.amount).toBe(2000);
    expect(await page.textContent('[data-testid=amount-due]')).toContain('20.00');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-customer-change-plan.png`, fullPage: true });
    await page.click('text=Confirm the change');
    await page.waitForSelector('text=Plan changed to pro.');
    expect(await sub(p, 'bob')).toMatchObject({ plan: 'pro', status: 'active' });
    await page.waitForSelector('[data-testid=entitlements] >> text=100');
  });

  it('cancels at the period end, then resumes', async () => {
    await page.click('text=Cancel at period end');
    await page.waitForSelector('text=The subscription ends at the period end.');
    expect((await sub(p, 'bob')).cancel_at_period_end).toBe(true);
    await page.waitForSelector('[data-testid=subscription] >> text=Ends');
    await page.click('[data-testid=subscription-actions] >> text=Resume');
    await page.waitForSelector('text=The subscription is resumed.');
    expect((await sub(p, 'bob')).cancel_at_period_end).toBe(false);
  });

  it('refunds 4.00 € of a 10.00 € payment with a reason', async () => {
    const first = (await p.call('GET', '/v1/payments?customer_id=bob')).body.data.find((x: { amount: number }) => x.amount === 1000);
    const row = page.locator('[data-testid=payments] tr', { hasText: '€10.00' });
    await row.locator('text=Other amount…').click();
    await row.locator('[name=refund-amount]').fill('4');
    await row.locator('[name=refund-reason]').fill('Outage on the 3rd');
    await row.locator('text=Refund this amount').click();
    await page.waitForSelector(`text=Refunded €4.00 of ${first.id}.`);
    const refunded = (await p.call('GET', `/v1/payments/${first.id}`)).body;
    expect(refunded).toMatchObject({ amount_refunded: 400, status: 'partially_refunded' });
    await page.waitForSelector('[data-testid=payments] >> text=€4.00 refunded');
  });

  it("edits the customer's e-mail and metadata; refuses metadata that is not an object", async () => {
    await page.fill('#customer-email', 'bob@example.com');
    await page.fill('#customer-metadata', '{"source": "sales", "region": "eu"}');
    await page.click('[data-testid=profile-form] button[type=submit]');
    await page.waitForSelector('[data-testid=profile-card] >> text=Customer saved.');
    expect((await p.call('GET', '/v1/customers/bob')).body).toMatchObject({ email: 'bob@example.com', metadata: { source: 'sales', region: 'eu' } });
    // Removing a key in the editor removes it (PATCH with the key set to null), the others stay.
    await page.waitForFunction(() => (document.querySelector('#customer-metadata') as HTMLTextAreaElement | null)?.value.includes('region'));
    await page.fill('#customer-metadata', '{"source": "sales"}');
    const saved = page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().endsWith('/v1/customers/bob'));
    await page.click('[data-testid=profile-form] button[type=submit]');
    expect((await saved).status()).toBe(200);
    expect((await p.call('GET', '/v1/customers/bob')).body.metadata).toEqual({ source: 'sales' });
    await page.fill('#customer-metadata', '[1, 2]');
    await page.click('[data-testid=profile-form] button[type=submit]');
    await page.waitForSelector('text=Metadata must be a JSON object');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-customer-actions.png`, fullPage: true });
  });

  it('cancels now', async () => {
    await page.click('[data-testid=subscription-actions] >> text=Cancel now');
    await page.waitForSelector('text=The subscription is canceled.');
    expect((await sub(p, 'bob')).status).toBe('canceled');
  });

  it('shows the actions on a phone without sideways scroll', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await signIn(phone);
    await phone.goto(`${base}/dashboard/#/p/${p.id}/customers/carol`);
    await phone.waitForSelector('[data-testid=extend-trial]');
    expect(await noOverflow(phone)).toBeLessThanOrEqual(0);
    await phone.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-customer-actions-phone.png`, fullPage: true });
    await phone.close();
  });

  it('says a past-due subscription is past due, names API keys in the audit log, hides what a project does not use', async () => {
    const p = await h.project({ catalog: CATALOG });
    await paid(p, 'dave', 'basic', '4000000000000341');
    await p.call('POST', '/v1/test_helpers/clock/advance', { to: (await sub(p, 'dave')).current_period_end });
    expect((await sub(p, 'dave')).status).toBe('past_due');
    const key = await p.call('POST', '/v1/keys', { kind: 'secret', name: 'Backend server' });
    expect(key.status, key.raw).toBe(201);
    const grant = await h.inject({ method: 'POST', url: '/v1/customers/dave/credits/grant', headers: { authorization: `Bearer ${key.body.key}` }, payload: { amount: 5, reason: 'welcome back' } });
    expect(grant.status, grant.raw).toBe(200);

    const credits = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'Credits only' });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page);
    await page.goto(`${base}/dashboard/#/p/${p.id}/customers/dave`);
    await page.waitForSelector('[data-testid=renewal]');
    expect(await page.textContent('[data-testid=renewal]')).toBe('Past due — retrying payment');
    expect(await page.textContent('[data-testid=subscription]')).not.toContain('Renews');
    // No products in this catalog: no orders card.
    await page.waitForSelector('[data-testid=payments]');
    expect(await page.locator('[data-testid=orders]').count()).toBe(0);
    expect(await page.locator('.card h2', { hasText: 'Vault' }).count()).toBe(0);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-customer-past-due.png`, fullPage: true });

    await page.goto(`${base}/dashboard/#/p/${p.id}/audit`);
    const row = page.locator('[data-testid=audit-table] tr', { hasText: 'welcome back' });
    await row.waitFor();
    const actor = await row.locator('[data-testid=audit-actor]').textContent();
    expect(actor).toBe(`Backend server (${key.body.key.slice(0, 12)}…${key.body.key.slice(-4)})`);
    expect(actor).not.toContain(key.body.id);

    // A credits-only project with no payments: no subscription cards, an empty chart says so.
    await page.goto(`${base}/dashboard/#/p/${credits.id}`);
    await page.waitForSelector('[data-testid=revenue-empty]');
    await page.waitForSelector('[data-testid=stat-credits]');
    expect(await page.locator('[data-testid=stat-mrr]').count()).toBe(0);
    expect(await page.locator('[data-testid=stat-churn]').count()).toBe(0);
    expect(await page.locator('[data-testid=revenue-chart]').count()).toBe(0);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-overview-empty.png`, fullPage: true });
    // The subscriptions project shows them.
    await page.goto(`${base}/dashboard/#/p/${p.id}`);
    await page.waitForSelector('[data-testid=stat-mrr]');
    expect(await page.textContent('[data-testid=stat-active]')).toContain('1 past due');
    await page.close();
  });
});
