import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { randomToken } from '../src/domain/ids.ts';
import { applyProviderEvent } from '../src/modules/payments/payments.service.ts';
import { findProject } from '../src/modules/projects/projects.repository.ts';
import { linkProviderCustomer } from '../src/modules/providers/providers.repository.ts';
import type { PaymentProvider, ProviderEvent, UpdateSubscriptionInput } from '../src/providers/provider.ts';
import { sandboxProvider, signSandboxEvent } from '../src/providers/sandbox/sandbox.provider.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const T0 = Date.parse('2026-03-01T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const ark = () => h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
// Reads never create customers: the first look at a customer signs it up (default trial included), as the app would.
const sub = async (p: TestProject, c: string) => {
  await p.call('POST', '/v1/customers', { id: c });
  return (await p.call('GET', `/v1/customers/${c}/subscription`)).body;
};

type SubState = { status: string; plan: string; cancelAtPeriodEnd: boolean; deleted: boolean };
function changed(ref: string, customer: string, s: SubState): Extract<ProviderEvent, { kind: 'subscription.changed' }> {
  return {
    kind: 'subscription.changed',
    subscriptionRef: ref,
    customerRef: null,
    status: s.status,
    planRef: s.plan,
    currentPeriodStart: at(0),
    currentPeriodEnd: new Date(T0 + 30 * 86_400_000),
    trialEnd: null,
    cancelAtPeriodEnd: s.cancelAtPeriodEnd,
    canceledAt: null,
    deleted: s.deleted,
    metadata: { tollgate_customer: customer },
  };
}

/** Feeds one of Tollgate's provider events straight to the handlers, as if a provider had sent it. */
async function feed(p: TestProject, provider: string, event: ProviderEvent, occurredAt: Date) {
  return h.db.tx((q) => applyProviderEvent(h.tg.ctx, q, { projectId: p.id, provider, inboxId: `test_${randomToken(8)}`, occurredAt }, event));
}

/** Posts a signed sandbox event through the public webhook route, with its own `created` time. */
async function deliver(p: TestProject, type: string, object: Record<string, unknown>, created: Date, id = `evt_${randomToken(16)}`) {
  const project = await findProject(h.db, p.id);
  const body = JSON.stringify({ id, type, created: Math.floor(created.getTime() / 1000), livemode: false, data: { object } });
  return h.inject({
    method: 'POST',
    url: `/v1/webhooks/sandbox/${p.id}`,
    headers: signSandboxEvent(project!, body, id, h.clock.now()),
    payload: body,
  });
}

async function row(p: TestProject, provider: string, ref: string) {
  return (
    await h.db.query<{ status: string; plan_id: string; cancel_at_period_end: boolean; customer_id: string }>(
      'SELECT status, plan_id, cancel_at_period_end, customer_id FROM subscriptions WHERE project_id = $1 AND provider = $2 AND provider_ref = $3',
      [p.id, provider, ref],
    )
  ).rows[0];
}

describe('provider subscription events', () => {
  it('every ordering of a subscription’s events, with duplicates, ends at the newest state', async () => {
    const p = await ark();
    const states: SubState[] = [
      { status: 'trialing', plan: 'starter', cancelAtPeriodEnd: false, deleted: false },
      { status: 'active', plan: 'starter', cancelAtPeriodEnd: false, deleted: false },
      { status: 'past_due', plan: 'starter', cancelAtPeriodEnd: false, deleted: false },
      { status: 'active', plan: 'pro', cancelAtPeriodEnd: false, deleted: false },
      { status: 'active', plan: 'business', cancelAtPeriodEnd: true, deleted: false },
      { status: 'canceled', plan: 'business', cancelAtPeriodEnd: false, deleted: true },
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: states.length - 1 }), { minLength: 1, maxLength: states.length }),
        fc.array(fc.nat(), { maxLength: 3 }),
        fc.boolean(),
        async (picked, dupSeeds, withDeleted) => {
          // Events happen in time order of their index; deletion, if any, is the last thing that happens.
          const chosen = picked.filter((i) => withDeleted || !states[i]!.deleted);
          if (chosen.length === 0) return;
          const ref = `sub_ext_${randomToken(10)}`;
          const customer = `c_${randomToken(6)}`;
          const deliveries = [...chosen, ...dupSeeds.map((s) => chosen[s % chosen.length]!)];
          for (const i of deliveries) await feed(p, 'stripe', changed(ref, customer, states[i]!), at(i));
          const newest = states[Math.max(...chosen)]!;
          const r = await row(p, 'stripe', ref);
          expect(r).toMatchObject({ status: newest.status, plan_id: newest.plan, cancel_at_period_end: newest.cancelAtPeriodEnd, customer_id: customer });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('invoice.paid records one payment per invoice and grants included credits once per period; failures make it past_due', async () => {
    const p = await h.project({
      catalog: { plans: [{ id: 'pro', name: 'Pro', price: { amount: 2000, currency: 'eur' }, included_credits: 100 }] },
    });
    await feed(p, 'stripe', changed('sub_s1', 'u4', { status: 'active', plan: 'pro', cancelAtPeriodEnd: false, deleted: false }), at(0));
    const invoice = (kind: 'invoice.paid' | 'invoice.payment_failed', ref: string, pi: string, start: number): ProviderEvent => ({
      kind,
      invoiceRef: ref,
      subscriptionRef: 'sub_s1',
      customerRef: null,
      paymentRef: pi,
      amount: 2000,
      currency: 'eur',
      periodStart: at(start),
      periodEnd: at(start + 43_200),
      billingReason: 'subscription_cycle',
    });
    expect(await feed(p, 'stripe', invoice('invoice.paid', 'in_1', 'pi_1', 0), at(1))).toBe('applied');
    await feed(p, 'stripe', invoice('invoice.paid', 'in_1', 'pi_1', 0), at(1));
    await feed(p, 'stripe', invoice('invoice.payment_failed', 'in_2', 'pi_2', 43_200), at(43_201));
    expect((await sub(p, 'u4')).status).toBe('past_due');
    await feed(p, 'stripe', invoice('invoice.paid', 'in_2', 'pi_2b', 43_200), at(43_300));
    expect((await sub(p, 'u4')).status).toBe('active');
    const pays = (await p.call('GET', '/v1/payments?customer_id=u4')).body.data as { amount: number; status: string; kind: string; period_start: string }[];
    expect(pays.map((x) => x.status).sort()).toEqual(['failed', 'succeeded', 'succeeded']);
    expect(pays.every((x) => x.kind === 'subscription' && x.period_start)).toBe(true);
    expect((await p.call('GET', '/v1/customers/u4/credits')).body.balance).toBe(200);
  });

  it('an invoice for a subscription not yet known fails and succeeds on retry once the subscription arrives', async () => {
    const p = await ark();
    const inv = { id: 'in_early', subscription: 'sub_x5', amount: 2900, currency: 'eur', payment_intent: 'pi_early', period_start: 1772359200, period_end: 1774951200 };
    const early = await deliver(p, 'invoice.paid', inv, at(2));
    expect(early.body.status).toBe('failed');
    await deliver(p, 'customer.subscription.created', { id: 'sub_x5', status: 'active', plan: 'pro', metadata: { tollgate_customer: 'u5' } }, at(1));
    const replay = await p.call('POST', `/v1/events/${early.body.id}/replay`);
    expect(replay.body.status).toBe('processed');
    await p.call('POST', `/v1/events/${early.body.id}/replay`);
    const pays = (await p.call('GET', '/v1/payments?customer_id=u5')).body.data;
    expect(pays).toHaveLength(1);
    expect(pays[0]).toMatchObject({ amount: 2900, kind: 'subscription', provider_ref: 'pi_early' });
  });

  it('resolves the customer from the provider customer link and replaces the customer’s local trial', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.iacompagnon!.catalog });
    expect(await sub(p, 'u6')).toMatchObject({ status: 'trialing', plan: 'premium' });
    await linkProviderCustomer(h.db, { projectId: p.id, customerId: 'u6', provider: 'stripe', ref: 'cus_abc', at: h.clock.now() });
    const e = { ...changed('sub_s6', 'x', { status: 'active', plan: 'standard', cancelAtPeriodEnd: false, deleted: false }), customerRef: 'cus_abc', metadata: {} };
    // Applied at once; Stripe's current state is then read after the commit.
    expect(await feed(p, 'stripe', e, at(5))).toEqual({ outside: expect.any(Function) });
    expect(await sub(p, 'u6')).toMatchObject({ status: 'active', plan: 'standard', provider: 'stripe' });
    const unknown = { ...e, subscriptionRef: 'sub_s7', customerRef: 'cus_nobody' };
    expect(await feed(p, 'stripe', unknown, at(6))).toEqual({ ignored: 'subscription of an unknown customer' });
    const trialWillEnd = await feed(p, 'stripe', { kind: 'subscription.trial_will_end', subscriptionRef: 'sub_s6', trialEnd: null }, at(7));
    expect(trialWillEnd).toEqual({ ignored: 'subscription is active' });
  });
  it('cancel, resume and change of a subscription an outside provider bills go through the provider and apply its answer', async () => {
    const calls: UpdateSubscriptionInput[] = [];
    const remote: SubState = { status: 'active', plan: 'starter', cancelAtPeriodEnd: false, deleted: false };
    const fake: PaymentProvider = {
      ...sandboxProvider,
      name: 'paypal',
      async updateSubscription(_ctx, input) {
        calls.push(input);
        if (input.action === 'cancel_at_period_end') remote.cancelAtPeriodEnd = true;
        if (input.action === 'resume') remote.cancelAtPeriodEnd = false;
        if (input.action === 'change_plan') remote.plan = input.planRef ?? remote.plan;
        return changed(input.subscriptionRef, 'u8', remote);
      },
    };
    const registry = h.tg.ctx.registry;
    h.tg.ctx.registry = { ...registry, providers: new Map([...registry.providers, ['paypal', fake]]) };
    onTestFinished(() => {
      h.tg.ctx.registry = registry;
    });
    const p = await ark();
    await feed(p, 'paypal', changed('I-SUB8', 'u8', remote), at(1));
    const canceled = await p.call('POST', '/v1/customers/u8/subscription/cancel', {});
    expect(canceled.body).toMatchObject({ status: 'active', cancel_at_period_end: true, provider: 'paypal' });
    expect((await p.call('POST', '/v1/customers/u8/subscription/resume')).body.cancel_at_period_end).toBe(false);
    const changedPlan = await p.call('POST', '/v1/customers/u8/subscription/change', { plan: 'business' });
    expect(changedPlan.body).toMatchObject({ plan: 'business', change: 'provider' });
    expect(calls.map((c) => [c.action, c.subscriptionRef])).toEqual([
      ['cancel_at_period_end', 'I-SUB8'],
      ['resume', 'I-SUB8'],
      ['change_plan', 'I-SUB8'],
    ]);
    const audit = await h.db.query<{ action: string }>('SELECT action FROM audit_log WHERE project_id = $1 ORDER BY seq', [p.id]);
    expect(audit.rows.map((r) => r.action).filter((a) => a.startsWith('subscription.'))).toEqual(['subscription.cancel_at_period_end', 'subscription.resume', 'subscription.change_plan']);
    // A provider that cannot change subscriptions: 409, nothing changes.
    h.tg.ctx.registry = { ...registry, providers: new Map([...registry.providers, ['stripe', { ...sandboxProvider, name: 'stripe' }]]) };
    await feed(p, 'stripe', changed('sub_s9', 'u9', { status: 'active', plan: 'pro', cancelAtPeriodEnd: false, deleted: false }), at(1));
    const refused = await p.call('POST', '/v1/customers/u9/subscription/cancel', {});
    expect(refused.status).toBe(409);
    expect((await sub(p, 'u9')).cancel_at_period_end).toBe(false);
  });
  it('a provider subscription first seen already canceled leaves the live trial alone; a trialing one is announced as trialing', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.iacompagnon!.catalog });
    await sub(p, 'u10');
    await feed(p, 'stripe', changed('sub_old', 'u10', { status: 'canceled', plan: 'basique', cancelAtPeriodEnd: false, deleted: true }), at(2));
    expect(await sub(p, 'u10')).toMatchObject({ status: 'trialing', plan: 'premium' });
    await feed(p, 'stripe', { ...changed('sub_new', 'u10', { status: 'trialing', plan: 'standard', cancelAtPeriodEnd: false, deleted: false }), trialEnd: at(20_160) }, at(3));
    expect(await sub(p, 'u10')).toMatchObject({ status: 'trialing', plan: 'standard', provider: 'stripe' });
    const created = await h.db.query<{ payload: { data: { status: string; plan: string; previous_plan?: string } } }>(
      `SELECT payload FROM outbox_events WHERE project_id = $1 AND customer_id = $2 AND type = 'subscription.created' ORDER BY seq`,
      [p.id, 'u10'],
    );
    expect(created.rows.map((r) => [r.payload.data.status, r.payload.data.previous_plan ?? r.payload.data.plan])).toEqual([
      ['trialing', 'premium'],
      ['canceled', 'basique'],
      ['trialing', 'standard'],
    ]);
  });
});
