import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

/** Every row of every table of the database under test, as text. */
async function wholeDatabase(): Promise<string> {
  const tables = await h.db.query<{ t: string }>(
    `SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  );
  let out = '';
  for (const { t } of tables.rows) {
    const r = await h.db.query<{ x: string }>(`SELECT x::text AS x FROM "${t}" x`);
    out += r.rows.map((row) => row.x).join('\n');
  }
  return out;
}

describe('issue 11 item 16: the sandbox keeps brand and last four only', () => {
  it('after sandbox payments (hosted page, API, saved card), no table holds the typed card number', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const open = async (customer: string) => {
      const s = await p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: 'starter', success_url: 'https://app.test/ok', cancel_url: 'https://app.test/no' });
      expect(s.status).toBe(201);
      return s.body.session_id as string;
    };
    // The hosted page, as a browser posts it (spaces included).
    const page = await h.inject({
      method: 'POST',
      url: `/checkout/${await open('c1')}/pay`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'card=5555+5555+5555+4444&email=c1%40example.com',
    });
    expect(page.status).toBe(303);
    // The test helper, with an Idempotency-Key (its reply is stored).
    const api = await p.call('POST', `/v1/test_helpers/checkout/${await open('c2')}/pay`, { card: '4000 0566 5566 5556' }, { 'idempotency-key': 'pay-c2' });
    expect(api.body.status).toBe('complete');

    const payments = await p.call('GET', '/v1/payments');
    expect(payments.body.data).toHaveLength(2);
    const methods = await h.db.query<{ brand: string; last4: string; token: string }>(
      'SELECT brand, last4, token FROM payment_methods WHERE project_id = $1 ORDER BY last4',
      [p.id],
    );
    expect(methods.rows.map((m) => [m.brand, m.last4])).toEqual([
      ['mastercard', '4444'],
      ['visa', '5556'],
    ]);
    const db = await wholeDatabase();
    for (const typed of ['5555555555554444', '5555 5555 5555 4444', '5555+5555', '4000056655665556', '4000 0566 5566 5556']) {
      expect(db.includes(typed), typed).toBe(false);
    }
    // The brand and last four are what is shown.
    expect(db).toContain('4444');
  });

  it('a saved token charges like the card it stands for (renewal of a card that fails later)', async () => {
    const { cardToken, firstCharge, laterCharge } = await import('../src/providers/sandbox/cards.ts');
    expect(cardToken('4242 4242 4242 4242')).toBe('tok_sandbox_visa_4242');
    expect(firstCharge(cardToken('4000000000000341'))).toMatchObject({ ok: true, last4: '0341' });
    expect(laterCharge(cardToken('4000000000000341'))).toMatchObject({ ok: false, code: 'card_declined' });
    expect(firstCharge(cardToken('4000000000000002'))).toMatchObject({ ok: false, code: 'card_declined' });
  });
});
