import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addInterval,
  amountDue,
  assertAction,
  assertTransition,
  canTransition,
  couponApplies,
  daysRemaining,
  discountFor,
  InvalidTransitionError,
  syncFromProvider,
  transition,
  mapProviderStatus,
  nextStep,
  periodAt,
  prorate,
  SUBSCRIPTION_STATUSES,
  type SubscriptionStatus,
} from './subscription.ts';

const d = (s: string) => new Date(s);

describe('subscription state machine', () => {
  const legal: [SubscriptionStatus, SubscriptionStatus][] = [
    ['trialing', 'trialing'],
    ['trialing', 'active'],
    ['trialing', 'past_due'],
    ['trialing', 'canceled'],
    ['trialing', 'expired'],
    ['active', 'active'],
    ['active', 'past_due'],
    ['active', 'canceled'],
    ['past_due', 'active'],
    ['past_due', 'past_due'],
    ['past_due', 'canceled'],
  ];
  const isLegal = (a: SubscriptionStatus, b: SubscriptionStatus) => legal.some(([x, y]) => x === a && y === b);

  for (const from of SUBSCRIPTION_STATUSES) {
    for (const to of SUBSCRIPTION_STATUSES) {
      it(`${from} → ${to} is ${isLegal(from, to) ? 'allowed' : 'rejected'}`, () => {
        expect(canTransition(from, to)).toBe(isLegal(from, to));
        if (isLegal(from, to)) expect(() => assertTransition(from, to)).not.toThrow();
        else expect(() => assertTransition(from, to)).toThrow(InvalidTransitionError);
      });
    }
  }

  it('each event leads to its status wherever the machine allows it, and is refused elsewhere with a 409 naming from and to', () => {
    const target = { pay: 'active', payment_failed: 'past_due', cancel: 'canceled', expire: 'expired' } as const;
    for (const from of SUBSCRIPTION_STATUSES) {
      for (const [event, to] of Object.entries(target) as [keyof typeof target, SubscriptionStatus][]) {
        if (isLegal(from, to)) {
          expect(transition(from, event)).toBe(to);
          continue;
        }
        try {
          transition(from, event);
          expect.unreachable();
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidTransitionError);
          expect((err as InvalidTransitionError).code).toBe('conflict');
          expect((err as InvalidTransitionError).details).toMatchObject({ from, to });
          expect((err as Error).message).toBe(`A ${from} subscription cannot become ${to}`);
        }
      }
    }
  });

  it('the runner and the services meet only legal moves: a trial converts or expires, renewals fail into past_due, retries recover or cancel', () => {
    expect(transition('trialing', 'pay')).toBe('active');
    expect(transition('trialing', 'expire')).toBe('expired');
    expect(transition('active', 'payment_failed')).toBe('past_due');
    expect(transition('past_due', 'pay')).toBe('active');
    expect(transition('past_due', 'cancel')).toBe('canceled');
    expect(() => transition('active', 'expire')).toThrow('A active subscription cannot become expired');
    expect(() => transition('canceled', 'pay')).toThrow('A canceled subscription cannot become active');
    expect(() => transition('expired', 'cancel')).toThrow('A expired subscription cannot become canceled');
  });

  it('a provider-billed subscription takes the status its provider reports', () => {
    for (const from of SUBSCRIPTION_STATUSES) for (const to of SUBSCRIPTION_STATUSES) expect(syncFromProvider(from, to)).toBe(to);
  });

  it('terminal statuses refuse every action with a conflict naming the status', () => {
    for (const s of ['canceled', 'expired'] as const) {
      for (const a of ['cancel_now', 'cancel_at_period_end', 'resume', 'change_plan', 'update_card'] as const) {
        try {
          assertAction(s, a);
          expect.unreachable();
        } catch (err) {
          expect((err as InvalidTransitionError).code).toBe('conflict');
          expect((err as InvalidTransitionError).details).toMatchObject({ status: s, action: a });
        }
      }
    }
    expect(() => assertAction('past_due', 'change_plan')).toThrow(/past_due subscription cannot change plan/);
    expect(() => assertAction('active', 'resume')).not.toThrow();
  });

  it('maps provider statuses, and a deleted subscription is canceled whatever its status says', () => {
    expect(mapProviderStatus('active', true)).toBe('canceled');
    expect(mapProviderStatus('unpaid', false)).toBe('past_due');
    expect(mapProviderStatus('incomplete_expired', false)).toBe('expired');
    expect(mapProviderStatus('weird', false)).toBeNull();
  });
});

describe('periods', () => {
  it('clamps to the end of shorter months without drifting', () => {
    const a = d('2026-01-31T09:00:00Z');
    expect(addInterval(a, 'month', 1).toISOString()).toBe('2026-02-28T09:00:00.000Z');
    expect(addInterval(a, 'month', 2).toISOString()).toBe('2026-03-31T09:00:00.000Z');
    expect(addInterval(a, 'month', 3).toISOString()).toBe('2026-04-30T09:00:00.000Z');
    expect(addInterval(d('2028-01-31T00:00:00Z'), 'month', 1).toISOString()).toBe('2028-02-29T00:00:00.000Z');
    expect(addInterval(d('2028-02-29T00:00:00Z'), 'year', 1).toISOString()).toBe('2029-02-28T00:00:00.000Z');
    expect(addInterval(d('2028-02-29T00:00:00Z'), 'year', 4).toISOString()).toBe('2032-02-29T00:00:00.000Z');
    expect(addInterval(d('2026-11-15T00:00:00Z'), 'month', 2).toISOString()).toBe('2027-01-15T00:00:00.000Z');
  });

  it('consecutive periods are contiguous and always advance', () => {
    fc.assert(
      fc.property(
        fc.date({ min: d('2000-01-01'), max: d('2100-01-01'), noInvalidDate: true }),
        fc.constantFrom('month' as const, 'year' as const),
        fc.integer({ min: 0, max: 60 }),
        (anchor, interval, i) => {
          const p = periodAt(anchor, interval, i);
          const next = periodAt(anchor, interval, i + 1);
          expect(p.end.getTime()).toBe(next.start.getTime());
          expect(p.end.getTime()).toBeGreaterThan(p.start.getTime());
        },
      ),
    );
  });

  it('days remaining rounds up and stops at 0', () => {
    expect(daysRemaining(d('2026-03-15T10:00:00Z'), d('2026-03-01T10:00:00Z'))).toBe(14);
    expect(daysRemaining(d('2026-03-15T10:00:00Z'), d('2026-03-01T10:00:01Z'))).toBe(14);
    expect(daysRemaining(d('2026-03-15T10:00:00Z'), d('2026-03-14T10:00:01Z'))).toBe(1);
    expect(daysRemaining(d('2026-03-15T10:00:00Z'), d('2026-03-16T10:00:00Z'))).toBe(0);
  });
});

describe('proration', () => {
  const ps = d('2026-03-01T00:00:00Z');
  const pe = d('2026-03-31T00:00:00Z');

  it('half way through, upgrading 900 → 2900 charges half the difference', () => {
    expect(prorate({ oldAmount: 900, newAmount: 2900, periodStart: ps, periodEnd: pe, at: d('2026-03-16T00:00:00Z') })).toEqual({
      credit: 450,
      charge: 1450,
      due: 1000,
      remainingPpm: 500000,
    });
  });

  it('at the start the whole difference is due, at the end nothing', () => {
    expect(prorate({ oldAmount: 900, newAmount: 2900, periodStart: ps, periodEnd: pe, at: ps }).due).toBe(2000);
    expect(prorate({ oldAmount: 900, newAmount: 2900, periodStart: ps, periodEnd: pe, at: pe }).due).toBe(0);
  });

  it('a downgrade is never negative', () => {
    expect(prorate({ oldAmount: 2900, newAmount: 900, periodStart: ps, periodEnd: pe, at: d('2026-03-10T00:00:00Z') }).due).toBe(0);
  });

  it('is integer, bounded by the difference and monotone in time', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: 0, max: 30 * 86_400_000 }),
        fc.integer({ min: 0, max: 30 * 86_400_000 }),
        (a, b, t1, t2) => {
          const [lo, hi] = t1 <= t2 ? [t1, t2] : [t2, t1];
          const early = prorate({ oldAmount: a, newAmount: b, periodStart: ps, periodEnd: pe, at: new Date(ps.getTime() + lo) });
          const late = prorate({ oldAmount: a, newAmount: b, periodStart: ps, periodEnd: pe, at: new Date(ps.getTime() + hi) });
          expect(Number.isInteger(early.due)).toBe(true);
          expect(early.due).toBeLessThanOrEqual(Math.max(0, b - a) + 1);
          expect(early.charge).toBeGreaterThanOrEqual(late.charge);
        },
      ),
    );
  });

  it('rejects an empty period and fractional amounts', () => {
    expect(() => prorate({ oldAmount: 1, newAmount: 2, periodStart: pe, periodEnd: pe, at: pe })).toThrow(RangeError);
    expect(() => prorate({ oldAmount: 1.5, newAmount: 2, periodStart: ps, periodEnd: pe, at: pe })).toThrow(RangeError);
  });
});

describe('coupons', () => {
  const base = { percentOff: 20, amountOff: null, months: null, startCycle: 0 };

  it('once applies to the first cycle only', () => {
    const c = { ...base, duration: 'once' as const };
    expect([0, 1, 2].map((i) => discountFor(c, 900, i, 'month'))).toEqual([180, 0, 0]);
  });

  it('repeating 3 months applies to three monthly cycles, and to the first yearly one', () => {
    const c = { ...base, duration: 'repeating' as const, months: 3 };
    expect([0, 1, 2, 3, 4].map((i) => amountDue(900, 1, c, i, 'month'))).toEqual([720, 720, 720, 900, 900]);
    expect([0, 1].map((i) => couponApplies(c, i, 'year'))).toEqual([true, false]);
  });

  it('forever applies to every cycle; amount off never exceeds the price', () => {
    const c = { percentOff: null, amountOff: 500, months: null, startCycle: 2, duration: 'forever' as const };
    expect([0, 1, 2, 50].map((i) => amountDue(300, 1, c, i, 'month'))).toEqual([300, 300, 0, 0]);
    expect(amountDue(900, 3, c, 2, 'month')).toBe(2200);
  });
});

describe('runner schedule', () => {
  const state = {
    status: 'trialing' as const,
    trialStart: d('2026-03-01T00:00:00Z'),
    trialEnd: d('2026-03-15T00:00:00Z'),
    trialWillEndSent: false,
    currentPeriodEnd: d('2026-03-15T00:00:00Z'),
    cancelAtPeriodEnd: false,
    nextRetryAt: null,
  };
  it('reminds 3 days before a trial ends, then ends it', () => {
    expect(nextStep(state)).toEqual({ kind: 'trial_will_end', at: d('2026-03-12T00:00:00Z') });
    expect(nextStep({ ...state, trialWillEndSent: true })).toEqual({ kind: 'trial_end', at: state.trialEnd });
    expect(nextStep({ ...state, trialWillEndSent: true, cancelAtPeriodEnd: true })?.kind).toBe('cancel');
  });
  it('renews or cancels an active one at period end, retries a past_due one, leaves ended ones', () => {
    expect(nextStep({ ...state, status: 'active' })).toEqual({ kind: 'renew', at: state.currentPeriodEnd });
    expect(nextStep({ ...state, status: 'active', cancelAtPeriodEnd: true })?.kind).toBe('cancel');
    expect(nextStep({ ...state, status: 'past_due', nextRetryAt: state.trialEnd })?.kind).toBe('retry');
    expect(nextStep({ ...state, status: 'canceled' })).toBeNull();
  });
});
