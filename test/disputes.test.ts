import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, Tollgate } from '@tollgate/sdk';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { collectDueFees } from '../src/modules/payments/fees.service.ts';
import type { Harness, Res, TestProject } from './support/harness.ts';
import { PAYPAL_WEBHOOK_ID, PaypalTestServer, startPaypalHarness } from './support/paypal-server.ts';
import { type Receiver, startReceiver } from './support/receiver.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';
import { createEndpoint, drainWebhooks, verifyOutgoing } from './support/webhooks.ts';

let h: Harness;
let pp: PaypalTestServer;
let stripe: LocalStripe;
let rx: Receiver;
let close: () => Promise<void>;

beforeAll(async () => {
  stripe = await new LocalStripe().start();
  rx = await startReceiver();
  ({ h, pp, close } = await startPaypalHarness({ stripeApiBase: stripe.url, webhookAllowPrivate: true, webhookTimeoutMs: 400 }));
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
});
afterAll(async () => {
  await close?.();
  await stripe?.close();
  await rx?.close();
});

const AURIS = DEMO_CATALOGS.aurisvoice!.catalog;
const URLS = { success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no' };

async function ok(r: Promise<Res>, status = 200): Promise<any> {
  const res = await r;
  expect(res.status, res.raw).toBe(status);
  return res.body;
}

/** A sandbox project whose `settings.disputes.on_open` is `policy` (the default when omitted). */
async function sandboxProject(policy?: 'hold' | 'claw_back' | 'none', catalog = AURIS): Promise<TestProject> {
  const p = await h.project({ catalog });
  if (policy) expect((await ok(p.call('PATCH', '/v1/project', { disputes: { on_open: policy } }))).disputes).toEqual({ on_open: policy });
  return p;
}

/** The customer buys a credit pack in the sandbox; returns the payment. */
async function buyPack(p: TestProject, customer: string, pack = 'pro'): Promise<any> {
  const s = await ok(p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: pack, ...URLS }), 201);
  await ok(p.call('POST', `/v1/test-helpers/checkout/${s.session_id}/pay`, { card: '4242424242424242' }));
  const list = await ok(p.call('GET', `/v1/payments?customer_id=${customer}`));
  return list.data[0];
}

const credits = async (p: TestProject, c: string) => ok(p.call('GET', `/v1/customers/${c}/credits`));
const outboxTypes = async (p: TestProject, prefix: string) =>
  (await h.db.query<{ type: string }>('SELECT type FROM outbox_events WHERE project_id = $1 AND type LIKE $2 ORDER BY seq', [p.id, `${prefix}%`])).rows.map((r) => r.type);

describe('disputes in the sandbox (settings.disputes.on_open = hold, the default)', () => {
  it('opening holds the disputed credits still unspent and reports the spent ones; lost takes the held ones for good', async () => {
    const p = await sandboxProject();
    expect((await ok(p.call('GET', '/v1/project'))).disputes).toEqual({ on_open: 'hold' });
    const pay = await buyPack(p, 'ana'); // 10 sign-up + 60 bought
    await ok(p.call('POST', '/v1/customers/ana/credits/deduct', { amount: 50 }));
    expect(await credits(p, 'ana')).toMatchObject({ balance: 20, held: 0, available: 20 });

    const d = await ok(p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, { reason: 'fraudulent' }, { 'idempotency-key': 'dsp-open-1' }));
    expect(d).toMatchObject({
      object: 'dispute',
      payment_id: pay.id,
      customer_id: 'ana',
      amount: 1500,
      currency: 'eur',
      reason: 'fraudulent',
      status: 'needs_response',
      provider: 'sandbox',
      on_open: 'hold',
      credits: { requested: 60, held: 20, reversed: 0, shortfall: 40 },
      closed_at: null,
    });
    // The same Idempotency-Key replays the first answer: one dispute.
    const again = await ok(p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, { reason: 'fraudulent' }, { 'idempotency-key': 'dsp-open-1' }));
    expect(again.id).toBe(d.id);
    expect((await ok(p.call('GET', '/v1/disputes'))).data).toHaveLength(1);

    // Held credits stay in the balance but cannot be spent.
    expect(await credits(p, 'ana')).toMatchObject({ balance: 20, held: 20, available: 0 });
    const short = await p.call('POST', '/v1/customers/ana/credits/deduct', { amount: 1 });
    expect(short.status).toBe(402);
    expect((await ok(p.call('GET', `/v1/payments/${pay.id}`))).dispute).toEqual({ id: d.id, status: 'needs_response' });
    const view = await ok(p.call('GET', '/v1/customers/ana'));
    expect(view.disputes).toMatchObject({ open: 1, lost: 0, credits_held: 20, subscription_at_risk: false });
    expect(view.disputes.data.map((x: { id: string }) => x.id)).toEqual([d.id]);

    const review = await ok(p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'under_review' }));
    expect(review.status).toBe('under_review');
    const lost = await ok(p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'lost' }));
    expect(lost).toMatchObject({ status: 'lost', credits: { requested: 60, held: 0, reversed: 20, shortfall: 40 } });
    expect(lost.closed_at).not.toBeNull();
    expect(await credits(p, 'ana')).toMatchObject({ balance: 0, held: 0, available: 0 });
    const ledger = await ok(p.call('GET', '/v1/customers/ana/credits/transactions'));
    expect(ledger.data[0]).toMatchObject({ amount: -20, kind: 'reversal', balance_after: 0 });
    expect((await ok(p.call('GET', '/v1/customers/ana'))).disputes).toMatchObject({ open: 0, lost: 1, credits_held: 0 });
    expect((await ok(p.call('GET', `/v1/payments/${pay.id}`))).dispute).toEqual({ id: d.id, status: 'lost' });
    expect(await outboxTypes(p, 'dispute.')).toEqual(['dispute.created', 'dispute.updated', 'dispute.closed']);
    // A closed dispute cannot be moved again.
    expect((await p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'won' })).status).toBe(409);
  });

  it('won releases the held credits; a partial dispute holds its share only', async () => {
    const p = await sandboxProject();
    const pay = await buyPack(p, 'ben'); // 70
    const d = await ok(p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, { amount: 750 }));
    expect(d).toMatchObject({ amount: 750, credits: { requested: 30, held: 30, shortfall: 0 } });
    expect(await credits(p, 'ben')).toMatchObject({ balance: 70, held: 30, available: 40 });
    const won = await ok(p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'won' }));
    expect(won).toMatchObject({ status: 'won', credits: { held: 0, reversed: 0 } });
    expect(await credits(p, 'ben')).toMatchObject({ balance: 70, held: 0, available: 70 });
    expect((await ok(p.call('GET', '/v1/customers/ben'))).disputes).toMatchObject({ open: 0, lost: 0, data: [] });
  });

  it('claw_back takes the credits back at once (never into debt); won gives them back', async () => {
    const p = await sandboxProject('claw_back');
    const pay = await buyPack(p, 'cai'); // 70
    await ok(p.call('POST', '/v1/customers/cai/credits/deduct', { amount: 30 }));
    const d = await ok(p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, {}));
    expect(d).toMatchObject({ on_open: 'claw_back', credits: { requested: 60, held: 0, reversed: 40, shortfall: 20 } });
    expect(await credits(p, 'cai')).toMatchObject({ balance: 0, held: 0 });
    const won = await ok(p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'won' }));
    expect(won.credits).toMatchObject({ reversed: 0 });
    expect(await credits(p, 'cai')).toMatchObject({ balance: 40, held: 0 });
    const ledger = await ok(p.call('GET', '/v1/customers/cai/credits/transactions'));
    expect(ledger.data.slice(0, 2).map((e: { kind: string; amount: number }) => [e.kind, e.amount])).toEqual([
      ['dispute_reinstated', 40],
      ['reversal', -40],
    ]);
  });

  it('claw_back then lost changes nothing more', async () => {
    const p = await sandboxProject('claw_back');
    const pay = await buyPack(p, 'dan');
    const d = await ok(p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, {}));
    expect(await credits(p, 'dan')).toMatchObject({ balance: 10 });
    const lost = await ok(p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'lost' }));
    expect(lost.credits).toMatchObject({ reversed: 60, held: 0 });
    expect(await credits(p, 'dan')).toMatchObject({ balance: 10 });
  });

  it('none records the dispute and leaves the credits alone, won or lost', async () => {
    const p = await sandboxProject('none');
    const pay = await buyPack(p, 'eve');
    const d = await ok(p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, {}));
    expect(d).toMatchObject({ on_open: 'none', credits: { requested: 0, held: 0, reversed: 0, shortfall: 0 } });
    expect(await credits(p, 'eve')).toMatchObject({ balance: 70, held: 0 });
    await ok(p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'lost' }));
    expect(await credits(p, 'eve')).toMatchObject({ balance: 70, held: 0 });
    expect((await ok(p.call('GET', `/v1/disputes/${d.id}`))).status).toBe('lost');
  });

  it('a disputed subscription payment flags the subscription at risk in the customer view until won', async () => {
    const p = await sandboxProject(undefined, DEMO_CATALOGS.arkwatch!.catalog);
    const s = await ok(p.call('POST', '/v1/checkout', { customer_id: 'fay', plan: 'pro', trial_days: 0, ...URLS }), 201);
    await ok(p.call('POST', `/v1/test-helpers/checkout/${s.session_id}/pay`, { card: '4242424242424242' }));
    const pay = (await ok(p.call('GET', '/v1/payments?customer_id=fay'))).data[0];
    expect(pay.subscription_id).not.toBeNull();
    const d = await ok(p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, {}));
    expect(d).toMatchObject({ subscription_id: pay.subscription_id, credits: { requested: 0 } });
    expect((await ok(p.call('GET', '/v1/customers/fay'))).disputes).toMatchObject({ open: 1, subscription_at_risk: true });
    await ok(p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'won' }));
    expect((await ok(p.call('GET', '/v1/customers/fay'))).disputes).toMatchObject({ open: 0, subscription_at_risk: false });
  });

  it('bad input: unknown ids are 404, a bad policy or status is 400, and nothing changes', async () => {
    const p = await sandboxProject();
    expect((await p.call('GET', '/v1/disputes/dsp_nope')).status).toBe(404);
    expect((await p.call('POST', '/v1/test-helpers/payments/pay_nope/dispute', {})).status).toBe(404);
    expect((await p.call('POST', '/v1/test-helpers/disputes/dsp_nope/update', { status: 'won' })).status).toBe(404);
    const bad = await p.call('PATCH', '/v1/project', { disputes: { on_open: 'freeze' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect((await ok(p.call('GET', '/v1/project'))).disputes).toEqual({ on_open: 'hold' });
    const pay = await buyPack(p, 'gus');
    const tooMuch = await p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, { amount: 1501 });
    expect(tooMuch.status).toBe(400);
    const badStatus = await p.call('POST', `/v1/test-helpers/disputes/dsp_x/update`, { status: 'needs_response' });
    expect(badStatus.status).toBe(400);
    expect((await ok(p.call('GET', '/v1/disputes'))).data).toEqual([]);
  });

  it('sends dispute.created and dispute.closed to the app as signed Standard Webhooks', async () => {
    const p = await sandboxProject();
    const ep = await createEndpoint(p, rx.url('/disputes-hook'), ['dispute.created', 'dispute.closed']);
    const pay = await buyPack(p, 'hal');
    const d = await ok(p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, {}));
    await ok(p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'lost' }));
    await drainWebhooks(h.tg.ctx);
    const got = rx.received('/disputes-hook').map((r) => verifyOutgoing(h.clock.now(), ep.secret, r) as { type: string; data: { id: string; status: string } });
    expect(got.map((e) => [e.type, e.data.id, e.data.status])).toEqual([
      ['dispute.created', d.id, 'needs_response'],
      ['dispute.closed', d.id, 'lost'],
    ]);
  });
});

describe('Stripe disputes and fees', () => {
  async function stripeProject(policy?: 'hold' | 'claw_back') {
    const p = await h.project({ catalog: AURIS });
    const sk = `sk_test_${p.id.replace(/-/g, '_')}_${randomToken(8)}`;
    const whsec = `whsec_${randomToken(32)}`;
    await ok(p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec], default: true }));
    if (policy) await ok(p.call('PATCH', '/v1/project', { disputes: { on_open: policy } }));
    const deliver = (event: object) => {
      const body = JSON.stringify(event);
      return h.inject({
        method: 'POST',
        url: `/v1/webhooks/stripe/${p.id}`,
        headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, whsec, Math.floor(h.clock.now().getTime() / 1000)) },
        payload: body,
      });
    };
    return { ...p, sk, deliver };
  }

  async function stripePurchase(p: Awaited<ReturnType<typeof stripeProject>>, customer: string) {
    const co = await ok(p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: 'pro', ...URLS }), 201);
    const cs = stripe.list(p.sk, 'checkout.session').find((s) => s.client_reference_id === co.session_id)!;
    const [completed] = stripe.completeCheckout(p.sk, cs.id);
    expect((await p.deliver(completed!)).status).toBe(200);
    return (await ok(p.call('GET', `/v1/payments?customer_id=${customer}`))).data[0];
  }

  it("records the charge's balance-transaction fee after the payment committed, read with the SDK", async () => {
    const p = await stripeProject();
    const pay = await stripePurchase(p, 'sam');
    expect(pay).toMatchObject({ amount: 1500, fee: null, net: null });
    expect(await collectDueFees(h.tg.ctx)).toBeGreaterThanOrEqual(1);
    const fee = LocalStripe.fee(1500);
    expect(fee).toBe(48);
    expect((await ok(p.call('GET', `/v1/payments/${pay.id}`))).fee).toEqual({ amount: 48, currency: 'eur' });
    expect((await ok(p.call('GET', `/v1/payments/${pay.id}`))).net).toEqual({ amount: 1452, currency: 'eur' });
    const reads = stripe.requests.filter((r) => r.account === p.sk && r.method === 'GET' && r.path === `/v1/payment_intents/${pay.provider_ref}`);
    expect(reads.some((r) => [].concat(r.params.expand ?? []).includes('latest_charge.balance_transaction' as never))).toBe(true);
  });

  it('events in any order and twice: closed (lost) before created ends lost, with the credits taken once', async () => {
    const p = await stripeProject();
    const pay = await stripePurchase(p, 'tia'); // 10 + 60
    const { dispute, events: opened } = stripe.openDispute(p.sk, pay.provider_ref);
    stripe.moveDispute(p.sk, dispute.id, 'under_review');
    const [closed] = stripe.moveDispute(p.sk, dispute.id, 'lost');
    // The last word first, then the earlier ones, one of them twice.
    for (const ev of [closed!, ...opened, opened[0]!]) expect((await p.deliver(ev)).status).toBe(200);
    const list = await ok(p.call('GET', `/v1/disputes?payment_id=${pay.id}`));
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({
      provider: 'stripe',
      provider_ref: dispute.id,
      status: 'lost',
      provider_status: 'lost',
      reason: 'fraudulent',
      amount: 1500,
      credits: { requested: 60, held: 0, reversed: 60, shortfall: 0 },
    });
    expect(await credits(p, 'tia')).toMatchObject({ balance: 10, held: 0 });
    expect(await outboxTypes(p, 'dispute.')).toEqual(['dispute.created', 'dispute.closed']);
  });

  it('created, funds_withdrawn, updated, closed (won), funds_reinstated in order: held, then released', async () => {
    const p = await stripeProject();
    const pay = await stripePurchase(p, 'uma');
    const { dispute, events } = stripe.openDispute(p.sk, pay.provider_ref, { reason: 'product_not_received' });
    for (const ev of events) await p.deliver(ev);
    const open = await ok(p.call('GET', `/v1/disputes?payment_id=${pay.id}`));
    expect(open.data[0]).toMatchObject({ status: 'needs_response', reason: 'product_not_received', credits: { held: 60 } });
    expect(open.data[0].evidence_due_by).toBe(new Date((dispute.evidence_details.due_by as number) * 1000).toISOString());
    expect(await credits(p, 'uma')).toMatchObject({ balance: 70, held: 60 });
    for (const ev of stripe.moveDispute(p.sk, dispute.id, 'under_review')) await p.deliver(ev);
    for (const ev of stripe.moveDispute(p.sk, dispute.id, 'won')) await p.deliver(ev);
    expect((await ok(p.call('GET', `/v1/disputes/${open.data[0].id}`))).status).toBe('won');
    expect(await credits(p, 'uma')).toMatchObject({ balance: 70, held: 0 });
    expect(await outboxTypes(p, 'dispute.')).toEqual(['dispute.created', 'dispute.updated', 'dispute.closed']);
  });

  it("records Stripe's dispute fee on the dispute and as a fee: /v1/metrics and Prometheus gross, fees, disputes and net reconcile", async () => {
    const p = await stripeProject();
    const pay = await stripePurchase(p, 'wes');
    expect(await collectDueFees(h.tg.ctx)).toBeGreaterThanOrEqual(1);
    const payFee = LocalStripe.fee(1500);
    const { dispute, events } = stripe.openDispute(p.sk, pay.provider_ref);
    const txs = dispute.balance_transactions as { fee: number }[];
    expect(txs.map((t) => t.fee)).toEqual([LocalStripe.DISPUTE_FEE]);
    for (const ev of events) expect((await p.deliver(ev)).status).toBe(200);
    const [d] = (await ok(p.call('GET', `/v1/disputes?payment_id=${pay.id}`))).data;
    expect(d.fee).toEqual({ amount: 1500, currency: 'eur' });
    expect((await ok(p.call('GET', `/v1/disputes/${d.id}`))).fee).toEqual({ amount: 1500, currency: 'eur' });

    const reconcile = (r: { gross: number; refunded: number; fees: number; disputes: { held: number; lost: number; fees: number }; net: number }) =>
      r.gross - r.refunded - r.fees - r.disputes.held - r.disputes.lost;
    const open = (await ok(p.call('GET', '/v1/metrics'))).net_revenue;
    expect(open).toEqual([
      { currency: 'eur', gross: 1500, refunded: 0, fees: payFee + 1500, disputes: { held: 1500, lost: 0, fees: 1500 }, net: 1500 - payFee - 1500 - 1500, payments: 1, fees_unknown: 0 },
    ]);
    expect(open[0].net).toBe(reconcile(open[0]));

    for (const ev of stripe.moveDispute(p.sk, dispute.id, 'lost')) expect((await p.deliver(ev)).status).toBe(200);
    const lost = (await ok(p.call('GET', '/v1/metrics'))).net_revenue[0];
    expect(lost).toMatchObject({ fees: payFee + 1500, disputes: { held: 0, lost: 1500, fees: 1500 }, net: -payFee - 1500 });
    expect(lost.net).toBe(reconcile(lost));

    const prom = (await p.call('GET', '/v1/metrics/prometheus')).raw;
    const l = `project="${p.id}",currency="eur"`;
    expect(prom).toContain(`tollgate_revenue_gross_minor_units_total{${l}} 1500`);
    expect(prom).toContain(`tollgate_provider_fees_minor_units_total{${l}} ${payFee + 1500}`);
    expect(prom).toContain(`tollgate_dispute_fees_minor_units_total{${l}} 1500`);
    expect(prom).toContain(`tollgate_disputes_lost_minor_units_total{${l}} 1500`);
    expect(prom).toContain(`tollgate_revenue_net_minor_units{${l}} ${-payFee - 1500}`);
  });

  it('a dispute fee stated only by funds_withdrawn (created without balance transactions) is recorded once; a won dispute that gives it back counts 0', async () => {
    const p = await stripeProject();
    const pay = await stripePurchase(p, 'xia');
    const { dispute, events } = stripe.openDispute(p.sk, pay.provider_ref);
    const created = structuredClone(events[0]!) as { data: { object: Record<string, unknown> } };
    created.data.object.balance_transactions = [];
    expect((await p.deliver(created)).status).toBe(200);
    const [before] = (await ok(p.call('GET', `/v1/disputes?payment_id=${pay.id}`))).data;
    expect(before.fee).toBeNull();
    const withdrawn = await p.deliver(events[1]!);
    expect(withdrawn.body.status).not.toBe('ignored');
    expect((await ok(p.call('GET', `/v1/disputes/${before.id}`))).fee).toEqual({ amount: 1500, currency: 'eur' });
    const again = structuredClone(events[1]!) as { id: string };
    again.id = `evt_${randomToken(24)}`;
    expect((await p.deliver(again)).body.status).toBe('ignored');
    expect(await outboxTypes(p, 'dispute.')).toEqual(['dispute.created']);
    // Stripe gives the fee back with the reinstatement: a negative fee on the second transaction.
    const [closed] = stripe.moveDispute(p.sk, dispute.id, 'won');
    const txs = dispute.balance_transactions as { fee: number; net: number; amount: number }[];
    txs[txs.length - 1]!.fee = -1500;
    const closedWithRefund = structuredClone(closed!) as { data: { object: Record<string, unknown> } };
    closedWithRefund.data.object.balance_transactions = structuredClone(txs);
    expect((await p.deliver(closedWithRefund)).status).toBe(200);
    expect((await ok(p.call('GET', `/v1/disputes/${before.id}`))).fee).toEqual({ amount: 0, currency: 'eur' });
    expect((await ok(p.call('GET', '/v1/metrics'))).net_revenue[0].disputes).toEqual({ held: 0, lost: 0, fees: 0 });
  });

  it('a dispute of a payment Tollgate does not know is acknowledged and ignored', async () => {
    const p = await stripeProject();
    const pay = await stripePurchase(p, 'vic');
    const { events } = stripe.openDispute(p.sk, pay.provider_ref);
    const foreign = structuredClone(events[0]!) as { id: string; data: { object: Record<string, unknown> } };
    foreign.id = `evt_${randomToken(24)}`;
    foreign.data.object.payment_intent = 'pi_elsewhere';
    foreign.data.object.charge = 'ch_elsewhere';
    foreign.data.object.id = 'dp_elsewhere';
    const r = await p.deliver(foreign);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ignored');
    expect((await ok(p.call('GET', '/v1/disputes'))).data).toEqual([]);
  });
});

describe('PayPal disputes and fees', () => {
  async function paypalPurchase(customer: string) {
    const p = await h.project({ catalog: AURIS });
    await ok(
      p.call('PUT', '/v1/providers/paypal', {
        client_id: 'AZtestClientId0001',
        client_secret: 'ECtestClientSecret0001',
        webhook_id: PAYPAL_WEBHOOK_ID,
        mode: 'sandbox',
        default: true,
      }),
    );
    const co = await ok(p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: 'pro', provider: 'paypal', ...URLS }), 201);
    const token = new URL(co.url).searchParams.get('token') as string;
    const back = new URL(pp.approve(token));
    expect((await h.inject({ method: 'GET', url: `${back.pathname}${back.search}` })).status).toBe(303);
    const pay = (await ok(p.call('GET', `/v1/payments?customer_id=${customer}`))).data[0];
    const deliver = (type: string, resource: Record<string, unknown>) => {
      const signed = pp.signedWebhook(type, resource, { webhookId: PAYPAL_WEBHOOK_ID });
      return h.inject({ method: 'POST', url: `/v1/webhooks/paypal/${p.id}`, headers: signed.headers, payload: signed.body });
    };
    return { p, pay, deliver };
  }

  it("keeps the capture's paypal_fee from the seller receivable breakdown with the payment", async () => {
    const { pay } = await paypalPurchase('pia');
    const fee = PaypalTestServer.fee(1500);
    expect(fee).toBe(101);
    expect(pay).toMatchObject({ provider: 'paypal', amount: 1500, fee: { amount: 101, currency: 'eur' }, net: { amount: 1399, currency: 'eur' } });
  });

  it('CREATED then RESOLVED in the seller’s favour: held, then released', async () => {
    const { p, pay, deliver } = await paypalPurchase('pat');
    const id = `PP-D-${randomToken(8)}`;
    expect((await deliver('CUSTOMER.DISPUTE.CREATED', pp.disputeResource(pay.provider_ref, { id }))).status).toBe(200);
    const d = (await ok(p.call('GET', '/v1/disputes'))).data[0];
    expect(d).toMatchObject({
      provider: 'paypal',
      provider_ref: id,
      status: 'needs_response',
      provider_status: 'WAITING_FOR_SELLER_RESPONSE',
      reason: 'merchandise_or_service_not_received',
      credits: { requested: 60, held: 60 },
    });
    expect(await credits(p, 'pat')).toMatchObject({ balance: 70, held: 60 });
    await deliver('CUSTOMER.DISPUTE.UPDATED', pp.disputeResource(pay.provider_ref, { id, status: 'UNDER_REVIEW' }));
    await deliver('CUSTOMER.DISPUTE.RESOLVED', pp.disputeResource(pay.provider_ref, { id, status: 'RESOLVED', outcome: 'RESOLVED_SELLER_FAVOUR' }));
    expect((await ok(p.call('GET', `/v1/disputes/${d.id}`))).status).toBe('won');
    expect(await credits(p, 'pat')).toMatchObject({ balance: 70, held: 0 });
  });

  it('RESOLVED for the buyer arriving before CREATED ends lost; the late CREATED changes nothing', async () => {
    const { p, pay, deliver } = await paypalPurchase('pol');
    const id = `PP-D-${randomToken(8)}`;
    const resolved = await deliver('CUSTOMER.DISPUTE.RESOLVED', pp.disputeResource(pay.provider_ref, { id, status: 'RESOLVED', outcome: 'RESOLVED_BUYER_FAVOUR' }));
    expect(resolved.body.status).toBe('processed');
    const late = await deliver('CUSTOMER.DISPUTE.CREATED', pp.disputeResource(pay.provider_ref, { id }));
    expect(late.body.status).toBe('ignored');
    const d = (await ok(p.call('GET', '/v1/disputes'))).data;
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ status: 'lost', provider_status: 'RESOLVED:RESOLVED_BUYER_FAVOUR', credits: { reversed: 60, held: 0 } });
    expect(await credits(p, 'pol')).toMatchObject({ balance: 10, held: 0 });
  });
});

describe('the SDK', () => {
  it('disputes.list and disputes.get read what the API holds', async () => {
    const base = await h.listen();
    const p = await sandboxProject();
    const pay = await buyPack(p, 'sdk-1');
    const d = await ok(p.call('POST', `/v1/test-helpers/payments/${pay.id}/dispute`, { amount: 500 }));
    const tg = new Tollgate({ apiKey: p.key, baseUrl: base });
    const list = await tg.disputes.list({ payment_id: pay.id });
    expect(list.data.map((x) => [x.id, x.status, x.amount])).toEqual([[d.id, 'needs_response', 500]]);
    const one = await tg.disputes.get(d.id);
    expect(one.credits).toEqual({ requested: 20, held: 20, reversed: 0, shortfall: 0 });
    await expect(tg.disputes.get('dsp_nope')).rejects.toBeInstanceOf(NotFoundError);
  });
});
