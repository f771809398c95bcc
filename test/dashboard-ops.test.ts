import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { KEY_USE_RESOLUTION_MS, keyUsesSettled } from '../src/modules/keys/key-usage.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';
import { PaypalTestServer } from './support/paypal-server.ts';
import { type Receiver, startReceiver } from './support/receiver.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';
import { drainWebhooks, verifyOutgoing } from './support/webhooks.ts';

/**
 * Issue 13 §2, the API behind the dashboard's Settings, Webhooks and Keys pages: rate limits,
 * branding and locale through PATCH /v1/project; a key's last use; an endpoint's test event and
 * secret rotation; a provider's status and a verification against the provider's API.
 */
let h: Harness;
let stripe: LocalStripe;
let paypal: PaypalTestServer;
let rx: Receiver;
let cookie: string;

beforeAll(async () => {
  stripe = await new LocalStripe().start();
  paypal = new PaypalTestServer();
  await paypal.start();
  rx = await startReceiver();
  h = await createHarness({ config: { stripeApiBase: stripe.url, paypalApiBase: paypal.url, webhookAllowPrivate: true, webhookTimeoutMs: 2000 } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
  await createOperator(h.tg.ctx, { email: 'ops@example.com', password: 'correct horse battery staple' });
  const r = await h.inject({ method: 'POST', url: '/dashboard/api/login', payload: { email: 'ops@example.com', password: 'correct horse battery staple' } });
  expect(r.status).toBe(200);
  cookie = String(r.headers['set-cookie']).split(';')[0]!;
}, 60_000);
afterAll(async () => {
  await h?.close();
  await stripe?.close();
  await paypal?.stop();
  await rx?.close();
});

const keyOf = async (p: TestProject, id?: string) => {
  const keys = (await p.call('GET', '/v1/keys')).body.data as any[];
  return id ? keys.find((k) => k.id === id) : keys.find((k) => k.kind === 'secret');
};

describe('a key records its last use, coarsely and after the reply', () => {
  it('is null until used, set after a request, written again only once the 5-minute resolution has passed', async () => {
    const p = await h.project();
    const created = (await p.call('POST', '/v1/keys', { scopes: ['read'], name: 'reader' })).body;
    await keyUsesSettled(h.tg.ctx);
    expect((await keyOf(p, created.id)).last_used_at).toBeNull();

    const first = h.clock.now().toISOString();
    const read = await h.inject({ method: 'GET', url: '/v1/project', headers: { authorization: `Bearer ${created.key}` } });
    expect(read.status).toBe(200);
    await keyUsesSettled(h.tg.ctx);
    expect((await keyOf(p, created.id)).last_used_at).toBe(first);

    h.clock.advance(KEY_USE_RESOLUTION_MS - 60_000);
    await h.inject({ method: 'GET', url: '/v1/project', headers: { authorization: `Bearer ${created.key}` } });
    await keyUsesSettled(h.tg.ctx);
    expect((await keyOf(p, created.id)).last_used_at).toBe(first);

    h.clock.advance(60_000);
    const later = h.clock.now().toISOString();
    await h.inject({ method: 'GET', url: '/v1/project', headers: { authorization: `Bearer ${created.key}` } });
    await keyUsesSettled(h.tg.ctx);
    expect((await keyOf(p, created.id)).last_used_at).toBe(later);
  });

  it('another instance sharing the database writes it once per period too (the UPDATE is conditional)', async () => {
    const p = await h.project();
    const created = (await p.call('POST', '/v1/keys', {})).body;
    const { projectsRepository } = await import('../src/modules/projects/projects.service.ts');
    const at = h.clock.now();
    expect(await projectsRepository.touchKey(h.db, p.id, created.id, at, KEY_USE_RESOLUTION_MS)).toBe(true);
    expect(await projectsRepository.touchKey(h.db, p.id, created.id, new Date(at.getTime() + 1000), KEY_USE_RESOLUTION_MS)).toBe(false);
  });

  it('a dashboard operator acting on the project leaves the project keys untouched', async () => {
    const p = await h.project();
    await keyUsesSettled(h.tg.ctx);
    const before = (await h.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM api_keys WHERE project_id = $1 AND last_used_at IS NOT NULL', [p.id])).rows[0]?.n;
    h.clock.advance(KEY_USE_RESOLUTION_MS + 1000);
    const r = await h.inject({ method: 'GET', url: `/dashboard/api/p/${p.id}/v1/keys`, headers: { cookie } });
    expect(r.status).toBe(200);
    await keyUsesSettled(h.tg.ctx);
    const after = (await h.db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM api_keys WHERE project_id = $1 AND last_used_at IS NOT NULL', [p.id])).rows[0]?.n;
    expect(before).toBe(0);
    expect(after).toBe(0);
  });
});

describe('PATCH /v1/project: rate limits, branding, locale', () => {
  it('sets settings.rate_limit, which the limiter applies; null returns to the server default', async () => {
    const p = await h.project();
    const shown = (await p.call('GET', '/v1/project')).body.rate_limit;
    expect(shown).toEqual({
      per_key_per_second: null,
      per_customer_per_second: null,
      server_defaults: { per_key_per_second: h.config.rateLimit.perKeyPerSecond, per_customer_per_second: h.config.rateLimit.perCustomerPerSecond },
    });
    const set = await p.call('PATCH', '/v1/project', { rate_limit: { per_key_per_second: 2 } });
    expect(set.status).toBe(200);
    expect(set.body.rate_limit.per_key_per_second).toBe(2);
    expect(set.body.rate_limit.per_customer_per_second).toBeNull();
    h.clock.advance(1000);
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await p.call('GET', '/v1/project')).status);
    expect(statuses).toEqual([200, 200, 429]);
    h.clock.advance(1000);
    const back = await p.call('PATCH', '/v1/project', { rate_limit: { per_key_per_second: null } });
    expect(back.status).toBe(200);
    expect(back.body.rate_limit.per_key_per_second).toBeNull();
    const row = (await h.db.query<{ settings: any }>('SELECT settings FROM projects WHERE id = $1', [p.id])).rows[0]!;
    expect(row.settings.rate_limit).toEqual({});
  });

  it('refuses a bad limit naming the field, and changes nothing', async () => {
    const p = await h.project();
    await p.call('PATCH', '/v1/project', { rate_limit: { per_customer_per_second: 7 } });
    for (const [value, message] of [
      [-1, 'must be 0 (unlimited) or more'],
      [1.5, 'must be a whole number'],
      ['ten', 'number'],
    ] as const) {
      const r = await p.call('PATCH', '/v1/project', { rate_limit: { per_key_per_second: value } });
      expect(r.status).toBe(400);
      expect(r.body.error.param).toBe('rate_limit.per_key_per_second');
      expect(r.body.error.message).toContain(message);
    }
    const unknown = await p.call('PATCH', '/v1/project', { rate_limit: { per_minute: 5 } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.param).toBe('rate_limit.per_minute');
    expect((await p.call('GET', '/v1/project')).body.rate_limit.per_customer_per_second).toBe(7);
  });

  it('branding and locale show on the hosted pages over the catalog theme; null falls back to it', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await p.call('POST', '/v1/customers', { id: 'u1', email: 'u1@example.com' });
    const session = (await p.call('POST', '/v1/customer-sessions', { customer_id: 'u1' })).body;
    const pricing = () => h.inject({ method: 'GET', url: new URL(session.urls.credits).pathname + new URL(session.urls.credits).search });
    const themed = DEMO_CATALOGS.aurisvoice!.catalog.theme?.name ?? DEMO_CATALOGS.aurisvoice!.catalog.name;
    expect((await pricing()).raw).toContain(String(themed));

    const r = await p.call('PATCH', '/v1/project', { branding: { name: 'Brandnew Studio', primary_color: '#0f766e', logo_url: 'https://cdn.example.com/logo.svg' }, locale: 'fr-FR' });
    expect(r.status).toBe(200);
    expect(r.body.branding).toEqual({ name: 'Brandnew Studio', primary_color: '#0f766e', logo_url: 'https://cdn.example.com/logo.svg' });
    expect(r.body.locale).toBe('fr-FR');
    const page = (await pricing()).raw;
    expect(page).toContain('Brandnew Studio');
    expect(page).toContain('#0f766e');
    expect(page).toContain('https://cdn.example.com/logo.svg');
    expect(page).toContain('lang="fr');

    const partial = await p.call('PATCH', '/v1/project', { branding: { logo_url: null } });
    expect(partial.body.branding).toEqual({ name: 'Brandnew Studio', primary_color: '#0f766e', logo_url: null });
    const reset = await p.call('PATCH', '/v1/project', { branding: { name: null, primary_color: null }, locale: null });
    expect(reset.body.branding).toEqual({ name: null, primary_color: null, logo_url: null });
    expect(reset.body.locale).toBeNull();
    const after = (await pricing()).raw;
    expect(after).not.toContain('Brandnew Studio');
    expect(after).toContain(String(themed));
  });

  it('e-mails to customers carry the project branding and locale', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await p.call('PATCH', '/v1/project', { branding: { name: 'Mailbrand Studio', primary_color: '#be123c' }, locale: 'fr-FR' });
    await p.call('POST', '/v1/customers', { id: 'mail1', email: 'mail1@example.com' });
    await runDueJobs(h.tg.ctx);
    const list = (await p.call('GET', '/v1/emails?customer_id=mail1')).body.data;
    expect(list.length).toBeGreaterThan(0);
    const mail = (await p.call('GET', `/v1/emails/${list[0].id}`)).body;
    expect(mail.html).toContain('Mailbrand Studio');
    expect(mail.html).toContain('#be123c');
    expect(mail.locale).toBe('fr');
  });

  it('refuses a bad color, logo URL or locale naming the field', async () => {
    const p = await h.project();
    const cases: [unknown, string][] = [
      [{ branding: { primary_color: 'teal' } }, 'branding.primary_color'],
      [{ branding: { logo_url: 'javascript:alert(1)' } }, 'branding.logo_url'],
      [{ branding: { name: '   ' } }, 'branding.name'],
      [{ locale: 'not a locale!' }, 'locale'],
    ];
    for (const [body, param] of cases) {
      const r = await p.call('PATCH', '/v1/project', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.param).toBe(param);
    }
    const v = (await p.call('GET', '/v1/project')).body;
    expect(v.branding).toEqual({ name: null, primary_color: null, logo_url: null });
    expect(v.locale).toBeNull();
  });
});

describe('webhook endpoints: a test event and a secret rotation', () => {
  it('sends a webhook.test event to that endpoint only, now, and returns its delivery with the attempt', async () => {
    const p = await h.project();
    const a = (await p.call('POST', '/v1/webhook-endpoints', { url: rx.url('/test-a'), events: ['*'] })).body;
    const b = (await p.call('POST', '/v1/webhook-endpoints', { url: rx.url('/test-b'), events: ['*'] })).body;
    const sentAt = h.clock.now();
    const r = await p.call('POST', `/v1/webhook-endpoints/${a.id}/test`, undefined, { 'idempotency-key': randomToken(12) });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ object: 'webhook_delivery', endpoint_id: a.id, event_type: 'webhook.test', status: 'succeeded', attempts: 1, last_status_code: 200 });
    expect(r.body.attempt_log).toHaveLength(1);
    const got = rx.received('/test-a');
    expect(got).toHaveLength(1);
    const event = verifyOutgoing(sentAt, a.secret, got[0]!);
    expect(event).toMatchObject({ type: 'webhook.test', customer_id: null, data: { object: 'webhook_test', endpoint_id: a.id } });
    await drainWebhooks(h.tg.ctx);
    expect(rx.received('/test-b')).toHaveLength(0);
    const listed = (await p.call('GET', `/v1/webhook-endpoints/${b.id}/deliveries`)).body.data;
    expect(listed).toHaveLength(0);
  });

  it('reports a receiver that fails, and refuses a disabled or unknown endpoint', async () => {
    const p = await h.project();
    rx.reply('/test-500', { status: 500, body: 'boom' });
    const ep = (await p.call('POST', '/v1/webhook-endpoints', { url: rx.url('/test-500'), events: ['*'] })).body;
    const r = await p.call('POST', `/v1/webhook-endpoints/${ep.id}/test`);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('pending');
    expect(r.body.last_status_code).toBe(500);
    expect(r.body.attempt_log[0].response_excerpt).toBe('boom');
    await p.call('PATCH', `/v1/webhook-endpoints/${ep.id}`, { enabled: false });
    const off = await p.call('POST', `/v1/webhook-endpoints/${ep.id}/test`);
    expect(off.status).toBe(409);
    expect(off.body.error.message).toContain('disabled');
    const missing = await p.call('POST', '/v1/webhook-endpoints/we_nope/test');
    expect(missing.status).toBe(404);
  });

  it('rotates the secret: shown once, both sign during the grace period, then only the new one', async () => {
    const p = await h.project();
    const ep = (await p.call('POST', '/v1/webhook-endpoints', { url: rx.url('/rotate'), events: ['*'] })).body;
    const key = randomToken(12);
    const rotated = await p.call('POST', `/v1/webhook-endpoints/${ep.id}/rotate-secret`, { expires_in_seconds: 3600 }, { 'idempotency-key': key });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(ep.secret);
    expect(rotated.body.previous_secret_expires_at).toBe(new Date(h.clock.now().getTime() + 3600_000).toISOString());
    // The stored idempotent reply never holds the secret; a replay shows the same one again.
    const stored = await h.db.query<{ response: unknown }>('SELECT response FROM idempotency_keys WHERE project_id = $1 AND key = $2', [p.id, key]);
    expect(JSON.stringify(stored.rows[0]?.response)).not.toContain('whsec_');
    const replay = await p.call('POST', `/v1/webhook-endpoints/${ep.id}/rotate-secret`, { expires_in_seconds: 3600 }, { 'idempotency-key': key });
    expect(replay.body.secret).toBe(rotated.body.secret);
    expect((await p.call('GET', `/v1/webhook-endpoints/${ep.id}`)).body).not.toHaveProperty('secret');

    const during = h.clock.now();
    await p.call('POST', `/v1/webhook-endpoints/${ep.id}/test`);
    const first = rx.received('/rotate').at(-1)!;
    expect(String(first.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifyOutgoing(during, ep.secret, first).type).toBe('webhook.test');
    expect(verifyOutgoing(during, rotated.body.secret, first).type).toBe('webhook.test');

    h.clock.advance(3600_000 + 1000);
    const after = h.clock.now();
    await p.call('POST', `/v1/webhook-endpoints/${ep.id}/test`);
    const second = rx.received('/rotate').at(-1)!;
    expect(String(second.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(verifyOutgoing(after, rotated.body.secret, second).type).toBe('webhook.test');
    expect(() => verifyOutgoing(after, ep.secret, second)).toThrow();
  });

  it('a rotation with no grace drops the old secret at once; a bad grace or unknown endpoint is refused', async () => {
    const p = await h.project();
    const ep = (await p.call('POST', '/v1/webhook-endpoints', { url: rx.url('/rotate0'), events: ['*'] })).body;
    const r = await p.call('POST', `/v1/webhook-endpoints/${ep.id}/rotate-secret`, { expires_in_seconds: 0 });
    expect(r.status).toBe(200);
    expect(r.body.previous_secret_expires_at).toBeNull();
    await p.call('POST', `/v1/webhook-endpoints/${ep.id}/test`);
    const got = rx.received('/rotate0').at(-1)!;
    expect(() => new Webhook(ep.secret).verify(got.body, got.headers as Record<string, string>)).toThrow();
    const tooLong = await p.call('POST', `/v1/webhook-endpoints/${ep.id}/rotate-secret`, { expires_in_seconds: 8 * 86_400 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.param).toBe('expires_in_seconds');
    expect((await p.call('POST', '/v1/webhook-endpoints/we_nope/rotate-secret', {})).status).toBe(404);
  });
});

describe('providers: status and verification against the provider', () => {
  it('Stripe: not connected, then connected and verified; a refused key says why; webhooks and catalog sync show', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const before = await p.call('GET', '/v1/providers/stripe/status');
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({
      configured: false,
      mode: null,
      webhook_url: `${h.config.publicUrl}/v1/webhooks/stripe/${p.id}`,
      webhooks: { received: 0, last_received_at: null, failed: 0, last_error: null },
      catalog_sync: { status: 'never' },
    });
    const notYet = await p.call('POST', '/v1/providers/stripe/verify');
    expect(notYet.status).toBe(409);
    expect(notYet.body.error.message).toContain('not connected');

    const sk = `sk_test_${p.id.replace(/-/g, '_')}_${randomToken(8)}`;
    const whsec = `whsec_${randomToken(32)}`;
    expect((await p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec] })).status).toBe(200);
    const ok = await p.call('POST', '/v1/providers/stripe/verify');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ object: 'provider_verification', provider: 'stripe', mode: 'test', ok: true, error: null, warnings: [] });
    expect(stripe.requests.some((r) => r.account === sk && r.method === 'GET' && r.path === '/v1/balance')).toBe(true);

    stripe.fault('/v1/balance', 'error', 401);
    const refused = await p.call('POST', '/v1/providers/stripe/verify');
    expect(refused.status).toBe(200);
    expect(refused.body.ok).toBe(false);
    expect(refused.body.error).toContain('Stripe refused the secret key');

    const body = JSON.stringify(stripe.event(sk, 'customer.created', { id: 'cus_1', object: 'customer', metadata: {} }));
    const got = await h.inject({
      method: 'POST',
      url: `/v1/webhooks/stripe/${p.id}`,
      headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, whsec, Math.floor(h.clock.now().getTime() / 1000)) },
      payload: body,
    });
    expect(got.status, got.raw).toBe(200);
    const after = (await p.call('GET', '/v1/providers/stripe/status')).body;
    expect(after.configured).toBe(true);
    expect(after.mode).toBe('test');
    expect(after.webhooks.received).toBe(1);
    expect(after.webhooks.last_received_at).toBe(h.clock.now().toISOString());

    // A catalog push queues its Stripe sync; the job runs it and the status says when.
    const pushed = await p.call('PUT', '/v1/catalog', DEMO_CATALOGS.aurisvoice!.catalog);
    expect(pushed.status).toBe(200);
    const queued = (await p.call('GET', '/v1/providers/stripe/status')).body.catalog_sync;
    expect(queued).toMatchObject({ status: 'pending', catalog_version: pushed.body.version, synced_at: null });
    await runDueJobs(h.tg.ctx);
    const synced = (await p.call('GET', '/v1/providers/stripe/status')).body.catalog_sync;
    expect(synced).toEqual({ status: 'idle', catalog_version: pushed.body.version, synced_at: h.clock.now().toISOString(), last_error: null });
  });

  it('Stripe without a webhook signing secret verifies with a warning', async () => {
    const p = await h.project();
    await p.call('PUT', '/v1/providers/stripe', { secret_key: `sk_test_${randomToken(16)}` });
    const r = await p.call('POST', '/v1/providers/stripe/verify');
    expect(r.body.ok).toBe(true);
    expect(r.body.warnings).toEqual(['No webhook signing secret: Stripe webhooks to this project will be refused until one is saved']);
  });

  it('PayPal: the client id and secret are checked with an OAuth token request; a refused client says so', async () => {
    const p = await h.project();
    const clientId = `client_${randomToken(10)}`;
    expect((await p.call('PUT', '/v1/providers/paypal', { client_id: clientId, client_secret: 'secret_12345678', webhook_id: 'WH-1' })).status).toBe(200);
    const ok = await p.call('POST', '/v1/providers/paypal/verify');
    expect(ok.body).toMatchObject({ provider: 'paypal', mode: 'test', ok: true, error: null, webhook_url: `${h.config.publicUrl}/v1/webhooks/paypal/${p.id}` });
    paypal.rejectedClients.add(clientId);
    const refused = await p.call('POST', '/v1/providers/paypal/verify');
    expect(refused.body.ok).toBe(false);
    expect(refused.body.error).toBe('PayPal refused the client id and secret (HTTP 401: invalid_client)');
    const status = (await p.call('GET', '/v1/providers/paypal/status')).body;
    expect(status).toMatchObject({ configured: true, mode: 'test', catalog_sync: null });
  });

  it('an unknown provider is 404 on both routes', async () => {
    const p = await h.project();
    expect((await p.call('GET', '/v1/providers/nope/status')).status).toBe(404);
    expect((await p.call('POST', '/v1/providers/nope/verify')).status).toBe(404);
    expect((await p.call('GET', '/v1/providers/sandbox/status')).status).toBe(404);
  });
});

describe('the SDK calls of these pages', () => {
  it('project.update, keys.list, providers.status, webhookEndpoints.create / test / rotateSecret', async () => {
    const { Tollgate } = await import('@tollgate/sdk');
    const base = await h.listen();
    const p = await h.project();
    const tg = new Tollgate({ apiKey: p.key, baseUrl: base });
    const updated = await tg.project.update({ rate_limit: { per_customer_per_second: 9 }, branding: { name: 'SDK Co' } });
    expect(updated.rate_limit.per_customer_per_second).toBe(9);
    expect(updated.branding.name).toBe('SDK Co');
    await keyUsesSettled(h.tg.ctx);
    const keys = await tg.keys.list();
    expect(keys.data.find((k) => k.kind === 'secret')?.last_used_at).toBe(h.clock.now().toISOString());
    const status = await tg.providers.status('stripe');
    expect(status.webhook_url).toBe(`${base}/v1/webhooks/stripe/${p.id}`);
    const ep = await tg.webhookEndpoints.create({ url: rx.url('/sdk'), events: ['*'] });
    const delivery = await tg.webhookEndpoints.test(ep.id);
    expect(delivery.status).toBe('succeeded');
    const rotated = await tg.webhookEndpoints.rotateSecret(ep.id, 60);
    expect(rotated.secret).not.toBe(ep.secret);
    expect(rotated.previous_secret_expires_at).toBe(new Date(h.clock.now().getTime() + 60_000).toISOString());
  });
});
