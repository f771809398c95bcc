import { PDFParse } from 'pdf-parse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../src/db/db.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { newId } from '../src/domain/ids.ts';
import { recordPayment } from '../src/modules/payments/payments.service.ts';
import { createTollgate, type Tollgate } from '../src/server.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ clock: undefined });
});
afterAll(async () => h?.close());

const catalog = { ...DEMO_CATALOGS.aurisvoice!.catalog, signup_credits: 0 };
const seller = {
  name: 'Auris Voice SAS',
  address: { line1: '12 rue de la Paix', postal_code: '75002', city: 'Paris' },
  country: 'FR',
  vat_id: 'FR12345678901',
};

async function pay(p: TestProject, customer: string, pack = 'pro', call = p.call): Promise<string> {
  const s = await call('POST', '/v1/checkout', {
    customer_id: customer,
    credit_pack: pack,
    success_url: 'https://app.example/ok',
    cancel_url: 'https://app.example/cancel',
  });
  expect(s.status).toBe(201);
  const paid = await call('POST', `/v1/test-helpers/checkout/${s.body.session_id}/pay`, { card: '4242424242424242' });
  expect(paid.status).toBe(200);
  const payments = await p.call('GET', `/v1/payments?customer_id=${customer}&limit=1`);
  return payments.body.data[0].id;
}

async function pdfText(p: TestProject, id: string): Promise<string> {
  const r = await h.inject({ method: 'GET', url: `/v1/invoices/${id}/pdf`, headers: { authorization: `Bearer ${p.key}` } });
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('application/pdf');
  const raw = await h.tg.app.inject({ method: 'GET', url: `/v1/invoices/${id}/pdf`, headers: { authorization: `Bearer ${p.key}` } });
  const parser = new PDFParse({ data: new Uint8Array(raw.rawPayload) });
  const text = (await parser.getText()).text;
  await parser.destroy();
  return text;
}

async function sellerProject(): Promise<TestProject> {
  const p = await h.project({ catalog });
  const s = await p.call('PUT', '/v1/invoice-settings', { seller });
  expect(s.status).toBe(200);
  return p;
}

describe('invoices', () => {
  it('a paid checkout yields one invoice with the buyer country VAT (OSS), numbered INV-<year>-000001, and a PDF that says so', async () => {
    const p = await sellerProject();
    await p.call('POST', '/v1/customers', { id: 'anna', name: 'Anna Schmidt', email: 'anna@example.de' });
    const b = await p.call('PUT', '/v1/customers/anna/billing-details', {
      name: 'Anna Schmidt',
      address: { line1: 'Hauptstr. 5', postal_code: '10115', city: 'Berlin' },
      country: 'de',
    });
    expect(b.status).toBe(200);
    expect(b.body.country).toBe('DE');
    const paymentId = await pay(p, 'anna');

    const list = await p.call('GET', '/v1/customers/anna/invoices');
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    const inv = list.body.data[0];
    expect(inv).toMatchObject({
      object: 'invoice',
      number: 'INV-2026-000001',
      payment_id: paymentId,
      currency: 'eur',
      total: 1500,
      tax: 239, // 19 % of DE, inside 15.00 €
      subtotal: 1261,
      seller: { name: 'Auris Voice SAS', country: 'FR', vat_id: 'FR12345678901' },
      buyer: { name: 'Anna Schmidt', country: 'DE', vat_id: null, email: 'anna@example.de' },
      tax_details: { treatment: 'standard', country: 'DE', rate: 19 },
    });
    expect(inv.lines).toEqual([
      { description: 'Credit pack: Pro', quantity: 1, unit_amount: 1500, vat_rate: 19, net_amount: 1261, vat_amount: 239, amount: 1500 },
    ]);
    expect((await p.call('GET', `/v1/invoices/${inv.id}`)).body).toEqual(inv);
    expect((await p.call('GET', '/v1/invoices?customer_id=anna')).body.data.map((i: { id: string }) => i.id)).toEqual([inv.id]);

    const text = await pdfText(p, inv.id);
    expect(text).toContain('Invoice INV-2026-000001');
    expect(text).toContain('Credit pack: Pro');
    expect(text).toContain('Auris Voice SAS');
    expect(text).toContain('Anna Schmidt');
    expect(text).toContain('€15.00');
    expect(text).toContain('€12.61');
    expect(text).toContain('€2.39');
    expect(text).toContain('19%');
  });

  it('a B2B buyer in another member state with a well-formed VAT id is reverse charged, stated on the PDF', async () => {
    const p = await sellerProject();
    await p.call('POST', '/v1/customers', { id: 'acme' });
    await p.call('PUT', '/v1/customers/acme/billing-details', { name: 'ACME GmbH', country: 'DE', vat_id: 'DE 123 456 789' });
    await pay(p, 'acme');
    const inv = (await p.call('GET', '/v1/customers/acme/invoices')).body.data[0];
    expect(inv).toMatchObject({ tax: 0, subtotal: 1500, total: 1500, buyer: { vat_id: 'DE123456789' }, tax_details: { treatment: 'reverse_charge', rate: 0 } });
    expect(await pdfText(p, inv.id)).toContain('Reverse charge');
  });

  it('without a VAT-registered seller no VAT is charged and the project name is the seller', async () => {
    const p = await h.project({ catalog, name: 'Plain Shop' });
    await pay(p, 'bob', 'starter');
    const inv = (await p.call('GET', '/v1/customers/bob/invoices')).body.data[0];
    expect(inv).toMatchObject({ number: 'INV-2026-000001', total: 500, tax: 0, seller: { name: 'Plain Shop' }, tax_details: { treatment: 'none' } });
  });

  it('refunds yield credit notes from their own series that reference the invoice and credit exactly its VAT', async () => {
    const p = await sellerProject();
    await p.call('POST', '/v1/customers', { id: 'carl' });
    await p.call('PUT', '/v1/customers/carl/billing-details', { country: 'FR' });
    const paymentId = await pay(p, 'carl');
    const inv = (await p.call('GET', '/v1/customers/carl/invoices')).body.data[0];
    expect(inv.tax).toBe(250); // 20 % FR inside 15.00 €
    expect((await p.call('POST', `/v1/payments/${paymentId}/refund`, { amount: 700 })).status).toBe(200);
    expect((await p.call('POST', `/v1/payments/${paymentId}/refund`, {})).status).toBe(200);
    const notes = (await p.call('GET', '/v1/invoices?kind=credit_note')).body.data.reverse();
    expect(notes.map((n: { number: string }) => n.number)).toEqual(['CN-2026-000001', 'CN-2026-000002']);
    expect(notes.every((n: { invoice_id: string; object: string }) => n.invoice_id === inv.id && n.object === 'credit_note')).toBe(true);
    expect(notes.map((n: { total: number }) => n.total)).toEqual([700, 800]);
    expect(notes[0].tax + notes[1].tax).toBe(250);
    const text = await pdfText(p, notes[0].id);
    expect(text).toContain('Credit note CN-2026-000001');
    expect(text).toContain('Credits invoice INV-2026-000001');
    // The invoice itself is unchanged.
    expect((await p.call('GET', `/v1/invoices/${inv.id}`)).body).toEqual(inv);
  });

  it('a subscription is invoiced when first paid and at the renewal the runner charges', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
    await p.call('POST', '/v1/customers', { id: 'sam' });
    const cs = await p.call('POST', '/v1/checkout', { customer_id: 'sam', plan: 'starter', trial_days: 0, success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no' });
    expect(cs.status).toBe(201);
    expect((await p.call('POST', `/v1/test-helpers/checkout/${cs.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(200);
    await p.call('POST', '/v1/test-helpers/clock/advance', { seconds: 31 * 86_400 });
    const pays = (await p.call('GET', '/v1/payments?customer_id=sam&limit=10')).body.data;
    const succeeded = pays.filter((x: { status: string }) => x.status === 'succeeded');
    expect(succeeded).toHaveLength(2);
    const invoices = (await p.call('GET', '/v1/customers/sam/invoices')).body.data.reverse();
    expect(invoices.map((i: { number: string }) => i.number)).toEqual(succeeded.map((_: unknown, n: number) => `INV-2026-${String(n + 1).padStart(6, '0')}`));
    expect(new Set(invoices.map((i: { payment_id: string }) => i.payment_id))).toEqual(new Set(succeeded.map((x: { id: string }) => x.id)));
    expect(invoices[1].lines[0].description).toMatch(/^Subscription: starter \(\d{4}-\d{2}-\d{2} – \d{4}-\d{2}-\d{2}\)$/);
  });

  it('billing details given at checkout set the VAT country, are kept as evidence with the IP country, and become the customer\'s', async () => {
    const p = await sellerProject();
    const cs = await p.call('POST', '/v1/checkout', {
      customer_id: 'luca',
      credit_pack: 'pro',
      success_url: 'https://app.example/ok',
      cancel_url: 'https://app.example/no',
      billing_details: { name: 'Luca Rossi', country: 'it', address: { city: 'Milano' } },
      ip_country: 'IT',
    });
    expect(cs.status).toBe(201);
    expect((await p.call('POST', `/v1/test-helpers/checkout/${cs.body.session_id}/pay`, { card: '4242424242424242' })).status).toBe(200);
    const inv = (await p.call('GET', '/v1/customers/luca/invoices')).body.data[0];
    expect(inv).toMatchObject({
      tax: 270, // 22 % of IT inside 15.00 €
      buyer: { name: 'Luca Rossi', country: 'IT', address: { city: 'Milano' } },
      tax_details: { treatment: 'standard', country: 'IT', evidence: { billing_country: 'IT', billing_country_source: 'checkout', ip_country: 'IT' } },
    });
    expect((await p.call('GET', '/v1/customers/luca/billing-details')).body).toMatchObject({ name: 'Luca Rossi', country: 'IT' });

    const bad = await p.call('POST', '/v1/checkout', {
      customer_id: 'luca',
      credit_pack: 'pro',
      success_url: 'https://app.example/ok',
      cancel_url: 'https://app.example/no',
      billing_details: { country: 'IT', vat_id: 'IT1234' },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.error)).toContain('vat_id');
  });

  it('an issued invoice cannot be changed, even in SQL', async () => {
    const p = await h.project({ catalog });
    await pay(p, 'dora', 'starter');
    const inv = (await p.call('GET', '/v1/customers/dora/invoices')).body.data[0];
    await expect(h.db.query('UPDATE invoices SET total = 1 WHERE project_id = $1 AND id = $2', [p.id, inv.id])).rejects.toThrow(/cannot be changed/);
    await expect(h.db.query('DELETE FROM invoices WHERE project_id = $1 AND id = $2', [p.id, inv.id])).rejects.toThrow(/cannot be changed/);
    expect((await p.call('GET', `/v1/invoices/${inv.id}`)).body.total).toBe(500);
  });

  it('a payment transaction that rolls back leaves no gap in the series', async () => {
    const p = await h.project({ catalog });
    await pay(p, 'eve', 'starter');
    await p.call('POST', '/v1/customers', { id: 'ghost' });
    const at = h.clock.now();
    await expect(
      h.db.tx(async (q) => {
        await recordPayment(h.tg.ctx, q, {
          id: newId('payment'),
          project_id: p.id,
          customer_id: 'ghost',
          amount: 900,
          currency: 'eur',
          status: 'succeeded',
          provider: 'sandbox',
          provider_ref: 'pi_rolled_back',
          kind: 'credit_pack',
          item_id: 'starter',
          checkout_session_id: null,
          subscription_id: null,
          order_id: null,
          period_start: null,
          period_end: null,
          failure_reason: null,
          created_at: at,
        });
        const n = await q.query<{ number: string }>("SELECT number FROM invoices WHERE project_id = $1 AND customer_id = 'ghost'", [p.id]);
        expect(n.rows[0]?.number).toBe('INV-2026-000002');
        throw new Error('crash after the invoice was issued');
      }),
    ).rejects.toThrow('crash after');
    await pay(p, 'eve', 'starter');
    const numbers = (await p.call('GET', '/v1/invoices')).body.data.map((i: { number: string }) => i.number);
    expect(numbers).toEqual(['INV-2026-000002', 'INV-2026-000001']);
  });

  it('bad billing details and settings are refused with a clear error and change nothing; unknown ids are 404', async () => {
    const p = await sellerProject();
    await p.call('POST', '/v1/customers', { id: 'fay' });
    const bad = await p.call('PUT', '/v1/customers/fay/billing-details', { country: 'DE', vat_id: 'FR123' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('vat_id');
    const country = await p.call('PUT', '/v1/customers/fay/billing-details', { country: 'Germany' });
    expect(country.status).toBe(400);
    expect((await p.call('GET', '/v1/customers/fay/billing-details')).body).toMatchObject({ country: null, vat_id: null });
    const settings = await p.call('PUT', '/v1/invoice-settings', { seller: { ...seller, vat_id: 'XX1' } });
    expect(settings.status).toBe(400);
    expect((await p.call('GET', '/v1/invoice-settings')).body.seller).toEqual({ ...seller });
    expect((await p.call('GET', '/v1/invoices/in_nope')).status).toBe(404);
    expect((await p.call('GET', '/v1/invoices/in_nope/pdf')).status).toBe(404);
    expect((await p.call('GET', '/v1/customers/nobody/invoices')).status).toBe(404);
  });
});

describe('VAT report', () => {
  it('GET /v1/reports/vat sums invoices minus credit notes by country and rate for the quarter, as JSON and CSV', async () => {
    const p = await sellerProject();
    for (const [id, country] of [
      ['de1', 'DE'],
      ['fr1', 'FR'],
    ] as const) {
      await p.call('POST', '/v1/customers', { id });
      await p.call('PUT', `/v1/customers/${id}/billing-details`, { country });
    }
    await pay(p, 'de1');
    const fr = await pay(p, 'fr1');
    expect((await p.call('POST', `/v1/payments/${fr}/refund`, { amount: 700 })).status).toBe(200);

    const r = await p.call('GET', '/v1/reports/vat?quarter=2026-Q1');
    expect(r.status).toBe(200);
    expect(r.body.rows).toEqual([
      { country: 'DE', treatment: 'standard', rate: 19, currency: 'eur', invoices: 1, credit_notes: 0, net: 1261, tax: 239, gross: 1500 },
      { country: 'FR', treatment: 'standard', rate: 20, currency: 'eur', invoices: 1, credit_notes: 1, net: 667, tax: 133, gross: 800 },
    ]);
    expect(r.body.totals).toEqual({ eur: { net: 1928, tax: 372, gross: 2300 } });

    const csv = await p.call('GET', '/v1/reports/vat?quarter=2026-Q1&format=csv');
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.raw).toBe(
      'country,treatment,rate,currency,invoices,credit_notes,net,tax,gross\nDE,standard,19,eur,1,0,1261,239,1500\nFR,standard,20,eur,1,1,667,133,800\n',
    );
    expect((await p.call('GET', '/v1/reports/vat?quarter=2026-Q2')).body.rows).toEqual([]);
    const bad = await p.call('GET', '/v1/reports/vat?quarter=2026-Q5');
    expect(bad.status).toBe(400);

    // Metrics: revenue stays paid minus refunded; revenue_excluding_vat takes the VAT out.
    const m = await p.call('GET', '/v1/metrics');
    expect(m.status).toBe(200);
    expect(m.body.revenue).toEqual([{ amount: 2300, currency: 'eur' }]);
    expect(m.body.revenue_excluding_vat).toEqual([{ amount: 1928, currency: 'eur' }]);
  });
});

/** A second Tollgate process on the same database (same schema under PostgreSQL, same PGlite otherwise). */
async function secondDb(db: Db): Promise<{ db: Db; own: boolean }> {
  if (db.kind !== 'pg') return { db, own: false };
  const schema = (await db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
  const url = new URL(process.env.DATABASE_URL!);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { db: await openDb({ databaseUrl: url.toString(), poolSize: 8 }), own: true };
}

describe('invoice numbers with two instances', () => {
  it('24 concurrent payments through two app instances get numbers 1..24, contiguous and unique', async () => {
    const p = await h.project({ catalog });
    const second = await secondDb(h.db);
    const tg2: Tollgate = await createTollgate({ config: h.config, db: second.db, clock: h.clock, runner: false, logger: false });
    try {
      const via2 = async (method: 'POST' | 'GET', url: string, body?: unknown) => {
        const r = await tg2.app.inject({ method, url, headers: { authorization: `Bearer ${p.key}` }, ...(body ? { payload: body as object } : {}) });
        return { status: r.statusCode, body: r.json(), headers: r.headers, raw: r.body };
      };
      await Promise.all(Array.from({ length: 24 }, (_, i) => pay(p, `c${i}`, 'starter', i % 2 ? p.call : via2)));
      const rows = (
        await h.db.query<{ sequence: number; number: string }>(
          "SELECT sequence, number FROM invoices WHERE project_id = $1 AND kind = 'invoice' ORDER BY sequence",
          [p.id],
        )
      ).rows;
      expect(rows.map((r) => r.sequence)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
      expect(new Set(rows.map((r) => r.number)).size).toBe(24);
    } finally {
      await tg2.close();
      if (second.own) await second.db.close();
    }
  });
});
