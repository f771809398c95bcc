import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let base: string;
let browser: Browser;
beforeAll(async () => {
  h = await createHarness();
  base = await h.listen();
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

async function session(p: TestProject, customer: string) {
  const r = await p.call('POST', '/v1/customer_sessions', { customer_id: customer });
  expect(r.status).toBe(201);
  return r.body as { token: string; urls: { pricing: string; credits: string; portal: string } };
}

const balance = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/credits`)).body.balance;

describeBrowser('hosted credits page (AurisVoice)', () => {
  it('shows the balance and three packs; buying Pro through the sandbox checkout returns to a balance of 70', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });
    const s = await session(p, 'maya');
    expect(s.urls.credits.startsWith(base)).toBe(true);
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(s.urls.credits);
    expect(await page.textContent('h1')).toBe('Your credits');
    expect(await page.textContent('[data-testid=balance]')).toBe('10');
    expect(await page.locator('[data-testid^=pack-]').count()).toBe(3);
    expect(await page.textContent('[data-testid=pack-pro]')).toContain('€15.00');
    expect(await page.textContent('[data-testid=pack-pro]')).toContain('Most popular');
    expect(await page.textContent('header .brand')).toBe('AurisVoice');
    expect(await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--primary').trim())).toBe('#6d28d9');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/credits-page.png`, fullPage: true });

    await Promise.all([page.waitForURL(/\/checkout\/cs_/), page.click('#buy-pro')]);
    expect(await page.textContent('[data-testid=amount]')).toContain('15.00');
    await page.fill('#card', '4242 4242 4242 4242');
    await Promise.all([page.waitForURL(/\/p\/.*\/credits\?.*checkout=cs_/), page.click('#pay')]);
    await page.waitForSelector('[data-testid=paid]');
    expect(await page.textContent('[data-testid=balance]')).toBe('70');
    expect(await page.textContent('table')).toContain('Purchased Pro pack');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/credits-page-paid.png`, fullPage: true });
    expect(await balance(p, 'maya')).toBe(70);
    await page.close();
  });

  it('says "payment processing" until the webhook lands, then shows the new balance without a reload', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });
    const s = await session(p, 'noor');
    const co = await p.call('POST', '/v1/checkout', {
      customer_id: 'noor',
      credit_pack: 'starter',
      success_url: `${s.urls.credits}&checkout={CHECKOUT_SESSION_ID}`,
      cancel_url: s.urls.credits,
    });
    const page = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    // The customer is back from the provider before its webhook arrived.
    await page.goto(`${s.urls.credits}&checkout=${co.body.session_id}`);
    await page.waitForSelector('[data-testid=processing]');
    expect(await page.textContent('[data-testid=balance]')).toBe('10');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/credits-page-processing.png`, fullPage: true });
    const paid = await p.call('POST', `/v1/test_helpers/checkout/${co.body.session_id}/pay`, { card: '4242424242424242' });
    expect(paid.body.status).toBe('complete');
    await page.waitForFunction(() => document.getElementById('balance')?.textContent === '25');
    expect(await page.textContent('#status')).toContain('Payment received');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.close();
  });

  it('a session opens only its own project pages, and another customer\'s checkout says nothing', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const q = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const s = await session(p, 'olga');
    const other = await p.call('POST', '/v1/checkout', {
      customer_id: 'pia',
      credit_pack: 'starter',
      success_url: 'https://app.test/ok',
      cancel_url: 'https://app.test/no',
    });
    const own = await h.inject({ method: 'GET', url: `/p/${p.id}/credits?session=${s.token}&checkout=${other.body.session_id}` });
    expect(own.status).toBe(200);
    expect(own.raw).not.toContain('data-testid="processing"');
    expect(own.headers['cache-control']).toBe('no-store');
    expect(own.headers['referrer-policy']).toBe('no-referrer');
    expect((await h.inject({ method: 'GET', url: `/p/${q.id}/credits?session=${s.token}` })).status).toBe(401);
    expect((await h.inject({ method: 'GET', url: `/p/${p.id}/credits` })).status).toBe(401);
  });
});

describe('hosted pages locale', () => {
  it("follows the customer's own locale (metadata.locale) when the page names none", async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await p.call('POST', '/v1/customers', { id: 'jean', metadata: { locale: 'fr-FR' } });
    const s = await session(p, 'jean');
    const path = (u: string) => new URL(u).pathname + new URL(u).search;
    const fr = await h.inject({ method: 'GET', url: path(s.urls.credits) });
    expect(fr.raw).toContain('<html lang="fr">');
    expect(fr.raw).toContain('Vos crédits');
    expect(fr.raw).toContain('15,00');
    const en = await h.inject({ method: 'GET', url: `${path(s.urls.credits)}&locale=en` });
    expect(en.raw).toContain('Your credits');
    // An unknown locale is passed over: the customer's own applies.
    expect((await h.inject({ method: 'GET', url: `${path(s.urls.credits)}&locale=xx` })).raw).toContain('Vos crédits');
  });
});

describeBrowser('hosted pricing page', () => {
  it("is in the customer's locale: French for IAcompagnon, English on request, prices formatted for each", async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.iacompagnon!.catalog, name: 'IAcompagnon' });
    const s = await session(p, 'lea');
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(s.urls.pricing);
    expect(await page.getAttribute('html', 'lang')).toBe('fr');
    expect(await page.textContent('h1')).toBe('Offres et tarifs');
    const standard = await page.textContent('[data-testid=plan-standard]');
    expect(standard).toContain('9,99');
    expect(standard).toContain('par mois');
    expect(standard).toContain('Le plus choisi');
    expect(await page.locator('[data-testid^=plan-]').count()).toBe(3);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/pricing-fr.png`, fullPage: true });
    await page.goto(`${s.urls.pricing}&locale=en`);
    expect(await page.textContent('h1')).toBe('Plans and pricing');
    expect(await page.textContent('[data-testid=plan-standard]')).toContain('€9.99');
    await page.close();
  });

  it('lists plans with trials and features (ArkWatch), themed by the catalog; the free plan has no checkout button', async () => {
    const catalog = { ...DEMO_CATALOGS.arkwatch!.catalog, theme: { name: 'ArkWatch', primary_color: '#0f766e', logo_url: 'https://cdn.example.com/ark.svg' } };
    const p = await h.project({ catalog });
    const s = await session(p, 'sam');
    const r = await h.inject({ method: 'GET', url: new URL(s.urls.pricing).pathname + new URL(s.urls.pricing).search });
    expect(r.status).toBe(200);
    expect(r.raw).toContain('--primary: #0f766e');
    expect(r.raw).toContain('<img src="https://cdn.example.com/ark.svg"');
    expect(r.raw).toContain('14-day free trial');
    expect(r.raw).toContain('Watched sites: 100');
    expect(r.raw).toContain('id="choose-pro"');
    expect(r.raw).not.toContain('id="choose-free"');
    const portal = await h.inject({ method: 'GET', url: new URL(s.urls.portal).pathname + new URL(s.urls.portal).search });
    expect(portal.status).toBe(200);
    expect(portal.raw).toContain('Your account');
    // The account page's primary path is /p/:project/account; /p/:project/portal is its alias.
    const account = await h.inject({ method: 'GET', url: `/p/${p.id}/account?session=${s.token}` });
    expect(account.status).toBe(200);
    expect(account.raw).toBe(portal.raw);
    expect(account.headers['cache-control']).toBe(portal.headers['cache-control']);
    expect((await h.inject({ method: 'GET', url: `/p/${p.id}/account?session=tgcs_nope` })).status).toBe(
      (await h.inject({ method: 'GET', url: `/p/${p.id}/portal?session=tgcs_nope` })).status,
    );
  });
});

describe('issue 11 item 21: a credit pack states what it buys in the product unit', () => {
  it('refuses a bad unit with 400 and leaves the catalog as it was; a good one shows in /v1/plans', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });
    const before = (await p.call('GET', '/v1/plans')).body;
    const pack = { id: 'mini', name: 'Mini', credits: 6, price: { amount: 200, currency: 'eur' } };
    for (const unit of [{ label: 'minutes', per_credit: 0 }, { label: 'minutes', per_credit: -1 }, { label: '', per_credit: 1 }, { label: 'minutes' }, { label: 'minutes', per_credit: '1' }, { label: 'minutes', per_credit: 1, extra: 1 }]) {
      const r = await p.call('PUT', '/v1/catalog', { credit_packs: [{ ...pack, unit }] });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBeTruthy();
    }
    expect((await p.call('GET', '/v1/plans')).body).toEqual(before);
    expect(before.credit_packs.map((x: { id: string; units: { amount: number; label: string } }) => [x.id, x.units.amount, x.units.label])).toEqual([
      ['starter', 2.5, 'minutes of dubbing'],
      ['pro', 10, 'minutes of dubbing'],
      ['premium', 25, 'minutes of dubbing'],
    ]);
    const ok = await p.call('PUT', '/v1/catalog', { credit_packs: [{ ...pack, unit: { label: 'minutes', per_credit: 0.5 } }] });
    expect(ok.status).toBe(200);
    expect((await p.call('GET', '/v1/plans')).body.credit_packs[0].units).toEqual({ label: 'minutes', per_credit: 0.5, amount: 3 });
  });
});

describeBrowser('issue 11 item 21: AurisVoice pack cards in minutes of dubbing', () => {
  it('the credits and pricing pages say about 2.5, 10 and 25 minutes of dubbing', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });
    const s = await session(p, 'ines');
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    for (const url of [s.urls.credits, s.urls.pricing]) {
      await page.goto(`${url}&locale=en`);
      expect(await page.textContent('[data-testid=pack-starter]')).toContain('≈ 2.5 minutes of dubbing');
      expect(await page.textContent('[data-testid=pack-pro]')).toContain('≈ 10 minutes of dubbing');
      expect(await page.textContent('[data-testid=pack-premium]')).toContain('≈ 25 minutes of dubbing');
    }
    await page.close();
  });
});
