import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { findProject } from '../src/modules/projects/projects.repository.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let p: TestProject;
let secret: string;
beforeAll(async () => {
  h = await createHarness();
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  secret = (await findProject(h.db, p.id))!.sandbox_webhook_secret;
});
afterAll(async () => h?.close());

async function openSession(customer: string): Promise<string> {
  const r = await p.call('POST', '/v1/checkout', {
    customer_id: customer,
    credit_pack: 'pro',
    success_url: 'https://app.example/ok?session={CHECKOUT_SESSION_ID}',
    cancel_url: 'https://app.example/cancel',
  });
  expect(r.status).toBe(201);
  expect(r.body.url).toMatch(/\/checkout\/cs_/);
  expect(r.body.success_url).toBe(`https://app.example/ok?session=${r.body.session_id}`);
  return r.body.session_id;
}

function completedEvent(sessionId: string, eventId = `evt_${sessionId}`) {
  return {
    id: eventId,
    type: 'checkout.session.completed',
    created: Math.floor(h.clock.now().getTime() / 1000),
    livemode: false,
    data: {
      object: {
        id: sessionId,
        payment_status: 'paid',
        payment_intent: `pi_${sessionId}`,
        amount_total: 1500,
        currency: 'eur',
        customer: 'ignored-by-design',
      },
    },
  };
}

function signed(body: string, eventId: string, at = h.clock.now(), key = secret) {
  return {
    'content-type': 'application/json',
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(eventId, at, body),
  };
}

const post = (body: string, headers: Record<string, string>) =>
  h.inject({ method: 'POST', url: `/v1/webhooks/sandbox/${p.id}`, headers, payload: body });

const balance = async (c: string) => (await p.call('GET', `/v1/customers/${c}/credits`)).body.balance;

describe('sandbox webhooks through the inbox', () => {
  it('a signed completion grants the pack once; the same event again changes nothing', async () => {
    const s = await openSession('w1');
    const ev = completedEvent(s);
    const body = JSON.stringify(ev);
    const a = await post(body, signed(body, ev.id));
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ received: true, duplicate: false, status: 'processed' });
    expect(await balance('w1')).toBe(70);
    const b = await post(body, signed(body, ev.id));
    expect(b.status).toBe(200);
    expect(b.body.duplicate).toBe(true);
    expect(await balance('w1')).toBe(70);
    const session = await p.call('GET', `/v1/checkout/${s}`);
    expect(session.body).toMatchObject({ status: 'complete', payment_status: 'paid' });
    const pays = await p.call('GET', '/v1/payments?customer_id=w1');
    expect(pays.body.data).toHaveLength(1);
    expect(pays.body.data[0]).toMatchObject({ amount: 1500, currency: 'eur', status: 'succeeded', provider: 'sandbox' });
  });

  it('the same event delivered many times at once has one effect', async () => {
    const s = await openSession('w2');
    const ev = completedEvent(s);
    const body = JSON.stringify(ev);
    const rs = await Promise.all(Array.from({ length: 6 }, () => post(body, signed(body, ev.id))));
    for (const r of rs) expect(r.status).toBe(200);
    expect(await balance('w2')).toBe(70);
  });

  it('two different events for one session grant once (keyed by the session)', async () => {
    const s = await openSession('w3');
    for (const id of ['evt_a', 'evt_b']) {
      const body = JSON.stringify(completedEvent(s, `${id}_${s}`));
      expect((await post(body, signed(body, `${id}_${s}`))).status).toBe(200);
    }
    expect(await balance('w3')).toBe(70);
  });

  it.each([
    ['a forged signature', (body: string, id: string) => ({ ...signed(body, id), 'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' })],
    ['a wrong secret', (body: string, id: string) => signed(body, id, h.clock.now(), 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')],
    ['a stale timestamp (301 s old)', (body: string, id: string) => signed(body, id, new Date(h.clock.now().getTime() - 301_000))],
    ['a future timestamp (+301 s)', (body: string, id: string) => signed(body, id, new Date(h.clock.now().getTime() + 301_000))],
    ['no signature headers', () => ({ 'content-type': 'application/json' })],
    ['a non-numeric timestamp', (body: string, id: string) => ({ ...signed(body, id), 'webhook-timestamp': 'abc' })],
  ])('%s is 400 invalid_signature and grants nothing', async (_name, headersFor) => {
    const s = await openSession(`bad-${_name.length}`);
    const ev = completedEvent(s);
    const body = JSON.stringify(ev);
    const r = await post(body, headersFor(body, ev.id) as Record<string, string>);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_signature');
    expect(await balance(`bad-${_name.length}`)).toBe(10);
    const stored = await h.db.query('SELECT 1 FROM provider_events WHERE project_id = $1 AND event_id = $2', [p.id, ev.id]);
    expect(stored.rowCount).toBe(0);
  });

  it('a body re-serialised by middleware fails verification', async () => {
    const s = await openSession('w4');
    const ev = completedEvent(s);
    const raw = JSON.stringify(ev);
    const pretty = JSON.stringify(ev, null, 2);
    const r = await post(pretty, signed(raw, ev.id));
    expect(r.status).toBe(400);
    expect(await balance('w4')).toBe(10);
  });

  it('a signed event for an unknown session, or of an unknown type, is acknowledged and ignored', async () => {
    const unknown = completedEvent('cs_doesnotexist', 'evt_unknown_session');
    const b1 = JSON.stringify(unknown);
    const r1 = await post(b1, signed(b1, unknown.id));
    expect(r1.status).toBe(200);
    expect(r1.body.status).toBe('ignored');
    const odd = { ...completedEvent('x', 'evt_odd'), type: 'customer.tax_id.created', extra: { a: 1 } };
    const b2 = JSON.stringify(odd);
    const r2 = await post(b2, signed(b2, odd.id));
    expect(r2.status).toBe(200);
    expect(r2.body.status).toBe('ignored');
  });

  it("another project's session cannot be completed with this project's webhook", async () => {
    const other = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const r = await other.call('POST', '/v1/checkout', {
      customer_id: 'x1',
      credit_pack: 'pro',
      success_url: 'https://a.example/ok',
      cancel_url: 'https://a.example/no',
    });
    const ev = completedEvent(r.body.session_id, 'evt_cross');
    const body = JSON.stringify(ev);
    const res = await post(body, signed(body, ev.id));
    expect(res.body.status).toBe('ignored');
    expect((await other.call('GET', '/v1/customers/x1/credits')).body.balance).toBe(10); // sign-up credits only
  });

  it('events are listed with payloads and can be replayed without a second effect', async () => {
    const s = await openSession('w5');
    const ev = completedEvent(s);
    const body = JSON.stringify(ev);
    const stored = await post(body, signed(body, ev.id));
    const list = await p.call('GET', '/v1/events?limit=100');
    expect(list.body.data.some((e: { id: string; payload: unknown }) => e.id === stored.body.id && e.payload)).toBe(true);
    const replay = await p.call('POST', `/v1/events/${stored.body.id}/replay`);
    expect(replay.status).toBe(200);
    expect(replay.body.status).toBe('processed');
    expect(await balance('w5')).toBe(70);
  });
});

describe('test helpers', () => {
  it('pays a session through the signed webhook path; a declined card changes nothing', async () => {
    const s = await openSession('t1');
    for (const card of ['4000000000000002', '4000 0000 0000 9995']) {
      const d = await p.call('POST', `/v1/test_helpers/checkout/${s}/pay`, { card });
      expect(d.status).toBe(402);
      expect(d.body.error.code).toBe('card_declined');
    }
    expect(await balance('t1')).toBe(10);
    const ok = await p.call('POST', `/v1/test_helpers/checkout/${s}/pay`, { card: '4242424242424242' });
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe('complete');
    expect(await balance('t1')).toBe(70);
    const twice = await p.call('POST', `/v1/test_helpers/checkout/${s}/pay`, { card: '4242424242424242' });
    expect(twice.status).toBe(409);
    expect(await balance('t1')).toBe(70);
    const events = await h.db.query("SELECT 1 FROM provider_events WHERE project_id = $1 AND provider = 'sandbox'", [p.id]);
    expect(events.rowCount).toBeGreaterThan(0);
  });

  it("cannot pay another project's session", async () => {
    const s = await openSession('t2');
    const other = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const r = await other.call('POST', `/v1/test_helpers/checkout/${s}/pay`, { card: '4242424242424242' });
    expect(r.status).toBe(404);
  });

  it('an expired session cannot be paid', async () => {
    const s = await openSession('t3');
    const adv = await p.call('POST', '/v1/test_helpers/clock/advance', { seconds: 25 * 3600 });
    expect(adv.status).toBe(200);
    const r = await p.call('POST', `/v1/test_helpers/checkout/${s}/pay`, { card: '4242424242424242' });
    expect(r.status).toBe(409);
    expect((await p.call('GET', `/v1/checkout/${s}`)).body.status).toBe('expired');
  });

  it('the clock only moves forward', async () => {
    const r = await p.call('POST', '/v1/test_helpers/clock/advance', { to: '2020-01-01T00:00:00Z' });
    expect(r.status).toBe(400);
  });

  it('/v1/test-helpers/... is the primary path; /v1/test_helpers/... answers identically', async () => {
    const s = await openSession('t4');
    const paid = await p.call('POST', `/v1/test-helpers/checkout/${s}/pay`, { card: '4242424242424242' });
    expect(paid.status).toBe(200);
    expect(paid.body.status).toBe('complete');
    // Paying again without a key is refused the same way under both spellings.
    const old = await p.call('POST', `/v1/test_helpers/checkout/${s}/pay`, { card: '4242424242424242' });
    const kebab = await p.call('POST', `/v1/test-helpers/checkout/${s}/pay`, { card: '4242424242424242' });
    expect(old.status).toBe(409);
    expect(kebab.status).toBe(409);
    expect({ ...kebab.body.error, request_id: null }).toEqual({ ...old.body.error, request_id: null });
    for (const url of ['/v1/test-helpers/clock/advance', '/v1/test_helpers/clock/advance']) {
      const back = await p.call('POST', url, { to: '2020-01-01T00:00:00Z' });
      expect(back.status).toBe(400);
      expect(back.body.error.message).toBe('The clock only moves forward');
      const both = await p.call('POST', url, { seconds: 1, to: '2030-01-01T00:00:00Z' });
      expect(both.status).toBe(400);
    }
    const a = await p.call('POST', '/v1/test-helpers/clock/advance', { seconds: 60 });
    const b = await p.call('POST', '/v1/test_helpers/clock/advance', { seconds: 60 });
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(Object.keys(b.body).sort()).toEqual(Object.keys(a.body).sort());
    expect(new Date(b.body.now).getTime() - new Date(a.body.now).getTime()).toBe(60_000);
  });
});
