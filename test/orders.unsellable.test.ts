import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomToken } from '../src/domain/ids.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { createHarness, type Harness, type Res, type TestProject } from './support/harness.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';

let h: Harness;
let stripe: LocalStripe;

beforeAll(async () => {
  stripe = await new LocalStripe().start();
  h = await createHarness({ config: { stripeApiBase: stripe.url } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
});
afterAll(async () => {
  await h?.close();
  await stripe?.close();
});

interface ShopProject extends TestProject {
  sk: string;
  whsec: string;
}

/** A shop with one unit of one product, taking payments through Stripe. */
async function shop(): Promise<ShopProject> {
  const p = await h.project({ catalog: { products: [{ id: 'last', name: 'Last one', price: { amount: 5000, currency: 'eur' }, stock: 1 }] } });
  const sk = `sk_test_${p.id.replace(/-/g, '_')}_${randomToken(8)}`;
  const whsec = `whsec_${randomToken(32)}`;
  expect((await p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec], default: true })).status).toBe(200);
  return { ...p, sk, whsec };
}

async function deliver(p: ShopProject, event: object): Promise<Res> {
  const body = JSON.stringify(event);
  const header = stripeSignature(body, p.whsec, Math.floor(h.clock.now().getTime() / 1000));
  return h.inject({ method: 'POST', url: `/v1/webhooks/stripe/${p.id}`, headers: { 'content-type': 'application/json', 'stripe-signature': header }, payload: body });
}

/** A's order of the last unit expires while A pays at Stripe; B then takes the unit. */
async function paidTooLate(p: ShopProject) {
  await p.call('POST', '/v1/customers/ann/cart/items', { product_id: 'last', quantity: 1 });
  const order = await p.call('POST', '/v1/customers/ann/orders', { expires_in: 600 });
  const co = await p.call('POST', '/v1/checkout', { customer_id: 'ann', order_id: order.body.id, success_url: 'https://shop.example/ok', cancel_url: 'https://shop.example/no' });
  expect(co.status).toBe(201);
  const stripeSession = stripe.list(p.sk, 'checkout.session').at(-1)!;
  h.clock.advance(601_000);
  await runDueJobs(h.tg.ctx);
  expect((await p.call('GET', `/v1/orders/${order.body.id}`)).body).toMatchObject({ status: 'canceled', cancel_reason: 'expired' });
  await p.call('POST', '/v1/customers/bob/cart/items', { product_id: 'last', quantity: 1 });
  expect((await p.call('POST', '/v1/customers/bob/orders')).status).toBe(201);
  // Stripe completes the session that was open when the order expired.
  stripe.completeCheckout(p.sk, stripeSession.id as string);
  return { orderId: order.body.id as string, completed: stripe.lastEvent(p.sk, 'checkout.session.completed') };
}

async function outboxTypes(p: TestProject, orderId: string): Promise<string[]> {
  const r = await h.db.query<{ type: string }>(
    "SELECT type FROM outbox_events WHERE project_id = $1 AND type LIKE 'order.%' AND payload->'data'->>'id' = $2 ORDER BY seq",
    [p.id, orderId],
  );
  return r.rows.map((x) => x.type);
}

describe('issue 11 item 10: an order paid after its stock is gone is refunded through its provider', () => {
  it('the payment is refunded in full at Stripe, the order ends refunded (out_of_stock), the unit stays with the other buyer', async () => {
    const p = await shop();
    const { orderId, completed } = await paidTooLate(p);
    const r = await deliver(p, completed);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('processed');

    const refunds = stripe.writes(p.sk, '/v1/refunds');
    expect(refunds).toHaveLength(1);
    expect(Number(refunds[0]!.params.amount)).toBe(5000);
    const order = await p.call('GET', `/v1/orders/${orderId}`);
    expect(order.body).toMatchObject({ status: 'refunded', cancel_reason: 'out_of_stock' });
    const payment = await p.call('GET', `/v1/payments/${order.body.payment_id}`);
    expect(payment.body).toMatchObject({ amount: 5000, amount_refunded: 5000 });
    expect(await outboxTypes(p, orderId)).toEqual(['order.canceled', 'order.canceled', 'order.refunded']);
    const products = await p.call('GET', '/v1/products');
    expect(products.body.data[0].stock).toBe(0);

    // The same event again, and the job, change nothing more.
    expect((await deliver(p, completed)).body.duplicate).toBe(true);
    h.clock.advance(120_000);
    await runDueJobs(h.tg.ctx);
    expect(stripe.writes(p.sk, '/v1/refunds')).toHaveLength(1);
  });

  it('a refund Stripe fails is retried by the payments.refund-owed job a minute later, once', async () => {
    const p = await shop();
    const { orderId, completed } = await paidTooLate(p);
    stripe.fault('/v1/refunds', 'error', 500);
    await deliver(p, completed);
    const waiting = await p.call('GET', `/v1/orders/${orderId}`);
    expect(waiting.body).toMatchObject({ status: 'canceled', cancel_reason: 'out_of_stock' });
    expect((await p.call('GET', `/v1/payments/${waiting.body.payment_id}`)).body.amount_refunded).toBe(0);

    h.clock.advance(30_000);
    expect((await runDueJobs(h.tg.ctx))['payments.refund-owed'] ?? 0).toBe(0);
    h.clock.advance(31_000);
    expect((await runDueJobs(h.tg.ctx))['payments.refund-owed']).toBe(1);
    expect((await p.call('GET', `/v1/orders/${orderId}`)).body.status).toBe('refunded');
    expect(stripe.writes(p.sk, '/v1/refunds').filter((w) => !w.replayed)).toHaveLength(2);
    h.clock.advance(120_000);
    await runDueJobs(h.tg.ctx);
    expect((await p.call('GET', `/v1/payments/${waiting.body.payment_id}`)).body.amount_refunded).toBe(5000);
    expect(stripe.list(p.sk, 'refund')).toHaveLength(1);
  });

  it('an order paid twice keeps the first payment; the second is refunded and the order stays paid', async () => {
    const p = await shop();
    await p.call('POST', '/v1/customers/cy/cart/items', { product_id: 'last', quantity: 1 });
    const order = await p.call('POST', '/v1/customers/cy/orders');
    const urls = { success_url: 'https://shop.example/ok', cancel_url: 'https://shop.example/no' };
    await p.call('POST', '/v1/checkout', { customer_id: 'cy', order_id: order.body.id, ...urls });
    await p.call('POST', '/v1/checkout', { customer_id: 'cy', order_id: order.body.id, ...urls });
    const [first, second] = stripe.list(p.sk, 'checkout.session').slice(-2);
    stripe.completeCheckout(p.sk, second!.id as string);
    await deliver(p, stripe.lastEvent(p.sk, 'checkout.session.completed'));
    stripe.completeCheckout(p.sk, first!.id as string);
    await deliver(p, stripe.lastEvent(p.sk, 'checkout.session.completed'));
    const after = await p.call('GET', `/v1/orders/${order.body.id}`);
    expect(after.body.status).toBe('paid');
    const payments = (await p.call('GET', '/v1/payments?customer_id=cy')).body.data as { id: string; amount_refunded: number }[];
    expect(payments).toHaveLength(2);
    expect(payments.find((x) => x.id === after.body.payment_id)?.amount_refunded).toBe(0);
    expect(payments.find((x) => x.id !== after.body.payment_id)?.amount_refunded).toBe(5000);
    expect(stripe.writes(p.sk, '/v1/refunds')).toHaveLength(1);
  });

  it('an order canceled while its customer paid at Stripe ends refunded, its unit still for sale', async () => {
    const p = await shop();
    await p.call('POST', '/v1/customers/di/cart/items', { product_id: 'last', quantity: 1 });
    const order = await p.call('POST', '/v1/customers/di/orders');
    await p.call('POST', '/v1/checkout', { customer_id: 'di', order_id: order.body.id, success_url: 'https://shop.example/ok', cancel_url: 'https://shop.example/no' });
    expect((await p.call('POST', `/v1/orders/${order.body.id}/cancel`)).status).toBe(200);
    stripe.completeCheckout(p.sk, stripe.list(p.sk, 'checkout.session').at(-1)!.id as string);
    await deliver(p, stripe.lastEvent(p.sk, 'checkout.session.completed'));
    const after = await p.call('GET', `/v1/orders/${order.body.id}`);
    expect(after.body).toMatchObject({ status: 'refunded', cancel_reason: 'requested' });
    expect((await p.call('GET', `/v1/payments/${after.body.payment_id}`)).body.amount_refunded).toBe(5000);
    expect((await p.call('GET', '/v1/products')).body.data[0].stock).toBe(1);
  });
});
