import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogInput } from '../src/domain/catalog.ts';
import { EXPORT_SECTIONS, NOT_EXPORTED } from '../src/modules/customers/erasure.repository.ts';
import { redact } from '../src/modules/customers/erasure.service.ts';
import { dispatchOutbox } from '../src/modules/webhooks-out/webhooks.service.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

/**
 * Issue 15: a customer's erasure (DELETE /v1/customers/:id) and export (GET /v1/customers/:id/export),
 * docs/customers.md "Customers' rights".
 */
let h: Harness;
let p: TestProject;

const catalog: CatalogInput = {
  features: [{ id: 'calls', type: 'metered' }],
  plans: [{ id: 'pro', name: 'Pro', price: { amount: 1900, currency: 'eur' }, trial_days: 14, features: { calls: { limit: 100 } } }],
  credit_packs: [{ id: 'starter', name: 'Starter', credits: 100, price: { amount: 500, currency: 'eur' } }],
  products: [{ id: 'mug', name: 'Mug', price: { amount: 1200, currency: 'eur' }, stock: 10 }],
} as CatalogInput;

/** Distinctive personal values per customer, so one customer's erasure is checked apart from another's data. */
function pii(id: string) {
  const tag = id.replace(/[^a-z]/g, '');
  return {
    email: `Zelda.Quintero.${tag}@example.org`,
    name: `Zelda Quintero ${tag}`,
    org: `Quintessential Llama Works ${tag}`,
    setting: `llama-mode-violet-${tag}`,
    meta: `meta-marker-ochre-${tag}`,
    street: `Calle del Olvido ${tag}`,
  };
}

const ok = (r: { status: number; raw: string }, what: string) => expect(r.status, `${what}: ${r.raw}`).toBeLessThan(300);

beforeAll(async () => {
  h = await createHarness();
  p = await h.project({ catalog });
  ok(await p.call('POST', '/v1/webhook-endpoints', { url: 'https://hooks.example.com/tollgate', events: ['*'] }), 'webhook endpoint');
  const s = await p.call('PUT', '/v1/invoice-settings', {
    seller: { name: 'Seller SAS', address: { line1: '1 rue de Rivoli', postal_code: '75001', city: 'Paris' }, country: 'FR', vat_id: 'FR12345678901' },
  });
  ok(s, 'invoice settings');
});
afterAll(async () => h?.close());

/** A customer with data in every table that holds something about a customer. */
async function seed(id: string): Promise<ReturnType<typeof pii>> {
  const { email: EMAIL, name: NAME, org: ORG, setting: SETTING, meta: META, street: BILLING_STREET } = pii(id);
  ok(await p.call('POST', '/v1/customers', { id, email: EMAIL, name: NAME, metadata: { note: META } }, { 'idempotency-key': `create-${id}` }), 'customer');
  ok(await p.call('PATCH', `/v1/customers/${id}`, { organization: ORG, industry: 'Llamas', settings: { theme: { mode: SETTING } } }), 'profile');
  ok(
    await p.call('PUT', `/v1/customers/${id}/billing-details`, {
      name: NAME,
      address: { line1: BILLING_STREET, postal_code: '28001', city: 'Madrid' },
      country: 'ES',
    }),
    'billing details',
  );
  const checkout = await p.call('POST', '/v1/checkout', {
    customer_id: id,
    credit_pack: 'starter',
    success_url: 'https://app.test/ok',
    cancel_url: 'https://app.test/no',
  });
  ok(checkout, 'checkout');
  ok(await p.call('POST', `/v1/test-helpers/checkout/${checkout.body.session_id}/pay`, { card: '4242424242424242' }), 'pay');
  ok(await p.call('POST', `/v1/customers/${id}/credits/deduct`, { amount: 7, reason: 'usage' }), 'deduct');
  ok(await p.call('POST', `/v1/customers/${id}/credits/holds`, { amount: 3 }), 'hold');
  ok(await p.call('POST', `/v1/customers/${id}/subscription`, { plan: 'pro' }), 'subscription');
  ok(await p.call('POST', '/v1/track', { customer_id: id, feature: 'calls', quantity: 2 }), 'track');
  ok(await p.call('PUT', `/v1/customers/${id}/secrets/openai`, { value: 'sk-proj-very-secret-value-123' }), 'secret');
  ok(await p.call('POST', `/v1/customers/${id}/cart/items`, { product_id: 'mug', quantity: 1 }), 'cart');
  ok(await p.call('POST', `/v1/customers/${id}/api-keys`, { name: 'My laptop' }), 'api key');
  ok(await p.call('POST', '/v1/customer-sessions', { customer_id: id }), 'customer session');
  ok(await p.call('POST', '/v1/portal', { customer_id: id, return_url: 'https://app.test/account' }), 'portal');
  return pii(id);
}

/** Every table and column of the schema whose text holds one of the needles (case-insensitive). */
async function hits(needles: string[]): Promise<string[]> {
  const cols = await h.db.query<{ t: string; c: string }>(
    `SELECT c.table_name AS t, c.column_name AS c FROM information_schema.columns c
     JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' ORDER BY 1, 2`,
  );
  expect(cols.rows.length).toBeGreaterThan(300);
  const out: string[] = [];
  for (const { t, c } of cols.rows) {
    const r = await h.db.query<{ n: string }>(
      `SELECT n FROM unnest($1::text[]) n WHERE EXISTS (SELECT 1 FROM "${t}" WHERE strpos(lower("${c}"::text), lower(n)) > 0)`,
      [needles],
    );
    for (const { n } of r.rows) out.push(`${t}.${c}: ${n}`);
  }
  return [...new Set(out)].sort();
}

describe('issue 15: customer erasure and export', () => {
  it('exports everything held about the customer, secret names but never their values; the export writes nothing', async () => {
    const { email: EMAIL, name: NAME, org: ORG, setting: SETTING, meta: META } = await seed('exported');
    const before = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log WHERE project_id = $1', [p.id]);
    const r = await p.call('GET', '/v1/customers/exported/export');
    expect(r.status, r.raw).toBe(200);
    const e = r.body;
    expect(e.customer).toMatchObject({ id: 'exported', email: EMAIL, name: NAME, metadata: { note: META } });
    expect(e.profile).toMatchObject({ organization: ORG });
    expect(e.settings).toEqual({ theme: { mode: SETTING } });
    expect(e.billing_details).toMatchObject({ name: NAME, country: 'ES' });
    expect(e.ledger.length).toBeGreaterThanOrEqual(2);
    expect(e.holds).toHaveLength(1);
    expect(e.subscriptions).toHaveLength(1);
    expect(e.payments).toHaveLength(1);
    expect(e.invoices).toHaveLength(1);
    expect(e.cart).toHaveLength(1);
    expect(e.api_keys).toHaveLength(1);
    expect(e.api_keys[0].name).toBe('My laptop');
    expect(e.secrets.map((s: { name: string }) => s.name)).toEqual(['openai']);
    expect(e.audit.some((a: { action: string }) => a.action.startsWith('secret.'))).toBe(true);
    expect(r.raw).not.toContain('sk-proj-very-secret-value-123');
    expect(r.raw).not.toContain('key_hash');
    const after = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log WHERE project_id = $1', [p.id]);
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });

  it('the export covers every table holding a customer_id: imports, disputes, sessions, events, e-mails, each row the database holds', async () => {
    // Brought in by an import first (opening balance + a past payment), then used like any customer.
    const imp = await p.call('POST', '/v1/imports/credits', { rows: [{ source_id: 'legacy-42', customer_id: 'covered', balance: 250 }] });
    ok(imp, 'import credits');
    const impPay = await p.call('POST', '/v1/imports/payments', {
      rows: [{ source_id: 'legacy-pay-7', customer_id: 'covered', amount: 4900, currency: 'eur', created_at: '2026-01-05T10:00:00Z', status: 'paid' }],
    });
    ok(impPay, 'import payments');
    await seed('covered');
    const paid = await p.call('GET', '/v1/payments?customer_id=covered');
    const sandboxPay = paid.body.data.find((x: { provider: string }) => x.provider !== 'import');
    ok(await p.call('POST', `/v1/test-helpers/payments/${sandboxPay.id}/dispute`, { reason: 'fraudulent' }), 'dispute');
    ok(await p.call('POST', '/v1/track/batch', { events: [{ event_id: 'evt-covered-1', customer_id: 'covered', feature: 'calls', quantity: 1 }] }), 'batch');
    ok(await p.call('PUT', '/v1/customers/covered/credits/auto-top-up', { enabled: true, threshold: 5, pack: 'starter', monthly_cap: 5000 }), 'auto top-up');

    const tables = await h.db.query<{ t: string }>(
      `SELECT DISTINCT c.table_name AS t FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
       WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.column_name = 'customer_id' ORDER BY 1`,
    );
    const names = tables.rows.map((r) => r.t);
    expect(names).toContain('import_records');
    expect(names).toContain('disputes');
    // Every such table is exported or said to hold nothing of its own (a new table fails here until it is).
    expect(names.filter((t) => !(t in EXPORT_SECTIONS) && !(t in NOT_EXPORTED))).toEqual([]);
    expect(Object.keys(EXPORT_SECTIONS).filter((t) => !names.includes(t))).toEqual([]);

    const r = await p.call('GET', '/v1/customers/covered/export');
    expect(r.status, r.raw).toBe(200);
    const e = r.body;
    const filled: string[] = [];
    for (const [table, section] of Object.entries(EXPORT_SECTIONS)) {
      const held = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE project_id = $1 AND customer_id = $2`, [p.id, 'covered']);
      const n = held.rows[0]!.n;
      expect(section in e, `${table} → ${section}`).toBe(true);
      const v = e[section];
      const got = Array.isArray(v) ? v.length : v ? 1 : 0;
      // The audit section also has entries naming the customer as their target.
      if (table === 'audit_log') expect(got, table).toBeGreaterThanOrEqual(n);
      else expect(got, table).toBe(n);
      if (n > 0) filled.push(table);
    }
    for (const t of ['import_records', 'disputes', 'checkout_sessions', 'outbox_events', 'customer_sessions', 'portal_sessions', 'usage_events', 'credit_auto_top_ups']) {
      expect(filled, t).toContain(t);
    }
    expect(e.imports).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ shape: 'credits', source_id: 'legacy-42', amount: 250 }),
        expect.objectContaining({ shape: 'payments', source_id: 'legacy-pay-7', amount: 4900 }),
      ]),
    );
    expect(e.disputes).toEqual([expect.objectContaining({ payment_id: sandboxPay.id, reason: 'fraudulent', status: 'needs_response' })]);
    expect(e.auto_top_up).toMatchObject({ enabled: true, threshold: 5, pack_id: 'starter' });
    expect(e.events.some((x: { type: string }) => x.type === 'dispute.created')).toBe(true);
    expect(r.raw).not.toContain('token_hash');
  });

  it('erases e-mail, name, profile, settings, metadata, secrets, billing details and API keys everywhere except the issued invoice, keeps the ledger balanced', async () => {
    const v = await seed('zelda');
    await seed('other'); // a second customer: untouched by zelda's erasure
    // The endpoint answered zelda's customer.created delivery by echoing the payload (kept as the attempt's excerpt).
    await dispatchOutbox(h.tg.ctx);
    const delivery = await h.db.query<{ id: string }>(
      `SELECT d.id FROM webhook_deliveries d JOIN outbox_events e ON e.project_id = d.project_id AND e.id = d.event_id
       WHERE d.project_id = $1 AND e.customer_id = 'zelda' AND e.type = 'customer.created'`,
      [p.id],
    );
    expect(delivery.rows).toHaveLength(1);
    await h.db.query(
      `INSERT INTO webhook_attempts (project_id, delivery_id, attempt, url, status_code, duration_ms, response_excerpt, created_at)
       VALUES ($1, $2, 1, 'https://hooks.example.com/tollgate', 200, 12, $3, now())`,
      [p.id, delivery.rows[0]!.id, `{"received":{"email":"${v.email}"}}`],
    );
    const needles = Object.values(v);
    const seeded = await hits(needles);
    // The values really were copied around before the erasure (events, stored replies, audit …).
    expect(seeded).toEqual(
      expect.arrayContaining([`customers.email: ${v.email}`, `outbox_events.payload: ${v.email}`, `webhook_attempts.response_excerpt: ${v.email}`, `idempotency_keys.response: ${v.email}`, `customer_profiles.organization: ${v.org}`]),
    );
    const otherBefore = await hits(Object.values(pii('other')));

    const del = await p.call('DELETE', '/v1/customers/zelda', undefined, { 'idempotency-key': 'erase-zelda' });
    expect(del.status, del.raw).toBe(200);
    expect(del.body).toMatchObject({ id: 'zelda', object: 'customer', deleted: true });

    // The one exception, by law: the invoice already issued keeps its frozen buyer snapshot.
    expect(await hits(needles)).toEqual([`invoices.buyer: ${v.street}`, `invoices.buyer: ${v.name}`, `invoices.buyer: ${v.email}`].sort());
    expect(await hits(Object.values(pii('other')))).toEqual(otherBefore);

    // The ledger is kept and still adds up to the cached balance.
    const sums = await h.db.query<{ sum: string; balance: string; n: number }>(
      `SELECT (SELECT COALESCE(sum(amount), 0) FROM ledger_entries WHERE project_id = $1 AND customer_id = 'zelda') AS sum,
              (SELECT balance FROM credit_accounts WHERE project_id = $1 AND customer_id = 'zelda') AS balance,
              (SELECT count(*)::int FROM ledger_entries WHERE project_id = $1 AND customer_id = 'zelda') AS n`,
      [p.id],
    );
    expect(sums.rows[0]!.n).toBeGreaterThanOrEqual(2);
    expect(Number(sums.rows[0]!.sum)).toBe(Number(sums.rows[0]!.balance));
    const kept = await h.db.query<{ payments: number; invoices: number }>(
      `SELECT (SELECT count(*)::int FROM payments WHERE project_id = $1 AND customer_id = 'zelda') AS payments,
              (SELECT count(*)::int FROM invoices WHERE project_id = $1 AND customer_id = 'zelda') AS invoices`,
      [p.id],
    );
    expect(kept.rows[0]).toEqual({ payments: 1, invoices: 1 });
    const row = await h.db.query('SELECT email, name, metadata, deleted_at FROM customers WHERE project_id = $1 AND id = $2', [p.id, 'zelda']);
    expect(row.rows[0]).toMatchObject({ email: null, name: null, metadata: {} });
    expect((row.rows[0] as { deleted_at: Date | null }).deleted_at).not.toBeNull();
  });

  it('after erasure: reads answer 404 customer_deleted, mutations refuse, the list leaves it out; audited, customer.deleted emitted', async () => {
    await seed('gone');
    const del = await p.call('DELETE', '/v1/customers/gone', undefined, { 'idempotency-key': 'erase-gone' });
    expect(del.status).toBe(200);
    // A retry with the same key replays the reply; a new request is refused.
    expect((await p.call('DELETE', '/v1/customers/gone', undefined, { 'idempotency-key': 'erase-gone' })).body).toEqual(del.body);
    expect((await p.call('DELETE', '/v1/customers/gone')).body.error.code).toBe('customer_deleted');
    for (const url of ['/v1/customers/gone', '/v1/customers/gone/credits', '/v1/customers/gone/subscription', '/v1/customers/gone/export', '/v1/customers/gone/api-keys']) {
      const r = await p.call('GET', url);
      expect(r.status, url).toBe(404);
      expect(r.body.error.code, url).toBe('customer_deleted');
    }
    const before = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1', [p.id]);
    for (const [method, url, body] of [
      ['POST', '/v1/customers/gone/credits/deduct', { amount: 1 }],
      ['POST', '/v1/customers/gone/credits/grant', { amount: 1 }],
      ['PATCH', '/v1/customers/gone', { name: 'Back again' }],
      ['POST', '/v1/customers', { id: 'gone', email: 'again@example.org' }],
      ['POST', '/v1/track', { customer_id: 'gone', feature: 'calls' }],
      ['POST', '/v1/customers/gone/api-keys', {}],
    ] as const) {
      const r = await p.call(method, url, body);
      expect(r.status, `${method} ${url}`).toBe(404);
      expect(r.body.error.code, `${method} ${url}`).toBe('customer_deleted');
    }
    const after = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_entries WHERE project_id = $1', [p.id]);
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
    expect((await h.db.query("SELECT email FROM customers WHERE project_id = $1 AND id = 'gone'", [p.id])).rows[0]).toEqual({ email: null });
    const list = await p.call('GET', '/v1/customers?limit=100');
    expect(list.body.data.map((c: { id: string }) => c.id)).not.toContain('gone');
    const audit = await p.call('GET', '/v1/audit?customer_id=gone&action=customer.deleted');
    expect(audit.body.data).toHaveLength(1);
    const events = await h.db.query<{ payload: { data: Record<string, unknown> } }>(
      "SELECT payload FROM outbox_events WHERE project_id = $1 AND customer_id = 'gone' AND type = 'customer.deleted'",
      [p.id],
    );
    expect(events.rows).toHaveLength(1);
    expect(Object.keys(events.rows[0]!.payload.data).sort()).toEqual(['deleted_at', 'id']);
    // The managed subscription ended with the customer.
    const subs = await h.db.query<{ status: string }>("SELECT status FROM subscriptions WHERE project_id = $1 AND customer_id = 'gone'", [p.id]);
    expect(subs.rows.map((s) => s.status)).toEqual(['canceled']);
  });

  it('a live subscription run by a provider (Stripe) must be canceled first: 409, nothing erased', async () => {
    ok(await p.call('POST', '/v1/customers', { id: 'striped', email: 'striped@example.org' }), 'customer');
    ok(await p.call('POST', '/v1/customers/striped/subscription', { plan: 'pro' }), 'subscription');
    // As if Stripe ran it (a subscription started through Stripe Checkout).
    await h.db.query("UPDATE subscriptions SET provider = 'stripe', provider_ref = 'sub_test_1' WHERE project_id = $1 AND customer_id = 'striped'", [p.id]);
    const r = await p.call('DELETE', '/v1/customers/striped');
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('conflict');
    expect((await p.call('GET', '/v1/customers/striped')).body).toMatchObject({ email: 'striped@example.org' });
    const audit = await h.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE project_id = $1 AND action = 'customer.deleted' AND customer_id = 'striped'", [p.id]);
    expect(audit.rows[0]!.n).toBe(0);
  });

  it('an open checkout session must complete or expire first: 409 while it is open, erased once it expired', async () => {
    ok(await p.call('POST', '/v1/customers', { id: 'paying', email: 'paying@example.org' }), 'customer');
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'paying', credit_pack: 'starter', success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' });
    ok(cs, 'checkout');
    const r = await p.call('DELETE', '/v1/customers/paying');
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: 'conflict', checkout_session_id: cs.body.session_id });
    expect((await p.call('GET', '/v1/customers/paying')).body.email).toBe('paying@example.org');
    h.clock.advance(2 * 86_400_000);
    expect((await p.call('DELETE', '/v1/customers/paying')).status).toBe(200);
  });

  it('redacts a whole value, or a distinctive value standing alone in a longer text, never part of a word', () => {
    const needles = ['Ada Lovelace', 'ada@example.com', 'pro'];
    expect(
      redact({ name: 'ada lovelace', note: 'Receipt sent to ada@example.com.', plan: 'pro', provider: 'provider', id: 7, ok: true, list: ['Pro'] }, needles),
    ).toEqual({ name: '[erased]', note: 'Receipt sent to [erased].', plan: '[erased]', provider: 'provider', id: 7, ok: true, list: ['[erased]'] });
    expect(redact('xada@example.com', needles)).toBe('xada@example.com');
  });

  it('an unknown customer: 404 customer_not_found, nothing written', async () => {
    const r = await p.call('DELETE', '/v1/customers/nobody-here');
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('customer_not_found');
    expect((await p.call('GET', '/v1/customers/nobody-here/export')).body.error.code).toBe('customer_not_found');
  });
});
