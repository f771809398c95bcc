import { Writable } from 'node:stream';
import type { Browser } from 'playwright-core';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.ts';
import { buildApp } from '../src/http/app.ts';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness } from './support/harness.ts';

let h: Harness;
let base: string;
let browser: Browser;
const demoKeys: Record<string, string> = {};
beforeAll(async () => {
  h = await createHarness({ config: { demo: true } });
  for (const d of await seedDemo(h.tg.ctx)) demoKeys[d.project] = d.secretKey ?? "";
  base = await h.listen();
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const count = async (table: string) => Number((await h.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]!.n);

describeBrowser('issue 13, the first five minutes: the home page', () => {
  it('GET / links to the dashboard, the API reference and every demo project, and writes nothing', async () => {
    const before = [await count('customers'), await count('customer_sessions')];
    const r = await h.inject({ method: 'GET', url: '/' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/html');
    expect([await count('customers'), await count('customer_sessions')]).toEqual(before);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/`);
    expect(await page.getAttribute('[data-testid=link-dashboard]', 'href')).toBe('/dashboard/');
    expect(await page.getAttribute('[data-testid=link-docs]', 'href')).toBe('/docs');
    for (const id of ['aurisvoice', 'arkwatch', 'iacompagnon', 'webox', 'ava']) {
      expect(await page.locator(`[data-testid=try-${id}-pricing]`).count()).toBe(1);
      expect(await page.locator(`[data-testid=try-${id}-credits]`).count()).toBe(1);
    }
    await page.screenshot({ path: `${SCREENSHOT_DIR}/home-desktop.png`, fullPage: true });
    await page.close();
  });

  it('a demo project button opens its hosted credits page as the demo customer, with the sign-up credits', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(`${base}/`);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SCREENSHOT_DIR}/home-phone.png`, fullPage: true });
    await page.click('[data-testid=try-aurisvoice-credits]');
    await page.waitForURL(/\/p\/aurisvoice\/credits\?session=tgcs_/);
    expect(await page.textContent('h1')).toBe('Your credits');
    expect(await page.textContent('[data-testid=balance]')).toBe('10');
    await page.close();
  });

  it('only demo projects can be opened that way: another id is a 404 and creates nothing', async () => {
    const p = await h.project();
    const before = await count('customer_sessions');
    for (const url of [`/try/${p.id}/pricing`, '/try/aurisvoice/settings', '/try/nope/credits']) {
      const r = await h.inject({ method: 'POST', url });
      expect(r.status).toBe(404);
    }
    expect(await count('customer_sessions')).toBe(before);
  });
});

describe('issue 13, the first five minutes: bodies as clients send them', () => {
  it('JSON sent without a Content-Type is read as JSON', async () => {
    const p = await h.project();
    const r = await h.inject({
      method: 'POST',
      url: '/v1/customers',
      headers: { authorization: `Bearer ${p.key}` },
      payload: Buffer.from(JSON.stringify({ id: 'no_type', email: 'a@example.com' })),
    });
    expect(r.status).toBe(201);
    expect(r.body.id).toBe('no_type');
    expect(r.body.email).toBe('a@example.com');
  });

  it('an empty body with Content-Type: application/json works where the body is optional, and is a clear 400 where it is not', async () => {
    const key = `Bearer ${demoKeys.iacompagnon}`;
    const json = { authorization: key, 'content-type': 'application/json' };
    expect((await h.inject({ method: 'POST', url: '/v1/customers', headers: { authorization: key }, payload: { id: 'empty_body' } })).status).toBe(201);
    const cancel = await h.inject({ method: 'POST', url: '/v1/customers/empty_body/subscription/cancel', headers: json, payload: '' });
    expect(cancel.status).toBe(200);
    expect(cancel.body.cancel_at_period_end).toBe(true);
    const session = await h.inject({ method: 'POST', url: '/v1/customer-sessions', headers: json, payload: '' });
    expect(session.status).toBe(400);
    expect(session.body.error.code).toBe('invalid_request');
    expect(session.body.error.param).toBe('customer_id');
  });

  it('a body that is not JSON is a clear 400 naming the Content-Type, and changes nothing', async () => {
    const p = await h.project();
    const before = await count('customers');
    const r = await h.inject({
      method: 'POST',
      url: '/v1/customers',
      headers: { authorization: `Bearer ${p.key}`, 'content-type': 'text/plain' },
      payload: 'id=x',
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.param).toBe('content-type');
    expect(r.body.error.message).toContain('text/plain');
    expect(await count('customers')).toBe(before);
    const bad = await p.call('POST', '/v1/customers', '{"id": ', { 'content-type': 'application/json' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
  });

  it('a prototype-poisoning body is still refused', async () => {
    const p = await h.project();
    const r = await p.call('POST', '/v1/customers', '{"id":"pp","__proto__":{"x":1}}', { 'content-type': 'application/json' });
    expect(r.status).toBe(400);
  });
});

describe('issue 13, the first five minutes: one log line per request', () => {
  it('a request logs exactly one line, with method, path, status and duration', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    });
    const app = await buildApp({ ...h.tg.ctx }, { loggerInstance: pino({ level: 'info' }, sink) });
    await app.ready();
    const r = await app.inject({ method: 'GET', url: '/health?x=1' });
    expect(r.statusCode).toBe(200);
    await new Promise((res) => setImmediate(res));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: 'GET', url: '/health?x=1', status: 200, msg: expect.stringMatching(/^GET \/health 200 [\d.]+ms$/) });
    await app.close();
  });
});
