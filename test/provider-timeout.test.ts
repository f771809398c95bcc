// A provider that accepts the connection and never answers: each call gives up after
// TOLLGATE_PROVIDER_TIMEOUT_MS and the client gets a provider_error, instead of waiting on the SDK's own default.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { createHarness, type Harness } from './support/harness.ts';

let h: Harness;
let server: Server;
let hits = 0;

beforeAll(async () => {
  server = createServer(() => {
    hits++; // never answers
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h = await createHarness({ config: { stripeApiBase: url, paypalApiBase: url, providerTimeoutMs: 300 } });
});
afterAll(async () => {
  await h?.close();
  server?.closeAllConnections();
  await new Promise<void>((ok) => server?.close(() => ok()));
});

const URLS = { success_url: 'https://app.example.com/ok', cancel_url: 'https://app.example.com/cancel' };

describe('provider call timeout', () => {
  it('a Stripe API that never answers fails the checkout with provider_error within the configured timeout', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const put = await p.call('PUT', '/v1/providers/stripe', { secret_key: `sk_test_${randomToken(16)}`, webhook_secrets: [`whsec_${randomToken(32)}`] });
    expect(put.status).toBe(200);
    const before = hits;
    const r = await p.call('POST', '/v1/checkout', { customer_id: 'tia', credit_pack: 'pro', provider: 'stripe', ...URLS });
    expect(r.status, JSON.stringify(r.body)).toBe(502);
    expect(r.body.error.code).toBe('provider_error');
    expect(r.body.error.provider, JSON.stringify(r.body)).toBe('stripe');
    expect(hits).toBeGreaterThan(before);
  }, 8_000);

  it('a PayPal API that never answers fails the checkout with provider_error within the configured timeout', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const put = await p.call('PUT', '/v1/providers/paypal', {
      client_id: 'AZtestClientId0002',
      client_secret: 'ECtestClientSecret0002',
      webhook_id: '8PT597110X687430LKGECATB',
      mode: 'sandbox',
    });
    expect(put.status).toBe(200);
    const before = hits;
    const r = await p.call('POST', '/v1/checkout', { customer_id: 'tom', credit_pack: 'pro', provider: 'paypal', ...URLS });
    expect(r.status, JSON.stringify(r.body)).toBe(502);
    expect(r.body.error.code).toBe('provider_error');
    expect(r.body.error.provider, JSON.stringify(r.body)).toBe('paypal');
    expect(hits).toBeGreaterThan(before);
  }, 8_000);
});
