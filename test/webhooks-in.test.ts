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
