import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import type { Harness, TestProject } from './support/harness.ts';
import { PAYPAL_WEBHOOK_ID, type PaypalTestServer, startPaypalHarness } from './support/paypal-server.ts';

let h: Harness;
let pp: PaypalTestServer;
let close: () => Promise<void>;
const WEBHOOK_ID = PAYPAL_WEBHOOK_ID;

beforeAll(async () => {
  ({ h, pp, close } = await startPaypalHarness());
});
afterAll(async () => close?.());

async function paypalProject(catalog = DEMO_CATALOGS.webox!.catalog): Promise<TestProject> {
  const p = await h.project({ catalog });
  const r = await p.call('PUT', '/v1/providers/paypal', {
    client_id: 'AZtestClientId0001',
    client_secret: 'ECtestClientSecret0001',
    webhook_id: WEBHOOK_ID,
    mode: 'sandbox',
  });
  expect(r.status).toBe(200);
  expect(r.raw).not.toContain('ECtestClientSecret0001');
  return p;
}

async function orderCheckout(p: TestProject, customer: string, product = 'voice-clone-kit', quantity = 2) {
  await p.call('POST', `/v1/customers/${customer}/cart/items`, { product_id: product, quantity });
  const order = await p.call('POST', `/v1/customers/${customer}/orders`);
  expect(order.status).toBe(201);
  const co = await p.call('POST', '/v1/checkout', {
    customer_id: customer,
    order_id: order.body.id,
    provider: 'paypal',
    success_url: 'https://shop.example/thanks?s={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://shop.example/cart',
  });
  expect(co.status).toBe(201);
  const session = (await p.call('GET', `/v1/checkout/${co.body.session_id}`)).body;
  const paypalOrderId = new URL(co.body.url).searchParams.get('token') as string;
  return { order: order.body, sessionId: co.body.session_id as string, url: co.body.url as string, paypalOrderId, session };
}

/** The buyer's return from PayPal, through Tollgate's own return route. */
async function returnFromPaypal(returnUrl: string) {
  const u = new URL(returnUrl);
  return h.inject({ method: 'GET', url: `${u.pathname}${u.search}` });
}

async function deliver(p: TestProject, signed: { body: string; headers: Record<string, string> }) {
  return h.inject({ method: 'POST', url: `/v1/webhooks/paypal/${p.id}`, headers: signed.headers, payload: signed.body });
}

async function countOutbox(p: TestProject, type: string): Promise<number> {
  const r = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_events WHERE project_id = $1 AND type = $2', [p.id, type]);
  return r.rows[0]?.n ?? 0;
}

describe('PayPal checkout', () => {
  it('create → approve → return/capture → order paid once; the later capture webhook and its duplicate change nothing', async () => {
    const p = await paypalProject();
    const { order, sessionId, url, paypalOrderId } = await orderCheckout(p, 'pp1');
    expect(url.startsWith(`${pp.url}/checkoutnow?token=`)).toBe(true);
    const create = pp.requests.find((r) => r.path === '/v2/checkout/orders' && r.body?.purchase_units?.[0]?.custom_id === sessionId);
    expect(create?.requestId).toBe(`tollgate-checkout-${sessionId}`);
    expect(create?.body?.intent).toBe('CAPTURE');
    expect(create?.body?.purchase_units[0]).toMatchObject({ invoice_id: sessionId, amount: { currency_code: 'EUR', value: '58.00' } });

    const back = await returnFromPaypal(pp.approve(paypalOrderId));
    expect(back.status).toBe(303);
    expect(back.headers.location).toBe(`https://shop.example/thanks?s=${sessionId}`);
    const capture = pp.requests.filter((r) => r.path === `/v2/checkout/orders/${paypalOrderId}/capture`);
    expect(capture.map((r) => r.requestId)).toEqual([`tollgate-capture-${sessionId}`]);

    const paid = (await p.call('GET', `/v1/orders/${order.id}`)).body;
    expect(paid.status).toBe('paid');
    const payment = (await p.call('GET', `/v1/payments/${paid.payment_id}`)).body;
    expect(payment).toMatchObject({ provider: 'paypal', amount: 5800, currency: 'eur', order_id: order.id });
    const captureId = payment.provider_ref;
    expect(pp.captures.has(captureId)).toBe(true);

    const captureResource = pp.captures.get(captureId)?.capture as Record<string, unknown>;
    const signed = pp.signedWebhook('PAYMENT.CAPTURE.COMPLETED', captureResource, { webhookId: WEBHOOK_ID, eventId: 'WH-CAPTURE-1' });
    const first = await deliver(p, signed);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ received: true, duplicate: false, status: 'ignored' });
    const dup = await deliver(p, signed);
    expect(dup.body).toMatchObject({ duplicate: true });
    // Returning twice (a reload) redirects again and captures nothing more.
    expect((await returnFromPaypal(`http://x/paypal/return/${sessionId}`)).status).toBe(303);
    expect(await countOutbox(p, 'order.paid')).toBe(1);
    expect((await p.call('GET', `/v1/payments?customer_id=pp1`)).body.data).toHaveLength(1);
    expect((await p.call('GET', '/v1/products')).body.data.find((x: { id: string }) => x.id === 'voice-clone-kit').stock).toBe(23);
  });

  it('a buyer who never returns is captured from CHECKOUT.ORDER.APPROVED; the late return then only redirects', async () => {
    const p = await paypalProject();
    const { order, sessionId, paypalOrderId } = await orderCheckout(p, 'pp2', 'ebook-ai-business', 1);
    const returnUrl = pp.approve(paypalOrderId);
    const approved = pp.signedWebhook('CHECKOUT.ORDER.APPROVED', { id: paypalOrderId, status: 'APPROVED', intent: 'CAPTURE' }, { webhookId: WEBHOOK_ID });
    const r = await deliver(p, approved);
    expect(r.body).toMatchObject({ status: 'processed' });
    expect((await p.call('GET', `/v1/orders/${order.id}`)).body.status).toBe('paid');
    const back = await returnFromPaypal(returnUrl);
    expect(back.status).toBe(303);
    expect(pp.requests.filter((x) => x.path === `/v2/checkout/orders/${paypalOrderId}/capture`).every((x) => x.requestId === `tollgate-capture-${sessionId}`)).toBe(true);
    expect(await countOutbox(p, 'order.paid')).toBe(1);
  });

  it('return, approval webhook and capture webhook arriving at once still pay the order once', async () => {
    const p = await paypalProject();
    const { order, paypalOrderId } = await orderCheckout(p, 'pp8', 'prompt-pack-marketing', 1);
    const returnUrl = pp.approve(paypalOrderId);
    const approved = pp.signedWebhook('CHECKOUT.ORDER.APPROVED', { id: paypalOrderId }, { webhookId: WEBHOOK_ID });
    const results = await Promise.all([returnFromPaypal(returnUrl), deliver(p, approved), returnFromPaypal(returnUrl), deliver(p, approved)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 303, 303]);
    const paid = (await p.call('GET', `/v1/orders/${order.id}`)).body;
    expect(paid.status).toBe('paid');
    const captureId = (await p.call('GET', `/v1/payments/${paid.payment_id}`)).body.provider_ref;
    const completed = pp.signedWebhook('PAYMENT.CAPTURE.COMPLETED', pp.captures.get(captureId)?.capture as Record<string, unknown>, { webhookId: WEBHOOK_ID });
    expect((await deliver(p, completed)).status).toBe(200);
    expect(pp.captures.size).toBeGreaterThan(0);
    expect([...pp.captures.values()].filter((c) => c.orderId === paypalOrderId)).toHaveLength(1);
    expect((await p.call('GET', '/v1/payments?customer_id=pp8')).body.data).toHaveLength(1);
    expect(await countOutbox(p, 'order.paid')).toBe(1);
  });

  it('an approval that arrives after the order expired takes no money', async () => {
    const p = await paypalProject();
    const { order, paypalOrderId, sessionId } = await orderCheckout(p, 'pp7', 'chatbot-template', 1);
    const returnUrl = pp.approve(paypalOrderId);
    await h.db.query('UPDATE projects SET clock_offset_ms = clock_offset_ms + $2 WHERE id = $1', [p.id, 31 * 60 * 1000]);
    const { invalidateProject } = await import('../src/modules/projects/projects.service.ts');
    await invalidateProject(h.tg.ctx, p.id);
    const late = await deliver(p, pp.signedWebhook('CHECKOUT.ORDER.APPROVED', { id: paypalOrderId }, { webhookId: WEBHOOK_ID }));
    expect(late.body.status).toBe('ignored');
    expect((await returnFromPaypal(returnUrl)).status).toBe(410);
    expect(pp.requests.some((r) => r.path === `/v2/checkout/orders/${paypalOrderId}/capture`)).toBe(false);
    expect((await p.call('GET', `/v1/orders/${order.id}`)).body.status).not.toBe('paid');
    expect((await p.call('GET', `/v1/checkout/${sessionId}`)).body.status).not.toBe('complete');
  });

  it('a declined capture leaves the order pending and shows the buyer an error', async () => {
    const p = await paypalProject();
    const { order, paypalOrderId } = await orderCheckout(p, 'pp3', 'chatbot-template', 1);
    const back = await returnFromPaypal(pp.approve(paypalOrderId, { decline: true }));
    expect(back.status).toBe(402);
    expect(back.raw).toContain('declined');
    expect((await p.call('GET', `/v1/orders/${order.id}`)).body.status).toBe('pending');
    expect((await p.call('GET', '/v1/payments?customer_id=pp3')).body.data).toHaveLength(0);
  });

  it('credit packs can be bought with PayPal', async () => {
    const p = await paypalProject(DEMO_CATALOGS.aurisvoice!.catalog);
    const co = await p.call('POST', '/v1/checkout', {
      customer_id: 'pp4',
      credit_pack: 'pro',
      provider: 'paypal',
      success_url: 'https://auris.example/ok',
      cancel_url: 'https://auris.example/no',
    });
    expect(co.status).toBe(201);
    const back = await returnFromPaypal(pp.approve(new URL(co.body.url).searchParams.get('token') as string));
    expect(back.status).toBe(303);
    expect((await p.call('GET', '/v1/customers/pp4/credits')).body.balance).toBe(70);
    const sub = await p.call('POST', '/v1/checkout', { customer_id: 'pp4', plan: 'none', provider: 'paypal', success_url: 'https://a.example/', cancel_url: 'https://a.example/' });
    expect(sub.status).toBe(400);
  });
});

describe('PayPal webhooks are verified offline', () => {
  it('a bad signature, a tampered body or a wrong webhook id is 400 invalid_signature', async () => {
    const p = await paypalProject();
    const { paypalOrderId } = await orderCheckout(p, 'pp5');
    pp.approve(paypalOrderId);
    const good = pp.signedWebhook('CHECKOUT.ORDER.APPROVED', { id: paypalOrderId }, { webhookId: WEBHOOK_ID });
    const badSig = await deliver(p, { body: good.body, headers: { ...good.headers, 'paypal-transmission-sig': Buffer.alloc(256, 1).toString('base64') } });
    expect(badSig.status).toBe(400);
    expect(badSig.body.error.code).toBe('invalid_signature');
    const tampered = await deliver(p, { body: good.body.replace('"APPROVED"', '"APPROVED" ').replace(paypalOrderId, `${paypalOrderId}X`), headers: good.headers });
    expect(tampered.status).toBe(400);
    const otherHook = pp.signedWebhook('CHECKOUT.ORDER.APPROVED', { id: paypalOrderId }, { webhookId: 'SOME-OTHER-WEBHOOK' });
    expect((await deliver(p, otherHook)).status).toBe(400);
    const missing = await deliver(p, { body: good.body, headers: { 'content-type': 'application/json' } });
    expect(missing.status).toBe(400);
    const events = await p.call('GET', '/v1/events');
    expect(events.body.data).toHaveLength(0);
  });

});

describe('issue 11 item 9: PayPal transmission time outside the 5 min window is refused', () => {
  it('a correctly signed message sent in 2019, or 6 min ahead, is 400 invalid_signature and stored nowhere; one 4 min old is accepted', async () => {
    const p = await paypalProject();
    const now = h.clock.now().getTime();
    for (const at of [new Date('2019-06-01T10:00:00Z'), new Date(now - 6 * 60_000), new Date(now + 6 * 60_000)]) {
      const old = pp.signedWebhook('PAYMENT.CAPTURE.COMPLETED', { id: 'OLD1', custom_id: 'cs_unknown' }, { webhookId: WEBHOOK_ID, transmissionTime: at });
      const r = await deliver(p, old);
      expect(r.status, at.toISOString()).toBe(400);
      expect(r.body.error.code).toBe('invalid_signature');
      expect(r.body.error.message).toContain('PAYPAL-TRANSMISSION-TIME');
    }
    const rows = await h.db.query('SELECT 1 FROM provider_events WHERE project_id = $1', [p.id]);
    expect(rows.rowCount).toBe(0);
    const recent = pp.signedWebhook('PAYMENT.CAPTURE.COMPLETED', { id: 'RECENT1', custom_id: 'cs_unknown' }, { webhookId: WEBHOOK_ID, transmissionTime: new Date(now - 4 * 60_000) });
    expect((await deliver(p, recent)).status).toBe(200);
  });
});

describe('PayPal refunds', () => {
  it('refunds through the captures refund API with a deterministic request id; the echo webhook is not applied twice', async () => {
    const p = await paypalProject();
    const { order, paypalOrderId } = await orderCheckout(p, 'pp6', 'dataset-starter', 1);
    await returnFromPaypal(pp.approve(paypalOrderId));
    const paymentId = (await p.call('GET', `/v1/orders/${order.id}`)).body.payment_id;
    const payment = (await p.call('GET', `/v1/payments/${paymentId}`)).body;
    const part = await p.call('POST', `/v1/payments/${paymentId}/refund`, { amount: 2500 });
    expect(part.status).toBe(200);
    expect(part.body).toMatchObject({ amount: 2500, provider: 'paypal', payment: { status: 'partially_refunded' } });
    const call = pp.requests.find((r) => r.path === `/v2/payments/captures/${payment.provider_ref}/refund`);
    expect(call?.requestId).toBe(`tollgate-refund-${paymentId}-0-2500`);
    expect(call?.body).toEqual({ amount: { currency_code: 'EUR', value: '25.00' } });
    // PayPal's PAYMENT.CAPTURE.REFUNDED for that same refund changes nothing.
    const echo = pp.signedWebhook('PAYMENT.CAPTURE.REFUNDED', pp.refundResource(payment.provider_ref, 2500, 2500, 'EUR', part.body.provider_ref), { webhookId: WEBHOOK_ID });
    expect((await deliver(p, echo)).body.status).toBe('ignored');
    // A refund made in PayPal's dashboard for the rest is reflected once: the order is refunded.
    const dash = pp.signedWebhook('PAYMENT.CAPTURE.REFUNDED', pp.refundResource(payment.provider_ref, 7400, 9900, 'EUR', 'DASHREFUND1'), { webhookId: WEBHOOK_ID });
    expect((await deliver(p, dash)).body.status).toBe('processed');
    const again = pp.signedWebhook('PAYMENT.CAPTURE.REFUNDED', pp.refundResource(payment.provider_ref, 7400, 9900, 'EUR', 'DASHREFUND1'), { webhookId: WEBHOOK_ID });
    expect((await deliver(p, again)).body.status).toBe('ignored');
    const after = (await p.call('GET', `/v1/payments/${paymentId}`)).body;
    expect(after).toMatchObject({ status: 'refunded', amount_refunded: 9900 });
    expect((await p.call('GET', `/v1/orders/${order.id}`)).body.status).toBe('refunded');
    expect(await countOutbox(p, 'payment.refunded')).toBe(2);
    expect((await p.call('POST', `/v1/payments/${paymentId}/refund`, {})).status).toBe(409);
  });
});
