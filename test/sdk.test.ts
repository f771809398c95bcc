import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tollgate, TollgateError } from '../sdk/index.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let p: TestProject;
let client: Tollgate;
beforeAll(async () => {
  h = await createHarness();
  const base = await h.listen();
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  client = new Tollgate({ apiKey: p.key, baseUrl: base });
});
afterAll(async () => h?.close());

describe('the TypeScript SDK against a running server', () => {
  it('buys a pack, charges a job through a hold and surfaces 402 as a typed error', async () => {
    await client.customers.upsert({ id: 'sdk-1' });
    const s = await client.checkout.create({ customer_id: 'sdk-1', credit_pack: 'pro', success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' });
    await client.request('POST', `/v1/test_helpers/checkout/${s.session_id}/pay`, { card: '4242424242424242' });
    expect((await client.credits.balance('sdk-1')).balance).toBe(70);
    const hold = await client.credits.hold('sdk-1', { usage: { feature: 'dubbing_seconds', quantity: 100 } });
    await client.credits.capture(hold.id, 7);
    expect((await client.credits.balance('sdk-1')).available).toBe(63);
    const err = await client.credits.deduct('sdk-1', { amount: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TollgateError);
    expect((err as TollgateError).status).toBe(402);
    expect((err as TollgateError).body).toMatchObject({ code: 'insufficient_credits', balance: 63, required: 1000 });
  });

  it('moves credits between two customers with credits.transfer', async () => {
    await client.customers.upsert({ id: 'sdk-t1' });
    await client.customers.upsert({ id: 'sdk-t2' });
    const t = await client.credits.transfer({ from: 'sdk-t1', to: 'sdk-t2', amount: 4, reason: 'share' });
    expect(t).toMatchObject({ object: 'credit_transfer', from: { balance: 6 }, to: { balance: 14 } });
    expect((await client.credits.balance('sdk-t2')).balance).toBe(14);
    await client.credits.setAutoTopUp('sdk-t2', { enabled: true, threshold: 5, pack: 'pro', monthly_cap: 3000 });
    expect(await client.credits.autoTopUp('sdk-t2')).toMatchObject({ enabled: true, threshold: 5, pack: 'pro', monthly_cap: 3000 });
  });

  it('issues, verifies, rolls and revokes a customer API key; exports and erases the customer', async () => {
    await client.customers.upsert({ id: 'sdk-k', email: 'sdk-k@example.com' });
    const k = await client.apiKeys.create('sdk-k', { name: 'CLI', remaining: 3 });
    expect(await client.apiKeys.verify(k.key)).toMatchObject({ valid: true, customer_id: 'sdk-k', remaining: 2 });
    const rolled = await client.apiKeys.roll(k.id);
    expect(await client.apiKeys.verify(k.key)).toMatchObject({ valid: false, code: 'expired' });
    expect(await client.apiKeys.verify(rolled.key)).toMatchObject({ valid: true, remaining: 1 });
    expect((await client.apiKeys.revoke(rolled.id)).status).toBe('revoked');
    expect((await client.apiKeys.list('sdk-k')).data.map((x) => x.status).sort()).toEqual(['expired', 'revoked']);
    expect(await client.customers.export('sdk-k')).toMatchObject({ customer: { email: 'sdk-k@example.com' } });
    expect(await client.customers.delete('sdk-k')).toMatchObject({ id: 'sdk-k', deleted: true });
    const err = await client.customers.get('sdk-k').catch((e: unknown) => e);
    expect((err as TollgateError).body).toMatchObject({ code: 'customer_deleted' });
  });

  it('reuses one Idempotency-Key across its retries', async () => {
    let calls = 0;
    const flaky = new Tollgate({
      apiKey: p.key,
      baseUrl: h.tg.ctx.config.publicUrl,
      fetch: async (input, init) => {
        calls++;
        const res = await fetch(input, init);
        return calls === 1 ? new Response('{"error":{"code":"internal_error","message":"lost"}}', { status: 503 }) : res;
      },
    });
    const r = await flaky.credits.deduct('sdk-2', { amount: 2 });
    expect(calls).toBe(2);
    expect(r.balance).toBe(8); // the first attempt did reach the server; the retry replayed it
  });
});
