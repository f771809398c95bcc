import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const webox = () => h.project({ catalog: DEMO_CATALOGS.webox!.catalog });
const eur = (amount: number) => ({ amount, currency: 'eur' });

async function stockOf(p: TestProject, productId: string): Promise<number | null> {
  const r = await p.call('GET', '/v1/products');
  return r.body.data.find((x: { id: string }) => x.id === productId)?.stock;
}

async function payOrder(p: TestProject, customer: string, orderId: string) {
  const co = await p.call('POST', '/v1/checkout', {
    customer_id: customer,
    order_id: orderId,
    success_url: 'https://shop.example/ok',
    cancel_url: 'https://shop.example/cancel',
  });
  expect(co.status).toBe(201);
  const paid = await p.call('POST', `/v1/test_helpers/checkout/${co.body.session_id}/pay`, { card: '4242424242424242' });
  expect(paid.status).toBe(200);
  return co.body.session_id as string;
}

describe('shop: products and cart', () => {
  it('lists the six webox products with their stock, the digital one unlimited', async () => {
    const p = await webox();
    const r = await p.call('GET', '/v1/products');
    expect(r.status).toBe(200);
    expect(r.body.data).toHaveLength(6);
    expect(r.body.data.filter((x: { stock: number | null }) => x.stock === 25)).toHaveLength(5);
    expect(r.body.data.find((x: { id: string }) => x.id === 'ebook-ai-business')).toMatchObject({ stock: null, unlimited: true, price: eur(1200) });
    const pub = await h.inject({ method: 'GET', url: '/v1/products', headers: { authorization: `Bearer ${p.publishableKey}` } });
    expect(pub.status).toBe(200);
  });

  it('adds, raises the same product, changes, removes, counts and clears with line totals as money', async () => {
    const p = await webox();
    const a = await p.call('POST', '/v1/customers/c1/cart/items', { product_id: 'voice-clone-kit', quantity: 2 });
    expect(a.status).toBe(200);
    const b = await p.call('POST', '/v1/customers/c1/cart/items', { product_id: 'voice-clone-kit', quantity: 1, price: 1 });
    expect(b.status).toBe(400); // unknown fields (a client price) are refused, never used
    const c = await p.call('POST', '/v1/customers/c1/cart/items', { product_id: 'voice-clone-kit', quantity: 1 });
    expect(c.body.items).toHaveLength(1);
    expect(c.body.items[0]).toMatchObject({ product_id: 'voice-clone-kit', quantity: 3, unit_price: eur(2900), line_total: eur(8700) });
    await p.call('POST', '/v1/customers/c1/cart/items', { product_id: 'ebook-ai-business', quantity: 1 });
    const cart = await p.call('GET', '/v1/customers/c1/cart');
    expect(cart.body).toMatchObject({ count: 4, total: eur(9900) });
    const count = await p.call('GET', '/v1/customers/c1/cart/count');
    expect(count.body.count).toBe(4);
    const ebook = cart.body.items.find((i: { product_id: string }) => i.product_id === 'ebook-ai-business');
    const patched = await p.call('PATCH', `/v1/customers/c1/cart/items/${ebook.id}`, { quantity: 5 });
    expect(patched.status).toBe(200);
    expect(patched.body.total).toEqual(eur(8700 + 6000));
    const removed = await p.call('DELETE', `/v1/customers/c1/cart/items/${ebook.id}`);
    expect(removed.body.count).toBe(3);
    expect((await p.call('DELETE', `/v1/customers/c1/cart/items/${ebook.id}`)).status).toBe(404);
    const cleared = await p.call('DELETE', '/v1/customers/c1/cart');
    expect(cleared.body).toMatchObject({ items: [], count: 0, total: eur(0) });
  });

  it('adding with the same Idempotency-Key twice raises the quantity once', async () => {
    const p = await webox();
    const body = { product_id: 'chatbot-template', quantity: 2 };
    const a = await p.call('POST', '/v1/customers/c5/cart/items', body, { 'idempotency-key': 'add-1' });
    const b = await p.call('POST', '/v1/customers/c5/cart/items', body, { 'idempotency-key': 'add-1' });
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.body).toEqual(a.body);
    expect((await p.call('GET', '/v1/customers/c5/cart/count')).body.count).toBe(2);
    const other = await p.call('POST', '/v1/customers/c5/cart/items', { ...body, quantity: 3 }, { 'idempotency-key': 'add-1' });
    expect(other.status).toBe(409);
  });

  it('refuses bad quantities (-1, 0, 1.5, "2", NaN, 1e9, 100) with 400 and changes nothing', async () => {
    const p = await webox();
    await p.call('POST', '/v1/customers/c2/cart/items', { product_id: 'chatbot-template', quantity: 1 });
    for (const quantity of [-1, 0, 1.5, '2', null, 1e9, 100]) {
      const r = await p.call('POST', '/v1/customers/c2/cart/items', { product_id: 'chatbot-template', quantity });
      expect(r.status, `quantity ${quantity}`).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', param: 'quantity' });
    }
    const nan = await p.call('POST', '/v1/customers/c2/cart/items', '{"product_id":"chatbot-template","quantity":NaN}', {
      'content-type': 'application/json',
    });
    expect(nan.status).toBe(400);
    const cart = await p.call('GET', '/v1/customers/c2/cart');
    const line = cart.body.items[0];
    for (const quantity of [0, -3, 2.5, '4']) {
      expect((await p.call('PATCH', `/v1/customers/c2/cart/items/${line.id}`, { quantity })).status).toBe(400);
    }
    // Raising a line past 99 units in total is refused too.
    const over = await p.call('POST', '/v1/customers/c2/cart/items', { product_id: 'ebook-ai-business', quantity: 99 });
    expect(over.status).toBe(200);
    const past = await p.call('POST', '/v1/customers/c2/cart/items', { product_id: 'ebook-ai-business', quantity: 1 });
    expect(past.status).toBe(400);
    const after = await p.call('GET', '/v1/customers/c2/cart');
    expect(after.body.items.map((i: { quantity: number }) => i.quantity)).toEqual([1, 99]);
  });

  it('answers 404 for unknown or another project’s product, 400 for an inactive one, 409 beyond stock', async () => {
    const catalog: CatalogInput = {
      products: [
        { id: 'mug', name: 'Mug', price: eur(900), stock: 3 },
        { id: 'retired', name: 'Retired', price: eur(500), stock: 10, active: false },
      ],
    };
    const p = await h.project({ catalog });
    const other = await h.project({ catalog: { products: [{ id: 'secret-thing', name: 'Other', price: eur(100), stock: 5 }] } });
    expect(other.id).not.toBe(p.id);
    const unknown = await p.call('POST', '/v1/customers/c3/cart/items', { product_id: 'secret-thing', quantity: 1 });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    const inactive = await p.call('POST', '/v1/customers/c3/cart/items', { product_id: 'retired', quantity: 1 });
    expect(inactive.status).toBe(400);
    expect(inactive.body.error).toMatchObject({ code: 'invalid_request', param: 'product_id' });
    const beyond = await p.call('POST', '/v1/customers/c3/cart/items', { product_id: 'mug', quantity: 4 });
    expect(beyond.status).toBe(409);
    expect(beyond.body.error).toMatchObject({ code: 'insufficient_stock', product_id: 'mug', available: 3, requested: 4 });
    expect((await p.call('GET', '/v1/customers/c3/cart')).status).toBe(404);
    // Another customer's cart line is not reachable through this customer.
    const mine = await p.call('POST', '/v1/customers/c3/cart/items', { product_id: 'mug', quantity: 1 });
    const lineId = mine.body.items[0].id;
    expect((await p.call('PATCH', `/v1/customers/c4/cart/items/${lineId}`, { quantity: 2 })).status).toBe(404);
    expect((await other.call('DELETE', `/v1/customers/c3/cart/items/${lineId}`)).status).toBe(404);
  });
});

describe('shop: catalog changes under a cart', () => {
  it('refuses mixing currencies in one cart, and a product withdrawn after it was added blocks the order', async () => {
    const catalog: CatalogInput = {
      products: [
        { id: 'pen', name: 'Pen', price: eur(300), stock: 10 },
        { id: 'yen-pen', name: 'Pen (JP)', price: { amount: 500, currency: 'jpy' }, stock: 10 },
        { id: 'ink', name: 'Ink', price: eur(700), stock: 10 },
      ],
    };
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers/m1/cart/items', { product_id: 'pen', quantity: 1 });
    const mixed = await p.call('POST', '/v1/customers/m1/cart/items', { product_id: 'yen-pen', quantity: 1 });
    expect(mixed.status).toBe(400);
    expect(mixed.body.error).toMatchObject({ code: 'invalid_request', param: 'product_id' });
    await p.call('POST', '/v1/customers/m1/cart/items', { product_id: 'ink', quantity: 2 });
    const withdrawn = structuredClone(catalog);
    withdrawn.products![2]!.active = false;
    expect((await p.call('PUT', '/v1/catalog', withdrawn)).status).toBe(200);
    const cart = await p.call('GET', '/v1/customers/m1/cart');
    expect(cart.body).toMatchObject({ count: 1, total: eur(300) });
    expect(cart.body.items.find((i: { product_id: string }) => i.product_id === 'ink').purchasable).toBe(false);
    const order = await p.call('POST', '/v1/customers/m1/orders');
    expect(order.status).toBe(400);
    expect(order.body.error).toMatchObject({ param: 'cart', product_id: 'ink' });
    expect(await stockOf(p, 'pen')).toBe(10);
  });
});

describe('shop: orders', () => {
  it('an order freezes prices, empties the cart and reserves stock; a later price change does not touch it', async () => {
    const p = await webox();
    await p.call('POST', '/v1/customers/o1/cart/items', { product_id: 'dataset-starter', quantity: 2 });
    await p.call('POST', '/v1/customers/o1/cart/items', { product_id: 'ebook-ai-business', quantity: 1 });
    const o = await p.call('POST', '/v1/customers/o1/orders', {});
    expect(o.status).toBe(201);
    expect(o.body).toMatchObject({ status: 'pending', total: eur(2 * 9900 + 1200), count: 3, customer_id: 'o1' });
    expect(o.body.id).toMatch(/^ord_/);
    expect((await p.call('GET', '/v1/customers/o1/cart/count')).body.count).toBe(0);
    expect(await stockOf(p, 'dataset-starter')).toBe(23);
    const catalog = structuredClone(DEMO_CATALOGS.webox!.catalog);
    catalog.products![4]!.price = eur(19900);
    expect((await p.call('PUT', '/v1/catalog', catalog)).status).toBe(200);
    const again = await p.call('GET', `/v1/orders/${o.body.id}`);
    expect(again.body.total).toEqual(eur(2 * 9900 + 1200));
    expect(again.body.items[0]).toMatchObject({ product_id: 'dataset-starter', unit_price: eur(9900), quantity: 2 });
    const empty = await p.call('POST', '/v1/customers/o1/orders', {});
    expect(empty.status).toBe(400);
    const list = await p.call('GET', '/v1/customers/o1/orders?limit=1');
    expect(list.body).toMatchObject({ has_more: false });
    expect(list.body.data[0].id).toBe(o.body.id);
    const foreign = await h.project({ catalog: DEMO_CATALOGS.webox!.catalog });
    expect((await foreign.call('GET', `/v1/orders/${o.body.id}`)).status).toBe(404);
  });

  it('two customers racing for the last unit: exactly one order wins', async () => {
    const p = await h.project({ catalog: { products: [{ id: 'last', name: 'Last one', price: eur(5000), stock: 1 }] } });
    const buyers = ['r1', 'r2', 'r3', 'r4', 'r5'];
    for (const b of buyers) expect((await p.call('POST', `/v1/customers/${b}/cart/items`, { product_id: 'last', quantity: 1 })).status).toBe(200);
    const results = await Promise.all(buyers.map((b) => p.call('POST', `/v1/customers/${b}/orders`, {})));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) expect(r.body.error.code).toBe('insufficient_stock');
    expect(await stockOf(p, 'last')).toBe(0);
  });

  it('an unpaid order expires after its time on the project clock and gives its stock back', async () => {
    const p = await webox();
    await p.call('POST', '/v1/customers/e1/cart/items', { product_id: 'ai-avatar-studio', quantity: 5 });
    const o = await p.call('POST', '/v1/customers/e1/orders', { expires_in: 600 });
    expect(await stockOf(p, 'ai-avatar-studio')).toBe(20);
    await p.call('POST', '/v1/test_helpers/clock/advance', { seconds: 599 });
    expect((await p.call('GET', `/v1/orders/${o.body.id}`)).body.status).toBe('pending');
    const adv = await p.call('POST', '/v1/test_helpers/clock/advance', { seconds: 2 });
    expect(adv.body.ran['orders.expire']).toBe(1);
    const after = await p.call('GET', `/v1/orders/${o.body.id}`);
    expect(after.body).toMatchObject({ status: 'canceled', cancel_reason: 'expired' });
    expect(await stockOf(p, 'ai-avatar-studio')).toBe(25);
    // Its checkout is closed too: an expired order cannot be paid.
    const co = await p.call('POST', '/v1/checkout', { customer_id: 'e1', order_id: o.body.id, success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' });
    expect(co.status).toBe(409);
  });

  it('cancel releases a pending order; fulfill needs a paid order; illegal moves are 409', async () => {
    const p = await webox();
    await p.call('POST', '/v1/customers/t1/cart/items', { product_id: 'voice-clone-kit', quantity: 2 });
    const o = await p.call('POST', '/v1/customers/t1/orders');
    expect((await p.call('POST', `/v1/orders/${o.body.id}/fulfill`)).status).toBe(409);
    const open = await p.call('POST', '/v1/checkout', { customer_id: 't1', order_id: o.body.id, success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' });
    const c = await p.call('POST', `/v1/orders/${o.body.id}/cancel`);
    // Its open checkout closes with it: a canceled order cannot be paid.
    expect((await p.call('POST', `/v1/test_helpers/checkout/${open.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(409);
    expect(c.body).toMatchObject({ status: 'canceled', cancel_reason: 'requested' });
    expect(await stockOf(p, 'voice-clone-kit')).toBe(25);
    expect((await p.call('POST', `/v1/orders/${o.body.id}/cancel`)).status).toBe(409);

    await p.call('POST', '/v1/customers/t1/cart/items', { product_id: 'voice-clone-kit', quantity: 1 });
    const o2 = await p.call('POST', '/v1/customers/t1/orders');
    await payOrder(p, 't1', o2.body.id);
    expect((await p.call('POST', `/v1/orders/${o2.body.id}/cancel`)).status).toBe(409);
    const f = await p.call('POST', `/v1/orders/${o2.body.id}/fulfill`);
    expect(f.body.status).toBe('fulfilled');
    expect((await p.call('POST', `/v1/orders/${o2.body.id}/fulfill`)).status).toBe(409);
    const page1 = await p.call('GET', '/v1/customers/t1/orders?limit=1');
    expect(page1.body).toMatchObject({ has_more: true });
    const page2 = await p.call('GET', `/v1/customers/t1/orders?limit=1&starting_after=${page1.body.data[0].id}`);
    expect(page2.body.has_more).toBe(false);
    expect([page1.body.data[0].id, page2.body.data[0].id].sort()).toEqual([o.body.id, o2.body.id].sort());
    const fulfilled = await p.call('GET', '/v1/customers/t1/orders?status=fulfilled');
    expect(fulfilled.body.data.map((x: { id: string }) => x.id)).toEqual([o2.body.id]);
  });

  it('checkout pays an order once: paid, payment linked, order.paid emitted once; another customer cannot pay it', async () => {
    const p = await webox();
    await p.call('POST', '/v1/customers/p1/cart/items', { product_id: 'prompt-pack-marketing', quantity: 3 });
    const o = await p.call('POST', '/v1/customers/p1/orders');
    const stranger = await p.call('POST', '/v1/checkout', { customer_id: 'p2', order_id: o.body.id, success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' });
    expect(stranger.status).toBe(404);
    const first = await p.call('POST', '/v1/checkout', { customer_id: 'p1', order_id: o.body.id, success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' });
    const sessionId = await payOrder(p, 'p1', o.body.id);
    // The earlier session for the same order was closed by the second: the order cannot be paid twice.
    expect((await p.call('GET', `/v1/checkout/${first.body.session_id}`)).body.status).toBe('expired');
    expect((await p.call('POST', `/v1/test_helpers/checkout/${first.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(409);
    const paid = await p.call('GET', `/v1/orders/${o.body.id}`);
    expect(paid.body).toMatchObject({ status: 'paid', checkout_session_id: sessionId });
    expect(paid.body.payment_id).toMatch(/^pay_/);
    const pay = await p.call('GET', `/v1/payments/${paid.body.payment_id}`);
    expect(pay.body).toMatchObject({ amount: 5700, currency: 'eur', order_id: o.body.id, status: 'succeeded' });
    expect(await stockOf(p, 'prompt-pack-marketing')).toBe(22);
    // The same webhook again changes nothing.
    const ev = await p.call('GET', '/v1/events');
    const replay = await p.call('POST', `/v1/events/${ev.body.data[0].id}/replay`);
    expect(replay.status).toBe(200);
    const outbox = await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox_events WHERE project_id = $1 AND type = 'order.paid'", [p.id]);
    expect(outbox.rows[0]?.n).toBe(1);
    expect((await p.call('POST', '/v1/checkout', { customer_id: 'p1', order_id: o.body.id, success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' })).status).toBe(409);
  });

  it('a catalog push with a changed stock resets what is available, keeping units held by pending orders', async () => {
    const catalog = { products: [{ id: 'tee', name: 'Tee', price: eur(2000), stock: 10 }] };
    const p = await h.project({ catalog });
    await p.call('POST', '/v1/customers/s1/cart/items', { product_id: 'tee', quantity: 4 });
    await p.call('POST', '/v1/customers/s1/orders');
    expect(await stockOf(p, 'tee')).toBe(6);
    await p.call('PUT', '/v1/catalog', { ...catalog, name: 'same stock' });
    expect(await stockOf(p, 'tee')).toBe(6);
    await p.call('PUT', '/v1/catalog', { products: [{ id: 'tee', name: 'Tee', price: eur(2000), stock: 50 }] });
    expect(await stockOf(p, 'tee')).toBe(46);
    await p.call('PUT', '/v1/catalog', { products: [{ id: 'tee', name: 'Tee', price: eur(2000), stock: 2 }] });
    expect(await stockOf(p, 'tee')).toBe(0);
  });
});

describe('refunds', () => {
  it('a full refund of an order payment marks it refunded and returns the stock; a second refund is 409', async () => {
    const p = await webox();
    await p.call('POST', '/v1/customers/f1/cart/items', { product_id: 'chatbot-template', quantity: 2 });
    const o = await p.call('POST', '/v1/customers/f1/orders');
    await payOrder(p, 'f1', o.body.id);
    const paymentId = (await p.call('GET', `/v1/orders/${o.body.id}`)).body.payment_id;
    expect(await stockOf(p, 'chatbot-template')).toBe(23);
    const r = await p.call('POST', `/v1/payments/${paymentId}/refund`, {});
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ object: 'refund', amount: 7800, status: 'succeeded', order: { status: 'refunded' } });
    expect(r.body.payment).toMatchObject({ status: 'refunded', amount_refunded: 7800 });
    expect((await p.call('GET', `/v1/orders/${o.body.id}`)).body.status).toBe('refunded');
    expect(await stockOf(p, 'chatbot-template')).toBe(25);
    const again = await p.call('POST', `/v1/payments/${paymentId}/refund`, {});
    expect(again.status).toBe(409);
  });

  it('partial refunds add up, never past what is left; the order is refunded only when all is back', async () => {
    const p = await webox();
    await p.call('POST', '/v1/customers/f2/cart/items', { product_id: 'ebook-ai-business', quantity: 1 });
    const o = await p.call('POST', '/v1/customers/f2/orders');
    await payOrder(p, 'f2', o.body.id);
    const paymentId = (await p.call('GET', `/v1/orders/${o.body.id}`)).body.payment_id;
    const a = await p.call('POST', `/v1/payments/${paymentId}/refund`, { amount: 500 }, { 'idempotency-key': 'ref-a' });
    expect(a.body.payment).toMatchObject({ status: 'partially_refunded', amount_refunded: 500 });
    const replay = await p.call('POST', `/v1/payments/${paymentId}/refund`, { amount: 500 }, { 'idempotency-key': 'ref-a' });
    expect(replay.body.id).toBe(a.body.id);
    expect((await p.call('GET', `/v1/orders/${o.body.id}`)).body.status).toBe('paid');
    for (const amount of [701, 0, -5, 1.5, '100']) {
      const bad = await p.call('POST', `/v1/payments/${paymentId}/refund`, { amount });
      expect(bad.status, `amount ${amount}`).toBe(400);
    }
    const over = await p.call('POST', `/v1/payments/${paymentId}/refund`, { amount: 701 });
    expect(over.body.error).toMatchObject({ param: 'amount', refundable: 700 });
    const rest = await p.call('POST', `/v1/payments/${paymentId}/refund`);
    expect(rest.body).toMatchObject({ amount: 700, payment: { status: 'refunded', amount_refunded: 1200 }, order: { status: 'refunded' } });
    const list = await p.call('GET', `/v1/payments/${paymentId}/refunds`);
    expect(list.body.data.map((x: { amount: number }) => x.amount)).toEqual([500, 700]);
    expect((await p.call('POST', '/v1/payments/pay_nope/refund', {})).status).toBe(404);
  });

  it('refunding a credit pack reverses its credits, never below zero, and reports what was already spent', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const co = await p.call('POST', '/v1/checkout', { customer_id: 'k1', credit_pack: 'pro', success_url: 'https://x.example/ok', cancel_url: 'https://x.example/no' });
    await p.call('POST', `/v1/test_helpers/checkout/${co.body.session_id}/pay`, { card: '4242424242424242' });
    expect((await p.call('GET', '/v1/customers/k1/credits')).body.balance).toBe(70);
    const payment = (await p.call('GET', '/v1/payments?customer_id=k1')).body.data[0];
    // Half back: 30 of the 60 credits.
    const half = await p.call('POST', `/v1/payments/${payment.id}/refund`, { amount: 750 });
    expect(half.body.credits).toMatchObject({ requested: 30, reversed: 30, shortfall: 0, balance: 40 });
    await p.call('POST', '/v1/customers/k1/credits/deduct', { amount: 35 });
    const rest = await p.call('POST', `/v1/payments/${payment.id}/refund`);
    expect(rest.status).toBe(200);
    expect(rest.body.credits).toMatchObject({ requested: 30, reversed: 5, shortfall: 25, balance: 0 });
    const credits = await p.call('GET', '/v1/customers/k1/credits');
    expect(credits.body.balance).toBe(0);
    const tx = await p.call('GET', '/v1/customers/k1/credits/transactions');
    expect(tx.body.data.filter((e: { kind: string }) => e.kind === 'reversal').map((e: { amount: number }) => e.amount)).toEqual([-5, -30]);
  });

  it('a refund made in the provider dashboard (charge.refunded event) is reflected once', async () => {
    const p = await webox();
    await p.call('POST', '/v1/customers/d1/cart/items', { product_id: 'voice-clone-kit', quantity: 1 });
    const o = await p.call('POST', '/v1/customers/d1/orders');
    await payOrder(p, 'd1', o.body.id);
    const pay = (await p.call('GET', `/v1/payments/${(await p.call('GET', `/v1/orders/${o.body.id}`)).body.payment_id}`)).body;
    const { sendSandboxEvent } = await import('../src/modules/payments/sandbox-events.ts');
    const { getProject } = await import('../src/modules/projects/projects.service.ts');
    const project = await getProject(h.tg.ctx, p.id);
    const object = { id: 'ch_1', payment_intent: pay.provider_ref, amount_refunded: 2900, currency: 'eur', refund: 're_dash_1' };
    await sendSandboxEvent(h.tg.ctx, project, 'charge.refunded', object, 'evt_dash_1');
    await sendSandboxEvent(h.tg.ctx, project, 'charge.refunded', object, 'evt_dash_2');
    const after = await p.call('GET', `/v1/payments/${pay.id}`);
    expect(after.body).toMatchObject({ status: 'refunded', amount_refunded: 2900 });
    expect((await p.call('GET', `/v1/payments/${pay.id}/refunds`)).body.data).toHaveLength(1);
    expect((await p.call('GET', `/v1/orders/${o.body.id}`)).body.status).toBe('refunded');
    const events = await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox_events WHERE project_id = $1 AND type = 'payment.refunded'", [p.id]);
    expect(events.rows[0]?.n).toBe(1);
  });
});
