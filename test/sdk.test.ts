import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AuthenticationError,
  ConflictError,
  ConnectionError,
  InsufficientCreditsError,
  InvalidRequestError,
  NotFoundError,
  PermissionError,
  RateLimitError,
  TimeoutError,
  Tollgate,
  TollgateError,
  verifyWebhook,
  WebhookVerificationError,
} from '@tollgate/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, MINUTE } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { deliverDue, dispatchOutbox } from '../src/modules/webhooks-out/webhooks.service.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';
import { startReceiver, type Receiver } from './support/receiver.ts';

let h: Harness;
let base: string;
let rx: Receiver;
beforeAll(async () => {
  // A clock of its own: the webhook jobs run below act on this harness's rows only.
  h = await createHarness({ clock: new ManualClock('2032-05-01T10:00:00Z'), config: { webhookAllowPrivate: true, webhookTimeoutMs: 2_000 } });
  base = await h.listen();
  rx = await startReceiver();
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
});

const project = (name: keyof typeof DEMO_CATALOGS) => h.project({ catalog: DEMO_CATALOGS[name]!.catalog });
const client = (p: TestProject, more: Partial<ConstructorParameters<typeof Tollgate>[0]> = {}) => new Tollgate({ apiKey: p.key, baseUrl: base, ...more });
const rejection = (p: Promise<unknown>) => p.then(() => expect.fail('expected the call to fail'), (e: unknown) => e);

interface Seen {
  method: string;
  url: string;
  key: string | undefined;
}
type Mode = 'forward' | 'drop' | { status: number; headers?: Record<string, string>; body: string };

/**
 * A local proxy in front of the server. Each request takes the next mode of the script (the last
 * repeats): forward it; forward it and cut the connection instead of relaying the reply ('drop');
 * or answer by itself without reaching the server.
 */
async function startProxy(target: string, ...script: Mode[]) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', key: req.headers['idempotency-key'] as string | undefined });
      const mode = (script.length > 1 ? script.shift() : script[0]) ?? 'forward';
      if (typeof mode === 'object') {
        res.writeHead(mode.status, { 'content-type': 'application/json', ...mode.headers });
        res.end(mode.body);
        return;
      }
      const headers = { ...req.headers } as Record<string, string>;
      delete headers.host;
      const upstream = await fetch(`${target}${req.url}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      const text = await upstream.text();
      if (mode === 'drop') {
        req.socket.destroy();
        return;
      }
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('the SDK package against a running server: ergonomic calls', () => {
  it('customers: create (with sign-up credits), get, list, update; an unknown id is NotFoundError and creates nothing', async () => {
    const tg = client(await project('aurisvoice'));
    const created = await tg.customers.create({ id: 'sdk-c1', email: 'ada@example.com' });
    expect(created).toMatchObject({ id: 'sdk-c1', object: 'customer', email: 'ada@example.com', balance: 10 });
    expect(await tg.customers.update('sdk-c1', { name: 'Ada' })).toMatchObject({ id: 'sdk-c1', name: 'Ada' });
    expect(await tg.customers.get('sdk-c1')).toMatchObject({ id: 'sdk-c1', name: 'Ada', credits: { balance: 10, held: 0, available: 10 } });
    await tg.customers.create({ id: 'sdk-c2' });
    const list = await tg.customers.list({ limit: 1 });
    expect(list.data).toHaveLength(1);
    expect(list.has_more).toBe(true);
    const err = await rejection(tg.customers.get('nobody'));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ status: 404, code: 'customer_not_found' });
    expect((err as TollgateError).requestId).toBeTruthy();
    expect(await rejection(tg.credits.balance('nobody'))).toBeInstanceOf(NotFoundError);
    expect((await tg.customers.list({ search: 'nobody' })).data).toEqual([]);
  });

  it('credits: buy a pack through checkout, grant, deduct, hold → capture, hold → release, transfer, the ledger', async () => {
    const tg = client(await project('aurisvoice'));
    await tg.customers.create({ id: 'sdk-1' });
    const s = await tg.checkout.create({ customer_id: 'sdk-1', credit_pack: 'pro', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
    expect(s).toMatchObject({ object: 'checkout_session', status: 'open', customer_id: 'sdk-1' });
    expect(s.url).toContain(`/checkout/${s.session_id}`);
    await tg.request('POST', '/v1/test-helpers/checkout/{session_id}/pay', { params: { path: { session_id: s.session_id! } }, body: { card: '4242424242424242' } });
    expect(await tg.checkout.get(s.session_id!)).toMatchObject({ status: 'complete' });
    expect(await tg.credits.balance('sdk-1')).toEqual({ customer_id: 'sdk-1', balance: 70, held: 0, available: 70 });
    expect(await tg.credits.grant('sdk-1', { amount: 5, reason: 'goodwill' })).toMatchObject({ granted: 5, balance: 75 });
    expect(await tg.credits.deduct('sdk-1', { usage: { feature: 'dubbing_seconds', quantity: 25 } })).toMatchObject({ deducted: 3, balance: 72 });

    const hold = await tg.credits.hold('sdk-1', { usage: { feature: 'dubbing_seconds', quantity: 100 } });
    expect(hold).toMatchObject({ object: 'hold', status: 'held', amount: 10 });
    expect((await tg.credits.balance('sdk-1')).available).toBe(62);
    expect(await tg.credits.capture(hold.id, 7)).toMatchObject({ status: 'captured', captured_amount: 7 });
    const second = await tg.credits.hold('sdk-1', { amount: 20 });
    expect(await tg.credits.release(second.id)).toMatchObject({ status: 'released' });
    expect(await tg.credits.getHold(second.id)).toMatchObject({ status: 'released' });
    expect(await tg.credits.balance('sdk-1')).toMatchObject({ balance: 65, held: 0, available: 65 });

    await tg.customers.create({ id: 'sdk-2' });
    const t = await tg.credits.transfer({ from: 'sdk-1', to: 'sdk-2', amount: 4, reason: 'share' });
    expect(t).toMatchObject({ object: 'credit_transfer', amount: 4, from: { balance: 61 }, to: { balance: 14 } });
    const ledger = await tg.credits.transactions('sdk-1', { limit: 2 });
    expect(ledger.has_more).toBe(true);
    expect(ledger.data.map((e) => [e.amount, e.balance_after])).toEqual([
      [-4, 61],
      [-7, 65],
    ]);
    await tg.credits.setAutoTopUp('sdk-2', { enabled: true, threshold: 5, pack: 'pro', monthly_cap: 3000 });
    expect(await tg.credits.autoTopUp('sdk-2')).toMatchObject({ enabled: true, threshold: 5, pack: 'pro', monthly_cap: 3000 });
  });

  it('a 402 is an InsufficientCreditsError with the balance, required and available the server sent', async () => {
    const tg = client(await project('aurisvoice'));
    await tg.customers.create({ id: 'poor' });
    await tg.credits.hold('poor', { amount: 4 });
    await tg.customers.create({ id: 'poor-2' });
    const err = await rejection(tg.credits.deduct('poor', { amount: 1000 }));
    expect(err).toBeInstanceOf(InsufficientCreditsError);
    expect(err).toBeInstanceOf(TollgateError);
    const e = err as InsufficientCreditsError;
    expect([e.status, e.code, e.balance, e.required, e.available]).toEqual([402, 'insufficient_credits', 10, 1000, 6]);
    expect(e.message).toBe('Insufficient credits: 1000 required, 6 available');
    expect((await tg.credits.balance('poor')).balance).toBe(10);
    const transfer = await rejection(tg.credits.transfer({ from: 'poor', to: 'poor-2', amount: 50 }));
    expect(transfer).toBeInstanceOf(InsufficientCreditsError);
    expect((transfer as InsufficientCreditsError).required).toBe(50);
  });

  it('bad input is an InvalidRequestError naming the field; a conflict is a ConflictError', async () => {
    const tg = client(await project('aurisvoice'));
    const err = await rejection(tg.credits.deduct('sdk-bad', { amount: -3 }));
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect(err).toMatchObject({ status: 400, code: 'invalid_request', param: 'amount' });
    await tg.customers.create({ id: 'sdk-k' }, { idempotencyKey: 'same-key' });
    const conflict = await rejection(tg.customers.create({ id: 'sdk-other' }, { idempotencyKey: 'same-key' }));
    expect(conflict).toBeInstanceOf(ConflictError);
    expect(conflict).toMatchObject({ status: 409, code: 'idempotency_conflict' });
    expect(await rejection(tg.customers.get('sdk-other'))).toBeInstanceOf(NotFoundError);
  });

  it('check and track against plan limits; subscriptions: subscribe (trial), preview, changePlan, cancel, resume; portal.session', async () => {
    const tg = client(await project('arkwatch'));
    expect(await tg.subscriptions.get('ark-1').catch((e: unknown) => e)).toBeInstanceOf(NotFoundError);
    await tg.customers.create({ id: 'ark-1' });
    expect(await tg.subscriptions.get('ark-1')).toMatchObject({ plan: 'free', status: 'free' });
    expect(await tg.check('ark-1', 'watches', 3)).toMatchObject({ allowed: true, limit: 3 });
    expect(await tg.check({ customer_id: 'ark-1', feature: 'watches', quantity: 4 })).toMatchObject({ allowed: false, reason: 'limit_reached' });

    const sub = await tg.subscriptions.subscribe('ark-1', { plan: 'starter' });
    expect(sub).toMatchObject({ plan: 'starter', status: 'trialing' });
    expect(await tg.track('ark-1', 'watches', 8)).toMatchObject({ allowed: true, usage: 8, remaining: 2 });
    expect(await tg.track({ customer_id: 'ark-1', feature: 'watches', quantity: 5 })).toMatchObject({ allowed: false, reason: 'limit_reached', usage: 8 });

    const preview = await tg.subscriptions.preview('ark-1', { plan: 'pro' });
    expect(preview).toMatchObject({ change: 'upgrade' });
    expect((await tg.subscriptions.get('ark-1')).plan).toBe('starter');
    expect(await tg.subscriptions.changePlan('ark-1', { plan: 'pro' })).toMatchObject({ plan: 'pro' });
    expect(await tg.check('ark-1', 'watches', 50)).toMatchObject({ allowed: true, limit: 100 });
    expect(await tg.subscriptions.cancel('ark-1')).toMatchObject({ plan: 'pro', cancel_at_period_end: true });
    expect(await tg.subscriptions.resume('ark-1')).toMatchObject({ plan: 'pro', cancel_at_period_end: false });
    const again = await rejection(tg.subscriptions.resume('ark-1'));
    expect(again).toBeInstanceOf(ConflictError);

    const portal = await tg.portal.session({ customer_id: 'ark-1', return_url: 'https://app.example/account' });
    expect(portal.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/portal\//);
    const list = await tg.subscriptions.list();
    expect(list.data.map((s) => s.customer_id)).toContain('ark-1');
  });

  it('entitlements() answers check in-process from the stream; usage() batches tracks, each event once', async () => {
    const tg = client(await project('arkwatch'));
    await tg.customers.create({ id: 'rt-1' });
    await tg.track('rt-1', 'watches', 2);
    const cache = tg.entitlements({ customers: ['rt-1'] });
    await cache.start();
    try {
      expect(cache.checkLocal('rt-1', 'watches', 1)).toMatchObject({ allowed: true, source: 'cache' });
      expect(cache.checkLocal('rt-1', 'watches', 2)).toMatchObject({ allowed: false, reason: 'limit_reached' });
      expect((await tg.check('rt-1', 'watches', 2)).allowed).toBe(false);
      const usage = tg.usage({ flushIntervalMs: 60_000 });
      const id = usage.record({ customer_id: 'rt-1', feature: 'watches', quantity: 1 });
      expect(id).toMatch(/.+/);
      await usage.flush();
      await usage.close();
      expect(await tg.check('rt-1', 'watches', 1)).toMatchObject({ allowed: false, usage: 3, limit: 3 });
    } finally {
      cache.close();
    }
  });

  it('cart: add, get, remove; orders: create from the cart, get, list', async () => {
    const tg = client(await project('webox'));
    await tg.customers.create({ id: 'shop-1' });
    await tg.cart.add('shop-1', { product_id: 'prompt-pack-marketing', quantity: 2 });
    const cart = await tg.cart.add('shop-1', { product_id: 'voice-clone-kit' });
    expect(cart).toMatchObject({ object: 'cart', count: 3, total: { amount: 2 * 1900 + 2900, currency: 'eur' } });
    const kit = cart.items.find((i) => i.product_id === 'voice-clone-kit')!;
    expect(await tg.cart.remove('shop-1', kit.id)).toMatchObject({ count: 2, total: { amount: 3800 } });
    expect((await tg.cart.get('shop-1')).items.map((i) => [i.product_id, i.quantity])).toEqual([['prompt-pack-marketing', 2]]);
    const tooMany = await rejection(tg.cart.add('shop-1', { product_id: 'prompt-pack-marketing', quantity: 24 }));
    expect(tooMany).toBeInstanceOf(ConflictError);
    expect(tooMany).toMatchObject({ code: 'insufficient_stock' });

    const order = await tg.orders.create('shop-1');
    expect(order).toMatchObject({ object: 'order', status: 'pending', count: 2, total: { amount: 3800, currency: 'eur' } });
    expect(await tg.orders.get(order.id)).toMatchObject({ id: order.id, status: 'pending' });
    expect((await tg.orders.list('shop-1')).data.map((o) => o.id)).toEqual([order.id]);
    expect((await tg.orders.list('shop-1', { status: 'paid' })).data).toEqual([]);
    expect((await tg.cart.get('shop-1')).count).toBe(0);
    const pay = await tg.checkout.create({ customer_id: 'shop-1', order_id: order.id, success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
    expect('amount_total' in pay && pay.amount_total).toEqual({ amount: 3800, currency: 'eur' });
  });

  it('secrets: put shows a preview only, list, resolve gives the value, delete', async () => {
    const tg = client(await project('ava'));
    const put = await tg.secrets.put('ava-1', 'vapi_api_key', 'sk-abc1-vapi-9f8e7d6c5b4a');
    expect(put).toMatchObject({ name: 'vapi_api_key', preview: 'sk-abc…' });
    expect(JSON.stringify(put)).not.toContain('9f8e7d6c5b4a');
    expect((await tg.secrets.list('ava-1')).data.map((s) => s.name)).toEqual(['vapi_api_key']);
    expect(await tg.secrets.resolve('ava-1', 'vapi_api_key')).toMatchObject({ source: 'customer', value: 'sk-abc1-vapi-9f8e7d6c5b4a' });
    expect(await tg.secrets.delete('ava-1', 'vapi_api_key')).toMatchObject({ name: 'vapi_api_key', deleted: true });
    expect((await tg.secrets.list('ava-1')).data).toEqual([]);
    expect(await rejection(tg.secrets.resolve('ava-1', 'vapi_api_key'))).toBeInstanceOf(NotFoundError);
  });

  it('apiKeys: issue, verify, roll, revoke; customers: export and erase', async () => {
    const tg = client(await project('aurisvoice'));
    await tg.customers.create({ id: 'sdk-k', email: 'sdk-k@example.com' });
    const k = await tg.apiKeys.create('sdk-k', { name: 'CLI', remaining: 3 });
    expect(await tg.apiKeys.verify(k.key)).toMatchObject({ valid: true, customer_id: 'sdk-k', remaining: 2 });
    const rolled = await tg.apiKeys.roll(k.id);
    expect(await tg.apiKeys.verify(k.key)).toMatchObject({ valid: false, code: 'expired' });
    expect(await tg.apiKeys.verify(rolled.key)).toMatchObject({ valid: true, remaining: 1 });
    expect((await tg.apiKeys.revoke(rolled.id)).status).toBe('revoked');
    expect((await tg.apiKeys.list('sdk-k')).data.map((x) => x.status).sort()).toEqual(['expired', 'revoked']);
    expect(await tg.customers.export('sdk-k')).toMatchObject({ customer: { email: 'sdk-k@example.com' } });
    expect(await tg.customers.delete('sdk-k')).toMatchObject({ id: 'sdk-k', deleted: true });
    const err = await tg.customers.get('sdk-k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('customer_deleted');
  });

  it('a publishable key reads the catalog only; a customer session token acts for its customer', async () => {
    const p = await project('aurisvoice');
    const pk = new Tollgate({ apiKey: p.publishableKey, baseUrl: base });
    const plans = await pk.plans();
    expect(plans.credit_packs.map((c) => c.id)).toEqual(['starter', 'pro', 'premium']);
    expect(await rejection(pk.credits.balance('anyone'))).toBeInstanceOf(PermissionError);
    expect(await rejection(new Tollgate({ apiKey: 'sk_test_wrong', baseUrl: base }).plans())).toBeInstanceOf(AuthenticationError);

    const tg = client(p);
    const session = (await tg.request('POST', '/v1/customer-sessions', { body: { customer_id: 'browser-1' } })) as { token: string };
    const asCustomer = new Tollgate({ apiKey: session.token, baseUrl: base });
    expect(await asCustomer.credits.balance('browser-1')).toMatchObject({ balance: 10 });
    expect(await asCustomer.check('browser-1', 'dubbing_seconds', 30)).toMatchObject({ allowed: true });
    expect(await rejection(asCustomer.credits.balance('someone-else'))).toBeInstanceOf(TollgateError);
  });

  it('request() hands back a document that is not JSON (an invoice PDF) as its bytes', async () => {
    const tg = client(await project('aurisvoice'));
    const seller = { name: 'Auris Voice SAS', address: { line1: '12 rue de la Paix', postal_code: '75002', city: 'Paris' }, country: 'FR', vat_id: 'FR12345678901' };
    await tg.request('PUT', '/v1/invoice-settings', { body: { seller } });
    const s = await tg.checkout.create({ customer_id: 'inv-1', credit_pack: 'starter', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
    await tg.request('POST', '/v1/test-helpers/checkout/{session_id}/pay', { params: { path: { session_id: s.session_id! } }, body: { card: '4242424242424242' } });
    const invoices = (await tg.request('GET', '/v1/customers/{id}/invoices', { params: { path: { id: 'inv-1' } } })) as { data: { id: string }[] };
    expect(invoices.data).toHaveLength(1);
    const pdf = await tg.request('GET', '/v1/invoices/{id}/pdf', { params: { path: { id: invoices.data[0]!.id } } });
    expect(pdf).toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode((pdf as Uint8Array).slice(0, 5))).toBe('%PDF-');
  });

  it('request() reaches any operation by its documented path; a missing path parameter fails before any call', async () => {
    const tg = client(await project('aurisvoice'));
    const plans = await tg.request('GET', '/v1/plans');
    expect(plans).toMatchObject({ credit_packs: expect.any(Array) });
    const deducted = await tg.request('POST', '/v1/customers/{id}/credits/deduct', { params: { path: { id: 'raw 1/x' } }, body: { amount: 2 } });
    expect(deducted.balance).toBe(8);
    expect((await tg.customers.get('raw 1/x')).id).toBe('raw 1/x');
    expect(() => tg.request('GET', '/v1/customers/{id}', { params: { path: { id: '' } } })).toThrow(/Missing path parameter "id"/);
  });
});

describe('the SDK package: retries, idempotency, timeouts', () => {
  it('a mutation whose reply is lost is retried with the same Idempotency-Key and takes effect once', async () => {
    const p = await project('aurisvoice');
    await client(p).customers.create({ id: 'retry-1' });
    const proxy = await startProxy(base, 'drop', 'forward');
    try {
      const tg = client(p, { baseUrl: proxy.url, sleep: async () => {} });
      const r = await tg.credits.deduct('retry-1', { amount: 2 });
      expect(r.balance).toBe(8); // the first attempt reached the server; the retry got its stored reply
      expect(proxy.seen).toHaveLength(2);
      expect(proxy.seen[0]!.key).toMatch(/^[0-9a-f-]{32,36}$/);
      expect(proxy.seen[1]!.key).toBe(proxy.seen[0]!.key);
      expect((await client(p).credits.balance('retry-1')).balance).toBe(8);
      const mine = await tg.credits.deduct('retry-1', { amount: 1 }, { idempotencyKey: 'job-42' });
      expect(mine.balance).toBe(7);
      expect(proxy.seen.slice(2).map((s) => s.key)).toEqual(['job-42']);
    } finally {
      await proxy.close();
    }
  });

  it('5xx and 429 are retried with backoff, honouring Retry-After; 4xx is not retried; retries are bounded', async () => {
    const p = await project('aurisvoice');
    await client(p).customers.create({ id: 'retry-2' });
    const busy = { status: 503, body: '{"error":{"code":"internal_error","message":"busy"}}' };
    const limited = { status: 429, headers: { 'retry-after': '3' }, body: '{"error":{"code":"rate_limited","message":"slow down","retry_after":3}}' };
    const proxy = await startProxy(base, busy, limited, 'forward');
    const waits: number[] = [];
    try {
      const tg = client(p, { baseUrl: proxy.url, maxRetries: 2, retryDelayMs: 100, sleep: async (ms) => void waits.push(ms) });
      expect((await tg.credits.deduct('retry-2', { amount: 1 })).balance).toBe(9);
      expect(proxy.seen).toHaveLength(3);
      expect(new Set(proxy.seen.map((s) => s.key)).size).toBe(1);
      expect(waits[0]).toBeGreaterThanOrEqual(50);
      expect(waits[0]).toBeLessThanOrEqual(100);
      expect(waits[1]).toBe(3000);

      await rejection(tg.credits.deduct('retry-2', { amount: 1000 }));
      expect(proxy.seen).toHaveLength(4); // a 402 is an answer: not retried
    } finally {
      await proxy.close();
    }

    const down = await startProxy(base, busy);
    try {
      const tg = client(p, { baseUrl: down.url, maxRetries: 2, sleep: async () => {} });
      const err = await rejection(tg.credits.balance('retry-2'));
      expect(err).toMatchObject({ status: 503, code: 'internal_error', name: 'ServerError' });
      expect(down.seen).toHaveLength(3);
    } finally {
      await down.close();
    }

    const far = await startProxy(base, { ...limited, headers: { 'retry-after': '120' } });
    try {
      const tg = client(p, { baseUrl: far.url, sleep: async () => expect.fail('must not wait two minutes') });
      const err = await rejection(tg.credits.balance('retry-2'));
      expect(err).toBeInstanceOf(RateLimitError);
      expect((err as RateLimitError).retryAfter).toBe(120);
      expect(far.seen).toHaveLength(1);
    } finally {
      await far.close();
    }
  });

  it('an attempt without a reply within timeoutMs is a TimeoutError, retried with the same key', async () => {
    const p = await project('aurisvoice');
    rx.reply('/slow/v1/customers/t-1/credits/deduct', 'hang');
    const tg = client(p, { baseUrl: rx.url('/slow'), timeoutMs: 150, maxRetries: 1, sleep: async () => {} });
    const started = Date.now();
    const err = await rejection(tg.credits.deduct('t-1', { amount: 1 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toMatchObject({ status: 0, code: 'timeout' });
    expect(Date.now() - started).toBeLessThan(5_000);
    const got = rx.received('/slow/v1/customers/t-1/credits/deduct');
    expect(got).toHaveLength(2);
    expect(got[1]!.headers['idempotency-key']).toBe(got[0]!.headers['idempotency-key']);

    const refused = new Tollgate({ apiKey: p.key, baseUrl: 'http://127.0.0.1:9', maxRetries: 0 });
    expect(await rejection(refused.plans())).toMatchObject({ name: 'ConnectionError', status: 0, code: 'connection_error' });
  });
  it("a call cancelled through its signal ends with the signal's reason and is not retried", async () => {
    const p = await project('aurisvoice');
    const ac = new AbortController();
    let calls = 0;
    const tg = client(p, {
      fetch: (input, init) => {
        calls++;
        const pending = fetch(input, init);
        ac.abort(new Error('the user left'));
        return pending;
      },
      sleep: async () => expect.fail('a cancelled call is not retried'),
    });
    const err = await rejection(tg.credits.deduct('gone', { amount: 1 }, { signal: ac.signal }));
    expect((err as Error).message).toBe('the user left');
    expect(calls).toBe(1);
    expect(await rejection(tg.plans({ signal: ac.signal }))).toBe(ac.signal.reason);
    expect(calls).toBe(1);
  });
});

describe('the SDK package: webhooks.verify on a real delivery', () => {
  it('accepts a delivery as sent, refuses a tampered body, another secret, an old or future timestamp and missing headers', async () => {
    const p = await project('aurisvoice');
    const tg = client(p);
    const endpoint = (await tg.request('POST', '/v1/webhook-endpoints', { body: { url: rx.url('/sdk-hook'), events: ['customer.created'] } })) as { secret: string };
    expect(endpoint.secret).toMatch(/^whsec_/);
    await tg.customers.create({ id: 'hooked', email: 'hooked@example.com' });
    for (let i = 0; i < 20 && (await dispatchOutbox(h.tg.ctx)) + (await deliverDue(h.tg.ctx)) > 0; i++);
    const [msg] = rx.received('/sdk-hook');
    expect(msg).toBeDefined();
    const now = h.clock.now();

    const event = await tg.webhooks.verify(msg!.headers, msg!.body, endpoint.secret, { now });
    expect(event).toMatchObject({ type: 'customer.created', customer_id: 'hooked', data: { id: 'hooked', email: 'hooked@example.com' } });
    expect(event.id).toBe(msg!.headers['webhook-id']);
    const asHeaders = new Headers(msg!.headers as Record<string, string>);
    expect((await verifyWebhook(asHeaders, new TextEncoder().encode(msg!.body), endpoint.secret, { now })).id).toBe(event.id);

    const failure = async (...args: Parameters<typeof verifyWebhook>) => {
      const e = await rejection(verifyWebhook(...args));
      expect(e).toBeInstanceOf(WebhookVerificationError);
      return (e as WebhookVerificationError).reason;
    };
    expect(await failure(msg!.headers, msg!.body.replace('hooked@example.com', 'evil@example.com'), endpoint.secret, { now })).toBe('invalid_signature');
    expect(await failure(msg!.headers, msg!.body, `whsec_${btoa('another secret of 32 bytes......')}`, { now })).toBe('invalid_signature');
    expect(await failure({ ...msg!.headers, 'webhook-id': 'msg_other' }, msg!.body, endpoint.secret, { now })).toBe('invalid_signature');
    expect(await failure(msg!.headers, msg!.body, endpoint.secret, { now: now.getTime() + 6 * MINUTE })).toBe('timestamp_too_old');
    expect(await failure(msg!.headers, msg!.body, endpoint.secret, { now: now.getTime() - 6 * MINUTE })).toBe('timestamp_too_new');
    expect((await verifyWebhook(msg!.headers, msg!.body, endpoint.secret, { now: now.getTime() + 4 * MINUTE })).id).toBe(event.id);
    expect(await failure({ ...msg!.headers, 'webhook-signature': undefined }, msg!.body, endpoint.secret, { now })).toBe('missing_headers');
    // Without `now`, the check is against the real time: the server's test clock is years away.
    expect(await failure(msg!.headers, msg!.body, endpoint.secret)).toBe('timestamp_too_new');
  });
});
