import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { createHarness, type Harness, TEST_ENCRYPTION_KEY, type TestProject } from './support/harness.ts';
import { type Receiver, startReceiver } from './support/receiver.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';
import { createEndpoint, drainWebhooks, verifyOutgoing } from './support/webhooks.ts';

let h: Harness;
let rx: Receiver;
let stripe: LocalStripe;

beforeAll(async () => {
  stripe = await new LocalStripe().start();
  // A clock of its own: other files' harnesses sharing a PostgreSQL database never reach these deliveries.
  h = await createHarness({ clock: new ManualClock('2033-07-01T10:00:00Z'), config: { webhookAllowPrivate: true, stripeApiBase: stripe.url } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
  rx = await startReceiver();
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
  await stripe?.close();
});

function withKey(id: string, key: string): TestProject {
  return {
    id,
    key,
    publishableKey: '',
    call: (method, url, body, headers = {}) =>
      h.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...headers }, ...(body !== undefined ? { payload: body as object } : {}) }),
  };
}

/** A project (test mode) and a live secret key of its twin. */
async function pair(): Promise<{ test: TestProject; live: TestProject }> {
  const test = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  const r = await test.call('POST', '/v1/keys', { mode: 'live' });
  expect(r.status).toBe(201);
  return { test, live: withKey(r.body.project_id, r.body.key) };
}

let seq = 0;
const newPath = () => `/live-gaps-${++seq}`;

describe('livemode on outgoing webhooks and listed events', () => {
  it("a live project's endpoint receives livemode: true, a test project's livemode: false, both signed", async () => {
    const { test, live } = await pair();
    const [tp, lp] = [newPath(), newPath()];
    const tEp = await createEndpoint(test, rx.url(tp), ['customer.created']);
    const lEp = await createEndpoint(live, rx.url(lp), ['customer.created']);
    expect((await test.call('POST', '/v1/customers', { id: 'c-test' })).status).toBe(201);
    expect((await live.call('POST', '/v1/customers', { id: 'c-live' })).status).toBe(201);
    await drainWebhooks(h.tg.ctx);
    const [tr] = rx.received(tp);
    const [lr] = rx.received(lp);
    expect(rx.received(tp)).toHaveLength(1);
    expect(rx.received(lp)).toHaveLength(1);
    const tBody = verifyOutgoing(h.clock.now(), tEp.secret, tr!);
    const lBody = verifyOutgoing(h.clock.now(), lEp.secret, lr!);
    expect(tBody).toMatchObject({ type: 'customer.created', customer_id: 'c-test', livemode: false });
    expect(lBody).toMatchObject({ type: 'customer.created', customer_id: 'c-live', livemode: true });
    // The test event that endpoint sends on demand says its mode too.
    const sent = await live.call('POST', `/v1/webhook-endpoints/${lEp.id}/test`);
    expect(sent.status).toBe(200);
    expect(JSON.parse(rx.received(lp)[1]!.body)).toMatchObject({ type: 'webhook.test', livemode: true });
  });

  it('GET /v1/events says livemode per mode', async () => {
    const { test, live } = await pair();
    const connect = async (p: TestProject, sk: string) => {
      const whsec = `whsec_${randomToken(32)}`;
      expect((await p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec] })).status).toBe(200);
      return whsec;
    };
    const liveSk = `sk_live_${randomToken(20)}`;
    const byMode = [
      { p: test, whsec: await connect(test, `sk_test_${randomToken(20)}`), livemode: false },
      { p: live, whsec: await connect(live, liveSk), livemode: true },
    ];
    for (const { p, whsec, livemode } of byMode) {
      const body = JSON.stringify({ id: `evt_${randomToken(12)}`, object: 'event', type: 'customer.updated', created: Math.floor(h.clock.now().getTime() / 1000), livemode, data: { object: { id: 'cus_x', object: 'customer' } } });
      const r = await h.inject({
        method: 'POST',
        url: `/v1/webhooks/stripe/${p.id}`,
        headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, whsec, Math.floor(h.clock.now().getTime() / 1000)) },
        payload: body,
      });
      expect(r.status).toBe(200);
      const list = await p.call('GET', '/v1/events');
      expect(list.status).toBe(200);
      expect(list.body.data).toHaveLength(1);
      expect(list.body.data[0]).toMatchObject({ object: 'provider_event', livemode });
      expect((await p.call('GET', `/v1/events/${list.body.data[0].id}`)).body.livemode).toBe(livemode);
    }
  });
});

describe('PATCH /v1/customers/:id metadata merge', () => {
  it('keeps other keys, removes a key set to null or "", audits and announces the change once', async () => {
    const p = await h.project();
    const path = newPath();
    await createEndpoint(p, rx.url(path), ['customer.updated']);
    expect((await p.call('POST', '/v1/customers', { id: 'm1', email: 'a@example.com', metadata: { a: 1, b: 'two', c: { deep: true } } })).status).toBe(201);
    const r = await p.call('PATCH', '/v1/customers/m1', { name: 'Ada', metadata: { a: null, b: '', d: 4 } }, { 'idempotency-key': 'patch-m1' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: 'm1', email: 'a@example.com', name: 'Ada' });
    expect(r.body.metadata).toEqual({ c: { deep: true }, d: 4 });
    expect((await p.call('GET', '/v1/customers/m1')).body.metadata).toEqual({ c: { deep: true }, d: 4 });

    // The retry replays the reply and changes nothing more.
    const again = await p.call('PATCH', '/v1/customers/m1', { name: 'Ada', metadata: { a: null, b: '', d: 4 } }, { 'idempotency-key': 'patch-m1' });
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(r.body);
    // Removing a key that is already gone is no change: no event, no audit entry.
    expect((await p.call('PATCH', '/v1/customers/m1', { metadata: { a: null } })).body.metadata).toEqual({ c: { deep: true }, d: 4 });

    await drainWebhooks(h.tg.ctx);
    const updates = rx.received(path).map((x) => JSON.parse(x.body));
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ type: 'customer.updated', livemode: false, data: { metadata: { c: { deep: true }, d: 4 } } });
    const audit = await p.call('GET', '/v1/audit?customer_id=m1');
    const entries = audit.body.data.filter((e: { action: string }) => e.action === 'customer.profile_updated');
    expect(entries).toHaveLength(1);
    expect(entries[0].details.before.metadata).toEqual({ a: 1, b: 'two', c: { deep: true } });
    expect(entries[0].details.after.metadata).toEqual({ c: { deep: true }, d: 4 });
  });

  it('POST /v1/customers merges the same way; bad input is 400 with the field and changes nothing', async () => {
    const p = await h.project();
    await p.call('POST', '/v1/customers', { id: 'm2', metadata: { keep: 'yes', drop: 'me' } });
    const r = await p.call('POST', '/v1/customers', { id: 'm2', metadata: { drop: null } });
    expect(r.status).toBe(200);
    expect(r.body.metadata).toEqual({ keep: 'yes' });
    const bad = await p.call('PATCH', '/v1/customers/m2', { email: 'not-an-email', metadata: { keep: null } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('email');
    expect((await p.call('GET', '/v1/customers/m2')).body.metadata).toEqual({ keep: 'yes' });
  });
});

describe('catalog push with an expected version', () => {
  const catalogWith = (credits: number) => ({ credit_packs: [{ id: 'small', name: 'Small', credits, price: { amount: 300, currency: 'eur' } }] });

  it('If-Match or expected_version: a match pushes, a stale version is 409 conflict and nothing changes', async () => {
    const p = await h.project();
    const first = await p.call('PUT', '/v1/catalog', catalogWith(5));
    expect(first.status).toBe(200);
    expect(first.body.version).toBe(1);
    const got = await p.call('GET', '/v1/catalog');
    expect(got.headers.etag).toBe('"1"');

    const ok = await p.call('PUT', '/v1/catalog', catalogWith(6), { 'if-match': '"1"' });
    expect(ok.status).toBe(200);
    expect(ok.body.version).toBe(2);
    expect(ok.headers.etag).toBe('"2"');

    // Someone else pushed version 2: a push made against version 1 is refused.
    const stale = await p.call('PUT', '/v1/catalog', catalogWith(7), { 'if-match': '"1"' });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'conflict', current_version: 2, expected_version: 1 });
    const staleBody = await p.call('PUT', '/v1/catalog', { ...catalogWith(7), expected_version: 1 });
    expect(staleBody.status).toBe(409);
    const now = await p.call('GET', '/v1/catalog');
    expect(now.body.version).toBe(2);
    expect(now.body.credit_packs[0].credits).toBe(6);

    const viaBody = await p.call('PUT', '/v1/catalog', { ...catalogWith(8), expected_version: 2 });
    expect(viaBody.status).toBe(200);
    expect(viaBody.body.version).toBe(3);
    expect(viaBody.body).not.toHaveProperty('expected_version');

    for (const [headers, body, param] of [
      [{ 'if-match': 'seven' }, catalogWith(9), 'If-Match'],
      [{ 'if-match': '"3"' }, { ...catalogWith(9), expected_version: 2 }, 'expected_version'],
      [{}, { ...catalogWith(9), expected_version: -1 }, 'expected_version'],
    ] as const) {
      const r = await p.call('PUT', '/v1/catalog', body, headers);
      expect(r.status, JSON.stringify(headers)).toBe(400);
      expect(r.body.error.param).toBe(param);
    }
    // Without an expectation a push goes through as before.
    expect((await p.call('PUT', '/v1/catalog', catalogWith(10))).body.version).toBe(4);

    // The precondition belongs to the request: the same Idempotency-Key with another If-Match is refused, not replayed.
    const keyed = await p.call('PUT', '/v1/catalog', catalogWith(11), { 'if-match': '"4"', 'idempotency-key': 'push-11' });
    expect(keyed.status).toBe(200);
    const replay = await p.call('PUT', '/v1/catalog', catalogWith(11), { 'if-match': '"4"', 'idempotency-key': 'push-11' });
    expect(replay.status).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const other = await p.call('PUT', '/v1/catalog', catalogWith(11), { 'if-match': '"5"', 'idempotency-key': 'push-11' });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
    expect((await p.call('GET', '/v1/catalog')).body.version).toBe(5);
  });

  it('live mode sharing the test catalog expects the version it reads', async () => {
    const { test, live } = await pair();
    const shared = (await live.call('GET', '/v1/catalog')).body.version;
    expect(shared).toBe((await test.call('GET', '/v1/catalog')).body.version);
    expect((await test.call('PUT', '/v1/catalog', catalogWith(5))).status).toBe(200);
    const stale = await live.call('PUT', '/v1/catalog', catalogWith(6), { 'if-match': `"${shared}"` });
    expect(stale.status).toBe(409);
    const current = (await live.call('GET', '/v1/catalog')).body.version;
    expect((await live.call('PUT', '/v1/catalog', catalogWith(6), { 'if-match': `"${current}"` })).status).toBe(200);
  });

  it('tollgate push --expect-version: after someone else pushed, one line and exit 2, nothing pushed', async () => {
    const run = promisify(execFile);
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-expect-'));
    const env = { ...process.env, TOLLGATE_DATA_DIR: dir, TOLLGATE_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, LOG_LEVEL: 'silent' };
    const cli = (...args: string[]) => run(process.execPath, ['bin/tollgate.js', ...args], { env, timeout: 90_000 });
    try {
      const id = `expect-${Date.now().toString(36)}`;
      await cli('projects', 'create', 'Expect Co', '--id', id);
      const file = join(dir, 'catalog.json');
      writeFileSync(file, JSON.stringify(catalogWith(5)));
      const dry = await cli('push', file, '--project', id, '--dry-run');
      expect(dry.stdout).toContain(`tollgate push ${file} --project ${id} --expect-version 0`);
      // Someone else pushes first.
      expect((await cli('push', file, '--project', id)).stdout).toContain(`Pushed catalog version 1 to ${id}.`);
      writeFileSync(file, JSON.stringify(catalogWith(6)));
      const stale = await cli('push', file, '--project', id, '--expect-version', '0').catch((e: { stderr: string; code: number }) => e);
      expect((stale as { code: number }).code).toBe(2);
      expect((stale as { stderr: string }).stderr.trim().split('\n')).toEqual([
        `${id}'s catalog is at version 1, not 0: someone pushed since; nothing was pushed (run --dry-run again to see the changes)`,
      ]);
      const ok = await cli('push', file, '--project', id, '--expect-version', '1');
      expect(ok.stdout).toContain(`Pushed catalog version 2 to ${id}.`);
      const bad = await cli('push', file, '--project', id, '--expect-version', 'latest').catch((e: { stderr: string; code: number }) => e);
      expect((bad as { code: number }).code).toBe(1);
      expect((bad as { stderr: string }).stderr).toContain('--expect-version must be a catalog version');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('Stripe verify and status say whether a webhook endpoint sends to this project', () => {
  async function addStripeEndpoint(sk: string, url: string, disabled = false): Promise<string> {
    const res = await fetch(`${stripe.url}/v1/webhook_endpoints`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: `url=${encodeURIComponent(url)}&enabled_events[]=*${disabled ? '&disabled=true' : ''}`,
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { id: string }).id;
  }

  it('missing, then disabled, then registered; only reads on the Stripe side', async () => {
    const p = await h.project();
    const sk = `sk_test_${randomToken(20)}`;
    expect((await p.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [`whsec_${randomToken(32)}`] })).status).toBe(200);
    const url = (await p.call('GET', '/v1/providers/stripe/status')).body.webhook_url as string;
    expect(url).toContain(`/v1/webhooks/stripe/${p.id}`);

    await addStripeEndpoint(sk, 'https://elsewhere.example/hooks');
    const missing = await p.call('POST', '/v1/providers/stripe/verify');
    expect(missing.status).toBe(200);
    expect(missing.body).toMatchObject({ ok: true, webhook: { status: 'missing', url, endpoint_id: null, error: null } });

    const off = await addStripeEndpoint(sk, url, true);
    expect((await p.call('POST', '/v1/providers/stripe/verify')).body.webhook).toEqual({ status: 'disabled', url, endpoint_id: off, error: null });

    const on = await addStripeEndpoint(sk, url);
    const writesBefore = stripe.writes(sk).length;
    const verified = await p.call('POST', '/v1/providers/stripe/verify');
    expect(verified.body.webhook).toEqual({ status: 'registered', url, endpoint_id: on, error: null });
    const status = await p.call('GET', '/v1/providers/stripe/status');
    expect(status.body.webhook).toEqual({ status: 'registered', url, endpoint_id: on, error: null });
    expect(stripe.writes(sk)).toHaveLength(writesBefore);

    // A key Stripe refuses: the verification fails and the endpoint is unknown.
    stripe.refusedKeys.add(sk);
    const refused = await p.call('POST', '/v1/providers/stripe/verify');
    expect(refused.body).toMatchObject({ ok: false, webhook: { status: 'unknown', url, endpoint_id: null } });
    expect((await p.call('GET', '/v1/providers/stripe/status')).body.webhook.status).toBe('unknown');
  });

  it('a live project is checked against its own <id>_live webhook URL and its live account', async () => {
    const { live } = await pair();
    const sk = `sk_live_${randomToken(20)}`;
    expect((await live.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [`whsec_${randomToken(32)}`] })).status).toBe(200);
    const url = (await live.call('GET', '/v1/providers/stripe/status')).body.webhook_url as string;
    expect(url).toMatch(/_live$/);
    expect((await live.call('POST', '/v1/providers/stripe/verify')).body.webhook.status).toBe('missing');
    const id = await addStripeEndpoint(sk, url);
    expect((await live.call('POST', '/v1/providers/stripe/verify')).body).toMatchObject({ mode: 'live', webhook: { status: 'registered', endpoint_id: id } });
  });
});
