import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

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

const auris = () => h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });

/** A customer who bought a Starter pack with `card` at the sandbox checkout (the card is saved). */
async function buyer(p: TestProject, id: string, card = '4242424242424242') {
  const cs = await p.call('POST', '/v1/checkout', { customer_id: id, credit_pack: 'starter', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
  expect((await p.call('POST', `/v1/test_helpers/checkout/${cs.body.session_id}/pay`, { card })).status).toBe(200);
}
async function creditsUrl(p: TestProject, customer: string): Promise<string> {
  const r = await p.call('POST', '/v1/customer_sessions', { customer_id: customer });
  expect(r.status).toBe(201);
  return r.body.urls.credits as string;
}
const setting = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/credits/auto-top-up`)).body;
const noSidewaysScroll = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

describeBrowser('auto top-up on the hosted credits page', () => {
  it('shows the setting, turns it on with threshold, pack and cap, then off again; 390 px wide without sideways scroll', async () => {
    const p = await auris();
    await buyer(p, 'ivy');
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(await creditsUrl(p, 'ivy'));
    expect(await page.textContent('[data-testid=auto-top-up] h2')).toContain('Auto top-up');
    expect(await page.textContent('[data-testid=atu-state]')).toBe('Off');
    expect(await page.isChecked('#atu-enabled')).toBe(false);
    await page.check('#atu-enabled');
    await page.fill('#atu-threshold', '20');
    await page.selectOption('#atu-pack', 'pro');
    await page.fill('#atu-cap', '30.00');
    await Promise.all([page.waitForURL(/auto_top_up=saved/), page.click('#atu-save')]);
    expect(await page.textContent('[data-testid=atu-saved]')).toContain('saved');
    expect(await page.textContent('[data-testid=atu-state]')).toBe('On');
    expect(await page.textContent('[data-testid=atu-threshold]')).toBe('20 credits');
    expect(await page.textContent('[data-testid=atu-pack]')).toBe('Pro');
    expect(await page.textContent('[data-testid=atu-cap]')).toBe('€30.00');
    expect(await page.textContent('[data-testid=atu-spent]')).toBe('€0.00');
    expect(await setting(p, 'ivy')).toMatchObject({ enabled: true, threshold: 20, pack: 'pro', monthly_cap: 3000 });
    expect(await noSidewaysScroll(page)).toBe(true);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/auto-top-up-credits-390.png`, fullPage: true });

    // A top-up happens: spent this month shows it.
    expect((await p.call('POST', '/v1/customers/ivy/credits/deduct', { amount: 10 })).status).toBe(200);
    await page.reload();
    expect(await page.textContent('[data-testid=atu-spent]')).toBe('€15.00');

    await page.uncheck('#atu-enabled');
    await Promise.all([page.waitForURL(/auto_top_up=saved/), page.click('#atu-save')]);
    expect(await page.textContent('[data-testid=atu-state]')).toBe('Off');
    expect(await setting(p, 'ivy')).toMatchObject({ enabled: false, threshold: 20, pack: 'pro', monthly_cap: 3000 });
    await page.close();
  });

  it('a cap below one pack is shown as an error on the page (400) and changes nothing; in French too', async () => {
    const p = await auris();
    await buyer(p, 'leo');
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(`${await creditsUrl(p, 'leo')}&locale=fr`);
    expect(await page.textContent('[data-testid=auto-top-up] h2')).toContain('Recharge automatique');
    await page.check('#atu-enabled');
    await page.selectOption('#atu-pack', 'pro');
    await page.fill('#atu-cap', '5');
    const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#atu-save')]);
    expect(res.status()).toBe(400);
    await page.waitForSelector('[data-testid=atu-error]');
    expect(await page.textContent('[data-testid=atu-error]')).toContain('Le plafond mensuel doit permettre au moins un pack');
    expect(await page.textContent('[data-testid=atu-state]')).toBe('Désactivée');
    // The form shows what was typed, to correct it.
    expect(await page.inputValue('#atu-cap')).toBe('5');
    expect(await page.inputValue('#atu-pack')).toBe('pro');
    expect(await page.isChecked('#atu-enabled')).toBe(true);
    expect(await setting(p, 'leo')).toMatchObject({ enabled: false, pack: null });
    expect(await noSidewaysScroll(page)).toBe(true);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/auto-top-up-credits-error-fr.png`, fullPage: true });
    await page.close();
  });

  it('shows the last error after a declined top-up turned it off', async () => {
    const p = await auris();
    await buyer(p, 'max', '4000000000000341');
    await p.call('PUT', '/v1/customers/max/credits/auto-top-up', { enabled: true, threshold: 20, pack: 'pro', monthly_cap: 3000 });
    expect((await p.call('POST', '/v1/customers/max/credits/deduct', { amount: 10 })).status).toBe(200);
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(await creditsUrl(p, 'max'));
    expect(await page.textContent('[data-testid=atu-state]')).toBe('Off');
    expect(await page.textContent('[data-testid=atu-last-error]')).toBe('Your card was declined (card_declined)');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/auto-top-up-credits-last-error.png`, fullPage: true });
    await page.close();
  });
});

describeBrowser('auto top-up in the billing portal', () => {
  it('shows the setting and changes it through the portal form', async () => {
    const p = await auris();
    await buyer(p, 'noa');
    await p.call('PUT', '/v1/customers/noa/credits/auto-top-up', { enabled: true, threshold: 5, pack: 'starter', monthly_cap: 2000 });
    const portal = await p.call('POST', '/v1/portal', { customer_id: 'noa', return_url: 'https://a.example/account' });
    expect(portal.status).toBe(200);
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(portal.body.url);
    expect(await page.textContent('[data-testid=atu-state]')).toBe('On');
    expect(await page.textContent('[data-testid=atu-threshold]')).toBe('5 credits');
    expect(await page.inputValue('#atu-cap')).toBe('20.00');
    await page.fill('#atu-threshold', '50');
    await page.selectOption('#atu-pack', 'pro');
    await page.fill('#atu-cap', '45');
    await Promise.all([page.waitForURL(/notice=auto_top_up_saved/), page.click('#atu-save')]);
    expect(await page.textContent('[data-testid=notice]')).toContain('Auto top-up settings saved');
    expect(await setting(p, 'noa')).toMatchObject({ enabled: true, threshold: 50, pack: 'pro', monthly_cap: 4500 });
    expect(await noSidewaysScroll(page)).toBe(true);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/auto-top-up-portal-390.png`, fullPage: true });
    // A bad cap: the portal shows the error and keeps the setting.
    await page.fill('#atu-cap', '1');
    const [res] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.click('#atu-save')]);
    expect(res.status()).toBe(400);
    expect(await page.textContent('[data-testid=error]')).toContain('The monthly cap must allow at least one pack (€15.00)');
    expect(await page.inputValue('#atu-cap')).toBe('1');
    expect(await setting(p, 'noa')).toMatchObject({ monthly_cap: 4500 });
    await page.close();
  });
});

describe('auto top-up page routes', () => {
  it('GET of the credits page writes nothing; malformed posts are 400 and change nothing; no session is 401', async () => {
    const p = await auris();
    await buyer(p, 'eli');
    await p.call('PUT', '/v1/customers/eli/credits/auto-top-up', { enabled: true, threshold: 5, pack: 'starter', monthly_cap: 2000 });
    const url = new URL(await creditsUrl(p, 'eli'));
    const row = () => h.db.query('SELECT * FROM credit_auto_top_ups WHERE project_id = $1', [p.id]).then((r) => JSON.stringify(r.rows));
    const before = await row();
    expect((await h.inject({ method: 'GET', url: url.pathname + url.search })).status).toBe(200);
    expect(await row()).toBe(before);
    const post = (form: string, search = url.search) =>
      h.inject({ method: 'POST', url: `${url.pathname}/auto-top-up${search}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form });
    for (const [form, text] of [
      ['enabled=on&threshold=abc&pack=pro&monthly_cap=30', 'The threshold must be a whole number of credits.'],
      ['enabled=on&threshold=5&pack=nope&monthly_cap=30', 'Choose one of the packs.'],
      ['enabled=on&threshold=5&pack=pro&monthly_cap=30.001', 'The monthly cap must be an amount'],
      ['enabled=on&threshold=5&pack=pro&monthly_cap=-3', 'The monthly cap must be an amount'],
    ] as const) {
      const r = await post(form);
      expect(r.status).toBe(400);
      expect(r.body).toContain(text);
    }
    expect(await row()).toBe(before);
    expect((await post('threshold=5&pack=pro&monthly_cap=30', '')).status).toBe(401);
    expect(await row()).toBe(before);
    const ok = await post('threshold=7&pack=pro&monthly_cap=30');
    expect(ok.status).toBe(303);
    expect(await setting(p, 'eli')).toMatchObject({ enabled: false, threshold: 7, pack: 'pro', monthly_cap: 3000 });
  });
});
