
import { afterAll, beforeAll, describe, expect, it, } from 'vitest';
import { HOUR, ManualClock, MINUTE, SECOND } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { findProject } from '../src/modules/projects/projects.repository.ts';
import { emit } from '../src/modules/webhooks-out/outbox.ts';
import { composeEmails } from '../src/modules/emails/emails.service.ts';
import { purgeWebhookHistory } from '../src/modules/webhooks-out/webhooks.service.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';
import { type Received, type Receiver, startReceiver } from './support/receiver.ts';
import { createEndpoint, drainWebhooks, listDeliveries, verifyOutgoing } from './support/webhooks.ts';

let h: Harness;
let rx: Receiver;
beforeAll(async () => {
  // A clock of its own, years ahead: harnesses of other files sharing a PostgreSQL database run
  // jobs at their own "now", and never reach deliveries that fall due at this one's.
  h = await createHarness({ clock: new ManualClock('2031-03-01T10:00:00Z'), config: { webhookAllowPrivate: true, webhookTimeoutMs: 400 } });
  rx = await startReceiver();
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
});

const auris = () => h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
const run = (ctx = h.tg.ctx) => drainWebhooks(ctx);
let pathSeq = 0;
const newPath = () => `/hook-${++pathSeq}`;
const endpoint = (p: TestProject, path: string, events?: string[]) => createEndpoint(p, rx.url(path), events);
const verify = (secret: string, r: Received) => verifyOutgoing(h.clock.now(), secret, r);
const deliveries = listDeliveries;

describe('webhook endpoints', () => {
  it('creation returns a whsec_ secret once, stores it encrypted, and lists without it', async () => {
    const p = await h.project();
    const r = await p.call('POST', '/v1/webhook-endpoints', {
      url: 'https://app.example/hooks',
      events: ['customer.created', 'credits.granted'],
      description: 'main',
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ object: 'webhook_endpoint', url: 'https://app.example/hooks', enabled: true });
    expect(r.body.id).toMatch(/^ep_/);
    expect(r.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const bytes = Buffer.from(r.body.secret.slice(6), 'base64').length;
    expect(bytes).toBeGreaterThanOrEqual(24);
    expect(bytes).toBeLessThanOrEqual(32);
    const stored = await h.db.query<{ secret_encrypted: string }>('SELECT secret_encrypted FROM webhook_endpoints WHERE id = $1', [r.body.id]);
    expect(stored.rows[0]?.secret_encrypted).toMatch(/^v1:/);
    expect(stored.rows[0]?.secret_encrypted).not.toContain(r.body.secret.slice(6));
    const one = await p.call('GET', `/v1/webhook-endpoints/${r.body.id}`);
    expect(one.body.secret).toBeUndefined();
    const list = await p.call('GET', '/v1/webhook-endpoints');
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0].secret).toBeUndefined();
  });

  it('a creation retried with its Idempotency-Key replays the same endpoint and secret, not kept in plaintext', async () => {
    const p = await h.project();
    const body = { url: 'https://app.example/hooks', events: ['*'] };
    const a = await p.call('POST', '/v1/webhook-endpoints', body, { 'idempotency-key': 'ep-1' });
    const b = await p.call('POST', '/v1/webhook-endpoints', body, { 'idempotency-key': 'ep-1' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect(b.body).toEqual(a.body);
    const stored = await h.db.query<{ response: unknown }>('SELECT response FROM idempotency_keys WHERE project_id = $1 AND key = $2', [p.id, 'ep-1']);
    expect(JSON.stringify(stored.rows[0]?.response)).not.toContain(a.body.secret);
    expect((await p.call('GET', '/v1/webhook-endpoints')).body.data).toHaveLength(1);
  });

  it('rejects bad urls and unknown event types with 400 and creates nothing', async () => {
    const p = await h.project();
    const bad = [
      [{ url: 'ftp://app.example/x', events: ['*'] }, 'url'],
      [{ url: 'https://user:pw@app.example/x', events: ['*'] }, 'url'],
      [{ url: 'not a url', events: ['*'] }, 'url'],
      [{ url: 'https://app.example/x', events: ['customer.exploded'] }, 'events.0'],
      [{ url: 'https://app.example/x', events: [] }, 'events'],
    ] as const;
    for (const [body, param] of bad) {
      const r = await p.call('POST', '/v1/webhook-endpoints', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error).toMatchObject({ code: 'invalid_request', param });
    }
    expect((await p.call('GET', '/v1/webhook-endpoints')).body.data).toHaveLength(0);
  });

  it("another project's endpoint and delivery are 404", async () => {
    const a = await h.project();
    const b = await h.project();
    const ep = await endpoint(a, newPath());
    await a.call('POST', '/v1/customers', { id: 'c1' });
    await run();
    const [d] = await deliveries(a, ep.id);
    expect((await b.call('GET', `/v1/webhook-endpoints/${ep.id}`)).status).toBe(404);
    expect((await b.call('PATCH', `/v1/webhook-endpoints/${ep.id}`, { enabled: false })).status).toBe(404);
    expect((await b.call('DELETE', `/v1/webhook-endpoints/${ep.id}`)).status).toBe(404);
    expect((await b.call('GET', `/v1/webhook-endpoints/${ep.id}/deliveries`)).status).toBe(404);
    expect((await b.call('POST', `/v1/webhook-deliveries/${d?.id}/redeliver`)).status).toBe(404);
    expect((await a.call('GET', `/v1/webhook-endpoints/${ep.id}`)).body.enabled).toBe(true);
    expect((await a.call('GET', '/v1/webhook-deliveries')).body.data.map((x: { id: string }) => x.id)).toEqual([d?.id]);
    expect((await a.call('GET', '/v1/webhook-deliveries?status=failed')).body.data).toEqual([]);
    expect((await b.call('GET', '/v1/webhook-deliveries')).body.data).toEqual([]);
    expect((await b.call('GET', `/v1/webhook-deliveries?endpoint_id=${ep.id}`)).status).toBe(404);
    expect((await b.call('GET', `/v1/webhook-deliveries/${d?.id}`)).status).toBe(404);
  });

  it('PATCH changes events and enabled; DELETE removes the endpoint', async () => {
    const p = await h.project();
    const ep = await endpoint(p, newPath(), ['customer.created']);
    const u = await p.call('PATCH', `/v1/webhook-endpoints/${ep.id}`, { events: ['credits.granted', '*'], enabled: false });
    expect(u.status).toBe(200);
    expect(u.body).toMatchObject({ events: ['credits.granted', '*'], enabled: false });
    const bad = await p.call('PATCH', `/v1/webhook-endpoints/${ep.id}`, { url: 'javascript:alert(1)' });
    expect(bad.status).toBe(400);
    const d = await p.call('DELETE', `/v1/webhook-endpoints/${ep.id}`);
    expect(d.body).toMatchObject({ id: ep.id, deleted: true });
    expect((await p.call('GET', `/v1/webhook-endpoints/${ep.id}`)).status).toBe(404);
  });
});

describe('delivery', () => {
  it('sends a signed Standard Webhooks message whose payload names its type and customer', async () => {
    const p = await auris();
    const path = newPath();
    const ep = await endpoint(p, path);
    await p.call('POST', '/v1/customers', { id: 'alice', email: 'alice@example.com' });
    await run();
    const got = rx.received(path);
    // AurisVoice gives sign-up credits: their grant is announced too (issue 11 item 11, below).
    expect(got.map((r) => JSON.parse(r.body).type).sort()).toEqual(['credits.granted', 'customer.created']);
    const msg = got.find((r) => JSON.parse(r.body).type === 'customer.created') as Received;
    const payload = verify(ep.secret, msg);
    expect(payload).toMatchObject({ type: 'customer.created', customer_id: 'alice', data: { id: 'alice', email: 'alice@example.com' } });
    expect(payload.id).toBe(msg.headers['webhook-id']);
    expect(String(payload.id)).toMatch(/^msg_/);
    expect(payload.created_at).toBe(h.clock.now().toISOString());
    expect(msg.headers['webhook-timestamp']).toBe(String(Math.floor(h.clock.now().getTime() / 1000)));
    expect(() => verify(`whsec_${Buffer.alloc(32, 1).toString('base64')}`, msg)).toThrow();
    const d = (await deliveries(p, ep.id)).find((x) => x.event_type === 'customer.created');
    expect(d).toMatchObject({ status: 'succeeded', attempts: 1, event_type: 'customer.created', last_status_code: 200 });
    expect(d?.attempt_log).toHaveLength(1);
    expect(d?.attempt_log[0]).toMatchObject({ attempt: 1, status_code: 200, error: null, response_excerpt: 'ok' });
  });

  it('only the subscribed types are sent; a sandbox purchase yields payment.succeeded, checkout.completed, credits.granted', async () => {
    const p = await auris();
    const all = newPath();
    const some = newPath();
    await endpoint(p, all);
    await endpoint(p, some, ['payment.succeeded', 'credits.low_balance']);
    const s = await p.call('POST', '/v1/checkout', {
      customer_id: 'bob',
      credit_pack: 'starter',
      success_url: 'https://app.example/ok',
      cancel_url: 'https://app.example/no',
    });
    expect(s.status).toBe(201);
    const paid = await p.call('POST', `/v1/test_helpers/checkout/${s.body.session_id}/pay`, { card: '4242424242424242' });
    expect(paid.status).toBe(200);
    await p.call('POST', '/v1/customers/bob/credits/deduct', { amount: 21 });
    await run();
    const types = (path: string) => rx.received(path).map((r) => JSON.parse(r.body).type);
    expect(types(all).sort()).toEqual(['checkout.completed', 'credits.granted', 'credits.granted', 'credits.low_balance', 'customer.created', 'payment.succeeded']);
    expect(types(some).sort()).toEqual(['credits.low_balance', 'payment.succeeded']);
    for (const r of rx.received(all)) expect(JSON.parse(r.body).customer_id).toBe('bob');
  });

  it('retry-after pushes the next attempt later than the schedule', async () => {
    const p = await h.project();
    const path = newPath();
    rx.reply(path, { status: 429, headers: { 'retry-after': '600' } }, { status: 200 });
    const ep = await endpoint(p, path);
    await p.call('POST', '/v1/customers', { id: 'c' });
    await run();
    h.clock.advance(5 * MINUTE);
    await run();
    expect(rx.received(path)).toHaveLength(1);
    h.clock.advance(5 * MINUTE + SECOND);
    await run();
    expect(rx.received(path)).toHaveLength(2);
    expect((await deliveries(p, ep.id))[0]).toMatchObject({ status: 'succeeded' });
  });

});

describe('issue 11 item 11: sign-up credits emit credits.granted', () => {
  it('a new customer of a catalog with sign-up credits is announced with customer.created then credits.granted of those credits', async () => {
    const p = await auris();
    const path = newPath();
    const ep = await endpoint(p, path, ['credits.granted']);
    await p.call('POST', '/v1/customers', { id: 'newbie' });
    // A second call for the same customer grants nothing more.
    await p.call('POST', '/v1/customers', { id: 'newbie' });
    await run();
    const got = rx.received(path);
    expect(got).toHaveLength(1);
    const payload = verify(ep.secret, got[0] as Received);
    const tx = await p.call('GET', '/v1/customers/newbie/credits/transactions');
    const signup = tx.body.data.find((t: { kind?: string; type?: string }) => (t.kind ?? t.type) === 'signup');
    expect(payload).toMatchObject({
      type: 'credits.granted',
      customer_id: 'newbie',
      data: { amount: 10, balance: 10, kind: 'signup', reason: 'Sign-up credits', transaction_id: signup.id },
    });
  });

  it('a catalog without sign-up credits emits no credits.granted for a new customer', async () => {
    const p = await h.project({ catalog: { ...DEMO_CATALOGS.aurisvoice!.catalog, signup_credits: 0 } });
    const path = newPath();
    await endpoint(p, path, ['credits.granted']);
    await p.call('POST', '/v1/customers', { id: 'nobonus' });
    await run();
    expect(rx.received(path)).toHaveLength(0);
  });
});

describe('history', () => {
  it('finished deliveries, their attempts and dispatched events are deleted after 30 days; pending ones stay', async () => {
    const p = await h.project();
    const ok = newPath();
    const down = newPath();
    rx.reply(down, { status: 500 });
    const a = await endpoint(p, ok, ['customer.created']);
    const b = await endpoint(p, down, ['customer.updated']);
    await p.call('POST', '/v1/customers', { id: 'c', name: 'C' });
    await p.call('POST', '/v1/customers', { id: 'c', name: 'C2' });
    await emit(h.db, { projectId: p.id, type: 'credits.reversed', customerId: 'c', data: {}, at: h.clock.now() });
    await run();
    await composeEmails(h.tg.ctx); // an event is kept until the e-mail job has seen it too
    expect(await deliveries(p, a.id)).toHaveLength(1);
    h.clock.advance(29 * 24 * HOUR);
    await purgeWebhookHistory(h.tg.ctx);
    expect(await deliveries(p, a.id)).toHaveLength(1);
    h.clock.advance(2 * 24 * HOUR);
    await purgeWebhookHistory(h.tg.ctx);
    expect(await deliveries(p, a.id)).toHaveLength(0);
    const pending = await deliveries(p, b.id);
    expect(pending).toHaveLength(1); // its retries are spread over days: still pending, kept
    const left = await h.db.query<{ type: string }>('SELECT type FROM outbox_events WHERE project_id = $1 ORDER BY seq', [p.id]);
    expect(left.rows.map((r) => r.type)).toEqual(['customer.updated']);
  });
});

describe('the background runner', () => {
  // Only on the private in-memory database: every job runs, at this file's far-off clock.
  it.skipIf(Boolean(process.env.DATABASE_URL))('runs the dispatcher and the delivery job', async () => {
    const p = await h.project();
    const path = newPath();
    await endpoint(p, path);
    await p.call('POST', '/v1/customers', { id: 'c' });
    const ran = await runDueJobs(h.tg.ctx);
    expect(ran['webhooks.dispatch']).toBeGreaterThanOrEqual(1);
    expect(ran['webhooks.deliver']).toBeGreaterThanOrEqual(1);
    expect(rx.received(path)).toHaveLength(1);
  });
});

describe('onboarding events', () => {
  it('a completed step and onboarding completion reach an endpoint that asked for them', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.ava!.catalog });
    const path = newPath();
    const ep = await endpoint(p, path, ['onboarding.step_completed', 'onboarding.completed']);
    expect((await p.call('PATCH', '/v1/customers/clinic', { onboarding: { steps: { vapi: 'completed', twilio: 'skipped', assistant: 'completed' } } })).status).toBe(200);
    expect((await p.call('POST', '/v1/customers/clinic/onboarding/complete')).status).toBe(200);
    await run();
    const got = rx.received(path).map((r) => verify(ep.secret, r));
    // twilio was skipped: onboarding.step_skipped, which this endpoint did not ask for.
    expect(got.map((m) => m.type).sort()).toEqual(['onboarding.completed', 'onboarding.step_completed', 'onboarding.step_completed']);
    for (const m of got) expect(m.customer_id).toBe('clinic');
  });
});

describe('subscription events', () => {
  it('a sign-up trial and its cancellation reach the endpoint, each naming its type and customer', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.iacompagnon!.catalog });
    const path = newPath();
    const ep = await endpoint(p, path);
    await p.call('POST', '/v1/customers', { id: 'marie' });
    expect((await p.call('POST', '/v1/customers/marie/subscription/cancel', { at_period_end: false })).status).toBe(200);
    await run();
    const got = rx.received(path).map((r) => verify(ep.secret, r));
    const types = got.map((m) => m.type);
    expect(types).toEqual(expect.arrayContaining(['customer.created', 'subscription.created', 'subscription.canceled']));
    for (const m of got) expect(m.customer_id).toBe('marie');
  });
});

describe('credits.deducted is opt-in', () => {
  it('is written and sent only while an enabled endpoint names it, never through "*"', async () => {
    const p = await auris();
    const star = newPath();
    const named = newPath();
    await endpoint(p, star);
    await p.call('POST', '/v1/customers/d1/credits/deduct', { amount: 1 });
    const count = async () =>
      Number(
        (await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM outbox_events WHERE project_id = $1 AND type = 'credits.deducted'", [p.id]))
          .rows[0]?.n,
      );
    expect(await count()).toBe(0);
    const ep = await endpoint(p, named, ['credits.deducted']);
    expect((await findProject(h.db, p.id))?.settings.emit_credits_deducted).toBe(true);
    const r = await p.call('POST', '/v1/customers/d1/credits/deduct', { amount: 2, reason: 'job' });
    expect(r.status).toBe(200);
    expect(await count()).toBe(1);
    await run();
    const got = rx.received(named).map((x) => JSON.parse(x.body));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: 'credits.deducted', customer_id: 'd1', data: { amount: 2, balance: 7, reason: 'job' } });
    expect(rx.received(star).some((x) => JSON.parse(x.body).type === 'credits.deducted')).toBe(false);
    await p.call('DELETE', `/v1/webhook-endpoints/${ep.id}`);
    expect((await findProject(h.db, p.id))?.settings.emit_credits_deducted).toBe(false);
    await p.call('POST', '/v1/customers/d1/credits/deduct', { amount: 1 });
    expect(await count()).toBe(1);
  });
});

describe('credits.deducted setting under concurrent endpoint changes', () => {
  it('ends true while one enabled endpoint names it, whatever the order of concurrent changes', async () => {
    const p = await h.project();
    const first = await endpoint(p, newPath(), ['credits.deducted']);
    const [, created] = await Promise.all([
      p.call('DELETE', `/v1/webhook-endpoints/${first.id}`),
      p.call('POST', '/v1/webhook-endpoints', { url: rx.url(newPath()), events: ['credits.deducted'] }),
      p.call('POST', '/v1/webhook-endpoints', { url: rx.url(newPath()), events: ['*'] }),
    ]);
    expect(created.status).toBe(201);
    expect((await findProject(h.db, p.id))?.settings.emit_credits_deducted).toBe(true);
    await p.call('PATCH', `/v1/webhook-endpoints/${created.body.id}`, { enabled: false });
    expect((await findProject(h.db, p.id))?.settings.emit_credits_deducted).toBe(false);
  });
});

