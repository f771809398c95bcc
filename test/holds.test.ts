import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { runDueJobs } from '../src/jobs/runner.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
let p: TestProject;
beforeAll(async () => {
  h = await createHarness();
  p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
});
afterAll(async () => h?.close());

describe('holds for long AI jobs', () => {
  it('reserve, then capture what the job really cost: the rest is freed', async () => {
    const hold = await p.call('POST', '/v1/customers/h1/credits/holds', { usage: { feature: 'dubbing_seconds', quantity: 60 } });
    expect(hold.status).toBe(201);
    expect(hold.body).toMatchObject({ amount: 6, status: 'held', balance: 10, held: 6, available: 4 });
    const short = await p.call('POST', '/v1/customers/h1/credits/deduct', { amount: 5 });
    expect(short.status).toBe(402);
    expect(short.body.error).toMatchObject({ balance: 10, required: 5, available: 4 });
    const cap = await p.call('POST', `/v1/holds/${hold.body.id}/capture`, { amount: 4 });
    expect(cap.status).toBe(200);
    expect(cap.body).toMatchObject({ status: 'captured', captured_amount: 4, balance: 6, held: 0, available: 6 });
    const again = await p.call('POST', `/v1/holds/${hold.body.id}/capture`, { amount: 1 });
    expect(again.status).toBe(409);
    expect((await p.call('GET', '/v1/customers/h1/credits')).body).toMatchObject({ balance: 6, held: 0 });
  });

  it('capturing more than the hold is 400 and changes nothing', async () => {
    const hold = await p.call('POST', '/v1/customers/h2/credits/holds', { amount: 3 });
    const r = await p.call('POST', `/v1/holds/${hold.body.id}/capture`, { amount: 4 });
    expect(r.status).toBe(400);
    expect((await p.call('GET', '/v1/customers/h2/credits')).body).toMatchObject({ balance: 10, held: 3 });
  });

  it('release on failure returns the credits; a hold of another project is 404', async () => {
    const hold = await p.call('POST', '/v1/customers/h3/credits/holds', { amount: 7 });
    const other = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    expect((await other.call('POST', `/v1/holds/${hold.body.id}/release`)).status).toBe(404);
    const r = await p.call('POST', `/v1/holds/${hold.body.id}/release`);
    expect(r.body).toMatchObject({ status: 'released', held: 0, available: 10 });
  });

  it('an expired hold releases itself', async () => {
    const hold = await p.call('POST', '/v1/customers/h4/credits/holds', { amount: 8, expires_in: 600 });
    h.clock.advance(601_000);
    const ran = await runDueJobs(h.tg.ctx);
    expect(ran['credits.expire']).toBeGreaterThanOrEqual(1);
    expect((await p.call('GET', `/v1/holds/${hold.body.id}`)).body.status).toBe('expired');
    expect((await p.call('GET', '/v1/customers/h4/credits')).body).toMatchObject({ balance: 10, held: 0, available: 10 });
    const cap = await p.call('POST', `/v1/holds/${hold.body.id}/capture`);
    expect(cap.body.error?.message).toMatch(/expired/);
    expect(cap.status).toBe(409);
  });

  it('credits granted with expires_at are spent first and what is left expires', async () => {
    const expires = new Date(h.clock.now().getTime() + 3600_000).toISOString();
    await p.call('POST', '/v1/customers/h5/credits/grant', { amount: 5, reason: 'promo', expires_at: expires });
    const d = await p.call('POST', '/v1/customers/h5/credits/deduct', { amount: 3 });
    expect(d.body.balance).toBe(12);
    h.clock.advance(3601_000);
    await runDueJobs(h.tg.ctx);
    const c = await p.call('GET', '/v1/customers/h5/credits');
    expect(c.body.balance).toBe(10); // 2 promo credits left over expired; the 10 sign-up credits remain
    const tx = await p.call('GET', '/v1/customers/h5/credits/transactions');
    expect(tx.body.data[0]).toMatchObject({ kind: 'expiry', amount: -2, balance_after: 10 });
  });
});
