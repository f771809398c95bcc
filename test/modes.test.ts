import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Tollgate } from '@tollgate/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { listMigrations, migrate } from '../src/db/migrate.ts';
import { findKeyByHash, findProject } from '../src/modules/projects/projects.repository.ts';
import { hashKey } from '../src/modules/projects/projects.service.ts';
import { createHarness, type Harness, openTestDb, type Res, TEST_ENCRYPTION_KEY, type TestProject } from './support/harness.ts';
import { PaypalTestServer } from './support/paypal-server.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';

let h: Harness;
let stripe: LocalStripe;
let paypal: PaypalTestServer;

beforeAll(async () => {
  stripe = await new LocalStripe().start();
  paypal = new PaypalTestServer();
  await paypal.start();
  h = await createHarness({ config: { stripeApiBase: stripe.url, paypalApiBase: paypal.url } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
});
afterAll(async () => {
  await h?.close();
  await stripe?.close();
  await paypal?.stop();
});

const URLS = { success_url: 'https://app.example.com/ok', cancel_url: 'https://app.example.com/cancel' };
const catalogOf = (name: keyof typeof DEMO_CATALOGS) => DEMO_CATALOGS[name]!.catalog;

interface Pair {
  test: TestProject;
  live: TestProject;
}

function withKey(id: string, key: string, publishableKey = ''): TestProject {
  return {
    id,
    key,
    publishableKey,
    call: (method, url, body, headers = {}) =>
      h.inject({
        method,
        url,
        headers: { authorization: `Bearer ${key}`, ...headers },
        ...(body !== undefined ? { payload: body as object } : {}),
      }),
  };
}

/** A project and a live secret key made by its test key. */
async function pair(catalog?: keyof typeof DEMO_CATALOGS): Promise<Pair> {
  const test = await h.project(catalog ? { catalog: catalogOf(catalog) } : {});
  const r = await test.call('POST', '/v1/keys', { mode: 'live' });
  expect(r.status).toBe(201);
  return { test, live: withKey(r.body.project_id, r.body.key) };
}

async function connectLiveStripe(live: TestProject): Promise<{ sk: string; whsec: string }> {
  const sk = `sk_live_${randomToken(20)}`;
  const whsec = `whsec_${randomToken(32)}`;
  const r = await live.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec] });
  expect(r.status).toBe(200);
  return { sk, whsec };
}

async function deliverStripe(projectId: string, whsec: string, event: object): Promise<Res> {
  const body = JSON.stringify(event);
  return h.inject({
    method: 'POST',
    url: `/v1/webhooks/stripe/${projectId}`,
    headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, whsec, Math.floor(h.clock.now().getTime() / 1000)) },
    payload: body,
  });
}

describe('keys and modes', () => {
  it('a test key makes sk_live_/pk_live_ keys that belong to the live twin <id>_live, and GET /v1/project says the mode', async () => {
    const { test, live } = await pair();
    expect(live.key).toMatch(/^sk_live_/);
    expect(live.id).toBe(`${test.id}_live`);
    expect(test.key).toMatch(/^sk_test_/);
    const pk = await test.call('POST', '/v1/keys', { mode: 'live', kind: 'publishable' });
    expect(pk.status).toBe(201);
    expect(pk.body).toMatchObject({ mode: 'live', kind: 'publishable', project_id: live.id });
    expect(pk.body.key).toMatch(/^pk_live_/);

    const tv = await test.call('GET', '/v1/project');
    expect(tv.body).toMatchObject({ id: test.id, mode: 'test', test_project_id: test.id, live_project_id: live.id, live_catalog: 'shared' });
    const lv = await live.call('GET', '/v1/project');
    expect(lv.body).toMatchObject({ id: live.id, mode: 'live', test_project_id: test.id, live_project_id: live.id, name: tv.body.name });

    // A live key makes live keys by default, and may make test keys.
    const again = await live.call('POST', '/v1/keys', {});
    expect(again.body).toMatchObject({ mode: 'live', project_id: live.id });
    expect(again.body.key).toMatch(/^sk_live_/);
    const back = await live.call('POST', '/v1/keys', { mode: 'test', scopes: ['read'] });
    expect(back.body).toMatchObject({ mode: 'test', project_id: test.id });
    expect(back.body.key).toMatch(/^sk_test_/);

    // Each mode lists its own keys.
    const liveKeys = (await live.call('GET', '/v1/keys')).body.data;
    expect(liveKeys.map((k: { mode: string }) => k.mode)).toEqual(['live', 'live', 'live']);
    const testKeys = (await test.call('GET', '/v1/keys')).body.data;
    expect(new Set(testKeys.map((k: { mode: string }) => k.mode))).toEqual(new Set(['test']));
    expect(testKeys).toHaveLength(3);
  });

  it('name and origins are shared by both modes; provider settings are not', async () => {
    const { test, live } = await pair();
    const patched = await test.call('PATCH', '/v1/project', { name: 'Shared name', cors_origins: ['https://app.example.com'] });
    expect(patched.status).toBe(200);
    const lv = await live.call('GET', '/v1/project');
    expect(lv.body).toMatchObject({ name: 'Shared name', cors_origins: ['https://app.example.com'], mode: 'live' });
    const fromLive = await live.call('PATCH', '/v1/project', { name: 'Renamed from live' });
    expect(fromLive.body.mode).toBe('live');
    expect((await test.call('GET', '/v1/project')).body.name).toBe('Renamed from live');

    const testProviders = (await test.call('GET', '/v1/providers')).body;
    expect(testProviders.data.map((p: { provider: string }) => p.provider)).toEqual(['sandbox']);
    const liveProviders = (await live.call('GET', '/v1/providers')).body;
    expect(liveProviders.data).toEqual([]);
  });
});

describe('data of one mode is invisible to the other', () => {
  it('customers, ledger, subscriptions, orders, events, endpoints and metrics: a test id is 404 to a live key and the reverse', async () => {
    const { test, live } = await pair('arkwatch');
    // Test mode: a customer with a ledger entry and a no-card trial, an endpoint, a paid sandbox checkout (an event).
    expect((await test.call('POST', '/v1/customers', { id: 'ana' })).status).toBe(201);
    const grant = await test.call('POST', '/v1/customers/ana/credits/grant', { amount: 5, reason: 'welcome' });
    expect(grant.status).toBe(200);
    expect((await test.call('POST', '/v1/customers/ana/subscription', { plan: 'pro' })).status).toBe(201);
    const endpoint = await test.call('POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.com/tg', events: ['*'] });
    expect(endpoint.status).toBe(201);
    const co = await test.call('POST', '/v1/checkout', { customer_id: 'bo', plan: 'starter', trial_days: 0, ...URLS });
    expect(co.status).toBe(201);
    const paid = await test.call('POST', `/v1/test-helpers/checkout/${co.body.session_id}/pay`, { card: '4242424242424242' });
    expect(paid.status).toBe(200);
    const events = (await test.call('GET', '/v1/events')).body.data;
    expect(events.length).toBeGreaterThan(0);
    const testMetrics = (await test.call('GET', '/v1/metrics')).body;
    expect(testMetrics.active_subscriptions).toBe(1);
    expect(testMetrics.trialing_subscriptions).toBe(1);

    for (const url of ['/v1/customers/ana', '/v1/customers/ana/credits', '/v1/customers/ana/credits/transactions', '/v1/customers/ana/subscription', `/v1/checkout/${co.body.session_id}`, `/v1/events/${events[0].id}`, `/v1/webhook-endpoints/${endpoint.body.id}/deliveries`]) {
      const r = await live.call('GET', url);
      expect(r.status, url).toBe(404);
    }
    expect((await live.call('GET', '/v1/events')).body.data).toEqual([]);
    expect((await live.call('GET', '/v1/webhook-endpoints')).body.data).toEqual([]);
    expect((await live.call('GET', '/v1/payments')).body.data).toEqual([]);
    expect((await live.call('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`)).status).toBe(404);
    const liveMetrics = (await live.call('GET', '/v1/metrics')).body;
    expect(liveMetrics.active_subscriptions).toBe(0);
    expect(liveMetrics.trialing_subscriptions).toBe(0);

    // Live mode: the same customer id is another customer; the test one is untouched.
    expect((await live.call('POST', '/v1/customers', { id: 'ana', email: 'ana@live.example' })).status).toBe(201);
    await live.call('POST', '/v1/customers/ana/credits/grant', { amount: 7, reason: 'live' });
    expect((await live.call('GET', '/v1/customers/ana/credits')).body.balance).toBe(7);
    expect((await test.call('GET', '/v1/customers/ana/credits')).body.balance).toBe(5);
    expect((await live.call('POST', '/v1/customers', { id: 'cy' })).status).toBe(201);
    expect((await test.call('GET', '/v1/customers/cy')).status).toBe(404);
    const audit = (await live.call('GET', '/v1/audit')).body.data.map((a: { action: string }) => a.action);
    expect(audit).toContain('credits.granted');
    expect((await test.call('GET', '/v1/audit')).body.data.filter((a: { target: string; action: string }) => a.action === 'credits.granted')).toHaveLength(1);
  });

  it('orders and stock: the shared shop catalog has stock counted per mode', async () => {
    const { test, live } = await pair('webox');
    expect((await test.call('POST', '/v1/customers/ana/cart/items', { product_id: 'prompt-pack-marketing', quantity: 2 })).status).toBe(200);
    const order = await test.call('POST', '/v1/customers/ana/orders', {});
    expect(order.status).toBe(201);
    expect((await live.call('GET', `/v1/orders/${order.body.id}`)).status).toBe(404);
    const testProduct = (await test.call('GET', '/v1/products')).body.data.find((p: { id: string }) => p.id === 'prompt-pack-marketing');
    const liveProduct = (await live.call('GET', '/v1/products')).body.data.find((p: { id: string }) => p.id === 'prompt-pack-marketing');
    expect(testProduct.stock).toBe(23);
    expect(liveProduct.stock).toBe(25);
    expect((await live.call('POST', '/v1/customers/ana/cart/items', { product_id: 'prompt-pack-marketing', quantity: 1 })).status).toBe(200);
    const liveOrder = await live.call('POST', '/v1/customers/ana/orders', {});
    expect(liveOrder.status).toBe(201);
    expect((await test.call('GET', `/v1/orders/${liveOrder.body.id}`)).status).toBe(404);
    expect((await test.call('GET', '/v1/customers/ana/orders')).body.data).toHaveLength(1);
  });
});

describe('live mode refuses test-only things', () => {
  it('sandbox checkout, test helpers, the test clock and sandbox webhooks answer 403 livemode_forbidden; the live clock never moves', async () => {
    const { test, live } = await pair('aurisvoice');
    const sandbox = await live.call('POST', '/v1/checkout', { customer_id: 'ana', credit_pack: 'pro', provider: 'sandbox', ...URLS });
    expect(sandbox.status).toBe(403);
    expect(sandbox.body.error.code).toBe('livemode_forbidden');
    expect(sandbox.body.error.message).toMatch(/test mode only/);
    for (const [url, body] of [
      ['/v1/test-helpers/clock/advance', { seconds: 60 }],
      ['/v1/test_helpers/clock/advance', { seconds: 60 }],
      ['/v1/test-helpers/checkout/chk_x/pay', { card: '4242424242424242' }],
    ] as const) {
      const r = await live.call('POST', url, body);
      expect(r.status, url).toBe(403);
      expect(r.body.error.code).toBe('livemode_forbidden');
    }
    const hook = await h.inject({ method: 'POST', url: `/v1/webhooks/sandbox/${live.id}`, headers: { 'content-type': 'application/json' }, payload: '{}' });
    expect(hook.status).toBe(403);
    expect(hook.body.error.code).toBe('livemode_forbidden');
    // Nothing was made in live mode by those refusals.
    expect((await live.call('GET', '/v1/customers/ana')).status).toBe(404);

    // The test clock moves test time only; backwards is refused with the current test time.
    const moved = await test.call('POST', '/v1/test-helpers/clock/advance', { seconds: 15 * 86400 });
    expect(moved.status).toBe(200);
    const back = await test.call('POST', '/v1/test-helpers/clock/advance', { to: h.clock.now().toISOString() });
    expect(back.status).toBe(400);
    expect(back.body.error).toMatchObject({ code: 'invalid_request', message: 'The clock only moves forward', now: moved.body.now });
    await test.call('POST', '/v1/customers', { id: 'ana' });
    await live.call('POST', '/v1/customers', { id: 'ana' });
    const testCreated = new Date((await test.call('GET', '/v1/customers/ana')).body.created_at).getTime();
    const liveCreated = new Date((await live.call('GET', '/v1/customers/ana')).body.created_at).getTime();
    expect(liveCreated).toBe(h.clock.now().getTime());
    expect(testCreated - liveCreated).toBe(15 * 86400 * 1000);
    // The database itself refuses a live clock offset.
    await expect(h.db.query('UPDATE projects SET clock_offset_ms = 1 WHERE id = $1', [live.id])).rejects.toThrow(/projects_live_clock/);
  });

  it('a live checkout is refused without a live provider, and goes to Stripe once live credentials are connected', async () => {
    const { test, live } = await pair('aurisvoice');
    const none = await live.call('POST', '/v1/checkout', { customer_id: 'ana', credit_pack: 'pro', ...URLS });
    expect(none.status).toBe(403);
    expect(none.body.error.code).toBe('livemode_forbidden');
    expect(none.body.error.message).toMatch(/needs a real provider/);
    expect((await live.call('GET', '/v1/customers/ana')).status).toBe(404);

    const { sk, whsec } = await connectLiveStripe(live);
    // The key was checked against Stripe when connected, outside any transaction.
    expect(stripe.requests.filter((r) => r.account === sk).map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/balance']);
    const providers = (await live.call('GET', '/v1/providers')).body;
    expect(providers).toMatchObject({ default: 'stripe', data: [{ provider: 'stripe', mode: 'live', default: true }] });

    const co = await live.call('POST', '/v1/checkout', { customer_id: 'ana', credit_pack: 'pro', ...URLS });
    expect(co.status).toBe(201);
    const cs = stripe.list(sk, 'checkout.session')[0]!;
    expect(cs.livemode).toBe(true);
    expect(co.body.url).toBe(cs.url);
    const [completed] = stripe.completeCheckout(sk, cs.id);
    const delivered = await deliverStripe(live.id, whsec, completed!);
    expect(delivered.status).toBe(200);
    expect((await live.call('GET', '/v1/customers/ana/credits')).body.balance).toBe(10 + 60);
    expect((await test.call('GET', '/v1/customers/ana')).status).toBe(404);

    // Metrics are per mode: the live sale is live revenue only.
    const liveMetrics = (await live.call('GET', '/v1/metrics')).body;
    const testMetrics = (await test.call('GET', '/v1/metrics')).body;
    expect(liveMetrics.credits_sold).toEqual({ credits: 60, revenue: [{ amount: 1500, currency: 'eur' }] });
    expect(testMetrics.credits_sold).toEqual({ credits: 0, revenue: [] });

    // A test-mode Stripe event is refused by the live project.
    const testEvent = { ...completed!, id: `evt_${randomToken(12)}`, livemode: false };
    const refused = await deliverStripe(live.id, whsec, testEvent);
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('invalid_signature');
  });

  it('credentials of the other mode are refused when connecting, and live ones are checked with the provider', async () => {
    const { test, live } = await pair();
    const testKeyOnLive = await live.call('PUT', '/v1/providers/stripe', { secret_key: `sk_test_${randomToken(20)}` });
    expect(testKeyOnLive.status).toBe(403);
    expect(testKeyOnLive.body.error).toMatchObject({ code: 'livemode_forbidden', credentials_mode: 'test' });
    const liveKeyOnTest = await test.call('PUT', '/v1/providers/stripe', { secret_key: `sk_live_${randomToken(20)}` });
    expect(liveKeyOnTest.status).toBe(403);
    expect(liveKeyOnTest.body.error).toMatchObject({ code: 'livemode_forbidden', credentials_mode: 'live' });
    const sandboxPaypal = await live.call('PUT', '/v1/providers/paypal', { client_id: 'client-id-1', client_secret: 'secret-12345', webhook_id: 'WH-1', mode: 'sandbox' });
    expect(sandboxPaypal.status).toBe(403);
    expect(sandboxPaypal.body.error.code).toBe('livemode_forbidden');

    // A live key Stripe refuses is not stored.
    const refusedKey = `sk_live_${randomToken(20)}`;
    stripe.refusedKeys.add(refusedKey);
    const bad = await live.call('PUT', '/v1/providers/stripe', { secret_key: refusedKey });
    expect(bad.status).toBe(502);
    expect(bad.body.error.code).toBe('provider_error');
    expect((await live.call('GET', '/v1/providers')).body.data).toEqual([]);

    // Live PayPal credentials are checked by asking PayPal for a token.
    const before = paypal.requests.length;
    const pp = await live.call('PUT', '/v1/providers/paypal', { client_id: 'client-id-live', client_secret: 'secret-live-123', webhook_id: 'WH-LIVE', mode: 'live' });
    expect(pp.status).toBe(200);
    expect(pp.body).toMatchObject({ provider: 'paypal', mode: 'live', default: true });
    expect(paypal.requests.slice(before).map((r) => r.path)).toEqual(['/v1/oauth2/token']);
  });
});

describe('catalog', () => {
  it('is shared by both modes until a live catalog is pushed; then each mode has its own', async () => {
    const { test, live } = await pair('aurisvoice');
    const packs = async (p: TestProject) => (await p.call('GET', '/v1/plans')).body.credit_packs.map((c: { id: string }) => c.id);
    expect(await packs(live)).toEqual(['starter', 'pro', 'premium']);
    expect((await live.call('GET', '/v1/project')).body).toMatchObject({ live_catalog: 'shared', catalog_version: 1 });
    const smaller = { ...catalogOf('aurisvoice'), credit_packs: catalogOf('aurisvoice').credit_packs?.slice(0, 1) };
    expect((await test.call('PUT', '/v1/catalog', smaller)).status).toBe(200);
    expect(await packs(live)).toEqual(['starter']);

    // A push in live mode (`tollgate push --mode live`) gives live mode its own catalog.
    const liveOnly = { ...catalogOf('aurisvoice'), credit_packs: catalogOf('aurisvoice').credit_packs?.slice(2) };
    const pushed = await live.call('PUT', '/v1/catalog', liveOnly);
    expect(pushed.status).toBe(200);
    expect(await packs(live)).toEqual(['premium']);
    expect(await packs(test)).toEqual(['starter']);
    expect((await live.call('GET', '/v1/project')).body).toMatchObject({ live_catalog: 'own', catalog_version: 1 });
    expect((await test.call('GET', '/v1/project')).body).toMatchObject({ live_catalog: 'own', catalog_version: 2 });
    expect((await test.call('PUT', '/v1/catalog', catalogOf('aurisvoice'))).status).toBe(200);
    expect(await packs(test)).toEqual(['starter', 'pro', 'premium']);
    expect(await packs(live)).toEqual(['premium']);

    // Sharing again, then back to the live catalog kept aside.
    const shared = await test.call('PATCH', '/v1/project', { live_catalog: 'shared' });
    expect(shared.body.live_catalog).toBe('shared');
    expect(await packs(live)).toEqual(['starter', 'pro', 'premium']);
    const own = await live.call('PATCH', '/v1/project', { live_catalog: 'own' });
    expect(own.body).toMatchObject({ mode: 'live', live_catalog: 'own' });
    expect(await packs(live)).toEqual(['premium']);
  });

  it('live_catalog "own" is refused while live mode has never had a catalog pushed', async () => {
    const { test, live } = await pair('aurisvoice');
    const r = await test.call('PATCH', '/v1/project', { live_catalog: 'own' });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'conflict', param: 'live_catalog' });
    expect((await live.call('GET', '/v1/project')).body.live_catalog).toBe('shared');
    expect((await live.call('GET', '/v1/plans')).body.credit_packs).toHaveLength(3);
  });
});

describe('migration 0032', () => {
  it('keeps every existing project, key and customer as test mode and gives each project a live twin', async () => {
    const db = await openTestDb();
    try {
      await db.exec('CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())');
      for (const m of listMigrations().filter((x) => x.version < 32)) {
        await db.exec(m.sql);
        await db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      }
      await db.query("INSERT INTO projects (id, name, sandbox_webhook_secret, clock_offset_ms) VALUES ('old-shop', 'Old shop', 'whsec_b2xk', 86400000)");
      await db.query("INSERT INTO api_keys (id, project_id, kind, key_hash, preview, scopes) VALUES ('key_old', 'old-shop', 'secret', $1, 'sk_test_old…', '{full}')", [hashKey('sk_test_old_key')]);
      await db.query("INSERT INTO customers (project_id, id, created_at, updated_at) VALUES ('old-shop', 'ana', now(), now())");
      expect((await migrate(db))[0]).toBe('0032_test_and_live_modes.sql');

      const old = await findProject(db, 'old-shop');
      expect(old).toMatchObject({ mode: 'test', test_project_id: null, clock_offset_ms: expect.anything() });
      expect(Number(old?.clock_offset_ms)).toBe(86400000);
      const twin = await findProject(db, 'old-shop_live');
      expect(twin).toMatchObject({ mode: 'live', test_project_id: 'old-shop', name: 'Old shop', default_provider: 'stripe', live_catalog_shared: true });
      expect(Number(twin?.clock_offset_ms)).toBe(0);
      const key = await findKeyByHash(db, hashKey('sk_test_old_key'));
      expect(key).toMatchObject({ project_id: 'old-shop', project: { mode: 'test' } });
      const customers = await db.query<{ project_id: string }>("SELECT project_id FROM customers WHERE id = 'ana'");
      expect(customers.rows).toEqual([{ project_id: 'old-shop' }]);
    } finally {
      await db.close();
    }
  });
});

describe('SDK', () => {
  it('a live key just works, and project.get() says its mode', async () => {
    const base = await h.listen();
    const { test, live } = await pair('aurisvoice');
    const sdkLive = new Tollgate({ apiKey: live.key, baseUrl: base });
    const sdkTest = new Tollgate({ apiKey: test.key, baseUrl: base });
    expect(await sdkLive.project.get()).toMatchObject({ id: live.id, mode: 'live', test_project_id: test.id });
    expect((await sdkTest.project.get()).mode).toBe('test');
    await sdkLive.customers.create({ id: 'ana' });
    await sdkLive.credits.grant('ana', { amount: 3, reason: 'live' });
    expect((await sdkLive.credits.balance('ana')).balance).toBe(10 + 3);
    const made = await sdkTest.keys.create({ mode: 'live', kind: 'publishable' });
    expect(made.key).toMatch(/^pk_live_/);
    const plans = await new Tollgate({ apiKey: made.key, baseUrl: base }).plans();
    expect(plans.credit_packs.map((p) => p.id)).toEqual(['starter', 'pro', 'premium']);
  });
});

describe('CLI', () => {
  it('keys create --mode live makes live keys, push --mode live gives live mode its own catalog, a bad --mode is a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-modes-'));
    const env = { ...process.env, TOLLGATE_DATA_DIR: dir, TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, LOG_LEVEL: 'silent' };
    const run = promisify(execFile);
    const cli = (...args: string[]) =>
      run(process.execPath, ['bin/tollgate.js', ...args], { env, timeout: 90_000 }).catch((e: { stdout: string; stderr: string; code: number }) => e);
    try {
      const id = `modes-${Date.now().toString(36)}`;
      expect((await cli('projects', 'create', 'Modes Co', '--id', id)).stdout).toContain(`Project ${id} created.`);
      const live = JSON.parse((await cli('keys', 'create', '--project', id, '--mode', 'live', '--json')).stdout);
      expect(live).toMatchObject({ mode: 'live', project: `${id}_live`, kind: 'secret' });
      expect(live.key).toMatch(/^sk_live_/);
      const bad = (await cli('keys', 'create', '--project', id, '--mode', 'prod')) as { code: number; stderr: string };
      expect(bad.code).toBe(1);
      expect(bad.stderr.split('\n')[0]).toBe("--mode must be test or live (got 'prod')");

      const file = join(dir, 'live.catalog.json');
      writeFileSync(file, JSON.stringify({ credit_packs: [{ id: 'live-pack', name: 'Live pack', credits: 5, price: { amount: 300, currency: 'eur' } }] }));
      expect((await cli('push', file, '--project', id, '--mode', 'live')).stdout).toContain(`Pushed catalog version 1 to ${id}_live (live mode now has its own catalog).`);
      // The test catalog is untouched by the live push.
      expect((await cli('push', file, '--project', id, '--dry-run')).stdout).toContain(`Changes against ${id}'s catalog version 0:`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000); // each command starts its own process and opens the embedded database (~4 s on an idle machine)
});
