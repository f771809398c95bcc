import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY } from '../src/clock.ts';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const balance = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/credits`)).body.balance as number;
async function ledgerSum(p: TestProject, c: string): Promise<number> {
  const r = await h.db.query<{ s: string }>('SELECT COALESCE(SUM(amount), 0)::bigint AS s FROM ledger_entries WHERE project_id = $1 AND customer_id = $2', [p.id, c]);
  return Number(r.rows[0]!.s);
}

/** An organisation customer with 100 credits (the 10 sign-up credits plus a grant of 90). */
async function org(id: string): Promise<TestProject> {
  const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
  expect((await p.call('POST', '/v1/customers', { id, name: 'Acme Inc.' })).status).toBe(201);
  expect((await p.call('POST', `/v1/customers/${id}/credits/grant`, { amount: 90, reason: 'Team budget' })).status).toBe(200);
  expect(await balance(p, id)).toBe(100);
  return p;
}

describe('team balances', () => {
  it('members spend from the organisation within their limit; the history says who spent what', async () => {
    const p = await org('acme');
    const alice = await p.call('PUT', '/v1/customers/acme/members/alice', { limit: { amount: 30, period: 'month' } });
    expect(alice.status).toBe(200);
    expect(alice.body).toMatchObject({ object: 'organization_member', organization_id: 'acme', member_id: 'alice', limit: { amount: 30, period: 'month' }, spent_this_period: 0, remaining_this_period: 30 });
    expect((await p.call('PUT', '/v1/customers/acme/members/bob', {})).body).toMatchObject({ limit: null, remaining_this_period: null });

    const d1 = await p.call('POST', '/v1/customers/acme/credits/deduct', { amount: 20, member_id: 'alice', reason: 'Dubbing' });
    expect(d1.status).toBe(200);
    expect(d1.body).toMatchObject({ balance: 80, deducted: 20 });
    const over = await p.call('POST', '/v1/customers/acme/credits/deduct', { amount: 15, member_id: 'alice' });
    expect(over.status).toBe(402);
    expect(over.body.error).toMatchObject({ code: 'member_limit_exceeded', member_id: 'alice', limit: 30, spent: 20, required: 15 });
    expect(await balance(p, 'acme')).toBe(80);
    expect((await p.call('GET', '/v1/customers/acme/members/alice')).body).toMatchObject({ spent_this_period: 20, remaining_this_period: 10 });

    expect((await p.call('POST', '/v1/customers/acme/credits/deduct', { amount: 50, member_id: 'bob' })).status).toBe(200);
    expect(await balance(p, 'acme')).toBe(30);

    const history = (await p.call('GET', '/v1/customers/acme/credits/transactions')).body.data;
    expect(history.slice(0, 2).map((e: { member_id: string | null; amount: number }) => [e.member_id, e.amount])).toEqual([
      ['bob', -50],
      ['alice', -20],
    ]);
    const alices = (await p.call('GET', '/v1/customers/acme/credits/transactions?member_id=alice')).body.data;
    expect(alices.map((e: { amount: number }) => e.amount)).toEqual([-20]);
    const members = (await p.call('GET', '/v1/customers/acme/members')).body.data;
    expect(members.map((m: { member_id: string; spent_this_period: number }) => [m.member_id, m.spent_this_period])).toEqual([
      ['alice', 20],
      ['bob', 50],
    ]);
    expect(await ledgerSum(p, 'acme')).toBe(30);
  });

  it("a spend the organisation cannot cover leaves the member's limit untouched; a non-member or a removed member is 404 and spends nothing", async () => {
    const p = await org('globex');
    await p.call('PUT', '/v1/customers/globex/members/carla', { limit: { amount: 500, period: 'day' } });
    const short = await p.call('POST', '/v1/customers/globex/credits/deduct', { amount: 150, member_id: 'carla' });
    expect(short.status).toBe(402);
    expect(short.body.error.code).toBe('insufficient_credits');
    expect((await p.call('GET', '/v1/customers/globex/members/carla')).body.spent_this_period).toBe(0);

    const stranger = await p.call('POST', '/v1/customers/globex/credits/deduct', { amount: 1, member_id: 'dan' });
    expect(stranger.status).toBe(404);
    expect(stranger.body.error.code).toBe('not_found');
    expect((await p.call('DELETE', '/v1/customers/globex/members/carla')).body).toMatchObject({ member_id: 'carla', deleted: true });
    expect((await p.call('POST', '/v1/customers/globex/credits/deduct', { amount: 1, member_id: 'carla' })).status).toBe(404);
    expect((await p.call('GET', '/v1/customers/globex/members/carla')).status).toBe(404);
    expect(await balance(p, 'globex')).toBe(100);
  });

  it('bad input is 400 naming the field and changes nothing; an unknown organisation is 404', async () => {
    const p = await org('initech');
    const bad = await p.call('PUT', '/v1/customers/initech/members/eve', { limit: { amount: -1, period: 'month' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: 'invalid_request', param: 'limit.amount' });
    const period = await p.call('PUT', '/v1/customers/initech/members/eve', { limit: { amount: 5, period: 'week' } });
    expect(period.status).toBe(400);
    expect(period.body.error.param).toBe('limit.period');
    expect((await p.call('GET', '/v1/customers/initech/members')).body.data).toEqual([]);
    const ghost = await p.call('PUT', '/v1/customers/nobody/members/eve', {});
    expect(ghost.status).toBe(404);
    expect(ghost.body.error.code).toBe('customer_not_found');
    expect((await p.call('GET', '/v1/customers/nobody/members')).status).toBe(404);
  });

  it('a member limit holds under concurrent spends, resets with the period, and a retried key spends once', async () => {
    const p = await org('umbrella');
    await p.call('PUT', '/v1/customers/umbrella/members/frank', { limit: { amount: 10, period: 'day' } });
    const rs = await Promise.all(Array.from({ length: 20 }, () => p.call('POST', '/v1/customers/umbrella/credits/deduct', { amount: 1, member_id: 'frank' })));
    expect(rs.filter((r) => r.status === 200)).toHaveLength(10);
    expect(rs.filter((r) => r.status === 402).map((r) => r.body.error.code)).toEqual(Array(10).fill('member_limit_exceeded'));
    expect(await balance(p, 'umbrella')).toBe(90);
    expect(await ledgerSum(p, 'umbrella')).toBe(90);
    expect((await p.call('GET', '/v1/customers/umbrella/members/frank')).body).toMatchObject({ spent_this_period: 10, remaining_this_period: 0 });

    h.clock.advance(DAY);
    expect((await p.call('GET', '/v1/customers/umbrella/members/frank')).body).toMatchObject({ spent_this_period: 0, remaining_this_period: 10 });
    const key = { 'idempotency-key': 'frank-day-2' };
    const a = await p.call('POST', '/v1/customers/umbrella/credits/deduct', { amount: 4, member_id: 'frank' }, key);
    const b = await p.call('POST', '/v1/customers/umbrella/credits/deduct', { amount: 4, member_id: 'frank' }, key);
    expect(b.body).toEqual(a.body);
    expect((await p.call('GET', '/v1/customers/umbrella/members/frank')).body.spent_this_period).toBe(4);
    expect(await balance(p, 'umbrella')).toBe(86);
  });
});
