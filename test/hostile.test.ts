import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOUR, MINUTE, SECOND } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { nextRetryDelay, RETRY_DELAYS_MS, RETRY_JITTER } from '../src/domain/webhook-retry.ts';
import { findProject } from '../src/modules/projects/projects.repository.ts';
import { sendWebhook } from '../src/modules/webhooks-out/sender.ts';
import { isPrivateAddress } from '../src/modules/webhooks-out/ssrf.ts';
import { emit } from '../src/modules/webhooks-out/outbox.ts';
import { claimDueDeliveries } from '../src/modules/webhooks-out/webhooks.repository.ts';
import { dispatchOutbox } from '../src/modules/webhooks-out/webhooks.service.ts';
import { signSandboxEvent } from '../src/providers/sandbox/sandbox.provider.ts';
import { createTollgate } from '../src/server.ts';
import { NEEDS_PG, onPostgres } from './support/engine.ts';
import { createHarness, type Harness, type Res, type TestProject } from './support/harness.ts';
import { PAYPAL_WEBHOOK_ID, type PaypalTestServer, startPaypalHarness } from './support/paypal-server.ts';
import { type Received, type Receiver, startReceiver } from './support/receiver.ts';
import { createEndpoint, drainWebhooks, listDeliveries, verifyOutgoing as verifyWith } from './support/webhooks.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';

/*
 * The twenty-five hostile inputs and faults of docs/reliability.md ("The twenty-five hostile cases"),
 * one `describe('hostile case N: …')` each, in order, after the generic bad-input tests. Every case
 * asserts the status, the error code, the `param` where one applies, and reads the state back.
 */
let h: Harness;
let stripe: LocalStripe;
let rx: Receiver;
let p: TestProject;
beforeAll(async () => {
  stripe = await new LocalStripe().start();
  rx = await startReceiver();
  h = await createHarness({ config: { stripeApiBase: stripe.url, webhookAllowPrivate: true, webhookTimeoutMs: 400 } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  await p.call('POST', '/v1/customers', { id: 'victim' });
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
  await stripe?.close();
});

async function balance(customer = 'victim', project = p): Promise<number> {
  return (await project.call('GET', `/v1/customers/${customer}/credits`)).body.balance;
}

async function rows(table: string, projectId: string): Promise<number> {
  return (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE project_id = $1`, [projectId])).rows[0]!.n;
}

/** What a refused request must leave as it was: ledger, stored provider events, sessions, holds, payments. */
async function state(projectId: string) {
  const out: Record<string, number> = {};
  for (const t of ['ledger_entries', 'provider_events', 'checkout_sessions', 'credit_holds', 'payments', 'subscriptions']) out[t] = await rows(t, projectId);
  return out;
}

// Stripe, as in test/stripe.test.ts -------------------------------------------------------------

interface StripeProject extends TestProject {
  sk: string;
  whsec: string;
}

const URLS = { success_url: 'https://app.example.com/ok?cs={CHECKOUT_SESSION_ID}', cancel_url: 'https://app.example.com/cancel' };

async function stripeProject(catalog = DEMO_CATALOGS.aurisvoice!.catalog): Promise<StripeProject> {
  const sp = await h.project({ catalog });
  const sk = `sk_test_${sp.id.replace(/-/g, '_')}_${randomToken(8)}`;
  const whsec = `whsec_${randomToken(32)}`;
  const r = await sp.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec], default: true });
  expect(r.status).toBe(200);
  return { ...sp, sk, whsec };
}

/** Delivers an event to Tollgate exactly as Stripe would: raw JSON, signed with the endpoint secret. */
async function deliverStripe(
  sp: StripeProject,
  event: object,
  opts: { secret?: string; t?: number; body?: string; header?: string | null } = {},
): Promise<Res> {
  const body = opts.body ?? JSON.stringify(event);
  const t = opts.t ?? Math.floor(h.clock.now().getTime() / 1000);
  const header = opts.header === undefined ? stripeSignature(opts.body ? JSON.stringify(event) : body, opts.secret ?? sp.whsec, t) : opts.header;
  return h.inject({
    method: 'POST',
    url: `/v1/webhooks/stripe/${sp.id}`,
    headers: { 'content-type': 'application/json', ...(header === null ? {} : { 'stripe-signature': header }) },
    payload: body,
  });
}

// The sandbox provider, as in test/webhooks-in.test.ts ---------------------------------------------

async function openSession(sp: TestProject, customer: string): Promise<string> {
  const r = await sp.call('POST', '/v1/checkout', {
    customer_id: customer,
    credit_pack: 'pro',
    success_url: 'https://app.example/ok?session={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://app.example/cancel',
  });
  expect(r.status).toBe(201);
  return r.body.session_id;
}

function completedEvent(sessionId: string, eventId = `evt_${sessionId}`) {
  return {
    id: eventId,
    type: 'checkout.session.completed',
    created: Math.floor(h.clock.now().getTime() / 1000),
    livemode: false,
    data: {
      object: { id: sessionId, payment_status: 'paid', payment_intent: `pi_${sessionId}`, amount_total: 1500, currency: 'eur', customer: 'ignored-by-design' },
    },
  };
}

async function sandboxSecret(sp: TestProject): Promise<string> {
  return (await findProject(h.db, sp.id))!.sandbox_webhook_secret;
}

function signed(body: string, eventId: string, key: string, at = h.clock.now()) {
  return {
    'content-type': 'application/json',
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(eventId, at, body),
  };
}

const postSandbox = (sp: TestProject, body: string, headers: Record<string, string>) =>
  h.inject({ method: 'POST', url: `/v1/webhooks/sandbox/${sp.id}`, headers, payload: body });

/** A signed sandbox event with its own `created` time (as in test/subscriptions.events.test.ts). */
async function deliverSandbox(sp: TestProject, type: string, object: Record<string, unknown>, created: Date, id = `evt_${randomToken(16)}`) {
  const project = await findProject(h.db, sp.id);
  const body = JSON.stringify({ id, type, created: Math.floor(created.getTime() / 1000), livemode: false, data: { object } });
  return h.inject({ method: 'POST', url: `/v1/webhooks/sandbox/${sp.id}`, headers: signSandboxEvent(project!, body, id, h.clock.now()), payload: body });
}

const T0 = Date.parse('2026-03-01T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const ark = () => h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
// Reads never create customers: the first look at a customer signs it up (default trial included), as the app would.
const sub = async (sp: TestProject, c: string) => {
  await sp.call('POST', '/v1/customers', { id: c });
  return (await sp.call('GET', `/v1/customers/${c}/subscription`)).body;
};
async function subRow(sp: TestProject, provider: string, ref: string) {
  return (
    await h.db.query<{ status: string; plan_id: string }>(
      'SELECT status, plan_id FROM subscriptions WHERE project_id = $1 AND provider = $2 AND provider_ref = $3',
      [sp.id, provider, ref],
    )
  ).rows[0];
}

// Outgoing webhooks, as in test/webhooks-out.test.ts ------------------------------------------------

const runWebhooks = (ctx = h.tg.ctx) => drainWebhooks(ctx);
let pathSeq = 0;
const newPath = () => `/hook-${++pathSeq}`;
const endpoint = (sp: TestProject, path: string, events?: string[]) => createEndpoint(sp, rx.url(path), events);
const verifyOutgoing = (secret: string, r: Received) => verifyWith(h.clock.now(), secret, r);
const deliveries = listDeliveries;

describe('bad input gets a clear 4xx and changes nothing', () => {
  it('malformed JSON is 400 invalid_request', async () => {
    const r = await p.call('POST', '/v1/customers/victim/credits/deduct', '{"amount": 1', { 'content-type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.request_id).toMatch(/^req_/);
    expect(await balance()).toBe(10);
  });

  it.each([
    ['negative', { amount: -5 }, 'amount'],
    ['zero', { amount: 0 }, 'amount'],
    ['fractional', { amount: 1.5 }, 'amount'],
    ['string', { amount: '3' }, 'amount'],
    ['huge', { amount: 1e20 }, 'amount'],
    ['NaN-like', { amount: null }, 'amount'],
    ['both amount and usage', { amount: 1, usage: { feature: 'dubbing_seconds', quantity: 10 } }, 'amount'],
    ['neither', {}, 'amount'],
    ['unknown field', { amount: 1, hack: true }, 'hack'],
    ['negative usage', { usage: { feature: 'dubbing_seconds', quantity: -10 } }, 'usage.quantity'],
  ])('deduct with a %s amount is 400 naming the parameter', async (_name, body, param) => {
    const r = await p.call('POST', '/v1/customers/victim/credits/deduct', body);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(typeof r.body.error.message).toBe('string');
    expect(r.body.error.param).toBe(param);
    expect(await balance()).toBe(10);
  });

  it('an unknown usage feature is 400 with param usage.feature', async () => {
    const r = await p.call('POST', '/v1/customers/victim/credits/deduct', { usage: { feature: 'nope', quantity: 1 } });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('usage.feature');
  });

  it.each([
    ['negative', -1],
    ['fractional', 2.5],
    ['huge', 1e15],
  ])('grant with a %s amount is 400', async (_n, amount) => {
    const r = await p.call('POST', '/v1/customers/victim/credits/grant', { amount, reason: 'x' });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('amount');
    expect(await balance()).toBe(10);
  });

  it('an unknown credit pack or plan at checkout is 400', async () => {
    const base = { customer_id: 'victim', success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no' };
    const pack = await p.call('POST', '/v1/checkout', { ...base, credit_pack: 'gold' });
    expect(pack.status).toBe(400);
    expect(pack.body.error.param).toBe('credit_pack');
    const twoItems = await p.call('POST', '/v1/checkout', { ...base, credit_pack: 'pro', plan: 'x' });
    expect(twoItems.status).toBe(400);
    const badUrl = await p.call('POST', '/v1/checkout', { ...base, credit_pack: 'pro', success_url: 'javascript:alert(1)' });
    expect(badUrl.status).toBe(400);
    expect(badUrl.body.error.param).toBe('success_url');
  });

  it('a customer id over 255 characters is 400', async () => {
    const r = await p.call('POST', '/v1/customers', { id: 'a'.repeat(256) });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('id');
  });

  it('an invalid catalog names the wrong field', async () => {
    const r = await p.call('PUT', '/v1/catalog', {
      credit_packs: [{ id: 'x', name: 'X', credits: 10, price: { amount: 9.99, currency: 'eur' } }],
    });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('credit_packs.0.price.amount');
    const plans = await p.call('GET', '/v1/plans');
    expect(plans.body.credit_packs.map((c: { id: string }) => c.id)).toEqual(['starter', 'pro', 'premium']);
  });
});

describe('keys and tenants', () => {
  it('a missing key is 401, an invalid key is 401', async () => {
    const none = await h.inject({ method: 'GET', url: '/v1/customers/victim' });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthorized');
    const bad = await h.inject({ method: 'GET', url: '/v1/customers/victim', headers: { authorization: 'Bearer sk_test_nope' } });
    expect(bad.status).toBe(401);
  });

  it("another project's key sees another project's customer as 404 and cannot change it", async () => {
    const other = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const read = await other.call('GET', '/v1/customers/victim');
    expect(read.status).toBe(404);
    expect(read.body.error.code).toBe('customer_not_found');
    // naming the customer in the other project creates a different customer there
    await other.call('POST', '/v1/customers/victim/credits/deduct', { amount: 5 });
    expect(await balance()).toBe(10);
  });

  it('a publishable key reads the plans but cannot touch customers', async () => {
    const plans = await p.call('GET', '/v1/plans', undefined, { authorization: `Bearer ${p.publishableKey}` });
    expect(plans.status).toBe(200);
    const deduct = await p.call('POST', '/v1/customers/victim/credits/deduct', { amount: 1 }, { authorization: `Bearer ${p.publishableKey}` });
    expect(deduct.status).toBe(403);
    expect(await balance()).toBe(10);
  });

  it('a read-only key reads but cannot write; a revoked key is refused', async () => {
    const created = await p.call('POST', '/v1/keys', { scopes: ['read'] });
    expect(created.status).toBe(201);
    const ro = { authorization: `Bearer ${created.body.key}` };
    expect((await p.call('GET', '/v1/customers/victim', undefined, ro)).status).toBe(200);
    const w = await p.call('POST', '/v1/customers/victim/credits/grant', { amount: 1, reason: 'x' }, ro);
    expect(w.status).toBe(403);
    expect((await p.call('DELETE', `/v1/keys/${created.body.id}`)).status).toBe(200);
    expect((await p.call('GET', '/v1/customers/victim', undefined, ro)).status).toBe(401);
  });

  it('GET of a customer the project never saw is 404 customer_not_found', async () => {
    const r = await p.call('GET', '/v1/customers/ghost');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('customer_not_found');
  });
});

describe('operations endpoints', () => {
  it('GET /health reports the database; /metrics exposes Prometheus process metrics', async () => {
    const health = await h.inject({ method: 'GET', url: '/health' });
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    const m = await h.inject({ method: 'GET', url: '/metrics' });
    expect(m.status).toBe(200);
    expect(m.raw).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect(m.raw).toMatch(/^http_requests_total\{status="2xx"\} \d+$/m);
    expect(m.raw).toMatch(/^http_request_duration_seconds_count\{method="GET",route="\/health",status_code="200"\} [1-9]\d*$/m);
    expect(m.raw).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
  });
});


describe('hostile case 1: the same event twice in a row', () => {
  it('a signed completion grants the pack once; the same event again is 200 duplicate and changes nothing', async () => {
    const sp = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const key = await sandboxSecret(sp);
    const s = await openSession(sp, 'w1');
    const ev = completedEvent(s);
    const body = JSON.stringify(ev);
    const a = await postSandbox(sp, body, signed(body, ev.id, key));
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ received: true, duplicate: false, status: 'processed' });
    expect(await balance('w1', sp)).toBe(70);
    const before = await state(sp.id);
    const b = await postSandbox(sp, body, signed(body, ev.id, key));
    expect(b.status).toBe(200);
    expect(b.body.duplicate).toBe(true);
    expect(await balance('w1', sp)).toBe(70);
    expect(await state(sp.id)).toEqual(before);
    const session = await sp.call('GET', `/v1/checkout/${s}`);
    expect(session.body).toMatchObject({ status: 'complete', payment_status: 'paid' });
    const pays = await sp.call('GET', '/v1/payments?customer_id=w1');
    expect(pays.body.data).toHaveLength(1);
    expect(pays.body.data[0]).toMatchObject({ amount: 1500, currency: 'eur', status: 'succeeded', provider: 'sandbox' });
  });

  it('the same subscription event delivered twice has one effect', async () => {
    const sp = await ark();
    const obj = { id: 'sub_x3', status: 'active', plan: 'pro', metadata: { tollgate_customer: 'u3' } };
    const first = await deliverSandbox(sp, 'customer.subscription.created', obj, at(1), 'evt_same_1');
    const again = await deliverSandbox(sp, 'customer.subscription.created', obj, at(1), 'evt_same_1');
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(first.body.duplicate).toBe(false);
    expect(again.body.duplicate).toBe(true);
    expect(await rows('subscriptions', sp.id)).toBe(1);
    expect(await rows('provider_events', sp.id)).toBe(1);
  });

  it('two different events for one session grant once (keyed by the session)', async () => {
    const sp = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const key = await sandboxSecret(sp);
    const s = await openSession(sp, 'w3');
    for (const id of ['evt_a', 'evt_b']) {
      const body = JSON.stringify(completedEvent(s, `${id}_${s}`));
      expect((await postSandbox(sp, body, signed(body, `${id}_${s}`, key))).status).toBe(200);
    }
    expect(await balance('w3', sp)).toBe(70);
    expect(await rows('payments', sp.id)).toBe(1);
  });
});

describe('hostile case 2: the same event twice at once', () => {
  it('the same sandbox event delivered six times at once: all 200, one effect', async () => {
    const sp = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const key = await sandboxSecret(sp);
    const s = await openSession(sp, 'w2');
    const ev = completedEvent(s);
    const body = JSON.stringify(ev);
    const rs = await Promise.all(Array.from({ length: 6 }, () => postSandbox(sp, body, signed(body, ev.id, key))));
    for (const r of rs) expect(r.status).toBe(200);
    expect(rs.filter((r) => r.body.duplicate === false)).toHaveLength(1);
    expect(await balance('w2', sp)).toBe(70);
    expect(await rows('provider_events', sp.id)).toBe(1);
    expect(await rows('payments', sp.id)).toBe(1);
  });

  it('the same Stripe event delivered twice at once has one effect', async () => {
    const sp = await stripeProject();
    await sp.call('POST', '/v1/checkout', { customer_id: 'twin', credit_pack: 'pro', ...URLS });
    const [completed] = stripe.completeCheckout(sp.sk, stripe.list(sp.sk, 'checkout.session').at(-1)!.id);
    const both = await Promise.all([deliverStripe(sp, completed!), deliverStripe(sp, completed!)]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect(await balance('twin', sp)).toBe(70);
    expect(await rows('provider_events', sp.id)).toBe(1);
  });
});

describe('hostile case 3: subscription.updated before .created', () => {
  it('an updated before its created creates the row, and the late created does not move it back', async () => {
    const sp = await ark();
    const obj = (status: string, plan: string) => ({ id: 'sub_x1', customer: null, status, plan, metadata: { tollgate_customer: 'u1' } });
    const updated = await deliverSandbox(sp, 'customer.subscription.updated', obj('active', 'pro'), at(5));
    expect(updated.status).toBe(200);
    expect(updated.body.status).toBe('processed');
    const late = await deliverSandbox(sp, 'customer.subscription.created', obj('trialing', 'starter'), at(1));
    expect(late.status).toBe(200);
    expect(late.body.status).toBe('ignored');
    expect(await subRow(sp, 'sandbox', 'sub_x1')).toMatchObject({ status: 'active', plan_id: 'pro' });
    expect(await sub(sp, 'u1')).toMatchObject({ status: 'active', plan: 'pro' });
  });
});

describe('hostile case 4: a stale updated(status=active) after deleted', () => {
  it('stays canceled, and entitlements fall back to the free plan', async () => {
    const sp = await ark();
    const obj = (status: string) => ({ id: 'sub_x2', status, plan: 'business', metadata: { tollgate_customer: 'u2' } });
    await deliverSandbox(sp, 'customer.subscription.created', obj('active'), at(1));
    expect((await sp.call('POST', '/v1/check', { customer_id: 'u2', feature: 'watches' })).body.limit).toBe(1000);
    expect((await deliverSandbox(sp, 'customer.subscription.deleted', obj('canceled'), at(3))).status).toBe(200);
    const stale = await deliverSandbox(sp, 'customer.subscription.updated', obj('active'), at(10));
    expect(stale.status).toBe(200);
    expect(stale.body.status).toBe('ignored');
    expect(await subRow(sp, 'sandbox', 'sub_x2')).toMatchObject({ status: 'canceled' });
    expect(await sub(sp, 'u2')).toMatchObject({ status: 'canceled', plan: 'free' });
    expect((await sp.call('POST', '/v1/check', { customer_id: 'u2', feature: 'watches' })).body.limit).toBe(3);
  });
});

describe('hostile case 5: invoice.paid before checkout.session.completed', () => {
  const catalog = { plans: [{ id: 'pro', name: 'Pro', price: { amount: 2000, currency: 'eur' }, included_credits: 100 }] };

  it.each([
    ['invoice, checkout, subscription', [1, 2, 0]],
    ['checkout, invoice, subscription', [2, 1, 0]],
    ['subscription, invoice, checkout', [0, 1, 2]],
  ])('a plan bought through Stripe Checkout, events in the order %s: one grant of the included credits', async (_n, order) => {
    const sp = await stripeProject(catalog);
    const co = await sp.call('POST', '/v1/checkout', { customer_id: 'inv', plan: 'pro', ...URLS });
    expect(co.status).toBe(201);
    const cs = stripe.list(sp.sk, 'checkout.session').at(-1)!;
    const events = stripe.completeCheckout(sp.sk, cs.id);
    expect(events.map((e) => e.type)).toEqual(['customer.subscription.created', 'invoice.paid', 'checkout.session.completed']);
    const before = await balance('inv', sp);
    for (const i of order) {
      const r = await deliverStripe(sp, events[i]!);
      expect(r.status).toBe(200);
      expect(r.body.status).not.toBe('failed');
    }
    for (const i of order) expect((await deliverStripe(sp, events[i]!)).body.duplicate).toBe(true);
    expect(await balance('inv', sp)).toBe(before + 100);
    const grants = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND customer_id = 'inv' AND amount = 100",
      [sp.id],
    );
    expect(grants.rows[0]!.n).toBe(1);
    expect((await sp.call('GET', '/v1/customers/inv/subscription')).body).toMatchObject({ status: 'active', plan: 'pro' });
    const pays = await sp.call('GET', '/v1/payments?customer_id=inv');
    expect(pays.body.data).toHaveLength(1);
  });
});

describe('hostile case 6: checkout.session.completed with payment_status=unpaid', () => {
  it('grants nothing while unpaid, then once on async_payment_succeeded; nothing on async_payment_failed', async () => {
    const sp = await stripeProject();
    for (const [customer, outcome] of [
      ['slow', 'checkout.session.async_payment_succeeded'],
      ['bounced', 'checkout.session.async_payment_failed'],
    ] as const) {
      await sp.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: 'starter', ...URLS });
      const cs = stripe.list(sp.sk, 'checkout.session').at(-1)!;
      const [completed] = stripe.completeCheckout(sp.sk, cs.id, { async: true });
      expect(completed!.data.object.payment_status).toBe('unpaid');
      expect((await deliverStripe(sp, completed!)).status).toBe(200);
      expect(await balance(customer, sp)).toBe(10);
      const settled = stripe.event(sp.sk, outcome, { ...completed!.data.object, payment_status: outcome.endsWith('succeeded') ? 'paid' : 'unpaid' });
      expect((await deliverStripe(sp, settled)).status).toBe(200);
      expect((await deliverStripe(sp, settled)).body.duplicate).toBe(true);
      expect(await balance(customer, sp)).toBe(outcome.endsWith('succeeded') ? 25 : 10);
    }
  });
});


describe('hostile case 7: a valid signature replayed with t more than 300 s old', () => {
  it('is 400 invalid_signature and stores nothing (Stripe and the sandbox); 299 s old is accepted', async () => {
    const sp = await stripeProject();
    const now = Math.floor(h.clock.now().getTime() / 1000);
    const ev = stripe.event(sp.sk, 'customer.created', { id: 'cus_t', object: 'customer' });
    const old = await deliverStripe(sp, ev, { t: now - 301 });
    expect(old.status).toBe(400);
    expect(old.body.error.code).toBe('invalid_signature');
    expect(await rows('provider_events', sp.id)).toBe(0);
    expect((await deliverStripe(sp, ev, { t: now - 299 })).status).toBe(200);

    const s = await openSession(p, 'stale-sandbox');
    const sev = completedEvent(s);
    const body = JSON.stringify(sev);
    const r = await postSandbox(p, body, signed(body, sev.id, await sandboxSecret(p), new Date(h.clock.now().getTime() - 301_000)));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_signature');
    expect(await balance('stale-sandbox')).toBe(10);
    expect((await h.db.query('SELECT 1 FROM provider_events WHERE project_id = $1 AND event_id = $2', [p.id, sev.id])).rowCount).toBe(0);
  });
});

describe('hostile case 8: a correctly signed t far in the future', () => {
  it('more than 300 s ahead is 400 invalid_signature and stores nothing; 200 s ahead is accepted', async () => {
    const sp = await stripeProject();
    const now = Math.floor(h.clock.now().getTime() / 1000);
    const ev = stripe.event(sp.sk, 'customer.created', { id: 'cus_f', object: 'customer' });
    for (const t of [now + 301, now + 86400]) {
      const r = await deliverStripe(sp, ev, { t });
      expect(r.status, String(t - now)).toBe(400);
      expect(r.body.error.code).toBe('invalid_signature');
    }
    expect(await rows('provider_events', sp.id)).toBe(0);
    expect((await deliverStripe(sp, ev, { t: now + 200 })).status).toBe(200);

    const s = await openSession(p, 'future-sandbox');
    const sev = completedEvent(s);
    const body = JSON.stringify(sev);
    const r = await postSandbox(p, body, signed(body, sev.id, await sandboxSecret(p), new Date(h.clock.now().getTime() + 301_000)));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_signature');
    expect(await balance('future-sandbox')).toBe(10);
  });
});

describe('hostile case 9: a body re-serialised by middleware', () => {
  it('a pretty-printed Stripe body fails verification and stores nothing', async () => {
    const sp = await stripeProject();
    const ev = stripe.event(sp.sk, 'customer.created', { id: 'cus_r', object: 'customer' });
    const r = await deliverStripe(sp, ev, { body: JSON.stringify(ev, null, 2) });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_signature');
    expect(await rows('provider_events', sp.id)).toBe(0);
  });

  it('a pretty-printed sandbox completion fails verification and grants nothing', async () => {
    const s = await openSession(p, 'w4');
    const ev = completedEvent(s);
    const r = await postSandbox(p, JSON.stringify(ev, null, 2), signed(JSON.stringify(ev), ev.id, await sandboxSecret(p)));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_signature');
    expect(await balance('w4')).toBe(10);
  });
});

describe('hostile case 10: a malformed signature header', () => {
  it('missing, no t, t=abc, only v0, non-hex or wrong-length v1: 400 invalid_signature, never 500', async () => {
    const sp = await stripeProject();
    const ev = stripe.event(sp.sk, 'customer.created', { id: 'cus_x', object: 'customer' });
    const t = Math.floor(h.clock.now().getTime() / 1000);
    const good = stripeSignature(JSON.stringify(ev), sp.whsec, t);
    const sig = good.split('v1=')[1]!;
    for (const header of [null, '', 'garbage', `v1=${sig}`, `t=abc,v1=${sig}`, `t=${t}`, `t=${t},v0=${sig}`, `t=${t},v1=${sig.slice(0, 40)}`, `t=${t},v1=${'z'.repeat(64)}`, `t=${t},v2=${sig}`]) {
      const r = await deliverStripe(sp, ev, { header });
      expect(r.status, String(header)).toBe(400);
      expect(r.body.error.code).toBe('invalid_signature');
    }
    expect((await deliverStripe(sp, ev, { secret: `whsec_${randomToken(32)}` })).status).toBe(400);
    const events = await sp.call('GET', '/v1/events');
    expect(events.body.data).toHaveLength(0);
  });

  it.each([
    ['no signature headers', () => ({ 'content-type': 'application/json' })],
    ['a non-numeric timestamp', (body: string, id: string, key: string) => ({ ...signed(body, id, key), 'webhook-timestamp': 'abc' })],
    ['a forged signature', (body: string, id: string, key: string) => ({ ...signed(body, id, key), 'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' })],
    ['a wrong secret (case 12)', (body: string, id: string) => signed(body, id, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')],
  ])('sandbox: %s is 400 invalid_signature and grants nothing', async (name, headersFor) => {
    const customer = `bad-${name.length}`;
    const s = await openSession(p, customer);
    const ev = completedEvent(s);
    const body = JSON.stringify(ev);
    const r = await postSandbox(p, body, headersFor(body, ev.id, await sandboxSecret(p)) as Record<string, string>);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_signature');
    expect(await balance(customer)).toBe(10);
    expect((await h.db.query('SELECT 1 FROM provider_events WHERE project_id = $1 AND event_id = $2', [p.id, ev.id])).rowCount).toBe(0);
  });
});

describe('hostile case 11: two v1 values, the second matching (rotation)', () => {
  it('accepts any of several secrets and a header whose second v1 matches; v0 is ignored', async () => {
    const sp = await stripeProject();
    const next = `whsec_${randomToken(32)}`;
    await sp.call('PUT', '/v1/providers/stripe', { secret_key: sp.sk, webhook_secrets: [sp.whsec, next] });
    const ev = stripe.event(sp.sk, 'customer.created', { id: 'cus_y', object: 'customer' });
    expect((await deliverStripe(sp, ev, { secret: next })).status).toBe(200);
    const t = Math.floor(h.clock.now().getTime() / 1000);
    const ev2 = stripe.event(sp.sk, 'customer.created', { id: 'cus_z', object: 'customer' });
    const right = stripeSignature(JSON.stringify(ev2), next, t).split('v1=')[1];
    const wrong = stripeSignature(JSON.stringify(ev2), `whsec_${randomToken(32)}`, t).split('v1=')[1];
    const r = await deliverStripe(sp, ev2, { header: `t=${t},v1=${wrong},v1=${right},v0=${wrong}` });
    expect(r.status).toBe(200);
    expect(r.body.duplicate).toBe(false);
    expect(await rows('provider_events', sp.id)).toBe(2);
  });
});

describe('hostile case 12: secret or mode mismatch', () => {
  it('a test-mode endpoint refuses a live-mode event; a wrong secret and a project without Stripe are 400', async () => {
    const sp = await stripeProject();
    const ev = { ...stripe.event(sp.sk, 'customer.created', { id: 'cus_l', object: 'customer' }), livemode: true };
    const r = await deliverStripe(sp, ev);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_signature');
    expect(r.body.error.message).toMatch(/live-mode event/);
    const wrongSecret = await deliverStripe(sp, { ...ev, livemode: false }, { secret: `whsec_${randomToken(32)}` });
    expect(wrongSecret.status).toBe(400);
    expect(wrongSecret.body.error.code).toBe('invalid_signature');
    expect(await rows('provider_events', sp.id)).toBe(0);
    const plain = await h.project();
    const res = await h.inject({
      method: 'POST',
      url: `/v1/webhooks/stripe/${plain.id}`,
      headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature('{}', sp.whsec, Math.floor(h.clock.now().getTime() / 1000)) },
      payload: '{}',
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_signature');
    expect(await rows('provider_events', plain.id)).toBe(0);
  });
});

describe('hostile case 13: a timing attack on the compare', () => {
  it('signatures of every length and one differing in the last character are 400, never a compare that throws', async () => {
    const sp = await stripeProject();
    const ev = stripe.event(sp.sk, 'customer.created', { id: 'cus_c', object: 'customer' });
    const t = Math.floor(h.clock.now().getTime() / 1000);
    const sig = stripeSignature(JSON.stringify(ev), sp.whsec, t).split('v1=')[1]!;
    const last = sig.at(-1) === '0' ? '1' : '0';
    for (const v1 of [sig.slice(0, 1), sig.slice(0, 63), `${sig}0`, `${sig.slice(0, 63)}${last}`]) {
      const r = await deliverStripe(sp, ev, { header: `t=${t},v1=${v1}` });
      expect(r.status, v1).toBe(400);
      expect(r.body.error.code).toBe('invalid_signature');
    }
    const key = await sandboxSecret(p);
    const s = await openSession(p, 'timing');
    const sev = completedEvent(s);
    const body = JSON.stringify(sev);
    const good = signed(body, sev.id, key)['webhook-signature'];
    const other = good.at(-2) === 'A' ? 'B' : 'A';
    for (const bad of [good.slice(0, 5), `${good}A`, `${good.slice(0, -2)}${other}=`]) {
      const r = await postSandbox(p, body, { ...signed(body, sev.id, key), 'webhook-signature': bad });
      expect(r.status, bad).toBe(400);
      expect(r.body.error.code).toBe('invalid_signature');
    }
    expect(await balance('timing')).toBe(10);
  });

  it('the verifiers compare in constant time: timingSafeEqual after a length check, and stripe-node for Stripe', () => {
    const sandbox = readFileSync(new URL('../src/providers/sandbox/sandbox.provider.ts', import.meta.url), 'utf8');
    expect(sandbox).toMatch(/ab\.length === bb\.length && timingSafeEqual\(ab, bb\)/);
    expect(sandbox).toMatch(/sig\.split\(' '\)\.some\(\(s\) => safeEqual\(s, expected\)\)/);
    const stripeVerifier = readFileSync(new URL('../src/providers/stripe/stripe.webhooks.ts', import.meta.url), 'utf8');
    expect(stripeVerifier).toMatch(/Stripe\.webhooks\.constructEvent\(/);
    expect(stripeVerifier).not.toMatch(/===\s*expected|expected\s*===/);
  });
});

describe('hostile case 14: a body of 10 MB or more, or a slow-loris upload', () => {
  it('an API body over 1 MB is 413 payload_too_large and changes nothing', async () => {
    const before = await state(p.id);
    const r = await p.call('POST', '/v1/customers/victim/credits/deduct', { amount: 1, reason: 'x'.repeat(1_100_000) });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('payload_too_large');
    expect(await balance()).toBe(10);
    expect(await state(p.id)).toEqual(before);
  });

  it('a signed webhook of 10 MB is 413 and stores nothing', async () => {
    const sp = await stripeProject();
    const huge = stripe.event(sp.sk, 'customer.created', { id: 'cus_huge', object: 'customer', pad: 'x'.repeat(10 * 1024 * 1024) });
    const r = await deliverStripe(sp, huge);
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('payload_too_large');
    expect(await rows('provider_events', sp.id)).toBe(0);
  });

  it('a request trickled byte by byte is cut at the configured request timeout; connections past the cap are closed', async () => {
    const slow = await createHarness({ config: { requestTimeoutMs: 1000, maxConnections: 3 } });
    try {
      const base = new URL(await slow.listen());
      const open = (): Promise<Socket> =>
        new Promise((resolve, reject) => {
          const s = connect(Number(base.port), base.hostname, () => resolve(s));
          s.on('error', reject);
        });
      const s = await open();
      const started = Date.now();
      let received = '';
      s.on('data', (d) => {
        received += d.toString();
      });
      const closed = new Promise<number>((resolve) => s.on('close', () => resolve(Date.now() - started)));
      s.write('POST /v1/customers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n');
      const drip = setInterval(() => {
        if (!s.destroyed) s.write('{');
      }, 200);
      const after = await closed;
      clearInterval(drip);
      expect(after).toBeLessThan(4000); // cut at ~1 s (checked every 250 ms), not Node's 30 s+
      expect(received).toMatch(/^HTTP\/1\.1 408/);

      // The cap: three connections are held open, the fourth is closed on arrival.
      const held = await Promise.all([open(), open(), open()]);
      await new Promise((r) => setTimeout(r, 50));
      const fourth = await open();
      const fourthClosed = await new Promise<boolean>((resolve) => {
        fourth.on('close', () => resolve(true));
        setTimeout(() => resolve(false), 500); // well before the 1 s request timeout could close it
      });
      expect(fourthClosed).toBe(true);
      for (const c of held) c.destroy();
    } finally {
      await slow.close();
    }
  }, 90_000); // a second server of its own (migrated engine, real sockets)
});

describe('hostile case 15: a validly signed event of unknown type or with extra fields', () => {
  it('Stripe: an unknown type is stored once and acknowledged as ignored (no retry loop)', async () => {
    const sp = await stripeProject();
    const ev = stripe.event(sp.sk, 'radar.early_fraud_warning.created', { id: 'issfr_1', object: 'radar.early_fraud_warning', extra: { a: 1 } });
    const r = await deliverStripe(sp, ev);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ignored');
    expect(await rows('provider_events', sp.id)).toBe(1);
    expect((await sp.call('GET', '/v1/events?status=failed')).body.data).toHaveLength(0);
  });

  it('sandbox: an unknown type with extra fields is ignored; a known one with extra fields is applied', async () => {
    const key = await sandboxSecret(p);
    const odd = { ...completedEvent('x', 'evt_odd'), type: 'customer.tax_id.created', extra: { a: 1 } };
    const b2 = JSON.stringify(odd);
    const r2 = await postSandbox(p, b2, signed(b2, odd.id, key));
    expect(r2.status).toBe(200);
    expect(r2.body.status).toBe('ignored');
    const s = await openSession(p, 'extra');
    const ev = completedEvent(s, `evt_extra_${s}`);
    const withExtra = { ...ev, unexpected: [1, 2], data: { object: { ...ev.data.object, surprise: { deep: true } } } };
    const b3 = JSON.stringify(withExtra);
    const r3 = await postSandbox(p, b3, signed(b3, withExtra.id, key));
    expect(r3.status).toBe(200);
    expect(r3.body.status).toBe('processed');
    expect(await balance('extra')).toBe(70);
  });
});


describe('hostile case 16: a bad cart quantity', () => {
  it.each([
    ['-1', -1],
    ['0', 0],
    ['1.5', 1.5],
    ['"2"', '2'],
    ['NaN (null)', null],
    ['1e9', 1e9],
  ])('quantity %s is 400 invalid_request with param quantity, the cart unchanged', async (_n, quantity) => {
    const shop = await h.project({ catalog: DEMO_CATALOGS.webox!.catalog });
    const before = await rows('cart_items', shop.id);
    const r = await shop.call('POST', '/v1/customers/buyer/cart/items', { product_id: 'voice-clone-kit', quantity });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.param).toBe('quantity');
    expect(await rows('cart_items', shop.id)).toBe(before);
  });

  it('a client-sent price is refused: the price comes from the server catalogue', async () => {
    const shop = await h.project({ catalog: DEMO_CATALOGS.webox!.catalog });
    const r = await shop.call('POST', '/v1/customers/buyer/cart/items', { product_id: 'voice-clone-kit', quantity: 1, price: { amount: 1, currency: 'eur' } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(await rows('cart_items', shop.id)).toBe(0);
  });
});


describe('hostile case 17: float money', () => {
  it.each([
    ['10.1', 10.1],
    ['0.1 + 0.2', 0.1 + 0.2],
  ])('a catalog price of %s is 400 naming the amount, the catalog unchanged', async (_n, amount) => {
    const r = await p.call('PUT', '/v1/catalog', {
      credit_packs: [{ id: 'x', name: 'X', credits: 10, price: { amount, currency: 'eur' } }],
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.param).toBe('credit_packs.0.price.amount');
    const plans = await p.call('GET', '/v1/plans');
    expect(plans.body.credit_packs.map((c: { id: string }) => c.id)).toEqual(['starter', 'pro', 'premium']);
  });

  it('a fractional credit amount is 400 naming amount, the balance unchanged', async () => {
    const r = await p.call('POST', '/v1/customers/victim/credits/deduct', { amount: 0.1 + 0.2 });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('amount');
    expect(await balance()).toBe(10);
  });
});


describe("hostile case 18: another tenant's price, customer or subscription id, or a currency mismatch", () => {
  it("a checkout for another project's credit pack id is 400 and creates no session", async () => {
    const other = await h.project({ catalog: { credit_packs: [{ id: 'mine-only', name: 'M', credits: 5, price: { amount: 500, currency: 'eur' } }] } });
    const before = await rows('checkout_sessions', p.id);
    const r = await p.call('POST', '/v1/checkout', {
      customer_id: 'victim',
      credit_pack: 'mine-only',
      success_url: 'https://a.example/ok',
      cancel_url: 'https://a.example/no',
    });
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('credit_pack');
    expect(await rows('checkout_sessions', p.id)).toBe(before);
    expect(await rows('checkout_sessions', other.id)).toBe(0);
  });

  it("another project's customer is 404 customer_not_found; cancelling its subscription from there is 404 and changes nothing", async () => {
    const owner = await ark();
    await owner.call('POST', '/v1/customers', { id: 'subscriber' });
    expect((await owner.call('POST', '/v1/customers/subscriber/subscription', { plan: 'pro', trial_days: 14 })).status).toBe(201);
    const mine = (await owner.call('GET', '/v1/customers/subscriber/subscription')).body;
    expect(mine).toMatchObject({ status: 'trialing', plan: 'pro' });
    const other = await ark();
    const read = await other.call('GET', '/v1/customers/subscriber/subscription');
    expect(read.status).toBe(404);
    expect(read.body.error.code).toBe('customer_not_found');
    const cancel = await other.call('POST', '/v1/customers/subscriber/subscription/cancel', {});
    expect(cancel.status).toBe(404);
    expect(cancel.body.error.code).toBe('not_found');
    expect(cancel.body.error.message).toMatch(/subscription/);
    expect((await owner.call('GET', '/v1/customers/subscriber/subscription')).body).toEqual(mine);
    expect(await rows('subscriptions', other.id)).toBe(0);
  });

  it('a product in another currency than the cart is 400 naming product_id, and the cart is unchanged', async () => {
    const shop = await h.project({
      catalog: {
        products: [
          { id: 'eur-thing', name: 'EUR thing', price: { amount: 1000, currency: 'eur' }, stock: 5 },
          { id: 'usd-thing', name: 'USD thing', price: { amount: 1000, currency: 'usd' }, stock: 5 },
        ],
      },
    });
    expect((await shop.call('POST', '/v1/customers/buyer/cart/items', { product_id: 'eur-thing', quantity: 1 })).status).toBe(200);
    const r = await shop.call('POST', '/v1/customers/buyer/cart/items', { product_id: 'usd-thing', quantity: 1 });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_request');
    expect(r.body.error.param).toBe('product_id');
    const cart = await shop.call('GET', '/v1/customers/buyer/cart');
    expect(cart.body.items.map((i: { product_id: string }) => i.product_id)).toEqual(['eur-thing']);
    expect(cart.body.total).toEqual({ amount: 1000, currency: 'eur' });
    expect(await rows('cart_items', shop.id)).toBe(1);
  });
});

/** Credits for the racing deducts: no sign-up credits, so the balance is exactly what was granted. */
const raceCatalog = { ...DEMO_CATALOGS.aurisvoice!.catalog, signup_credits: 0 };

async function accountMatchesLedger(sp: TestProject, customer: string) {
  const acct = (
    await h.db.query<{ balance: number; held: number }>('SELECT balance, held FROM credit_accounts WHERE project_id = $1 AND customer_id = $2', [sp.id, customer])
  ).rows[0]!;
  const sum = (
    await h.db.query<{ s: string }>('SELECT COALESCE(SUM(amount),0)::bigint AS s FROM ledger_entries WHERE project_id = $1 AND customer_id = $2', [sp.id, customer])
  ).rows[0]!.s;
  const negatives = (
    await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND customer_id = $2 AND balance_after < 0', [sp.id, customer])
  ).rows[0]!.n;
  expect(Number(sum)).toBe(acct.balance);
  expect(negatives).toBe(0);
  return acct;
}

async function tenRacingDeducts() {
  const sp = await h.project({ catalog: raceCatalog });
  await sp.call('POST', '/v1/customers/r/credits/grant', { amount: 100, reason: 'seed' });
  const rs = await Promise.all(Array.from({ length: 10 }, () => sp.call('POST', '/v1/customers/r/credits/deduct', { amount: 20 })));
  expect(rs.filter((r) => r.status === 200)).toHaveLength(5);
  const refused = rs.filter((r) => r.status !== 200);
  expect(refused).toHaveLength(5);
  for (const r of refused) {
    expect(r.status).toBe(402);
    expect(r.body.error.code).toBe('insufficient_credits');
  }
  expect(await balance('r', sp)).toBe(0);
  const acct = await accountMatchesLedger(sp, 'r');
  expect(acct.balance).toBe(0);
  const debits = await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND customer_id = 'r' AND kind = 'deduct'", [sp.id]);
  expect(debits.rows[0]!.n).toBe(5);
}

describe('hostile case 19: ten deductions of 20 racing on a balance of 100', () => {
  it('on either engine: exactly 5 succeed, 5 are 402 insufficient_credits, the balance ends at 0 = the ledger', tenRacingDeducts);

  // PGlite runs one query at a time, so only PostgreSQL can interleave the ten transactions.
  it.skipIf(!onPostgres)(`as a real race (${NEEDS_PG}): exactly 5 succeed, never below 0, twenty rounds`, async () => {
    for (let round = 0; round < 20; round++) await tenRacingDeducts();
  }, 60_000);
});


describe('hostile case 20: a deduction retried with the same idempotency key', () => {
  it('the retry replays the original result with one debit; the same key with another amount is 409', async () => {
    const q = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await q.call('POST', '/v1/customers/k/credits/grant', { amount: 90, reason: 'seed' });
    const first = await q.call('POST', '/v1/customers/k/credits/deduct', { amount: 20 }, { 'idempotency-key': 'd-1' });
    expect(first.status).toBe(200);
    const again = await q.call('POST', '/v1/customers/k/credits/deduct', { amount: 20 }, { 'idempotency-key': 'd-1' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers['idempotent-replayed']).toBe('true');
    const other = await q.call('POST', '/v1/customers/k/credits/deduct', { amount: 30 }, { 'idempotency-key': 'd-1' });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
    expect((await q.call('GET', '/v1/customers/k/credits')).body.balance).toBe(10 + 90 - 20);
    const debits = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1 AND customer_id = 'k' AND kind = 'deduct'",
      [q.id],
    );
    expect(debits.rows[0]!.n).toBe(1);
  });
});


describe('hostile case 21: a crash after the provider call, before the commit', () => {
  it('the retry with the same Idempotency-Key gets the same Stripe session, not a second one', async () => {
    const sp = await stripeProject();
    const fn = `fail_${sp.id.replace(/-/g, '_')}`;
    // A real database failure after Stripe answered: the UPDATE storing Stripe's id raises, the transaction rolls back.
    await h.db.exec(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF NEW.project_id = '${sp.id}' AND NEW.provider_ref IS NOT NULL THEN RAISE EXCEPTION 'simulated crash before commit'; END IF;
      RETURN NEW; END $$;
      CREATE TRIGGER ${fn} BEFORE UPDATE ON checkout_sessions FOR EACH ROW EXECUTE FUNCTION ${fn}();`);
    const body = { customer_id: 'bob', credit_pack: 'pro', ...URLS };
    const crashed = await sp.call('POST', '/v1/checkout', body, { 'idempotency-key': 'buy-pro-1' });
    expect(crashed.status).toBe(500);
    expect(crashed.body.error.code).toBe('internal_error');
    expect(stripe.list(sp.sk, 'checkout.session')).toHaveLength(1);
    // The intent was recorded before Stripe was called (no transaction is held across the call); Stripe's id was not stored.
    const kept = await h.db.query<{ provider_ref: string | null }>('SELECT provider_ref FROM checkout_sessions WHERE project_id = $1', [sp.id]);
    expect(kept.rows).toEqual([{ provider_ref: null }]);
    const inProgress = await h.db.query("SELECT 1 FROM idempotency_keys WHERE project_id = $1 AND status_code IS NULL", [sp.id]);
    expect(inProgress.rowCount).toBe(0);
    await h.db.exec(`DROP TRIGGER ${fn} ON checkout_sessions; DROP FUNCTION ${fn}();`);

    const retry = await sp.call('POST', '/v1/checkout', body, { 'idempotency-key': 'buy-pro-1' });
    expect(retry.status).toBe(201);
    const creates = stripe.writes(sp.sk, '/v1/checkout/sessions');
    expect(creates).toHaveLength(2);
    expect(creates[1]!.idempotencyKey).toBe(creates[0]!.idempotencyKey);
    expect(creates[1]!.replayed).toBe(true);
    expect(stripe.list(sp.sk, 'checkout.session')).toHaveLength(1);
    expect(stripe.list(sp.sk, 'customer')).toHaveLength(1);
    expect(retry.body.url).toContain(stripe.list(sp.sk, 'checkout.session')[0]!.id);

    const [completed] = stripe.completeCheckout(sp.sk, stripe.list(sp.sk, 'checkout.session')[0]!.id);
    await deliverStripe(sp, completed!);
    expect(await balance('bob', sp)).toBe(70);
    expect(await rows('payments', sp.id)).toBe(1);
  });
});

describe('hostile case 22: a crash after the commit, before the outgoing webhook is sent', () => {
  it('an event written in a transaction that rolls back is never delivered', async () => {
    const sp = await h.project();
    const path = newPath();
    await endpoint(sp, path);
    await expect(
      h.db.tx(async (q) => {
        await emit(q, { projectId: sp.id, type: 'customer.updated', customerId: 'ghost', data: {}, at: h.clock.now() });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await emit(h.db, { projectId: sp.id, type: 'customer.updated', customerId: 'real', data: {}, at: h.clock.now() });
    await runWebhooks();
    expect(rx.received(path).map((r) => JSON.parse(r.body).customer_id)).toEqual(['real']);
  });

  it('events written while no runner ran are delivered by a runner started later, at least once, same webhook-id', async () => {
    const sp = await h.project();
    const path = newPath();
    const ep = await endpoint(sp, path);
    await sp.call('POST', '/v1/customers', { id: 'c1' });
    // Another instance (a restart) picks the outbox up.
    const later = await createTollgate({ config: h.config, db: h.db, clock: h.clock, runner: false });
    try {
      await runWebhooks(later.ctx);
    } finally {
      await later.close();
    }
    expect(rx.received(path)).toHaveLength(1);
    // A crash after a delivery was claimed, before its reply was recorded: it goes out after the lease.
    await sp.call('POST', '/v1/customers', { id: 'c2' });
    await dispatchOutbox(h.tg.ctx);
    const claimed = await h.db.tx((q) => claimDueDeliveries(q, h.clock.now(), 10, new Date(h.clock.now().getTime() + 2 * MINUTE)));
    expect(claimed.map((d) => d.customer_id)).toEqual(['c2']);
    await runWebhooks();
    expect(rx.received(path)).toHaveLength(1); // still leased to the crashed sender
    h.clock.advance(2 * MINUTE + SECOND);
    await runWebhooks();
    const all = rx.received(path);
    expect(all.map((r) => JSON.parse(r.body).customer_id)).toEqual(['c1', 'c2']);
    expect(all[1]?.headers['webhook-id']).toBe(claimed[0]?.event_id);
    const c2 = (await deliveries(sp, ep.id)).find((d) => d.event_id === claimed[0]?.event_id);
    expect(c2).toMatchObject({ status: 'succeeded', attempts: 2 });
  });
});

describe('hostile case 23: the customer endpoint times out, answers 500, 410, a 3xx or a slow 200', () => {
  it('a 500 is retried on schedule (not before 5 s) with the same webhook-id until a 200', async () => {
    const sp = await h.project();
    const path = newPath();
    rx.reply(path, { status: 500, body: 'boom' }, { status: 500 }, { status: 200 });
    const ep = await endpoint(sp, path);
    await sp.call('POST', '/v1/customers', { id: 'c' });
    await runWebhooks();
    expect(rx.received(path)).toHaveLength(1);
    h.clock.advance(4 * SECOND);
    await runWebhooks();
    expect(rx.received(path)).toHaveLength(1); // not before 5 s
    h.clock.advance(2 * SECOND);
    await runWebhooks();
    expect(rx.received(path)).toHaveLength(2);
    h.clock.advance(RETRY_DELAYS_MS[1]! * 1.1 + SECOND);
    await runWebhooks();
    const got = rx.received(path);
    expect(got).toHaveLength(3);
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    verifyOutgoing(ep.secret, got[2] as Received);
    const [d] = await deliveries(sp, ep.id);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(d?.attempt_log.map((a: { status_code: number }) => a.status_code)).toEqual([500, 500, 200]);
    expect(d?.attempt_log[0].response_excerpt).toBe('boom');
  });

  it('a receiver that times out is logged and retried', async () => {
    const sp = await h.project();
    const path = newPath();
    rx.reply(path, 'hang', { status: 204 });
    const ep = await endpoint(sp, path);
    await sp.call('POST', '/v1/customers', { id: 'c' });
    await runWebhooks();
    let [d] = await deliveries(sp, ep.id);
    expect(d).toMatchObject({ status: 'pending', attempts: 1, last_status_code: null });
    expect(d?.last_error).toMatch(/timed out/);
    expect(d?.attempt_log[0].duration_ms).toBeGreaterThanOrEqual(300);
    h.clock.advance(6 * SECOND);
    await runWebhooks();
    [d] = await deliveries(sp, ep.id);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 2, last_status_code: 204 });
  });

  it('a 200 that comes after the timeout counts as a timeout and is retried with the same webhook-id', async () => {
    const sp = await h.project();
    const path = newPath();
    rx.reply(path, { status: 200, delayMs: 900 }, { status: 200 });
    const ep = await endpoint(sp, path);
    await sp.call('POST', '/v1/customers', { id: 'c' });
    await runWebhooks();
    let [d] = await deliveries(sp, ep.id);
    expect(d).toMatchObject({ status: 'pending', attempts: 1, last_status_code: null });
    expect(d?.last_error).toMatch(/timed out/);
    h.clock.advance(6 * SECOND);
    await runWebhooks();
    [d] = await deliveries(sp, ep.id);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 2, last_status_code: 200 });
    const got = rx.received(path);
    expect(got).toHaveLength(2);
    expect(got[1]?.headers['webhook-id']).toBe(got[0]?.headers['webhook-id']);
  });

  it('each retry waits its scheduled delay plus up to 10 % jitter; after the last one there is none (dead letter)', () => {
    for (const [step, base] of RETRY_DELAYS_MS.entries()) {
      expect(nextRetryDelay(step, 0)).toBe(base);
      expect(nextRetryDelay(step, 0.999)).toBe(Math.round(base * (1 + RETRY_JITTER * 0.999)));
      expect(nextRetryDelay(step, 0.5)).toBeGreaterThan(base);
    }
    expect(nextRetryDelay(RETRY_DELAYS_MS.length, 0.5)).toBeNull();
  });

  it('410 Gone disables the endpoint and nothing more is sent to it', async () => {
    const sp = await h.project();
    const path = newPath();
    rx.reply(path, { status: 410 });
    const ep = await endpoint(sp, path);
    await sp.call('POST', '/v1/customers', { id: 'c1' });
    await runWebhooks();
    const e = await sp.call('GET', `/v1/webhook-endpoints/${ep.id}`);
    expect(e.body).toMatchObject({ enabled: false });
    expect(e.body.disabled_reason).toMatch(/410/);
    const [d] = await deliveries(sp, ep.id);
    expect(d).toMatchObject({ status: 'failed', last_status_code: 410 });
    await sp.call('POST', '/v1/customers', { id: 'c2' });
    h.clock.advance(HOUR);
    await runWebhooks();
    expect(rx.received(path)).toHaveLength(1);
    const redeliver = await sp.call('POST', `/v1/webhook-deliveries/${d?.id}/redeliver`);
    expect(redeliver.status).toBe(409);
  });

  it('a 302 is a failure and is never followed', async () => {
    const sp = await h.project();
    const path = newPath();
    const target = newPath();
    rx.reply(path, { status: 302, headers: { location: rx.url(target) } });
    const ep = await endpoint(sp, path);
    await sp.call('POST', '/v1/customers', { id: 'c' });
    await runWebhooks();
    expect(rx.received(target)).toHaveLength(0);
    const [d] = await deliveries(sp, ep.id);
    expect(d).toMatchObject({ status: 'pending', last_status_code: 302 });
  });

  it('after the whole schedule (~3 days, with jitter) the delivery is dead-lettered; a manual redelivery keeps the webhook-id', async () => {
    const sp = await h.project();
    const path = newPath();
    rx.reply(path, { status: 503 });
    const ep = await endpoint(sp, path);
    await sp.call('POST', '/v1/customers', { id: 'c' });
    await runWebhooks();
    let elapsed = 0;
    for (const delay of RETRY_DELAYS_MS) {
      h.clock.advance(delay * 1.1 + SECOND);
      elapsed += delay;
      await runWebhooks();
    }
    expect(elapsed / HOUR).toBeGreaterThan(75);
    expect(rx.received(path)).toHaveLength(RETRY_DELAYS_MS.length + 1);
    let [d] = await deliveries(sp, ep.id);
    expect(d).toMatchObject({ status: 'failed', attempts: 10, next_attempt_at: null });
    expect(d?.attempt_log).toHaveLength(10);
    h.clock.advance(48 * HOUR);
    await runWebhooks();
    expect(rx.received(path)).toHaveLength(10);

    rx.reply(path, { status: 200 });
    const r = await sp.call('POST', `/v1/webhook-deliveries/${d?.id}/redeliver`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'pending' });
    await runWebhooks();
    const got = rx.received(path);
    expect(got).toHaveLength(11);
    expect(got[10]?.headers['webhook-id']).toBe(got[0]?.headers['webhook-id']);
    [d] = await deliveries(sp, ep.id);
    expect(d).toMatchObject({ status: 'succeeded', attempts: 11 });
  });
});

describe('hostile case 24: a webhook URL aimed at private addresses, DNS rebinding, a foreign PayPal cert_url', () => {
  it('classifies private, loopback, link-local, CGNAT and mapped addresses', () => {
    for (const a of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a9fe:a9fe']) {
      expect(isPrivateAddress(a), a).toBe(true);
    }
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '172.32.0.1', '::ffff:8.8.8.8']) expect(isPrivateAddress(a), a).toBe(false);
  });

  it('refuses 127.0.0.1, 169.254.169.254, 10.0.0.1 and [::ffff:127.0.0.1] without connecting', async () => {
    const path = newPath();
    const port = new URL(rx.url(path)).port;
    for (const host of ['127.0.0.1', '169.254.169.254', '10.0.0.1', '[::ffff:127.0.0.1]']) {
      const r = await sendWebhook({ url: `http://${host}:${port}${path}`, headers: {}, body: '{}', timeoutMs: 400, allowPrivate: false, now: h.clock.now() });
      expect(r.statusCode, host).toBeNull();
      expect(r.error, host).toMatch(/private or reserved/);
      expect(r.durationMs, host).toBeLessThan(100);
    }
    expect(rx.received(path)).toHaveLength(0);
  });

  it('checks the address actually connected to: a name resolving to loopback is refused (DNS rebinding)', async () => {
    const path = newPath();
    const port = new URL(rx.url(path)).port;
    let lookups = 0;
    const r = await sendWebhook({
      url: `http://rebind.example:${port}${path}`,
      headers: {},
      body: '{}',
      timeoutMs: 400,
      allowPrivate: false,
      now: h.clock.now(),
      resolver: (_host, cb) => {
        lookups++;
        cb(null, [{ address: '127.0.0.1', family: 4 }]);
      },
    });
    expect(lookups).toBe(1);
    expect(r.error).toMatch(/rebind\.example \(127\.0\.0\.1\)/);
    expect(rx.received(path)).toHaveLength(0);
  });

  it('with the guard on, endpoints on private addresses are 400 naming url at creation and refused at delivery', async () => {
    const sp = await h.project();
    const path = newPath();
    const ep = await endpoint(sp, path); // created while private targets are allowed
    h.config.webhookAllowPrivate = false;
    try {
      for (const url of ['http://127.0.0.1/x', 'http://169.254.169.254/latest', 'http://10.0.0.1/', 'http://[::ffff:127.0.0.1]/', 'http://localhost:8080/']) {
        const r = await sp.call('POST', '/v1/webhook-endpoints', { url, events: ['*'] });
        expect(r.status, url).toBe(400);
        expect(r.body.error.code).toBe('invalid_request');
        expect(r.body.error.param).toBe('url');
      }
      expect((await sp.call('GET', '/v1/webhook-endpoints')).body.data).toHaveLength(1);
      await sp.call('POST', '/v1/customers', { id: 'c' });
      await runWebhooks();
      expect(rx.received(path)).toHaveLength(0);
      const [d] = await deliveries(sp, ep.id);
      expect(d).toMatchObject({ status: 'pending', last_status_code: null });
      expect(d?.last_error).toMatch(/private or reserved/);
    } finally {
      h.config.webhookAllowPrivate = true;
    }
  });

  describe('a PayPal cert_url outside PayPal hosts', () => {
    let ph: Harness;
    let pp: PaypalTestServer;
    let certFetches: string[];
    let closePaypal: () => Promise<void>;
    const WEBHOOK_ID = PAYPAL_WEBHOOK_ID;
    beforeAll(async () => {
      ({ h: ph, pp, certFetches, close: closePaypal } = await startPaypalHarness());
    });
    afterAll(async () => closePaypal?.());

    it('is rejected with 400 invalid_signature without any fetch; PayPal certificates are fetched once and cached', async () => {
      const pq = await ph.project({ catalog: DEMO_CATALOGS.webox!.catalog });
      const set = await pq.call('PUT', '/v1/providers/paypal', { client_id: 'AZtestClientId0001', client_secret: 'ECtestClientSecret0001', webhook_id: WEBHOOK_ID, mode: 'sandbox' });
      expect(set.status).toBe(200);
      const deliver = (s: { body: string; headers: Record<string, string> }) =>
        ph.inject({ method: 'POST', url: `/v1/webhooks/paypal/${pq.id}`, headers: s.headers, payload: s.body });
      const before = certFetches.length;
      for (const certUrl of [
        'https://evil.example/v1/notifications/certs/CERT-1',
        'http://api.sandbox.paypal.com/v1/notifications/certs/CERT-1',
        'https://api.sandbox.paypal.com.evil.example/v1/notifications/certs/CERT-1',
        'https://127.0.0.1/v1/notifications/certs/CERT-1',
        'https://169.254.169.254/latest/meta-data',
        'https://user@api.paypal.com/v1/notifications/certs/CERT-1',
      ]) {
        const r = await deliver(pp.signedWebhook('PAYMENT.CAPTURE.COMPLETED', { id: 'X' }, { webhookId: WEBHOOK_ID, certUrl }));
        expect(r.status, certUrl).toBe(400);
        expect(r.body.error.code).toBe('invalid_signature');
      }
      expect(certFetches.length).toBe(before);
      expect((await ph.db.query('SELECT 1 FROM provider_events WHERE project_id = $1', [pq.id])).rowCount).toBe(0);
      const fresh = 'https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-cache-test';
      for (let i = 0; i < 3; i++) {
        const r = await deliver(pp.signedWebhook('PAYMENT.CAPTURE.COMPLETED', { id: `NOPE${i}`, custom_id: 'cs_unknown' }, { webhookId: WEBHOOK_ID, certUrl: fresh }));
        expect(r.status).toBe(200);
      }
      expect(certFetches.filter((u) => u === fresh)).toHaveLength(1);
    });
  });
});

describe('hostile case 25: cross-tenant id guessing or a spoofed client_reference_id/metadata', () => {
  it("another project's customer, hold, order and event ids are 404 and change nothing", async () => {
    const other = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    await p.call('POST', '/v1/customers/victim/credits/grant', { amount: 5, reason: 'seed' });
    const hold = await p.call('POST', '/v1/customers/victim/credits/holds', { amount: 3 });
    expect(hold.status).toBe(201);
    const cap = await other.call('POST', `/v1/holds/${hold.body.id}/capture`, { amount: 3 });
    expect(cap.status).toBe(404);
    expect(cap.body.error.code).toBe('not_found');
    const rel = await other.call('POST', `/v1/holds/${hold.body.id}/release`);
    expect(rel.status).toBe(404);
    const tx = await other.call('GET', '/v1/customers/victim/credits/transactions');
    expect(tx.status).toBe(404);
    expect(tx.body.error.code).toBe('customer_not_found');
    const c = await p.call('GET', '/v1/customers/victim/credits');
    expect(c.body).toMatchObject({ balance: 15, held: 3 });
    expect((await p.call('POST', `/v1/holds/${hold.body.id}/release`)).status).toBe(200);
    await p.call('POST', '/v1/customers/victim/credits/deduct', { amount: 5 }, { 'idempotency-key': 'reset-victim' });
    expect(await balance()).toBe(10);
  });


  it('a Stripe session Tollgate did not create is acknowledged and grants nothing (spoofed metadata ignored)', async () => {
    const sp = await stripeProject();
    await sp.call('POST', '/v1/customers', { id: 'eve' });
    const before = await state(sp.id);
    const forged = stripe.event(sp.sk, 'checkout.session.completed', {
      id: 'cs_test_forged',
      object: 'checkout.session',
      mode: 'payment',
      payment_status: 'paid',
      amount_total: 1,
      currency: 'eur',
      client_reference_id: 'cs_whatever',
      metadata: { tollgate_project: sp.id, tollgate_customer: 'eve', tollgate_item: 'premium' },
      payment_intent: 'pi_forged',
    });
    const r = await deliverStripe(sp, forged);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ignored');
    expect(await balance('eve', sp)).toBe(10);
    expect(await state(sp.id)).toEqual({ ...before, provider_events: before.provider_events! + 1 });
  });

  it('a signed sandbox event for an unknown session is acknowledged and ignored', async () => {
    const before = await state(p.id);
    const unknown = completedEvent('cs_doesnotexist', 'evt_unknown_session');
    const b1 = JSON.stringify(unknown);
    const r1 = await postSandbox(p, b1, signed(b1, unknown.id, await sandboxSecret(p)));
    expect(r1.status).toBe(200);
    expect(r1.body.status).toBe('ignored');
    expect(await state(p.id)).toEqual({ ...before, provider_events: before.provider_events! + 1 });
  });

  it("another project's session cannot be completed with this project's webhook", async () => {
    const other = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const r = await other.call('POST', '/v1/checkout', { customer_id: 'x1', credit_pack: 'pro', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
    const ev = completedEvent(r.body.session_id, 'evt_cross');
    const body = JSON.stringify(ev);
    const res = await postSandbox(p, body, signed(body, ev.id, await sandboxSecret(p)));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ignored');
    expect((await other.call('GET', '/v1/customers/x1/credits')).body.balance).toBe(10); // sign-up credits only
    expect((await other.call('GET', `/v1/checkout/${r.body.session_id}`)).body.status).toBe('open');
  });
});
