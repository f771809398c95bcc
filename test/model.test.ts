import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findProject } from '../src/modules/projects/projects.repository.ts';
import { createHarness, type Harness, type Res, type TestProject } from './support/harness.ts';

/*
 * Model-based test (docs/reliability.md, "Model-based test"): random sequences of commands sent to
 * the API, each checked against a small reference model (balances, held credits, open holds, metered
 * usage, subscription status, stored Idempotency-Keys) and, after every step, against the API's
 * reads and the ledger invariants in SQL. Replay a failure with the seed and path it prints:
 *   FC_SEED=<seed> FC_PATH=<path> npx vitest run test/model.test.ts
 */

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h?.close());

const eur = (amount: number) => ({ amount, currency: 'eur' });
const PACK_CREDITS = 50;
const LIMITS = { free: 5, pro: 20 } as const;
const catalog = {
  currency: 'eur',
  signup_credits: 0,
  features: [{ id: 'messages', name: 'Messages', type: 'metered' as const, unit: 'message' }],
  free_plan: 'free',
  plans: [
    { id: 'free', name: 'Free', price: eur(0), interval: 'month' as const, features: { messages: { limit: LIMITS.free } } },
    {
      id: 'pro',
      name: 'Pro',
      price: eur(1000),
      interval: 'month' as const,
      trial_days: 14,
      trial_requires_card: false,
      features: { messages: { limit: LIMITS.pro } },
    },
  ],
  credit_packs: [{ id: 'pack', name: 'Pack', credits: PACK_CREDITS, price: eur(500) }],
};

const CUSTOMERS = ['ann', 'bob'] as const;
type Customer = (typeof CUSTOMERS)[number];
type SubState = 'none' | 'trialing' | 'canceling' | 'canceled';

// Commands ----------------------------------------------------------------------------------------

type Cmd =
  | { op: 'grant'; c: Customer; amount: number; key?: string }
  | { op: 'deduct'; c: Customer; amount: number; key?: string }
  | { op: 'hold'; c: Customer; amount: number; key?: string }
  | { op: 'capture'; hold: number; amount?: number; key?: string }
  | { op: 'release'; hold: number; key?: string }
  | { op: 'track'; c: Customer; quantity: number }
  | { op: 'check'; c: Customer; quantity: number }
  | { op: 'subscribe'; c: Customer }
  | { op: 'cancel'; c: Customer; atPeriodEnd: boolean }
  | { op: 'resume'; c: Customer }
  | { op: 'checkout'; c: Customer }
  | { op: 'paid'; session: number; delaySeconds: number }
  | { op: 'paidByHelper'; session: number }
  | { op: 'redeliver'; event: number }
  | { op: 'secondEvent'; session: number }
  | { op: 'paidThriceAtOnce'; session: number }
  | { op: 'deductTwiceAtOnce'; c: Customer; amount: number; key: string };

const customer = fc.constantFrom(...CUSTOMERS);
// A small pool, shared by every endpoint and customer: keys are reused with the same and other bodies.
const key = fc.option(fc.constantFrom('k1', 'k2', 'k3'), { nil: undefined });
const idx = fc.nat({ max: 7 });

const command: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant('grant' as const), c: customer, amount: fc.integer({ min: 1, max: 40 }), key }, { requiredKeys: ['op', 'c', 'amount'] }),
  fc.record({ op: fc.constant('deduct' as const), c: customer, amount: fc.integer({ min: 1, max: 40 }), key }, { requiredKeys: ['op', 'c', 'amount'] }),
  fc.record({ op: fc.constant('hold' as const), c: customer, amount: fc.integer({ min: 1, max: 30 }), key }, { requiredKeys: ['op', 'c', 'amount'] }),
  fc.record({ op: fc.constant('capture' as const), hold: idx, amount: fc.integer({ min: 1, max: 30 }), key }, { requiredKeys: ['op', 'hold'] }),
  fc.record({ op: fc.constant('release' as const), hold: idx, key }, { requiredKeys: ['op', 'hold'] }),
  fc.record({ op: fc.constant('track' as const), c: customer, quantity: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('check' as const), c: customer, quantity: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('subscribe' as const), c: customer }),
  fc.record({ op: fc.constant('cancel' as const), c: customer, atPeriodEnd: fc.boolean() }),
  fc.record({ op: fc.constant('resume' as const), c: customer }),
  fc.record({ op: fc.constant('checkout' as const), c: customer }),
  fc.record({ op: fc.constant('paid' as const), session: idx, delaySeconds: fc.constantFrom(0, 0, 60, 240) }),
  fc.record({ op: fc.constant('paidByHelper' as const), session: idx }),
  fc.record({ op: fc.constant('redeliver' as const), event: idx }),
  fc.record({ op: fc.constant('secondEvent' as const), session: idx }),
  fc.record({ op: fc.constant('paidThriceAtOnce' as const), session: idx }),
  fc.record({ op: fc.constant('deductTwiceAtOnce' as const), c: customer, amount: fc.integer({ min: 1, max: 40 }), key: fc.constantFrom('k1', 'k2', 'k3') }),
);

// The reference model -----------------------------------------------------------------------------

interface Account {
  balance: number;
  usage: number;
  sub: SubState;
}
interface Hold {
  id: string;
  c: Customer;
  amount: number;
  open: boolean;
}
interface Session {
  id: string;
  c: Customer;
  paid: boolean;
}
interface Model {
  acct: Record<Customer, Account>;
  holds: Hold[];
  sessions: Session[];
  events: Array<{ id: string; body: string }>;
  /** Idempotency-Key → the request it was first used for and the reply stored for it (2xx only). */
  keys: Map<string, { fingerprint: string; status: number; body: unknown }>;
}

function newModel(): Model {
  const acct = (): Account => ({ balance: 0, usage: 0, sub: 'none' });
  return { acct: { ann: acct(), bob: acct() }, holds: [], sessions: [], events: [], keys: new Map() };
}

const heldOf = (m: Model, c: Customer) => m.holds.filter((x) => x.c === c && x.open).reduce((s, x) => s + x.amount, 0);
const availableOf = (m: Model, c: Customer) => m.acct[c].balance - heldOf(m, c);
const planOf = (m: Model, c: Customer): keyof typeof LIMITS => (m.acct[c].sub === 'trialing' || m.acct[c].sub === 'canceling' ? 'pro' : 'free');
const pick = <T>(xs: T[], i: number): T | undefined => (xs.length ? xs[i % xs.length] : undefined);

// Running a command against the API and the model -------------------------------------------------

interface Ctx {
  p: TestProject;
  secret: string;
  m: Model;
}

/**
 * A keyed mutation: a stored key replays its reply for the same request and is 409 for another;
 * a fresh key (or none) runs `expect`, which checks the reply and updates the model.
 */
async function keyed(x: Ctx, method: 'POST', url: string, body: unknown, k: string | undefined, expectFresh: (r: Res) => void) {
  const r = await x.p.call(method, url, body, k ? { 'idempotency-key': k } : {});
  const fingerprint = `${method} ${url} ${JSON.stringify(body ?? null)}`;
  const prior = k ? x.m.keys.get(k) : undefined;
  if (prior) {
    if (prior.fingerprint === fingerprint) {
      expect(r.status, 'a replay answers the stored status').toBe(prior.status);
      expect(r.body, 'a replay answers the stored body').toEqual(prior.body);
      expect(r.headers['idempotent-replayed']).toBe('true');
    } else {
      expect(r.status, 'the same key with another request').toBe(409);
      expect(r.body.error.code).toBe('idempotency_conflict');
    }
    return r;
  }
  expectFresh(r);
  if (k && r.status < 300) x.m.keys.set(k, { fingerprint, status: r.status, body: r.body });
  return r;
}

function expectError(r: Res, status: number, code: string) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error.code).toBe(code);
}

function completed(sessionId: string, eventId: string, created: number) {
  return JSON.stringify({
    id: eventId,
    type: 'checkout.session.completed',
    created,
    livemode: false,
    data: { object: { id: sessionId, payment_status: 'paid', payment_intent: `pi_${sessionId}`, amount_total: 500, currency: 'eur' } },
  });
}

async function deliver(x: Ctx, eventId: string, body: string) {
  const now = h.clock.now();
  return h.inject({
    method: 'POST',
    url: `/v1/webhooks/sandbox/${x.p.id}`,
    headers: {
      'content-type': 'application/json',
      'webhook-id': eventId,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(x.secret).sign(eventId, now, body),
    },
    payload: body,
  });
}

async function run(x: Ctx, cmd: Cmd): Promise<void> {
  const { m } = x;
  switch (cmd.op) {
    case 'grant': {
      const body = { amount: cmd.amount, reason: 'model' };
      await keyed(x, 'POST', `/v1/customers/${cmd.c}/credits/grant`, body, cmd.key, (r) => {
        expect(r.status).toBe(200);
        m.acct[cmd.c].balance += cmd.amount;
        expect(r.body.balance).toBe(m.acct[cmd.c].balance);
      });
      return;
    }
    case 'deduct': {
      const body = { amount: cmd.amount };
      await keyed(x, 'POST', `/v1/customers/${cmd.c}/credits/deduct`, body, cmd.key, (r) => {
        if (availableOf(m, cmd.c) >= cmd.amount) {
          expect(r.status, JSON.stringify(r.body)).toBe(200);
          m.acct[cmd.c].balance -= cmd.amount;
          expect(r.body.balance).toBe(m.acct[cmd.c].balance);
        } else expectError(r, 402, 'insufficient_credits');
      });
      return;
    }
    case 'hold': {
      const body = { amount: cmd.amount };
      await keyed(x, 'POST', `/v1/customers/${cmd.c}/credits/holds`, body, cmd.key, (r) => {
        if (availableOf(m, cmd.c) >= cmd.amount) {
          expect(r.status, JSON.stringify(r.body)).toBe(201);
          m.holds.push({ id: r.body.id, c: cmd.c, amount: cmd.amount, open: true });
          expect(r.body).toMatchObject({ status: 'held', amount: cmd.amount, held: heldOf(m, cmd.c) });
        } else expectError(r, 402, 'insufficient_credits');
      });
      return;
    }
    case 'capture': {
      const hold = pick(m.holds, cmd.hold);
      if (!hold) return;
      const amount = cmd.amount === undefined ? undefined : Math.min(cmd.amount, hold.amount);
      const body = amount === undefined ? undefined : { amount };
      await keyed(x, 'POST', `/v1/holds/${hold.id}/capture`, body, cmd.key, (r) => {
        if (hold.open) {
          expect(r.status, JSON.stringify(r.body)).toBe(200);
          hold.open = false;
          m.acct[hold.c].balance -= amount ?? hold.amount;
          expect(r.body).toMatchObject({ status: 'captured', captured_amount: amount ?? hold.amount, balance: m.acct[hold.c].balance });
        } else expectError(r, 409, 'conflict');
      });
      return;
    }
    case 'release': {
      const hold = pick(m.holds, cmd.hold);
      if (!hold) return;
      await keyed(x, 'POST', `/v1/holds/${hold.id}/release`, undefined, cmd.key, (r) => {
        if (hold.open) {
          expect(r.status, JSON.stringify(r.body)).toBe(200);
          hold.open = false;
          expect(r.body).toMatchObject({ status: 'released' });
        } else expectError(r, 409, 'conflict');
      });
      return;
    }
    case 'track':
    case 'check': {
      const r = await x.p.call('POST', `/v1/${cmd.op}`, { customer_id: cmd.c, feature: 'messages', quantity: cmd.quantity });
      expect(r.status).toBe(200);
      const a = m.acct[cmd.c];
      const limit = LIMITS[planOf(m, cmd.c)];
      const allowed = a.usage + cmd.quantity <= limit;
      if (allowed && cmd.op === 'track') a.usage += cmd.quantity;
      // track answers the usage after its count, check the usage as it is
      expect(r.body).toMatchObject({ allowed, plan: planOf(m, cmd.c), limit, usage: a.usage });
      return;
    }
    case 'subscribe': {
      const r = await x.p.call('POST', `/v1/customers/${cmd.c}/subscription`, { plan: 'pro' });
      const a = m.acct[cmd.c];
      if (a.sub === 'none') {
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        expect(r.body).toMatchObject({ status: 'trialing', plan: 'pro' });
        a.sub = 'trialing';
        a.usage = 0; // usage counts from the subscription's period
      } else expectError(r, 402, 'payment_required'); // the one trial was taken
      return;
    }
    case 'cancel': {
      const r = await x.p.call('POST', `/v1/customers/${cmd.c}/subscription/cancel`, { at_period_end: cmd.atPeriodEnd });
      const a = m.acct[cmd.c];
      if (a.sub === 'none') expectError(r, 404, 'not_found');
      else if (a.sub === 'canceled') expectError(r, 409, 'conflict');
      else {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        if (cmd.atPeriodEnd) a.sub = 'canceling';
        else {
          a.sub = 'canceled';
          a.usage = 0; // back on the free plan, counted from the cancellation
        }
      }
      return;
    }
    case 'resume': {
      const r = await x.p.call('POST', `/v1/customers/${cmd.c}/subscription/resume`, {});
      const a = m.acct[cmd.c];
      if (a.sub === 'none') expectError(r, 404, 'not_found');
      else if (a.sub === 'canceling') {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        a.sub = 'trialing';
      } else expectError(r, 409, 'conflict');
      return;
    }
    case 'checkout': {
      const r = await x.p.call('POST', '/v1/checkout', {
        customer_id: cmd.c,
        credit_pack: 'pack',
        success_url: 'https://app.example/ok',
        cancel_url: 'https://app.example/no',
      });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      m.sessions.push({ id: r.body.session_id, c: cmd.c, paid: false });
      return;
    }
    case 'paid':
    case 'secondEvent': {
      const s = pick(m.sessions, cmd.session);
      if (!s) return;
      // A delayed event was created earlier than it arrives (inside the 300 s signature window).
      const delay = cmd.op === 'paid' ? cmd.delaySeconds : 0;
      const id = `evt_${cmd.op}_${m.events.length}_${s.id}`;
      const body = completed(s.id, id, Math.floor(h.clock.now().getTime() / 1000) - delay);
      const r = await deliver(x, id, body);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.duplicate).toBe(false);
      m.events.push({ id, body });
      if (!s.paid) {
        s.paid = true;
        m.acct[s.c].balance += PACK_CREDITS;
      }
      return;
    }
    case 'paidThriceAtOnce': {
      // One new event delivered three times at once: all acknowledged, one stored, at most one grant.
      const s = pick(m.sessions, cmd.session);
      if (!s) return;
      const id = `evt_burst_${m.events.length}_${s.id}`;
      const body = completed(s.id, id, Math.floor(h.clock.now().getTime() / 1000));
      const rs = await Promise.all([deliver(x, id, body), deliver(x, id, body), deliver(x, id, body)]);
      for (const r of rs) expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(rs.filter((r) => r.body.duplicate === false)).toHaveLength(1);
      m.events.push({ id, body });
      if (!s.paid) {
        s.paid = true;
        m.acct[s.c].balance += PACK_CREDITS;
      }
      return;
    }
    case 'deductTwiceAtOnce': {
      // The same keyed request sent twice at once: one effect, and both answers are that effect's.
      const url = `/v1/customers/${cmd.c}/credits/deduct`;
      const body = { amount: cmd.amount };
      const fingerprint = `POST ${url} ${JSON.stringify(body)}`;
      const prior = m.keys.get(cmd.key);
      const [a, b] = await Promise.all([0, 1].map(() => x.p.call('POST', url, body, { 'idempotency-key': cmd.key })));
      if (prior && prior.fingerprint !== fingerprint) {
        for (const r of [a!, b!]) expectError(r, 409, 'idempotency_conflict');
      } else if (prior) {
        for (const r of [a!, b!]) expect(r.body).toEqual(prior.body);
      } else if (availableOf(m, cmd.c) >= cmd.amount) {
        expect([a!.status, b!.status]).toEqual([200, 200]);
        expect(a!.body).toEqual(b!.body);
        m.acct[cmd.c].balance -= cmd.amount;
        expect(a!.body.balance).toBe(m.acct[cmd.c].balance);
        m.keys.set(cmd.key, { fingerprint, status: 200, body: a!.body });
      } else for (const r of [a!, b!]) expectError(r, 402, 'insufficient_credits');
      return;
    }
    case 'paidByHelper': {
      const s = pick(m.sessions, cmd.session);
      if (!s) return;
      const r = await x.p.call('POST', `/v1/test-helpers/checkout/${s.id}/pay`, { card: '4242424242424242' });
      if (s.paid) expectError(r, 409, 'conflict');
      else {
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        s.paid = true;
        m.acct[s.c].balance += PACK_CREDITS;
      }
      return;
    }
    case 'redeliver': {
      const e = pick(m.events, cmd.event);
      if (!e) return;
      const r = await deliver(x, e.id, e.body);
      expect(r.status).toBe(200);
      expect(r.body.duplicate).toBe(true);
      return;
    }
  }
}

// Checks after every step ---------------------------------------------------------------------------

/** The customers a command can have changed (a hold or session names its customer). */
function touched(m: Model, cmd: Cmd): Customer[] {
  if ('c' in cmd) return [cmd.c];
  if (cmd.op === 'capture' || cmd.op === 'release') return pick(m.holds, cmd.hold) ? [pick(m.holds, cmd.hold)!.c] : [];
  if (cmd.op === 'redeliver') return [...CUSTOMERS];
  return pick(m.sessions, cmd.session) ? [pick(m.sessions, cmd.session)!.c] : [];
}

const SUB_VIEW = {
  none: { status: 'free', plan: 'free', cancel_at_period_end: false },
  trialing: { status: 'trialing', plan: 'pro', cancel_at_period_end: false },
  canceling: { status: 'trialing', plan: 'pro', cancel_at_period_end: true },
  canceled: { status: 'canceled', plan: 'free' },
};

/** API reads (which write nothing) agree with the model for these customers. */
async function checkReads(x: Ctx, customers: readonly Customer[]) {
  const { m, p } = x;
  for (const c of customers) {
    const credits = await p.call('GET', `/v1/customers/${c}/credits`);
    if (credits.status === 404) {
      // Never used: nothing may have been recorded for it.
      expect(m.acct[c]).toEqual({ balance: 0, usage: 0, sub: 'none' });
      continue;
    }
    expect(credits.status).toBe(200);
    expect(credits.body, `credits of ${c}`).toMatchObject({ balance: m.acct[c].balance, held: heldOf(m, c), available: availableOf(m, c) });
    const sub = await p.call('GET', `/v1/customers/${c}/subscription`);
    expect(sub.status).toBe(200);
    expect(sub.body, `subscription of ${c}`).toMatchObject(SUB_VIEW[m.acct[c].sub]);
  }
}

/** What must hold in SQL after every step, read in one statement. */
async function checkInvariants(x: Ctx) {
  const { m, p } = x;
  const row = (
    await h.db.query<{ bad_balance: number; bad_held: number; negative: number; in_progress: number; keys: string[] | null; paid: number }>(
      `SELECT
        (SELECT count(*)::int FROM credit_accounts a WHERE a.project_id = $1 AND (a.balance < 0 OR a.balance <>
          (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries l WHERE l.project_id = a.project_id AND l.customer_id = a.customer_id))) AS bad_balance,
        (SELECT count(*)::int FROM credit_accounts a WHERE a.project_id = $1 AND a.held <>
          (SELECT COALESCE(SUM(amount), 0) FROM credit_holds o WHERE o.project_id = a.project_id AND o.customer_id = a.customer_id AND o.status = 'held')) AS bad_held,
        (SELECT count(*)::int FROM ledger_entries WHERE project_id = $1 AND balance_after < 0) AS negative,
        (SELECT count(*)::int FROM idempotency_keys WHERE project_id = $1 AND status_code IS NULL) AS in_progress,
        (SELECT array_agg(key ORDER BY key) FROM idempotency_keys WHERE project_id = $1) AS keys,
        (SELECT count(*)::int FROM payments WHERE project_id = $1 AND status = 'succeeded') AS paid`,
      [p.id],
    )
  ).rows[0]!;
  expect(row.bad_balance, 'accounts whose cached balance is not Σ ledger, or below 0').toBe(0);
  expect(row.bad_held, 'accounts whose held is not Σ open holds').toBe(0);
  expect(row.negative, 'ledger entries leaving a balance below 0').toBe(0);
  expect(row.in_progress, 'Idempotency-Keys left in progress').toBe(0);
  expect(row.keys ?? [], 'stored Idempotency-Keys (successful requests only)').toEqual([...m.keys.keys()].sort());
  expect(row.paid, 'one payment per paid session').toBe(m.sessions.filter((s) => s.paid).length);
}

/** At the end: every customer's reads, and its usage through check (a read). */
async function checkAll(x: Ctx) {
  await checkReads(x, CUSTOMERS);
  for (const c of CUSTOMERS) {
    if ((await x.p.call('GET', `/v1/customers/${c}`)).status === 404) continue;
    const r = await x.p.call('POST', '/v1/check', { customer_id: c, feature: 'messages', quantity: 1 });
    expect(r.body.usage, `usage of ${c}`).toBe(x.m.acct[c].usage);
  }
}

describe('model-based test', () => {
  it('random sequences of credits, holds, usage, subscriptions and provider events match the reference model after every step', async () => {
    const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
    const path = process.env.FC_PATH;
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 14 }), async (cmds) => {
        const p = await h.project({ catalog });
        const x: Ctx = { p, secret: (await findProject(h.db, p.id))!.sandbox_webhook_secret, m: newModel() };
        for (const [i, cmd] of cmds.entries()) {
          try {
            const who = touched(x.m, cmd);
            await run(x, cmd);
            await checkReads(x, who);
            await checkInvariants(x);
          } catch (e) {
            (e as Error).message = `step ${i} ${JSON.stringify(cmd)}: ${(e as Error).message}`;
            throw e;
          }
        }
        await checkAll(x);
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 25), endOnFailure: Boolean(path) || process.env.FC_END_ON_FAILURE === '1', ...(seed !== undefined ? { seed } : {}), ...(path ? { path } : {}) },
    );
  }, 120_000);
});
