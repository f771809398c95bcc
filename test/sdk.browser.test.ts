import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { describeBrowser, HAS_BROWSER, launchBrowser } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';
import { SDK_DIR } from './support/sdk-build.ts';

/**
 * The built package loaded as ES modules by a page of another origin (an app's front end), calling
 * Tollgate across CORS with a publishable key and with a customer session token.
 */
let h: Harness;
let base: string;
let p: TestProject;
let app: http.Server;
let appOrigin: string;
let browser: Browser;
beforeAll(async () => {
  h = await createHarness();
  base = await h.listen();
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  const dist = join(SDK_DIR, 'dist');
  app = http.createServer((req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' });
      // The app's front end imports the package as the browser loads ES modules.
      res.end("<!doctype html><title>app</title><script type=module>import * as sdk from '/index.js'; window.sdk = sdk;</script>");
      return;
    }
    const file = normalize(join(dist, req.url ?? ''));
    if (!file.startsWith(dist) || !file.endsWith('.js')) {
      res.writeHead(404).end();
      return;
    }
    try {
      const text = readFileSync(file);
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(text);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  appOrigin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  expect((await p.call('PATCH', '/v1/project', { cors_origins: [appOrigin] })).status).toBe(200);
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (app ? app.close(() => resolve()) : resolve()));
  await h?.close();
});

describeBrowser('@tollgate/sdk in Chromium', () => {
  it('a publishable key reads the catalog; a customer session token checks usage and opens a checkout, with idempotency keys across CORS', async () => {
    const session = await p.call('POST', '/v1/customer-sessions', { customer_id: 'web-1' });
    expect(session.status).toBe(201);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${appOrigin}/`);
    await page.waitForFunction('window.sdk !== undefined');
    const out = await page.evaluate(
      async ({ base, pk, token }) => {
        const { Tollgate } = (window as unknown as { sdk: typeof import('@tollgate/sdk') }).sdk;
        const catalog = new Tollgate({ apiKey: pk, baseUrl: base });
        const me = new Tollgate({ apiKey: token, baseUrl: base });
        const plans = await catalog.plans();
        const balance = await me.credits.balance('web-1');
        const check = await me.check('web-1', 'dubbing_seconds', 30);
        const checkout = await me.checkout.create({ customer_id: 'web-1', credit_pack: 'pro', success_url: `${location.origin}/ok`, cancel_url: `${location.origin}/no` });
        const other = await me.credits.balance('someone-else').catch((e: Error & { status: number }) => ({ name: e.name, status: e.status }));
        return { packs: plans.credit_packs.map((c) => c.id), balance, allowed: check.allowed, checkout: checkout.status, other };
      },
      { base, pk: p.publishableKey, token: session.body.token as string },
    );
    expect(errors).toEqual([]);
    expect(out).toEqual({
      packs: ['starter', 'pro', 'premium'],
      balance: { customer_id: 'web-1', balance: 10, held: 0, available: 10 },
      allowed: true,
      checkout: 'open',
      other: { name: 'PermissionError', status: 403 },
    });
    await page.close();
  });
});
