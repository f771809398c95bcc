import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { createHarness, type Harness, type Res, type TestProject } from './support/harness.ts';
import { LocalStripe, stripeSignature } from './support/stripe-server.ts';

/**
 * Issue 17 item 6: input the outside run broke the server with. Every case is answered with a
 * clear 4xx (or, for a signed provider event, applied) and changes nothing it should not.
 */
let h: Harness;
let stripe: LocalStripe;
let p: TestProject;
beforeAll(async () => {
  stripe = await new LocalStripe().start();
  h = await createHarness({ config: { stripeApiBase: stripe.url } });
  stripe.now = () => Math.floor(h.clock.now().getTime() / 1000);
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  await p.call('POST', '/v1/customers', { id: 'victim' });
});
afterAll(async () => {
  await h?.close();
  await stripe?.close();
});

async function balance(customer = 'victim', project = p): Promise<number> {
  return (await project.call('GET', `/v1/customers/${customer}/credits`)).body.balance;
}

async function count(table: string, projectId = p.id): Promise<number> {
  return (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE project_id = $1`, [projectId])).rows[0]!.n;
}

function expectInvalid(r: Res, param?: string) {
  expect(r.status).toBe(400);
  expect(r.body.error.code).toBe('invalid_request');
  if (param !== undefined) expect(r.body.error.param).toBe(param);
}

describe('issue 17 item 6: NUL and lone surrogates', () => {
  it('a NUL or a lone surrogate in a body string is 400 naming the parameter, and nothing is written', async () => {
    const customers = await count('customers');
    const ledger = await count('ledger_entries');
    expectInvalid(await p.call('POST', '/v1/customers', { id: 'a\u0000b' }), 'id');
    expectInvalid(await p.call('POST', '/v1/customers', { id: 'a\ud800b' }), 'id');
    expectInvalid(await p.call('POST', '/v1/customers/victim/credits/grant', { amount: 5, reason: 'x\u0000' }), 'reason');
    expectInvalid(await p.call('POST', '/v1/customers/victim/credits/grant', { amount: 5, reason: 'x\udc00y' }), 'reason');
    expectInvalid(
      await p.call('POST', '/v1/customers/victim/credits/deduct', { amount: 1, metadata: { note: 'n\u0000' } }),
      'metadata.note',
    );
    expectInvalid(await p.call('POST', '/v1/customers/victim/credits/deduct', { amount: 1, metadata: { 'k\u0000': 'v' } }));
    expect(await count('customers')).toBe(customers);
    expect(await count('ledger_entries')).toBe(ledger);
    expect(await balance()).toBe(10);
  });

  it('a NUL in a path or query parameter is 400, not 500', async () => {
    expectInvalid(await p.call('GET', '/v1/events/%00'), 'id');
    expectInvalid(await p.call('GET', '/v1/customers/a%00b/credits'), 'id');
    expectInvalid(await p.call('GET', '/v1/events?type=a%00'), 'type');
  });

  it('a validly signed Stripe event with a NUL and a lone surrogate is applied once, with the text made storable', async () => {
    const sp = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const sk = `sk_test_${sp.id.replace(/-/g, '_')}_${randomToken(8)}`;
    const whsec = `whsec_${randomToken(32)}`;
    expect((await sp.call('PUT', '/v1/providers/stripe', { secret_key: sk, webhook_secrets: [whsec], default: true })).status).toBe(200);
    const r = await sp.call('POST', '/v1/checkout', {
      customer_id: 'ana',
      credit_pack: 'pro',
      success_url: 'https://app.example.com/ok',
      cancel_url: 'https://app.example.com/no',
    });
    expect(r.status).toBe(201);
    const [completed] = stripe.completeCheckout(sk, stripe.list(sk, 'checkout.session')[0]!.id);
    const ev = completed as { data: { object: Record<string, unknown> } };
    ev.data.object.customer_details = { name: 'Ana\u0000 \ud800Lee', email: 'ana@example.com' };
    (ev as Record<string, unknown>)['x_note\u0000'] = 'tail\udfff';
    const body = JSON.stringify(ev);
    expect(body).toContain('\\u0000');
    expect(body).toContain('\\ud800');
    const send = () =>
      h.inject({
        method: 'POST',
        url: `/v1/webhooks/stripe/${sp.id}`,
        headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body, whsec, Math.floor(h.clock.now().getTime() / 1000)) },
        payload: body,
      });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ received: true, duplicate: false, status: 'processed' });
    expect(await balance('ana', sp)).toBe(10 + 60);
    const again = await send();
    expect(again.status).toBe(200);
    expect(again.body.duplicate).toBe(true);
    expect(await balance('ana', sp)).toBe(70);
    const stored = await h.db.query<{ payload: { data: { object: { customer_details: { name: string } } }; x_note: string } }>(
      'SELECT payload FROM provider_events WHERE project_id = $1',
      [sp.id],
    );
    expect(stored.rows).toHaveLength(1);
    expect(stored.rows[0]!.payload.data.object.customer_details.name).toBe('Ana \ufffdLee');
    expect(stored.rows[0]!.payload.x_note).toBe('tail\ufffd');
  });
});

describe('issue 17 item 6: deep JSON', () => {
  it('a JSON body nested 5,000 deep is 400 and changes nothing', async () => {
    const deep = `{"amount":1,"metadata":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    const r = await p.call('POST', '/v1/customers/victim/credits/deduct', deep, { 'content-type': 'application/json' });
    expectInvalid(r);
    expect(r.body.error.message).toMatch(/nested deeper than 64/);
    const arr = await p.call('POST', '/v1/customers', `{"id":"deep","x":${'['.repeat(5000)}${']'.repeat(5000)}}`, {
      'content-type': 'application/json',
    });
    expectInvalid(arr);
    expect(await balance()).toBe(10);
    expect((await p.call('GET', '/v1/customers/deep')).status).toBe(404);
  });
});

describe('issue 17 item 6: ids up to 255 characters', () => {
  it('a customer id of 101 to 255 characters is created and reachable by URL; 256 is refused with 400', async () => {
    for (const len of [101, 200, 255]) {
      const id = `c${'x'.repeat(len - 1)}`;
      expect((await p.call('POST', '/v1/customers', { id })).status).toBe(201);
      const grant = await p.call('POST', `/v1/customers/${id}/credits/grant`, { amount: 7, reason: 'long id' });
      expect(grant.status).toBe(200);
      const got = await p.call('GET', `/v1/customers/${id}/credits`);
      expect(got.status).toBe(200);
      expect(got.body.balance).toBe(10 + 7);
    }
    const long = 'y'.repeat(256);
    expectInvalid(await p.call('POST', '/v1/customers', { id: long }), 'id');
    const byUrl = await p.call('GET', `/v1/customers/${long}/credits`);
    expectInvalid(byUrl, 'path');
    expect(byUrl.body.error.request_id).toMatch(/^req_/);
  });
});

describe('issue 17 item 6: amounts and balances stay exact', () => {
  it('a grant that would take the balance past 2^53 - 1 is 400 and the balance at the edge is exact', async () => {
    await p.call('POST', '/v1/customers', { id: 'rich' });
    const edge = Number.MAX_SAFE_INTEGER; // 9007199254740991
    // Arrange a balance 5 short of the edge (10 sign-up credits + this entry), the ledger summing to it.
    await h.db.query(
      `INSERT INTO ledger_entries (id, project_id, customer_id, amount, balance_after, kind, reason, created_at)
       VALUES ($1, $2, 'rich', $3::bigint - 15, $3::bigint - 5, 'grant', 'arranged', now())`,
      [`led_${randomToken(12)}`, p.id, String(edge)],
    );
    await h.db.query(`UPDATE credit_accounts SET balance = balance + ($3::bigint - 15) WHERE project_id = $1 AND customer_id = $2`, [
      p.id,
      'rich',
      String(edge),
    ]);
    expect(await balance('rich')).toBe(edge - 5);
    const ok = await p.call('POST', '/v1/customers/rich/credits/grant', { amount: 5, reason: 'to the edge' });
    expect(ok.status).toBe(200);
    expect(ok.body.balance).toBe(edge);
    const over = await p.call('POST', '/v1/customers/rich/credits/grant', { amount: 1, reason: 'past the edge' });
    expectInvalid(over, 'amount');
    const stored = await h.db.query<{ b: string }>(`SELECT balance::text AS b FROM credit_accounts WHERE project_id = $1 AND customer_id = 'rich'`, [p.id]);
    expect(stored.rows[0]!.b).toBe('9007199254740991');
    expect(await balance('rich')).toBe(edge);
  });

  it('an amount above the per-operation limit or past 2^53 is 400 naming amount', async () => {
    for (const amount of [1_000_000_000_001, 2 ** 53, 2 ** 53 + 2]) {
      expectInvalid(await p.call('POST', '/v1/customers/victim/credits/grant', { amount, reason: 'x' }), 'amount');
      expectInvalid(await p.call('POST', '/v1/customers/victim/credits/deduct', { amount }), 'amount');
    }
    expect(await balance()).toBe(10);
  });
});

describe('issue 17 item 6: test helpers honour Idempotency-Key', () => {
  it('the same clock advance sent twice with one key moves the clock once', async () => {
    const q = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const first = await q.call('POST', '/v1/test-helpers/clock/advance', { seconds: 86_400 }, { 'idempotency-key': 'adv-1' });
    expect(first.status).toBe(200);
    const again = await q.call('POST', '/v1/test-helpers/clock/advance', { seconds: 86_400 }, { 'idempotency-key': 'adv-1' });
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.now).toBe(first.body.now);
    const offset = await h.db.query<{ o: number }>('SELECT clock_offset_ms AS o FROM projects WHERE id = $1', [q.id]);
    expect(Number(offset.rows[0]!.o)).toBe(86_400_000);
    const other = await q.call('POST', '/v1/test-helpers/clock/advance', { seconds: 60 }, { 'idempotency-key': 'adv-1' });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
    const to = new Date(new Date(first.body.now).getTime() + 3_600_000).toISOString();
    const a = await q.call('POST', '/v1/test-helpers/clock/advance', { to }, { 'idempotency-key': 'adv-to' });
    const b = await q.call('POST', '/v1/test-helpers/clock/advance', { to }, { 'idempotency-key': 'adv-to' });
    expect(a.body.advanced_seconds).toBe(3600);
    expect(b.body).toMatchObject({ advanced_seconds: 3600, now: a.body.now });
    const after = await h.db.query<{ o: number }>('SELECT clock_offset_ms AS o FROM projects WHERE id = $1', [q.id]);
    expect(Number(after.rows[0]!.o)).toBe(86_400_000 + 3_600_000);
  });
});

