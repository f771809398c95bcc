/**
 * The example apps in examples/, each started on a random port against a real Tollgate (one
 * harness for the file, one project per product with its demo catalog), driven over HTTP.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Tollgate } from '@tollgate/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createApp as avaApp, type CallKeys } from '../examples/ava/app.ts';
import { createApp as arkwatchApp } from '../examples/arkwatch/app.ts';
import { createApp as aurisvoiceApp } from '../examples/aurisvoice/app.ts';
import { createApp as iacompagnonApp } from '../examples/iacompagnon/app.ts';
import { listen } from '../examples/shared/http.ts';
import { createApp as weboxApp } from '../examples/webox/app.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { PaypalTestServer } from './support/paypal-server.ts';

let h: Harness;
let base: string;
let pp: PaypalTestServer;
const servers: Server[] = [];

beforeAll(async () => {
  // A local PayPal-compatible server stands in for PayPal (Webox's PayPal checkout).
  pp = new PaypalTestServer();
  await pp.start();
  h = await createHarness({ config: { paypalApiBase: pp.url } });
  base = await h.listen();
});
afterAll(async () => {
  for (const s of servers) s.close();
  await h?.close();
  await pp?.stop();
});

const PRODUCTS = ['aurisvoice', 'arkwatch', 'iacompagnon', 'webox', 'ava'] as const;
type Product = (typeof PRODUCTS)[number];

/** A project with the product's demo catalog, and the example app started against it. */
async function start(product: Product, createApp: (o: { tollgate: Tollgate }) => Server) {
  const project = await h.project({ catalog: DEMO_CATALOGS[product]!.catalog });
  const server = createApp({ tollgate: new Tollgate({ apiKey: project.key, baseUrl: base, maxRetries: 0 }) });
  servers.push(server);
  const url = await listen(server);
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  return { project, url, call };
}

describe('aurisvoice', () => {
  it('holds credits for a dub, captures what it cost, releases on failure, and answers 402 with the credits page', async () => {
    const { call, project } = await start('aurisvoice', aurisvoiceApp);
    expect(await call('POST', '/signup', { user_id: 'ada', email: 'ada@example.com' })).toEqual({ status: 201, body: { user_id: 'ada', credits: 10 } });
    // 50 s estimated: 5 credits held; 45 s dubbed: 5 credits (rounded up) captured.
    const dub = await call('POST', '/dub', { user_id: 'ada', seconds: 50 });
    expect(dub.status).toBe(200);
    expect(dub.body).toMatchObject({ seconds: 45, credits_charged: 5, credits: 5 });
    // 20 s estimated (18 s dubbed): 2 credits captured.
    expect((await call('POST', '/dub', { user_id: 'ada', seconds: 20 })).body).toMatchObject({ seconds: 18, credits_charged: 2, credits: 3 });
    // A failed job releases its hold: the balance is back where it was.
    const failed = await call('POST', '/dub', { user_id: 'ada', seconds: 30, simulate_failure: true });
    expect(failed).toEqual({ status: 502, body: { error: 'dubbing_failed', credits_released: true, credits: 3 } });
    const ledger = (await project.call('GET', '/v1/customers/ada/credits/transactions')).body.data.map((t: { amount: number; kind: string }) => [t.kind, t.amount]);
    // Only what was captured reached the ledger; the released hold left no entry.
    expect(ledger).toEqual([
      ['capture', -2],
      ['capture', -5],
      ['signup', 10],
    ]);
    // 600 s needs 60 credits: 402 with the hosted pages of this customer, nothing charged.
    const short = await call('POST', '/dub', { user_id: 'ada', seconds: 600 });
    expect(short.status).toBe(402);
    expect(short.body).toMatchObject({ error: 'insufficient_credits', required: 60, available: 3 });
    expect(short.body.buy_credits_url).toMatch(new RegExp(`^${base}/p/${project.id}/credits\\?session=tgcs_`));
    expect(short.body.pricing_url).toMatch(new RegExp(`^${base}/p/${project.id}/pricing\\?session=tgcs_`));
    const page = await fetch(short.body.buy_credits_url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Pro');
    expect((await call('GET', '/credits/ada')).body).toEqual({ credits: 3 });
    expect((await call('POST', '/dub', { user_id: 'ada', seconds: 0 })).status).toBe(400);
    expect((await call('POST', '/dub', { seconds: 10 })).body).toEqual({ error: 'invalid_request', message: 'user_id is required' });
  });
});

describe('arkwatch', () => {
  it('3 watches on Free, the 4th refused with the upgrade link; after a Pro trial without card the 4th works; billing portal', async () => {
    const { call, project } = await start('arkwatch', arkwatchApp);
    expect((await call('POST', '/signup', { user_id: 'kim', email: 'kim@example.com' })).status).toBe(201);
    expect((await call('GET', '/account/kim')).body).toEqual({ plan: 'free', status: 'free', days_remaining: null, watches: { used: 0, limit: 3 } });
    for (let i = 1; i <= 3; i++) {
      const w = await call('POST', '/watches/kim', { url: `https://site${i}.example` });
      expect(w.status).toBe(201);
      expect(w.body).toMatchObject({ url: `https://site${i}.example`, used: i, limit: 3 });
    }
    const refused = await call('POST', '/watches/kim', { url: 'https://site4.example' });
    expect(refused.status).toBe(402);
    expect(refused.body.error).toBe('watch_limit_reached');
    expect(refused.body.upgrade_url).toMatch(new RegExp(`^${base}/p/${project.id}/pricing\\?session=tgcs_`));
    const pricing = await fetch(refused.body.upgrade_url);
    expect(pricing.status).toBe(200);
    expect(await pricing.text()).toContain('Pro');
    expect((await call('GET', '/watches/kim')).body.data).toHaveLength(3);

    const trial = await call('POST', '/trial/kim', { plan: 'pro' });
    expect(trial.status).toBe(201);
    expect(trial.body).toMatchObject({ plan: 'pro', status: 'trialing' });
    expect((await call('GET', '/account/kim')).body).toEqual({ plan: 'pro', status: 'trialing', days_remaining: 14, watches: { used: 3, limit: 100 } });
    const fourth = await call('POST', '/watches/kim', { url: 'https://site4.example' });
    expect(fourth.status).toBe(201);
    expect(fourth.body).toMatchObject({ used: 4, limit: 100 });
    // Deleting a watch gives its place back.
    expect((await call('DELETE', `/watches/kim/${fourth.body.id}`)).body).toEqual({ deleted: true, id: fourth.body.id });
    expect((await call('GET', '/account/kim')).body.watches).toEqual({ used: 3, limit: 100 });
    expect((await call('DELETE', '/watches/kim/w_unknown')).status).toBe(404);
    expect((await call('POST', '/watches/kim', { url: 'ftp://nope' })).status).toBe(400);
    // Tollgate's own 404 for a customer it does not know is passed on as is.
    expect(await call('GET', '/account/nobody')).toMatchObject({ status: 404, body: { error: 'customer_not_found' } });
    // Nothing is charged for the trial: the customer has no payment.
    expect((await project.call('GET', '/v1/payments?customer_id=kim')).body.data).toEqual([]);

    const billing = await call('GET', '/billing/kim');
    expect(billing.body.url).toMatch(new RegExp(`^${base}/portal/ps_`));
    const portal = await fetch(billing.body.url);
    expect(portal.status).toBe(200);
    expect(await portal.text()).toContain('Pro');
  });
});

describe('iacompagnon', () => {
  it('a new user is trialing Premium with a banner counting down; the upgrade checkout saves the card and ends the countdown', async () => {
    const { call, project } = await start('iacompagnon', iacompagnonApp);
    const signup = await call('POST', '/signup', { user_id: 'lea', email: 'lea@example.com' });
    expect(signup).toEqual({ status: 201, body: { user_id: 'lea', subscription: { plan: 'premium', status: 'trialing', days_remaining: 14, next_charge: null } } });
    const home = await call('GET', '/home/lea');
    expect(home.body).toMatchObject({ plan: 'premium', status: 'trialing', banner: { text: 'Essai Premium : encore 14 jours', days_remaining: 14 } });
    expect(home.body.upgrade_url).toMatch(new RegExp(`^${base}/checkout/`));
    h.clock.advance(3 * DAY);
    const later = await call('GET', '/home/lea');
    expect(later.body.banner).toEqual({ text: 'Essai Premium : encore 11 jours', days_remaining: 11 });
    expect((await call('POST', '/chat/lea', { message: 'Bonjour' })).body.reply).toContain('Bonjour');

    // The upgrade link is a hosted checkout; paying it (the sandbox's test helper) saves the card: the
    // trial keeps its end date and then turns into a charge, so the banner and the link are gone.
    const page = await fetch(later.body.upgrade_url);
    expect(page.status).toBe(200);
    const sessionId = new URL(later.body.upgrade_url).pathname.split('/').pop();
    const paid = await project.call('POST', `/v1/test-helpers/checkout/${sessionId}/pay`, { card: '4242424242424242' });
    expect(paid.status).toBe(200);
    const upgraded = (await call('GET', '/home/lea')).body;
    expect(upgraded).toMatchObject({ plan: 'premium', status: 'trialing', days_remaining: 11, banner: null, upgrade_url: null });
    expect(upgraded.next_charge).toEqual({ amount: 1999, currency: 'eur', at: '2026-03-15T10:00:00.000Z' });
  });
});

describe('webox', () => {
  it('lists products, fills the cart, and pays orders with the sandbox and with PayPal', async () => {
    const { call, project } = await start('webox', weboxApp);
    const listed = (await call('GET', '/products')).body.data as { id: string; stock: number | null }[];
    expect(listed.map((p) => p.id).sort()).toEqual(DEMO_CATALOGS.webox!.catalog.products!.map((p) => p.id).sort());
    expect(listed.find((p) => p.id === 'voice-clone-kit')?.stock).toBe(25);
    expect((await call('POST', '/signup', { user_id: 'sam', email: 'sam@example.com' })).status).toBe(201);

    const added = await call('POST', '/cart/sam', { product_id: 'voice-clone-kit', quantity: 2 });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ count: 2, total: { amount: 5800, currency: 'eur' } });
    expect(await call('POST', '/cart/sam', { product_id: 'dataset-starter', quantity: 30 })).toMatchObject({ status: 409, body: { error: 'insufficient_stock' } });
    expect((await call('POST', '/cart/sam', { product_id: 'no-such-product' })).status).toBe(404);
    expect((await call('POST', '/cart/sam', { product_id: 'ebook-ai-business', quantity: 0 })).status).toBe(400);

    // Sandbox: the hosted checkout page, paid with the sandbox's test card.
    const sandbox = await call('POST', '/checkout/sam', { provider: 'sandbox' });
    expect(sandbox.status).toBe(201);
    expect(sandbox.body).toMatchObject({ total: { amount: 5800, currency: 'eur' } });
    expect(sandbox.body.checkout_url).toBe(`${base}/checkout/${sandbox.body.session_id}`);
    expect((await call('GET', '/cart/sam')).body.count).toBe(0);
    expect((await call('GET', `/orders/${sandbox.body.order_id}`)).body.status).toBe('pending');
    expect((await project.call('POST', `/v1/test-helpers/checkout/${sandbox.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(200);
    expect((await call('GET', `/orders/${sandbox.body.order_id}`)).body).toEqual({ id: sandbox.body.order_id, status: 'paid', total: { amount: 5800, currency: 'eur' } });
    expect((await call('GET', '/products')).body.data.find((p: { id: string }) => p.id === 'voice-clone-kit').stock).toBe(23);

    expect(await call('POST', '/checkout/sam', { provider: 'sandbox' })).toEqual({ status: 400, body: { error: 'invalid_request', message: 'The cart is empty' } });
    // PayPal before it is set up: no checkout, and the order made for it is canceled (its units back).
    await call('POST', '/cart/sam', { product_id: 'voice-clone-kit' });
    const unset = await call('POST', '/checkout/sam', { provider: 'paypal' });
    expect(unset).toEqual({ status: 400, body: { error: 'invalid_request', message: 'PayPal is not configured for this project: PUT /v1/providers/paypal first' } });
    const orders = (await project.call('GET', '/v1/customers/sam/orders')).body.data.map((o: { status: string }) => o.status);
    expect(orders.sort()).toEqual(['canceled', 'paid']);
    expect((await call('GET', '/products')).body.data.find((p: { id: string }) => p.id === 'voice-clone-kit').stock).toBe(23);

    // PayPal: the checkout URL is PayPal's approval page; the buyer approves and comes back through
    // Tollgate, which captures the order and sends them to the shop's order page.
    expect((await project.call('PUT', '/v1/providers/paypal', { client_id: 'AZexampleClient01', client_secret: 'ECexampleSecret01', webhook_id: 'WH-EXAMPLE-01', mode: 'sandbox' })).status).toBe(200);
    await call('POST', '/cart/sam', { product_id: 'ebook-ai-business' });
    const paypal = await call('POST', '/checkout/sam', { provider: 'paypal' });
    expect(paypal.status).toBe(201);
    expect(paypal.body.checkout_url.startsWith(`${pp.url}/checkoutnow?token=`)).toBe(true);
    const back = await fetch(pp.approve(new URL(paypal.body.checkout_url).searchParams.get('token') as string), { redirect: 'manual' });
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toMatch(new RegExp(`/orders/${paypal.body.order_id}$`));
    expect((await call('GET', `/orders/${paypal.body.order_id}`)).body).toEqual({ id: paypal.body.order_id, status: 'paid', total: { amount: 1200, currency: 'eur' } });
    const payments = (await project.call('GET', '/v1/payments?customer_id=sam')).body.data.map((p: { provider: string; amount: number }) => [p.provider, p.amount]);
    expect(payments.sort()).toEqual([
      ['paypal', 1200],
      ['sandbox', 5800],
    ]);
  });
});

describe('ava', () => {
  it('the onboarding wizard keeps the Vapi and Twilio keys in the vault; a call uses them, or the platform keys (BYOK)', async () => {
    const dialed: { to: string; keys: CallKeys }[] = [];
    const dialer = async (call: { to: string; keys: CallKeys }) => {
      dialed.push(call);
      return { id: `call_${dialed.length}`, minutes: 4 };
    };
    const { call, project } = await start('ava', ({ tollgate }) => avaApp({ tollgate, dialer }));
    expect((await call('POST', '/onboarding/mia/start', { email: 'mia@example.com' })).status).toBe(201);
    expect((await call('GET', '/onboarding/mia')).body).toMatchObject({ onboarding: { status: 'not_started' }, keys: [] });

    const vapi = await call('POST', '/onboarding/mia/vapi', { api_key: 'vapi-mia-own-key-0001' });
    expect(vapi.body.saved).toEqual([{ name: 'vapi_api_key', preview: expect.any(String) }]);
    expect(JSON.stringify(vapi.body)).not.toContain('vapi-mia-own-key-0001');
    const twilio = await call('POST', '/onboarding/mia/twilio', { account_sid: 'AC-mia-sid-000001', auth_token: 'mia-twilio-token-0001' });
    expect(twilio.body.saved.map((s: { name: string }) => s.name).sort()).toEqual(['twilio_account_sid', 'twilio_auth_token']);
    const done = await call('POST', '/onboarding/mia/assistant', { tone: 'friendly', persona: 'Receptionist of a dental practice' });
    expect(done.status).toBe(200);
    expect(done.body.onboarding).toMatchObject({ status: 'completed' });
    expect(done.body.keys.map((k: { name: string }) => k.name).sort()).toEqual(['twilio_account_sid', 'twilio_auth_token', 'vapi_api_key']);
    expect(JSON.stringify(done.body)).not.toContain('mia-twilio-token-0001');
    const stored = (await project.call('GET', '/v1/customers/mia')).body;
    expect(stored.settings.studio).toEqual({ tone: 'friendly', persona: 'Receptionist of a dental practice' });

    // Noa skips Twilio and has no Vapi key yet: the wizard cannot finish, and there is nothing to call with.
    await call('POST', '/onboarding/noa/start', { email: 'noa@example.com' });
    expect((await call('POST', '/onboarding/noa/twilio', { skip: true })).body).toEqual({ skipped: true, saved: [] });
    expect(await call('POST', '/onboarding/noa/assistant', { tone: 'formal', persona: 'Concierge' })).toEqual({
      status: 409,
      body: { error: 'onboarding_incomplete', pending_steps: ['vapi'] },
    });
    expect((await call('POST', '/calls/noa', { to: '+33612345678' })).body.error).toBe('vapi_not_connected');
    expect(dialed).toHaveLength(0);

    // The platform's own keys, used for customers who brought none.
    for (const [name, value] of [
      ['vapi_api_key', 'vapi-platform-key-0001'],
      ['twilio_account_sid', 'AC-platform-sid-0001'],
      ['twilio_auth_token', 'platform-twilio-token-01'],
    ]) {
      expect((await project.call('PUT', `/v1/secrets/${name}`, { value })).status).toBe(200);
    }
    const own = await call('POST', '/calls/mia', { to: '+33611111111' });
    expect(own).toEqual({ status: 201, body: { call_id: 'call_1', minutes: 4, vapi_key: 'customer', twilio_key: 'customer' } });
    expect(dialed[0]).toEqual({ to: '+33611111111', keys: { vapi: 'vapi-mia-own-key-0001', twilio: { sid: 'AC-mia-sid-000001', token: 'mia-twilio-token-0001' } } });
    const fallback = await call('POST', '/calls/noa', { to: '+33622222222' });
    expect(fallback.body).toMatchObject({ vapi_key: 'platform', twilio_key: 'platform' });
    expect(dialed[1]?.keys).toEqual({ vapi: 'vapi-platform-key-0001', twilio: { sid: 'AC-platform-sid-0001', token: 'platform-twilio-token-01' } });
    // The minutes count against the Free plan's 30 per month.
    expect((await project.call('POST', '/v1/check', { customer_id: 'mia', feature: 'call_minutes' })).body).toMatchObject({ usage: 4, limit: 30 });
  });
});

describe('examples/README.md', () => {
  const root = new URL('../examples/', import.meta.url);
  const codeLines = (text: string) => text.split('\n').filter((l) => l.trim() !== '' && !/^\s*(\/\/|\/\*\*?|\*)/.test(l)).length;

  it.each(PRODUCTS)('%s: the SDK is used in tollgate.ts only, in at most 40 lines, as the table says', (product) => {
    const files = readdirSync(new URL(`${product}/`, root)).filter((f) => f.endsWith('.ts'));
    expect(files.sort()).toEqual(['app.ts', 'server.ts', 'tollgate.ts']);
    for (const f of files.filter((x) => x !== 'tollgate.ts')) {
      expect(readFileSync(new URL(`${product}/${f}`, root), 'utf8'), `${product}/${f}`).not.toContain('@tollgate/sdk');
    }
    const lines = codeLines(readFileSync(new URL(`${product}/tollgate.ts`, root), 'utf8'));
    expect(lines).toBeLessThanOrEqual(40);
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith(`| [${product}](${product}/) |`));
    expect(row).toContain(`\`npx tsx examples/${product}/server.ts\``);
    expect(row?.trim().endsWith(`| ${lines} |`), `README row of ${product}: ${lines} lines`).toBe(true);
  });
});
