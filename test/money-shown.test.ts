import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const DAY = 86_400;
const ark = () => h.project({ catalog: DEMO_CATALOGS.arkwatch!.catalog });
const iac = () => h.project({ catalog: DEMO_CATALOGS.iacompagnon!.catalog });
const advance = (p: TestProject, days: number) => p.call('POST', '/v1/test_helpers/clock/advance', { seconds: Math.round(days * DAY) });
const sub = async (p: TestProject, c: string) => (await p.call('GET', `/v1/customers/${c}/subscription`)).body;
const checkout = (p: TestProject, body: Record<string, unknown>) =>
  p.call('POST', '/v1/checkout', { success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no', ...body });
const pay = (p: TestProject, session: string, card = '4242424242424242') => p.call('POST', `/v1/test_helpers/checkout/${session}/pay`, { card });
const payments = async (p: TestProject, c: string) =>
  (await p.call('GET', `/v1/payments?customer_id=${encodeURIComponent(c)}&limit=100`)).body.data as { amount: number }[];
/** Everything a read must leave alone for one project: rows, events, audit entries. */
async function footprint(p: TestProject) {
  const n = async (table: string) => (await h.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table} WHERE project_id = $1`, [p.id])).rows[0]!.n;
  const subs = await h.db.query('SELECT id, plan_id, quantity, updated_at, pending_plan_id FROM subscriptions WHERE project_id = $1 ORDER BY id', [p.id]);
  return { subs: subs.rows, payments: await n('payments'), events: await n('outbox_events'), audit: await n('audit_log') };
}

describe('issue 11 item 3: proration on what the customer pays, preview = charge', () => {
  it('ArkWatch ark_2 with 20 % off Starter (720) → Pro: preview figure = charged figure, on 2320 − 720 for the time left', async () => {
    const p = await ark();
    const cs = await checkout(p, { customer_id: 'ark_2', plan: 'starter', trial_days: 0, promotion_code: 'EARLY2024' });
    expect(cs.body.amount_total.amount).toBe(720);
    await pay(p, cs.body.session_id);
    const now = Date.parse((await advance(p, 15)).body.now);
    const s = await sub(p, 'ark_2');
    const start = Date.parse(s.current_period_start);
    const end = Date.parse(s.current_period_end);
    const left = (end - now) / (end - start);

    const before = await footprint(p);
    const get = await p.call('GET', '/v1/customers/ark_2/subscription/preview?plan=pro');
    expect(get.status).toBe(200);
    const post = await p.call('POST', '/v1/customers/ark_2/subscription/change', { plan: 'pro', preview: true });
    const query = await p.call('POST', '/v1/customers/ark_2/subscription/change?preview=true', { plan: 'pro' });
    expect(await footprint(p)).toEqual(before);
    expect(post.body).toEqual(get.body);
    expect(query.body).toEqual(get.body);
    expect(get.body).toMatchObject({ change: 'upgrade', plan: 'pro', next_charge: { amount: 2320 }, proration: { old_amount: 720, new_amount: 2320 } });
    const previewed = get.body.proration.amount as number;
    expect(Math.abs(previewed - 1600 * left)).toBeLessThanOrEqual(1);
    expect(get.body.amount_due_today.amount).toBe(previewed);

    const up = await p.call('POST', '/v1/customers/ark_2/subscription/change', { plan: 'pro' });
    expect(up.status).toBe(200);
    expect(up.body.proration.amount).toBe(previewed);
    expect(up.body.next_charge.amount).toBe(2320);
    expect((await payments(p, 'ark_2')).map((x) => x.amount)).toEqual([previewed, 720]);
  });

  it('a preview for an unknown customer is 404 and creates nothing; an unknown plan is 400', async () => {
    const p = await ark();
    const before = await footprint(p);
    const r = await p.call('GET', '/v1/customers/nobody/subscription/preview?plan=pro');
    expect(r.status).toBe(404);
    expect((await p.call('GET', '/v1/customers/nobody')).status).toBe(404);
    expect(await footprint(p)).toEqual(before);
    const cs = await checkout(p, { customer_id: 'ark_3', plan: 'starter', trial_days: 0 });
    await pay(p, cs.body.session_id);
    expect((await p.call('GET', '/v1/customers/ark_3/subscription/preview?plan=nope')).body.error).toMatchObject({ param: 'plan' });
  });
});

describe('issue 11 item 5: nothing announced that will not be charged', () => {
  it('a no-card trial has next_charge null everywhere (checkout reply, GET, created event) and ends without a charge', async () => {
    const p = await ark();
    const trial = await checkout(p, { customer_id: 'nocard', plan: 'pro' });
    expect(trial.body.subscription).toMatchObject({ status: 'trialing', next_charge: null });
    expect(await sub(p, 'nocard')).toMatchObject({ status: 'trialing', next_charge: null });
    expect((await p.call('GET', '/v1/customers/nocard')).body.subscription.next_charge).toBeNull();
    const created = await h.db.query<{ data: { next_charge: unknown } }>(
      "SELECT payload->'data' AS data FROM outbox_events WHERE project_id = $1 AND customer_id = 'nocard' AND type = 'subscription.created'",
      [p.id],
    );
    expect(created.rows.map((r) => r.data.next_charge)).toEqual([null]);
    const portal = await p.call('POST', '/v1/portal', { customer_id: 'nocard', return_url: 'https://app.example/account' });
    const html = (await h.inject({ method: 'GET', url: new URL(portal.body.url).pathname })).raw;
    expect(html).not.toContain('Next charge');
    expect(html).toContain('nothing will be charged');
    await advance(p, 15);
    expect(await payments(p, 'nocard')).toEqual([]);
    expect(await sub(p, 'nocard')).toMatchObject({ status: 'expired' });
  });

  it('a trial with a card on file still announces its first charge', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.ava!.catalog });
    const cs = await checkout(p, { customer_id: 'withcard', plan: 'pro', quantity: 2 });
    await pay(p, cs.body.session_id);
    expect(await sub(p, 'withcard')).toMatchObject({ status: 'trialing', next_charge: { amount: 9800, at: cs.body.recurring.starts_at } });
  });

  it('a Free plan has no next charge, and the portal shows neither "Next charge €0.00" nor a cancel button', async () => {
    const p = await ark();
    const free = await p.call('POST', '/v1/customers/freebie/subscription', { plan: 'free' });
    expect(free.status).toBe(201);
    expect(free.body).toMatchObject({ plan: 'free', status: 'active', next_charge: null });
    expect((await sub(p, 'freebie')).next_charge).toBeNull();
    const portal = await p.call('POST', '/v1/portal', { customer_id: 'freebie', return_url: 'https://app.example/account' });
    const html = (await h.inject({ method: 'GET', url: new URL(portal.body.url).pathname })).raw;
    expect(html).toContain('data-testid="price">Free<');
    expect(html).not.toContain('Next charge');
    expect(html).not.toContain('€0.00');
    expect(html).not.toContain('Cancel subscription');
    expect(html).toContain('Change plan');
  });
});

/** Every `{amount, currency}` object in a reply, with its path. */
function moneyObjects(v: unknown, path = '$'): { path: string; amount: unknown }[] {
  if (!v || typeof v !== 'object') return [];
  const o = v as Record<string, unknown>;
  const here = 'amount' in o && 'currency' in o ? [{ path, amount: o.amount }] : [];
  return [...here, ...Object.entries(o).flatMap(([k, x]) => moneyObjects(x, `${path}.${k}`))];
}

describe('issue 11 item 6: money objects hold integers; subscription.canceled names the canceled plan', () => {
  it('AurisVoice packs: price_per_credit is an integer amount, price_per_credit_decimal the exact figure', async () => {
    const p = await h.project({ catalog: DEMO_CATALOGS.aurisvoice!.catalog });
    const plans = (await p.call('GET', '/v1/plans')).body;
    const starter = plans.credit_packs.find((x: { id: string }) => x.id === 'starter');
    expect(starter.price_per_credit).toEqual({ amount: 33, currency: 'eur' });
    expect(starter.price_per_credit_decimal).toBe('33.33');
    expect(plans.credit_packs.map((x: { price_per_credit_decimal: string }) => x.price_per_credit_decimal)).toEqual(['33.33', '25.00', '20.00']);
    const money = moneyObjects(plans);
    expect(money.length).toBeGreaterThan(5);
    for (const m of money) expect(Number.isInteger(m.amount), m.path).toBe(true);
  });

  it('the subscription.canceled payload names the canceled plan beside its price, and next_plan the free plan', async () => {
    const p = await ark();
    const cs = await checkout(p, { customer_id: 'leaver', plan: 'pro', trial_days: 0 });
    await pay(p, cs.body.session_id);
    await p.call('POST', '/v1/customers/leaver/subscription/cancel', { at_period_end: false });
    const rows = await h.db.query<{ data: Record<string, unknown> }>(
      "SELECT payload->'data' AS data FROM outbox_events WHERE project_id = $1 AND customer_id = 'leaver' AND type = 'subscription.canceled'",
      [p.id],
    );
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]!.data).toMatchObject({ plan: 'pro', plan_name: 'Pro', price: { amount: 2900 }, status: 'canceled', next_plan: 'free' });
    for (const m of moneyObjects(rows.rows[0]!.data)) expect(Number.isInteger(m.amount), m.path).toBe(true);
  });
});

describe('issue 11 item 4: trial conversion counts only trials converted by paying', () => {
  it('IAcompagnon: an expired trial later granted a plan at 0 is not converted; a trial paid for during its run is', async () => {
    const p = await iac();
    await p.call('POST', '/v1/customers', { id: 'lapsed' });
    await p.call('POST', '/v1/customers', { id: 'payer' });
    expect(await sub(p, 'lapsed')).toMatchObject({ status: 'trialing', plan: 'premium' });
    await advance(p, 3);
    const cs = await checkout(p, { customer_id: 'payer', plan: 'standard' });
    await pay(p, cs.body.session_id);
    await advance(p, 12);
    expect(await sub(p, 'lapsed')).toMatchObject({ status: 'expired' });
    const granted = await p.call('POST', '/v1/customers/lapsed/subscription', { plan: 'premium', grant: true });
    expect(granted.body).toMatchObject({ status: 'active', price: { amount: 0 } });
    const m = await p.call('GET', '/v1/metrics');
    expect(m.status).toBe(200);
    expect(m.body.trial_conversion).toMatchObject({ trials_ended: 2, converted: 1, rate: 0.5 });
  });
});

describe('issue 11 item 2: a payment link never takes more than its page showed', () => {
  const viaLink = async (p: TestProject, linkId: string, email: string) => {
    const go = await h.inject({ method: 'POST', url: `/pay/${linkId}`, payload: { email } });
    expect(go.status).toBe(303);
    const id = new URL(go.headers.location as string).pathname.split('/').pop() as string;
    const session = (await p.call('GET', `/v1/checkout/${id}`)).body;
    const html = (await h.inject({ method: 'GET', url: `/checkout/${id}` })).raw;
    return { id, session, html };
  };

  it('IAcompagnon: a new customer in the default trial keeps its end date; nothing is charged until then, then what the page said', async () => {
    const p = await iac();
    const link = await p.call('POST', '/v1/payment-links', { plan: 'premium' });
    const landing = (await h.inject({ method: 'GET', url: `/pay/${link.body.id}` })).raw;
    expect(landing).toContain('Free for 14 days, then 19,99');
    const { id, session, html } = await viaLink(p, link.body.id, 'lea@example.com');
    const trial = await sub(p, 'lea@example.com');
    expect(session).toMatchObject({ amount_total: { amount: 0 }, amount_due_today: { amount: 0 }, trial: { ends_at: trial.trial_end } });
    expect(html).toContain('Start trial');
    expect(html).not.toContain('Pay 19,99');
    await pay(p, id);
    expect(await payments(p, 'lea@example.com')).toEqual([]);
    const after = await sub(p, 'lea@example.com');
    expect(after).toMatchObject({ plan: 'premium', status: 'trialing', trial_end: trial.trial_end, next_charge: { amount: 1999, at: trial.trial_end } });
    await advance(p, 15);
    expect((await payments(p, 'lea@example.com')).map((x) => x.amount)).toEqual([1999]);
  });

  it('IAcompagnon: a customer whose one trial is used is told before paying that 19,99 € is taken today, and that is what is taken', async () => {
    const p = await iac();
    await p.call('POST', '/v1/customers', { id: 'used@example.com' });
    await advance(p, 15);
    expect(await sub(p, 'used@example.com')).toMatchObject({ status: 'expired' });
    const link = await p.call('POST', '/v1/payment-links', { plan: 'premium' });
    const { id, session, html } = await viaLink(p, link.body.id, 'used@example.com');
    expect(session).toMatchObject({ amount_total: { amount: 1999 }, amount_due_today: { amount: 1999 }, trial: null });
    const page = html.replace(/<[^>]+>/g, ' ');
    expect(page).toContain('Pay 19,99');
    expect(page.toLowerCase()).not.toContain('trial');
    await pay(p, id);
    expect((await payments(p, 'used@example.com')).map((x) => x.amount)).toEqual([1999]);
    expect(await sub(p, 'used@example.com')).toMatchObject({ plan: 'premium', status: 'active' });
  });
});
