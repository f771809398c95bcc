import { AppError } from './errors.ts';
import { percentOf } from './money.ts';

export const SUBSCRIPTION_STATUSES = ['trialing', 'active', 'past_due', 'canceled', 'expired'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];
export type Interval = 'month' | 'year';

/** Statuses that grant the plan's entitlements (past_due keeps access while payment is retried). */
export const LIVE_STATUSES: readonly SubscriptionStatus[] = ['trialing', 'active', 'past_due'];
export function isLive(s: SubscriptionStatus): boolean {
  return LIVE_STATUSES.includes(s);
}

/**
 * The subscription state machine. `active → active` is a renewal or a plan change;
 * canceled and expired are terminal (subscribing again creates a new subscription).
 */
export const TRANSITIONS: Record<SubscriptionStatus, readonly SubscriptionStatus[]> = {
  trialing: ['trialing', 'active', 'past_due', 'canceled', 'expired'],
  active: ['active', 'past_due', 'canceled'],
  past_due: ['active', 'past_due', 'canceled'],
  canceled: [],
  expired: [],
};

export function canTransition(from: SubscriptionStatus, to: SubscriptionStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export class InvalidTransitionError extends AppError {
  constructor(from: SubscriptionStatus, to: SubscriptionStatus, action?: string) {
    super('conflict', `A ${from} subscription cannot ${action ?? `become ${to}`}`, { status: from, requested: action ?? to, from, to });
  }
}

export function assertTransition(from: SubscriptionStatus, to: SubscriptionStatus, action?: string): void {
  if (!canTransition(from, to)) throw new InvalidTransitionError(from, to, action);
}

/**
 * What moves a subscription Tollgate bills from one status to another. Every status change of a
 * stored subscription goes through `transition` (or `syncFromProvider`), never a direct assignment.
 * - `pay`: a period is paid (or costs nothing) → active (a trial converts, past_due recovers, a renewal).
 * - `payment_failed`: a charge failed → past_due.
 * - `cancel`: canceled now, at a period end, after the last retry, or replaced → canceled.
 * - `expire`: a trial ended without payment → expired.
 */
export type SubscriptionEvent = 'pay' | 'payment_failed' | 'cancel' | 'expire';
const EVENT_TARGET: Record<SubscriptionEvent, SubscriptionStatus> = {
  pay: 'active',
  payment_failed: 'past_due',
  cancel: 'canceled',
  expire: 'expired',
};

/** The status `event` leads to from `from`; throws InvalidTransitionError (409 conflict) when the machine forbids it. */
export function transition(from: SubscriptionStatus, event: SubscriptionEvent): SubscriptionStatus {
  const to = EVENT_TARGET[event];
  if (!canTransition(from, to)) throw new InvalidTransitionError(from, to);
  return to;
}

/**
 * A subscription billed by an outside provider takes the status the provider reports: the provider is
 * the source of truth for its own subscriptions (a reactivated or paused Stripe subscription included),
 * so every move is accepted here. Older or deleted-subscription events are filtered before this point.
 */
export function syncFromProvider(_from: SubscriptionStatus, reported: SubscriptionStatus): SubscriptionStatus {
  return reported;
}

/** What an operator or customer may do, by status; anything else is rejected with a clear error. */
export type SubscriptionAction = 'cancel_now' | 'cancel_at_period_end' | 'resume' | 'change_plan' | 'update_card';
const ACTIONS: Record<SubscriptionStatus, readonly SubscriptionAction[]> = {
  trialing: ['cancel_now', 'cancel_at_period_end', 'resume', 'change_plan', 'update_card'],
  active: ['cancel_now', 'cancel_at_period_end', 'resume', 'change_plan', 'update_card'],
  past_due: ['cancel_now', 'update_card'],
  canceled: [],
  expired: [],
};
export function assertAction(status: SubscriptionStatus, action: SubscriptionAction): void {
  if (!ACTIONS[status].includes(action)) {
    throw new AppError('conflict', `A ${status} subscription cannot ${action.replaceAll('_', ' ')}`, { status, action });
  }
}

// Periods -------------------------------------------------------------------------------

function daysInMonthUtc(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/**
 * The anchor moved by `n` months (or years), clamped to the end of shorter months:
 * Jan 31 + 1 month = Feb 28 (29 in leap years), + 2 months = Mar 31. Always computed from the
 * anchor, never from the previous period end, so the day of month never drifts.
 */
export function addInterval(anchor: Date, interval: Interval, n: number): Date {
  const months = interval === 'year' ? 12 * n : n;
  const y = anchor.getUTCFullYear();
  const m = anchor.getUTCMonth() + months;
  const ty = y + Math.floor(m / 12);
  const tm = ((m % 12) + 12) % 12;
  const day = Math.min(anchor.getUTCDate(), daysInMonthUtc(ty, tm));
  return new Date(
    Date.UTC(ty, tm, day, anchor.getUTCHours(), anchor.getUTCMinutes(), anchor.getUTCSeconds(), anchor.getUTCMilliseconds()),
  );
}

/** Period `index` (0-based) of a subscription billed from `anchor`. */
export function periodAt(anchor: Date, interval: Interval, index: number): { start: Date; end: Date } {
  return { start: addInterval(anchor, interval, index), end: addInterval(anchor, interval, index + 1) };
}

export function addDays(d: Date, days: number): Date {
  return new Date(d.getTime() + days * 86_400_000);
}

/** Whole days left, rounded up; 0 once the moment has passed. */
export function daysRemaining(end: Date, now: Date): number {
  return Math.max(0, Math.ceil((end.getTime() - now.getTime()) / 86_400_000));
}

/** Start of the calendar month (UTC) — the metered period of a customer without a subscription. */
export function monthStart(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
}

// Proration -------------------------------------------------------------------------------

export interface ProrationInput {
  /** What the current plan costs per period (after quantity), minor units. */
  oldAmount: number;
  newAmount: number;
  periodStart: Date;
  periodEnd: Date;
  at: Date;
}

export interface Proration {
  /** Unused time on the old plan, returned. */
  credit: number;
  /** Remaining time on the new plan. */
  charge: number;
  /** charge − credit, never below 0 (a downgrade waits for the period end instead). */
  due: number;
  /** Fraction of the period left, in millionths. */
  remainingPpm: number;
}

/** Time-based proration of a plan change at `at`, in integer minor units (half up). */
export function prorate(i: ProrationInput): Proration {
  const total = i.periodEnd.getTime() - i.periodStart.getTime();
  if (total <= 0) throw new RangeError('period must have a positive length');
  if (!Number.isInteger(i.oldAmount) || !Number.isInteger(i.newAmount) || i.oldAmount < 0 || i.newAmount < 0) {
    throw new RangeError('amounts must be non-negative integers');
  }
  const left = Math.min(total, Math.max(0, i.periodEnd.getTime() - i.at.getTime()));
  // left/total as an exact rational: compute with integer math on ms to avoid float drift.
  const share = (amount: number) => Number((BigInt(amount) * BigInt(left) * 2n + BigInt(total)) / (2n * BigInt(total)));
  const credit = share(i.oldAmount);
  const charge = share(i.newAmount);
  return { credit, charge, due: Math.max(0, charge - credit), remainingPpm: Math.round((left * 1_000_000) / total) };
}

// Coupons -------------------------------------------------------------------------------

export interface AppliedCoupon {
  percentOff: number | null;
  amountOff: number | null;
  duration: 'once' | 'repeating' | 'forever';
  /** For repeating: how many months the discount lasts. */
  months: number | null;
  /** The billing cycle (0 = first paid period) from which the coupon counts. */
  startCycle: number;
}

/** Whether the coupon still applies to billing cycle `cycle` of a subscription billed every `interval`. */
export function couponApplies(c: AppliedCoupon, cycle: number, interval: Interval): boolean {
  const since = cycle - c.startCycle;
  if (since < 0) return false;
  if (c.duration === 'forever') return true;
  if (c.duration === 'once') return since === 0;
  const monthsPerCycle = interval === 'year' ? 12 : 1;
  return since * monthsPerCycle < (c.months ?? 0);
}

/** The discount on `amount` for cycle `cycle` (never more than the amount). */
export function discountFor(c: AppliedCoupon | null, amount: number, cycle: number, interval: Interval): number {
  if (!c || !couponApplies(c, cycle, interval)) return 0;
  const off = c.percentOff !== null ? percentOf(amount, c.percentOff) : (c.amountOff ?? 0);
  return Math.min(amount, Math.max(0, off));
}

/** What a cycle costs: price × quantity − the coupon's discount. */
export function amountDue(unitAmount: number, quantity: number, coupon: AppliedCoupon | null, cycle: number, interval: Interval): number {
  const gross = unitAmount * quantity;
  return gross - discountFor(coupon, gross, cycle, interval);
}

// Runner steps -----------------------------------------------------------------------------

export const TRIAL_WILL_END_DAYS = 3;
/** past_due retries, in days after the failed renewal; after the last one the subscription is canceled. */
export const RETRY_SCHEDULE_DAYS = [1, 3, 5] as const;

export interface ScheduleState {
  status: SubscriptionStatus;
  trialStart: Date | null;
  trialEnd: Date | null;
  trialWillEndSent: boolean;
  currentPeriodEnd: Date;
  cancelAtPeriodEnd: boolean;
  nextRetryAt: Date | null;
}

export type Step =
  | { kind: 'trial_will_end'; at: Date }
  | { kind: 'trial_end'; at: Date }
  | { kind: 'cancel'; at: Date }
  | { kind: 'renew'; at: Date }
  | { kind: 'retry'; at: Date };

/** The next thing the runner must do for a subscription Tollgate bills, and when; null when none. */
export function nextStep(s: ScheduleState): Step | null {
  if (s.status === 'trialing' && s.trialEnd) {
    const remind = addDays(s.trialEnd, -TRIAL_WILL_END_DAYS);
    if (!s.trialWillEndSent && s.trialStart && remind.getTime() > s.trialStart.getTime()) return { kind: 'trial_will_end', at: remind };
    return { kind: s.cancelAtPeriodEnd ? 'cancel' : 'trial_end', at: s.trialEnd };
  }
  if (s.status === 'active') return { kind: s.cancelAtPeriodEnd ? 'cancel' : 'renew', at: s.currentPeriodEnd };
  if (s.status === 'past_due' && s.nextRetryAt) return { kind: 'retry', at: s.nextRetryAt };
  return null;
}

/** Maps a provider's subscription status onto Tollgate's (null: not one we track). */
export function mapProviderStatus(status: string, deleted: boolean): SubscriptionStatus | null {
  if (deleted) return 'canceled';
  switch (status) {
    case 'trialing':
    case 'active':
    case 'past_due':
    case 'canceled':
    case 'expired':
      return status;
    case 'unpaid':
    case 'incomplete':
      return 'past_due';
    case 'incomplete_expired':
      return 'expired';
    case 'paused':
      return 'expired';
    default:
      return null;
  }
}
