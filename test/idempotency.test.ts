import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let p: TestProject;
beforeAll(async () => {
  h = await createHarness();
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
});
afterAll(async () => h?.close());

describe('Idempotency-Key', () => {
  it('a retried deduct returns the first result and debits once', async () => {
    const k = { 'idempotency-key': 'job-1' };
    const a = await p.call('POST', '/v1/customers/i1/credits/deduct', { amount: 4 }, k);
    const b = await p.call('POST', '/v1/customers/i1/credits/deduct', { amount: 4 }, k);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
    expect(b.headers['idempotent-replayed']).toBe('true');
    expect((await p.call('GET', '/v1/customers/i1/credits')).body.balance).toBe(6);
  });

  it('the same key with another body is 409 idempotency_conflict and changes nothing', async () => {
    const k = { 'idempotency-key': 'job-2' };
    await p.call('POST', '/v1/customers/i2/credits/deduct', { amount: 2 }, k);
    const r = await p.call('POST', '/v1/customers/i2/credits/deduct', { amount: 3 }, k);
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('idempotency_conflict');
    expect((await p.call('GET', '/v1/customers/i2/credits')).body.balance).toBe(8);
  });

  it('a failed request does not burn its key: the retry runs', async () => {
    const k = { 'idempotency-key': 'job-3' };
    const short = await p.call('POST', '/v1/customers/i3/credits/deduct', { amount: 15 }, k);
    expect(short.status).toBe(402);
    await p.call('POST', '/v1/customers/i3/credits/grant', { amount: 10, reason: 'top-up' });
    const retry = await p.call('POST', '/v1/customers/i3/credits/deduct', { amount: 15 }, k);
    expect(retry.status).toBe(200);
    expect(retry.body.balance).toBe(5);
  });

  it('issue 11 item 19: twins sent at once take effect once and all get the same answer', async () => {
    const k = { 'idempotency-key': 'job-4' };
    const rs = await Promise.all(
      Array.from({ length: 8 }, () => p.call('POST', '/v1/customers/i4/credits/grant', { amount: 7, reason: 'twins' }, k)),
    );
    // README: a twin still running is waited for, so every twin gets the first reply.
    expect(rs.map((r) => r.status)).toEqual(rs.map(() => 200));
    expect(new Set(rs.map((r) => r.body.transaction_id)).size).toBe(1);
    expect(rs.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(7);
    expect((await p.call('GET', '/v1/customers/i4/credits')).body.balance).toBe(17);
  });

  it('keys are scoped to the project', async () => {
    const other = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const k = { 'idempotency-key': 'shared-key' };
    const a = await p.call('POST', '/v1/customers/i5/credits/deduct', { amount: 1 }, k);
    const b = await other.call('POST', '/v1/customers/i5/credits/deduct', { amount: 2 }, k);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body.balance).toBe(8);
  });

  it('a checkout retried with its key returns the same session', async () => {
    const k = { 'idempotency-key': 'co-1' };
    const body = { customer_id: 'i6', credit_pack: 'pro', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' };
    const a = await p.call('POST', '/v1/checkout', body, k);
    const b = await p.call('POST', '/v1/checkout', body, k);
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body.session_id).toBe(a.body.session_id);
  });
});
