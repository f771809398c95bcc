import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { createOperator, firstRunToken } from '../src/modules/dashboard/operators.service.ts';
import { buildDashboard } from '../web/dashboard/build.mjs';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let base: string;
let browser: Browser;
let setupToken: string | undefined;
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  await buildDashboard();
  h = await createHarness({ config: { webhookAllowPrivate: true } });
  setupToken = await firstRunToken(h.tg.ctx);
  base = await h.listen();
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

let n = 0;
async function operator(): Promise<string> {
  const email = `op${++n}-${Date.now()}@example.com`;
  await createOperator(h.tg.ctx, { email, password: PASSWORD });
  return email;
}

async function cookieFor(email: string): Promise<string> {
  const r = await h.inject({ method: 'POST', url: '/dashboard/api/login', payload: { email, password: PASSWORD } });
  expect(r.status).toBe(200);
  const set = String(r.headers['set-cookie']);
  expect(set).toMatch(/HttpOnly/);
  expect(set).toMatch(/SameSite=Lax/);
  return set.split(';')[0]!;
}

async function buy(p: TestProject, customer: string, pack: string) {
  const s = await p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: pack, success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' });
  expect(s.status).toBe(201);
  const paid = await p.call('POST', `/v1/test_helpers/checkout/${s.body.session_id}/pay`, { card: '4242424242424242' });
  expect(paid.body.status).toBe('complete');
}

describe('dashboard API', () => {
  it('the first-run link creates the first operator once, then signs in with the password', async () => {
    expect(setupToken).toBeTruthy();
    const body = { token: setupToken, email: 'founder@example.com', password: PASSWORD };
    const first = await h.inject({ method: 'POST', url: '/dashboard/api/setup', payload: body });
    expect(first.status).toBe(201);
    expect(String(first.headers['set-cookie'])).toMatch(/^tollgate_dashboard=tgop_/);
    const again = await h.inject({ method: 'POST', url: '/dashboard/api/setup', payload: { ...body, email: 'intruder@example.com' } });
    expect(again.status).toBe(400);
    expect(await firstRunToken(h.tg.ctx)).toBeUndefined();
    const stored = await h.db.query<{ password_hash: string }>("SELECT password_hash FROM operators WHERE email = 'founder@example.com'");
    expect(stored.rows[0]!.password_hash).toMatch(/^\$argon2id\$/);
  });

  it('refuses wrong passwords, missing sessions and cross-site calls', async () => {
    const email = await operator();
    const wrong = await h.inject({ method: 'POST', url: '/dashboard/api/login', payload: { email, password: 'not the password' } });
    expect(wrong.status).toBe(401);
    const unknown = await h.inject({ method: 'POST', url: '/dashboard/api/login', payload: { email: 'nobody@example.com', password: PASSWORD } });
    expect(unknown.status).toBe(401);
    expect((await h.inject({ method: 'GET', url: '/dashboard/api/projects' })).status).toBe(401);
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    expect((await h.inject({ method: 'GET', url: `/dashboard/api/p/${p.id}/v1/customers` })).status).toBe(401);
    const cookie = await cookieFor(email);
    const cross = await h.inject({
      method: 'POST',
      url: `/dashboard/api/p/${p.id}/customers/u1/credits/adjust`,
      headers: { cookie, origin: 'https://evil.test' },
      payload: { direction: 'grant', amount: 5, reason: 'x' },
    });
    expect(cross.status).toBe(403);
    const logout = await h.inject({ method: 'POST', url: '/dashboard/api/logout', headers: { cookie } });
    expect(logout.status).toBe(200);
    expect((await h.inject({ method: 'GET', url: '/dashboard/api/me', headers: { cookie } })).status).toBe(401);
  });

  it("the overview's revenue, MRR and trial figures are GET /v1/metrics' figures, not a second count", async () => {
    const cookie = await cookieFor(await operator());
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await buy(p, 'rita', 'pro');
    const pay = (await p.call('GET', '/v1/payments?limit=1')).body.data[0];
    expect((await p.call('POST', `/v1/payments/${pay.id}/refund`, { amount: 500 })).status).toBe(200);
    const o = await h.inject({ method: 'GET', url: `/dashboard/api/p/${p.id}/overview`, headers: { cookie } });
    expect(o.status).toBe(200);
    const m = (await p.call('GET', '/v1/metrics')).body;
    expect(o.body.metrics).toEqual(m);
    expect(o.body.revenue_this_month).toEqual([{ currency: 'eur', amount: 1000 }]);
    expect(o.body.revenue_this_month).toEqual(m.revenue);
    const month = o.body.months.at(-1);
    expect(o.body.revenue_by_month.find((r: { month: string }) => r.month === month)).toMatchObject({ gross: 1500, refunded: 500, net: 1000, amount: 1000 });
    expect(o.body.months).toHaveLength(12);
  });

  it('acts on any project as the operator: API calls through the session, manual adjustments audited', async () => {
    const email = await operator();
    const cookie = await cookieFor(email);
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await p.call('POST', '/v1/customers', { id: 'u1' });
    const projects = await h.inject({ method: 'GET', url: '/dashboard/api/projects', headers: { cookie } });
    expect(projects.body.data.map((x: { id: string }) => x.id)).toContain(p.id);
    const read = await h.inject({ method: 'GET', url: `/dashboard/api/p/${p.id}/v1/customers/u1/credits`, headers: { cookie } });
    expect(read.body.balance).toBe(10);
    const adjust = (payload: unknown) =>
      h.inject({ method: 'POST', url: `/dashboard/api/p/${p.id}/customers/u1/credits/adjust`, headers: { cookie }, payload: payload as object });
    expect((await adjust({ direction: 'grant', amount: 5, reason: 'support ticket 12' })).body.balance).toBe(15);
    expect((await adjust({ direction: 'deduct', amount: 3, reason: 'correction' })).body.balance).toBe(12);
    const short = await adjust({ direction: 'deduct', amount: 100, reason: 'too much' });
    expect(short.status).toBe(402);
    expect((await adjust({ direction: 'grant', amount: 5, reason: '  ' })).status).toBe(400);
    expect((await adjust({ direction: 'grant', amount: -5, reason: 'x' })).status).toBe(400);
    expect((await adjust({ direction: 'grant', amount: 5, reason: 'x', extra: 1 })).status).toBe(400);
    const missing = await h.inject({
      method: 'POST',
      url: `/dashboard/api/p/${p.id}/customers/nobody/credits/adjust`,
      headers: { cookie },
      payload: { direction: 'grant', amount: 5, reason: 'x' },
    });
    expect(missing.status).toBe(404);
    expect((await h.inject({ method: 'GET', url: '/dashboard/api/p/no-such-project/v1/customers', headers: { cookie } })).status).toBe(404);
    const auditRows = await h.db.query<{ actor: string; action: string }>(
      'SELECT actor, action FROM audit_log WHERE project_id = $1 AND customer_id = $2 ORDER BY seq',
      [p.id, 'u1'],
    );
    expect(auditRows.rows).toEqual([
      { actor: `dashboard:${email}`, action: 'credits.granted' },
      { actor: `dashboard:${email}`, action: 'credits.deducted' },
    ]);
    expect((await p.call('GET', '/v1/customers/u1/credits')).body.balance).toBe(12);
  });
});

async function signIn(page: Page, email: string) {
  await page.goto(`${base}/dashboard/`);
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('.topbar');
}

describeBrowser('dashboard in Chromium', () => {
  it('signs in, shows the seeded revenue, grants credits to a customer and replays a provider event', async () => {
    const email = await operator();
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog, name: 'AurisVoice' });
    // March: a Starter pack (5 €); April: Pro (15 €) and Premium (30 €).
    await buy(p, 'alice', 'starter');
    h.clock.advance(31 * DAY);
    await buy(p, 'bob', 'pro');
    await buy(p, 'bob', 'premium');

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, email);
    await page.goto(`${base}/dashboard/#/p/${p.id}`);
    await page.waitForSelector('[data-testid=stat-revenue-month]');
    expect(await page.textContent('[data-testid=stat-revenue-month]')).toContain('45.00');
    expect(await page.textContent('[data-testid=stat-revenue-total]')).toContain('50.00');
    expect(await page.textContent('[data-testid=stat-customers]')).toContain('2');
    expect(await page.textContent('[data-testid=stat-credits]')).toContain('225');
    await page.waitForSelector('[data-testid=recent-payments] tbody tr');
    expect(await page.locator('[data-testid=recent-payments] tbody tr').count()).toBe(3);
    expect(await page.locator('[data-testid=revenue-chart] rect.bar:not(.empty)').count()).toBe(2);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-overview.png`, fullPage: true });

    // Customers: search, open, grant.
    await page.click('nav >> text=Customers');
    await page.fill('input[type=search]', 'bo');
    await page.click('form.search >> text=Search');
    await page.waitForSelector('[data-testid=customers-table] >> text=bob');
    expect(await page.locator('[data-testid=customers-table] tbody tr').count()).toBe(1);
    await page.click('[data-testid=customers-table] >> text=bob');
    await page.waitForSelector('[data-testid=customer-balance]');
    expect(await page.textContent('[data-testid=customer-balance]')).toContain('220');
    await page.fill('#amount', '25');
    await page.fill('#reason', 'Goodwill for the outage');
    await page.click('[data-testid=adjust-form] button[type=submit]');
    await page.waitForSelector('text=New balance: 245');
    await page.waitForSelector('[data-testid=ledger] >> text=Goodwill for the outage');
    expect(await page.textContent('[data-testid=customer-balance]')).toContain('245');
    expect((await p.call('GET', '/v1/customers/bob/credits')).body.balance).toBe(245);
    // A project that sells no products shows no orders card.
    expect(await page.locator('[data-testid=orders]').count()).toBe(0);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-customer.png`, fullPage: true });

    // Refund the Pro pack from the customer page: its 60 credits are taken back.
    page.once('dialog', (d) => void d.accept());
    await page.locator('tr', { hasText: 'credit_pack pro' }).locator('text=Refund').click();
    await page.waitForSelector('text=/Refunded pay_/');
    expect((await p.call('GET', '/v1/customers/bob/credits')).body.balance).toBe(185);
    await page.waitForSelector('[data-testid=customer-balance] >> text=185');

    // Provider events: open a payload, replay it; effects stay applied once.
    await page.click('nav >> text=Provider events');
    await page.waitForSelector('[data-testid=event-row]');
    expect(await page.locator('[data-testid=event-row]').count()).toBe(3);
    const row = page.locator('[data-testid=event-row]').first();
    await row.locator('.link-button').click();
    await row.locator('pre.json').waitFor();
    await row.locator('text=Replay').click();
    await page.waitForSelector('text=/Replayed evt_/');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-events.png`, fullPage: true });
    expect((await p.call('GET', '/v1/customers/bob/credits')).body.balance).toBe(185);

    // The audit log names the operator for the manual grant.
    await page.click('nav >> text=Audit log');
    await page.waitForSelector('[data-testid=audit-table]');
    const grantRow = page.locator('[data-testid=audit-table] tr', { hasText: 'credits.granted' }).first();
    expect(await grantRow.textContent()).toContain(`dashboard:${email}`);
    expect(await grantRow.textContent()).toContain('Goodwill for the outage');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-audit.png`, fullPage: true });

    // Catalog, keys and settings render.
    await page.click('nav >> text=Catalog');
    await page.waitForSelector('text=Credit packs');
    await page.click('nav >> text=API keys');
    await page.click('text=Create key');
    const key = await page.textContent('[data-testid=new-key]');
    expect(key).toMatch(/^sk_test_/);
    expect((await h.inject({ method: 'GET', url: '/v1/plans', headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    await page.click('nav >> text=Settings');
    await page.fill('#origins', 'https://app.auris.test');
    await page.click('text=Save');
    await page.waitForSelector('text=Saved.');
    expect((await p.call('GET', '/v1/project')).body.cors_origins).toEqual(['https://app.auris.test']);
    await page.close();

    // Readable on a phone.
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await signIn(phone, email);
    await phone.goto(`${base}/dashboard/#/p/${p.id}`);
    await phone.waitForSelector('[data-testid=stat-revenue-month]');
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await phone.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-phone.png`, fullPage: true });
    await phone.close();
  });
});

/** A local receiver that fails its first request with a 500, then accepts. */
async function flakyReceiver(): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hits++;
      res.writeHead(hits === 1 ? 500 : 200).end(hits === 1 ? 'boom' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    hits: () => hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describeBrowser('outgoing webhooks in the dashboard', () => {
  it('shows a failed delivery with its attempt and redelivers it', async () => {
    const email = await operator();
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, email);
    const receiver = await flakyReceiver();
    try {
      // The sign-up grant's event goes out before the endpoint exists: only the next grant is delivered.
      await p.call('POST', '/v1/customers', { id: 'wendy' });
      await runDueJobs(h.tg.ctx);
      const ep = await p.call('POST', '/v1/webhook-endpoints', { url: receiver.url, events: ['credits.granted'] });
      expect(ep.status).toBe(201);
      await p.call('POST', '/v1/customers/wendy/credits/grant', { amount: 5, reason: 'welcome' });
      await runDueJobs(h.tg.ctx);
      expect(receiver.hits()).toBe(1);
      await page.goto(`${base}/dashboard/#/p/${p.id}/webhooks`);
      await page.click('text=Deliveries');
      const row = page.locator('[data-testid=delivery-row]', { hasText: 'credits.granted' }).first();
      await row.waitFor();
      expect(await row.textContent()).toContain('HTTP 500');
      await row.locator('text=Redeliver').click();
      await page.waitForSelector('text=/Redelivered dlv_/');
      await runDueJobs(h.tg.ctx);
      expect(receiver.hits()).toBe(2);
      await page.click('text=Hide deliveries');
      await page.click('text=Deliveries');
      await page.locator('[data-testid=delivery-row]', { hasText: 'succeeded' }).first().waitFor();
      await page.screenshot({ path: `${SCREENSHOT_DIR}/dashboard-webhooks.png`, fullPage: true });
    } finally {
      await receiver.close();
      await page.close();
    }
  });
});
