// Issue 11 item 8: no provider call inside a database transaction. With a Stripe-compatible server
// answering slowly, concurrent checkouts hold no connection while they wait, so /health, a deduct and
// a balance read finish long before Stripe answers (on PGlite too: one connection, so any
// transaction held across the call would block them all).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { providerCall } from '../src/modules/providers/provider-call.ts';
import { createHarness, type Harness } from './support/harness.ts';
import { LocalStripe } from './support/stripe-server.ts';

let h: Harness;
let stripe: LocalStripe;
const DELAY_MS = 2500;

beforeAll(async () => {
  stripe = await new LocalStripe().start();
  h = await createHarness({ config: { stripeApiBase: stripe.url } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
});
afterAll(async () => {
  await h?.close();
  await stripe?.close();
});

const URLS = { success_url: 'https://app.example.com/ok', cancel_url: 'https://app.example.com/cancel' };

describe('issue 11 item 8: no provider call inside a database transaction', () => {
  it('10 checkouts waiting on a slow Stripe leave /health, a deduct and a balance read fast; every checkout then gets its session', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const sk = `sk_test_${p.id.replace(/-/g, '_')}_${randomToken(8)}`;
    expect((await p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [`whsec_${randomToken(32)}`], default: true })).status).toBe(200);
    expect((await p.call('POST', '/v1/customers/payer/credits/grant', { amount: 50, reason: 'test' })).status).toBe(200);
    stripe.delayMs = DELAY_MS;
    try {
      let stripeAnswered = Number.POSITIVE_INFINITY;
      const checkouts = Array.from({ length: 10 }, (_, i) =>
        p.call('POST', '/v1/checkout', { customer_id: `slow-${i}`, credit_pack: 'pro', ...URLS }, { 'idempotency-key': `slow-${i}` }).then((r) => {
          stripeAnswered = Math.min(stripeAnswered, Date.now());
          return r;
        }),
      );
      // Let every checkout reach Stripe first.
      await new Promise((r) => setTimeout(r, 300));
      const health = await h.inject({ method: 'GET', url: '/health' });
      const deduct = await p.call('POST', '/v1/customers/payer/credits/deduct', { amount: 3 }, { 'idempotency-key': 'payer-deduct-1' });
      const balance = await p.call('GET', '/v1/customers/payer/credits');
      const fastDone = Date.now();
      expect(health.status).toBe(200);
      expect(deduct.status).toBe(200);
      expect(balance.body.balance).toBe(57);
      // All three finished before Stripe answered a single checkout.
      expect(fastDone).toBeLessThan(stripeAnswered);
      const done = await Promise.all(checkouts);
      for (const r of done) {
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        expect(r.body.url).toMatch(/^https?:\/\//);
      }
      expect(stripe.list(sk, 'checkout.session')).toHaveLength(10);
    } finally {
      stripe.delayMs = 0;
    }
  }, 30_000);

  it('a provider call made inside a database transaction is refused (the structural guard the suite runs with)', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await expect(h.db.tx(() => providerCall(h.tg.ctx, p.id, 'stripe'))).rejects.toThrow('inside a database transaction');
    await expect(providerCall(h.tg.ctx, p.id, 'stripe')).resolves.toMatchObject({ projectId: p.id });
  });
});
