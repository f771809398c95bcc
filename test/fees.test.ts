import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { sandboxFee } from '../src/domain/disputes.ts';
import { newId } from '../src/domain/ids.ts';
import { collectDueFees } from '../src/modules/payments/fees.service.ts';
import { insertPayment } from '../src/modules/payments/payments.repository.ts';
import { createHarness, type Harness, type Res, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness({ clock: new ManualClock('2026-04-10T10:00:00Z') });
});
afterAll(async () => h?.close());

async function ok(r: Promise<Res>, status = 200): Promise<any> {
  const res = await r;
  expect(res.status, res.raw).toBe(status);
  return res.body;
}

async function buy(p: TestProject, customer: string, pack: string): Promise<any> {
  const s = await ok(p.call('POST', '/v1/checkout', { customer_id: customer, credit_pack: pack, success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' }), 201);
  await ok(p.call('POST', `/v1/test-helpers/checkout/${s.session_id}/pay`, { card: '4242424242424242' }));
  return (await ok(p.call('GET', `/v1/payments?customer_id=${customer}`))).data[0];
}

describe('the sandbox fee', () => {
  it('is 2.9 % (rounded half up) + 30 minor units, never more than the amount, nothing on 0', () => {
    expect(sandboxFee(1500)).toBe(74); // 43.5 → 44, + 30
    expect(sandboxFee(500)).toBe(45); // 14.5 → 15, + 30
    expect(sandboxFee(1000)).toBe(59);
    expect(sandboxFee(20)).toBe(20);
    expect(sandboxFee(0)).toBe(0);
  });
});

describe('fees and net revenue', () => {
  let p: TestProject;
  let pro: any;
  let starter: any;
  beforeAll(async () => {
    p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    pro = await buy(p, 'ana', 'pro'); // 15 €
    starter = await buy(p, 'ben', 'starter'); // 5 €
  });

  it('a payment carries no fee until the payments.fees job has read it from the provider, then its fee and net', async () => {
    expect(pro).toMatchObject({ fee: null, net: null, dispute: null });
    const before = await ok(p.call('GET', '/v1/metrics'));
    expect(before.net_revenue).toEqual([
      { currency: 'eur', gross: 2000, refunded: 0, fees: 0, disputes: { held: 0, lost: 0, fees: 0 }, net: 2000, payments: 2, fees_unknown: 2 },
    ]);
    expect(await collectDueFees(h.tg.ctx)).toBe(2);
    expect(await collectDueFees(h.tg.ctx)).toBe(0); // read once
    expect((await ok(p.call('GET', `/v1/payments/${pro.id}`))).fee).toEqual({ amount: 74, currency: 'eur' });
    expect((await ok(p.call('GET', `/v1/payments/${pro.id}`))).net).toEqual({ amount: 1426, currency: 'eur' });
    expect((await ok(p.call('GET', `/v1/payments/${starter.id}`))).fee).toEqual({ amount: 45, currency: 'eur' });
  });

  it('GET /v1/metrics: gross, refunds, fees, disputes held then lost, and net per currency', async () => {
    await ok(p.call('POST', `/v1/payments/${starter.id}/refund`, { amount: 200 }));
    const d = await ok(p.call('POST', `/v1/test-helpers/payments/${pro.id}/dispute`, {}));
    const held = await ok(p.call('GET', '/v1/metrics'));
    expect(held.net_revenue).toEqual([
      { currency: 'eur', gross: 2000, refunded: 200, fees: 119, disputes: { held: 1500, lost: 0, fees: 0 }, net: 181, payments: 2, fees_unknown: 0 },
    ]);
    await ok(p.call('POST', `/v1/test-helpers/disputes/${d.id}/update`, { status: 'lost' }));
    const lost = await ok(p.call('GET', '/v1/metrics'));
    expect(lost.net_revenue[0]).toMatchObject({ disputes: { held: 0, lost: 1500, fees: 0 }, net: 181 });
    // The period counts the payments made in it: an earlier month has none.
    const march = await ok(p.call('GET', '/v1/metrics?as_of=2026-03-31'));
    expect(march.net_revenue).toEqual([]);
  });

  it('GET /v1/metrics/prometheus: the same figures as counters and gauges, for the key’s project only', async () => {
    const r = await p.call('GET', '/v1/metrics/prometheus');
    expect(r.status).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(/^text\/plain/);
    const l = `project="${p.id}",currency="eur"`;
    expect(r.raw).toContain(`# TYPE tollgate_revenue_gross_minor_units_total counter`);
    expect(r.raw).toContain(`tollgate_revenue_gross_minor_units_total{${l}} 2000`);
    expect(r.raw).toContain(`tollgate_revenue_refunded_minor_units_total{${l}} 200`);
    expect(r.raw).toContain(`tollgate_provider_fees_minor_units_total{${l}} 119`);
    expect(r.raw).toContain(`tollgate_disputes_lost_minor_units_total{${l}} 1500`);
    expect(r.raw).toContain(`tollgate_disputes_held_minor_units{${l}} 0`);
    expect(r.raw).toContain(`tollgate_revenue_net_minor_units{${l}} 181`);
    expect(r.raw).toContain(`tollgate_disputes_open{project="${p.id}"} 0`);
    const other = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const theirs = await other.call('GET', '/v1/metrics/prometheus');
    expect(theirs.raw).not.toContain(p.id);
    expect((await h.inject({ method: 'GET', url: '/v1/metrics/prometheus' })).status).toBe(401);
  });

  it('a fee settled in another currency counts under that currency; a payment recorded without one stays unknown', async () => {
    const q = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const row = await insertPayment(h.db, {
      id: newId('payment'),
      project_id: q.id,
      customer_id: 'shop',
      amount: 1000,
      currency: 'usd',
      status: 'succeeded',
      provider: 'stripe',
      provider_ref: `pi_${newId('payment')}`,
      kind: 'order',
      item_id: null,
      checkout_session_id: null,
      subscription_id: null,
      order_id: null,
      period_start: null,
      period_end: null,
      failure_reason: null,
      created_at: h.clock.now(),
    });
    await insertPayment(h.db, {
      ...row!,
      id: newId('payment'),
      provider_ref: `pi_${newId('payment')}`,
    });
    await h.db.query("UPDATE payments SET fee_amount = 60, net_amount = 860, fee_currency = 'eur' WHERE id = $1", [row!.id]);
    const m = await ok(q.call('GET', '/v1/metrics'));
    expect(m.net_revenue).toEqual([
      { currency: 'eur', gross: 0, refunded: 0, fees: 60, disputes: { held: 0, lost: 0, fees: 0 }, net: -60, payments: 0, fees_unknown: 0 },
      { currency: 'usd', gross: 2000, refunded: 0, fees: 0, disputes: { held: 0, lost: 0, fees: 0 }, net: 2000, payments: 2, fees_unknown: 1 },
    ]);
  });
});
