import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createOperator } from '../src/modules/dashboard/operators.service.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

// The public endpoints the dashboard's catalog editor and customer actions call (besides the existing ones).
let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const DAY = 86_400;
const ark = () => h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
const advance = (p: TestProject, days: number) => p.call('POST', '/v1/test_helpers/clock/advance', { seconds: Math.round(days * DAY) });
const sub = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/subscription`)).body;
const startTrial = async (p: TestProject, c: string) => {
  await p.call('POST', '/v1/customers', { id: c });
  const t = await p.call('POST', '/v1/checkout', { customer_id: c, plan: 'starter', success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no' });
  expect(t.body.subscription).toMatchObject({ status: 'trialing', days_remaining: 14 });
};
const count = async (table: string, projectId: string) =>
  Number((await h.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE project_id = $1`, [projectId])).rows[0]!.n);

describe('POST /v1/customers/:id/subscription/extend-trial', () => {
  it('moves the trial end and its first charge later; the trial then ends on the new date', async () => {
    const p = await ark();
    await startTrial(p, 'tina');
    const before = await sub(p, 'tina');
    const ext = await p.call('POST', '/v1/customers/tina/subscription/extend-trial', { days: 10, reason: 'onboarding call' }, { 'idempotency-key': 'ext-1' });
    expect(ext.status, ext.raw).toBe(200);
    expect(ext.body).toMatchObject({ status: 'trialing', days_remaining: 24 });
    expect(new Date(ext.body.trial_end).getTime() - new Date(before.trial_end).getTime()).toBe(10 * DAY * 1000);
    expect(ext.body.current_period_end).toBe(ext.body.trial_end);
    // A retry with the same key replays; nothing is extended twice.
    const again = await p.call('POST', '/v1/customers/tina/subscription/extend-trial', { days: 10, reason: 'onboarding call' }, { 'idempotency-key': 'ext-1' });
    expect(again.body.trial_end).toBe(ext.body.trial_end);
    expect((await sub(p, 'tina')).trial_end).toBe(ext.body.trial_end);
    const audit = await p.call('GET', '/v1/audit?action=subscription.trial_extended');
    expect(audit.body.data).toHaveLength(1);
    expect(audit.body.data[0]).toMatchObject({ customer_id: 'tina', details: { days: 10, reason: 'onboarding call', from: before.trial_end, to: ext.body.trial_end } });

    // Day 15: the original trial would have ended; the extended one runs on.
    await advance(p, 15);
    expect(await sub(p, 'tina')).toMatchObject({ status: 'trialing', days_remaining: 9 });
    // The "trial ends soon" e-mail went out once, three days before the new end (day 21), not before day 11.
    expect((await p.call('GET', '/v1/customers/tina/emails?limit=50')).body.data.filter((m: { template: string }) => m.template === 'trial_will_end')).toHaveLength(0);
    await advance(p, 10);
    expect((await sub(p, 'tina')).status).not.toBe('trialing');
    const reminders = (await p.call('GET', '/v1/customers/tina/emails?limit=50')).body.data.filter((m: { template: string }) => m.template === 'trial_will_end');
    expect(reminders).toHaveLength(1);
    expect(new Date(reminders[0].created_at).getTime()).toBe(new Date(ext.body.trial_end).getTime() - 3 * DAY * 1000);
  });

  it('refuses what is not a trial (409), an unknown customer (404) and bad days (400), changing nothing', async () => {
    const p = await ark();
    await p.call('POST', '/v1/customers', { id: 'fred' });
    expect(await sub(p, 'fred')).toMatchObject({ status: 'free' });
    const none = await p.call('POST', '/v1/customers/fred/subscription/extend-trial', { days: 3 });
    expect(none.status).toBe(404);
    await startTrial(p, 'paula');
    const cancelled = await p.call('POST', '/v1/customers/paula/subscription/cancel', { at_period_end: false });
    expect(cancelled.body.status).toBe('canceled');
    const notTrial = await p.call('POST', '/v1/customers/paula/subscription/extend-trial', { days: 3 });
    expect(notTrial.status).toBe(409);
    expect(notTrial.body.error.message).toBe('Only a trial can be extended; this subscription is canceled');
    expect((await p.call('POST', '/v1/customers/nobody/subscription/extend-trial', { days: 3 })).status).toBe(404);
    await startTrial(p, 'bea');
    const trialEnd = (await sub(p, 'bea')).trial_end;
    for (const body of [{ days: 0 }, { days: 1.5 }, { days: 366 }, {}, { days: 3, extra: true }]) {
      const bad = await p.call('POST', '/v1/customers/bea/subscription/extend-trial', body);
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.body.error.code).toBe('invalid_request');
    }
    expect((await sub(p, 'bea')).trial_end).toBe(trialEnd);
  });
});

describe('POST /v1/catalog/diff', () => {
  it('lists what a push would add, archive, change and remove, and stores nothing', async () => {
    const p = await ark();
    const current = (await p.call('GET', '/v1/catalog')).body;
    const { version, ...doc } = current;
    const next = {
      ...doc,
      plans: [
        ...doc.plans.filter((x: { id: string }) => x.id !== 'business').map((x: { id: string; active: boolean }) => (x.id === 'starter' ? { ...x, active: false } : x)),
        { id: 'team', name: 'Team', price: { amount: 4900, currency: 'eur' } },
      ],
      coupons: [...doc.coupons, { id: 'launch', code: 'LAUNCH20', percent_off: 20, duration: 'once' }],
    };
    const versions = await count('catalogs', p.id);
    const d = await p.call('POST', '/v1/catalog/diff', next);
    expect(d.status, d.raw).toBe(200);
    expect(d.body.current_version).toBe(version);
    expect(d.body.items).toEqual([
      { section: 'plans', id: 'starter', change: 'changed', fields: [{ field: 'active', before: true, after: false }] },
      { section: 'plans', id: 'team', change: 'added' },
      { section: 'plans', id: 'business', change: 'removed' },
      { section: 'coupons', id: 'launch', change: 'added' },
    ]);
    expect(d.body.lines).toEqual(['~ plan starter', '    active: true → false', '+ plan team', '- plan business', '+ coupon launch']);
    expect(await count('catalogs', p.id)).toBe(versions);
    expect((await p.call('GET', '/v1/catalog')).body.version).toBe(version);
  });

  it('answers an invalid draft with the catalog messages (400)', async () => {
    const p = await ark();
    const bad = await p.call('POST', '/v1/catalog/diff', { plans: [{ id: 'Bad Id', name: 'x', price: { amount: -1, currency: 'eur' } }] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
    expect(JSON.stringify(bad.body.error)).toContain('plans.0.id');
  });
});

describe('POST /dashboard/api/p/:project/catalog/pricing-preview', () => {
  it("renders the hosted pricing page for a draft, for a signed-in operator only", async () => {
    const p = await ark();
    const url = `/dashboard/api/p/${p.id}/catalog/pricing-preview`;
    const { free_plan: _f, default_trial: _t, ...base } = DEMO_CATALOGS.arkwatch!.catalog;
    const draft = { ...base, plans: [{ id: 'solo', name: 'Solo draft', price: { amount: 1234, currency: 'eur' }, trial_days: 5 }] };
    expect((await h.inject({ method: 'POST', url, payload: { catalog: draft } })).status).toBe(401);
    const email = `cat-${Date.now()}@example.com`;
    await createOperator(h.tg.ctx, { email, password: 'correct horse battery' });
    const login = await h.inject({ method: 'POST', url: '/dashboard/api/login', payload: { email, password: 'correct horse battery' } });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const r = await h.inject({ method: 'POST', url, headers: { cookie }, payload: { catalog: draft } });
    expect(r.status, r.raw).toBe(200);
    expect(r.body.html).toContain('data-testid="plan-solo"');
    expect(r.body.html).toContain('Solo draft');
    expect(r.body.html).toContain('12.34');
    expect(r.body.html).not.toContain('data-testid="plan-starter"');
    const bad = await h.inject({ method: 'POST', url, headers: { cookie }, payload: { catalog: { plans: [{ id: 'x' }] } } });
    expect(bad.status).toBe(400);
  });
});
