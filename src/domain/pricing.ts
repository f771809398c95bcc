import { formatMoney, type Money, percentOf } from './money.ts';
import { formatRate } from './vat-rates.ts';
import { type AppliedCoupon, addInterval, amountDue, discountFor, type Interval, prorate } from './subscription.ts';

/**
 * What a customer is shown, computed once: the checkout session reply, the hosted checkout page,
 * the pricing page and the payment-link page all read this summary, and the charge uses its figures.
 */
export interface SummaryLine {
  name: string;
  unit_amount: number;
  quantity: number;
  amount: number;
}

export interface SummaryCoupon extends AppliedCoupon {
  id?: string | null;
  name?: string | null;
}

/** The tax of a checkout: added on top (exclusive prices), contained (inclusive), or left to the provider (Stripe Tax). */
export interface SummaryTax {
  behavior: 'inclusive' | 'exclusive';
  computed_by: 'tollgate' | 'stripe';
  /** Percent; null when the provider computes it at payment. */
  rate: number | null;
  country: string | null;
  treatment: 'standard' | 'reverse_charge' | 'none' | null;
  /** Net of today's charge (before VAT added on top). */
  net: number;
  /** VAT of today's charge; null when the provider computes it at payment. */
  amount: number | null;
}

export interface PriceSummary {
  currency: string;
  lines: SummaryLine[];
  /** Σ unit_amount × quantity before any discount. */
  subtotal: number;
  /** The coupon's discount on today's charge (or, in a trial, on the first charge after it). */
  discount: {
    coupon_id: string | null;
    name: string | null;
    amount: number;
    percent_off: number | null;
    amount_off: number | null;
    duration: AppliedCoupon['duration'];
    duration_in_months: number | null;
  } | null;
  /** What is charged today; 0 during a trial. The checkout session's `amount_total` is this figure. */
  amount_due_today: number;
  trial: { days: number; ends_at: string } | null;
  /** The recurring charge that follows: its amount, how often, and when the first one is taken. */
  recurring: { amount: number; interval: Interval; starts_at: string } | null;
  /** Absent on summaries stored before taxes were shown. */
  tax?: SummaryTax | null;
}

export interface SummaryInput {
  currency: string;
  lines: { name: string; unitAmount: number; quantity: number }[];
  /** Present for a subscription. `trialEnd` overrides `trialDays` (a trial already running keeps its end). */
  subscription?: { interval: Interval; trialDays: number; trialEnd?: Date | null } | null;
  coupon?: SummaryCoupon | null;
  at: Date;
}

export function priceSummary(i: SummaryInput): PriceSummary {
  const lines = i.lines.map((l) => ({ name: l.name, unit_amount: l.unitAmount, quantity: l.quantity, amount: l.unitAmount * l.quantity }));
  const subtotal = lines.reduce((s, l) => s + l.amount, 0);
  const coupon = i.coupon ?? null;
  const sub = i.subscription ?? null;
  if (!sub) {
    const off = coupon ? Math.min(subtotal, Math.max(0, coupon.percentOff !== null ? percentOf(subtotal, coupon.percentOff) : (coupon.amountOff ?? 0))) : 0;
    return { currency: i.currency, lines, subtotal, discount: discountView(coupon, off), amount_due_today: subtotal - off, trial: null, recurring: null };
  }
  const trialEnd = sub.trialEnd ?? (sub.trialDays > 0 ? new Date(i.at.getTime() + sub.trialDays * 86_400_000) : null);
  const inTrial = trialEnd !== null && trialEnd.getTime() > i.at.getTime();
  // Cycle 0 is the first paid period: today without a trial, at trial end with one.
  const first = amountDue(subtotal, 1, coupon, 0, sub.interval);
  const off = discountFor(coupon, subtotal, 0, sub.interval);
  if (inTrial) {
    const days = Math.max(1, Math.round((trialEnd.getTime() - i.at.getTime()) / 86_400_000));
    return {
      currency: i.currency,
      lines,
      subtotal,
      discount: discountView(coupon, off),
      amount_due_today: 0,
      trial: { days, ends_at: trialEnd.toISOString() },
      recurring: { amount: first, interval: sub.interval, starts_at: trialEnd.toISOString() },
    };
  }
  return {
    currency: i.currency,
    lines,
    subtotal,
    discount: discountView(coupon, off),
    amount_due_today: first,
    trial: null,
    recurring: { amount: amountDue(subtotal, 1, coupon, 1, sub.interval), interval: sub.interval, starts_at: addInterval(i.at, sub.interval, 1).toISOString() },
  };
}

function discountView(c: SummaryCoupon | null, amount: number): PriceSummary['discount'] {
  if (!c) return null;
  return {
    coupon_id: c.id ?? null,
    name: c.name ?? null,
    amount,
    percent_off: c.percentOff,
    amount_off: c.amountOff,
    duration: c.duration,
    duration_in_months: c.months,
  };
}

/** The sentences a page shows for a summary (English; every page uses these, so none can disagree). */
export function describeSummary(s: PriceSummary, locale = 'en') {
  const fmt = (amount: number) => formatMoney({ amount, currency: s.currency } as Money, locale);
  const single = s.lines.length === 1 ? s.lines[0] : undefined;
  const breakdown = single && single.quantity > 1 ? ` (${single.quantity} × ${fmt(single.unit_amount)})` : '';
  let headline: string;
  if (s.recurring && s.trial) {
    headline = `Free for ${s.trial.days} day${s.trial.days === 1 ? '' : 's'}, then ${fmt(s.recurring.amount)} per ${s.recurring.interval}${breakdown}`;
  } else if (s.recurring) {
    headline =
      s.recurring.amount === s.amount_due_today
        ? `${fmt(s.recurring.amount)} per ${s.recurring.interval}${breakdown}`
        : `${fmt(s.amount_due_today)} today, then ${fmt(s.recurring.amount)} per ${s.recurring.interval}${breakdown}`;
  } else {
    headline = `${fmt(s.amount_due_today)}${breakdown}`;
  }
  const discount = s.discount && s.discount.amount > 0 ? { label: discountLabel(s.discount), amount: `−${fmt(s.discount.amount)}` } : null;
  return {
    headline,
    due_today: fmt(s.amount_due_today),
    discount,
    tax: taxLine(s.tax ?? null, locale, fmt),
    /** The label of the total row: what is charged today. */
    total_label: locale.toLowerCase().startsWith('fr') ? (s.tax?.behavior === 'exclusive' ? 'Total TTC aujourd’hui' : 'À payer aujourd’hui') : 'Due today',
    lines: s.lines.map((l) => ({ label: l.quantity > 1 ? `${l.name} × ${l.quantity}` : l.name, amount: fmt(l.amount) })),
    button: s.amount_due_today === 0 && s.trial ? `Start trial — ${fmt(0)} today` : `Pay ${fmt(s.amount_due_today)}`,
    /** When the recurring charge starts, as a sentence (null for a one-off payment). */
    recurring: s.recurring ? `${s.trial ? 'First charge' : 'Next charge'} ${fmt(s.recurring.amount)} on ${s.recurring.starts_at.slice(0, 10)}, then every ${s.recurring.interval}` : null,
  };
}

/** The VAT line of an exclusive price ("VAT 20 % (FR)", "TVA 20 % (FR)"); null when VAT is included or left to the provider. */
function taxLine(t: SummaryTax | null, locale: string, fmt: (amount: number) => string): { label: string; amount: string } | null {
  if (t?.behavior !== 'exclusive' || t.computed_by !== 'tollgate' || t.amount === null) return null;
  const fr = locale.toLowerCase().startsWith('fr');
  const vat = fr ? 'TVA' : 'VAT';
  if (t.treatment === 'reverse_charge') return { label: fr ? `${vat} autoliquidée (${t.country})` : `${vat} reverse charged (${t.country})`, amount: fmt(0) };
  if (t.treatment !== 'standard') return null;
  return { label: `${vat} ${formatRate(t.rate ?? 0, locale)} (${t.country})`, amount: fmt(t.amount) };
}

function discountLabel(d: NonNullable<PriceSummary['discount']>): string {
  const what = d.percent_off !== null ? `${d.percent_off} % off` : 'Discount';
  const name = d.name ?? d.coupon_id;
  const how = d.duration === 'forever' ? '' : d.duration === 'once' ? ' (first payment)' : ` (${d.duration_in_months} months)`;
  return `${name ? `${name} — ` : ''}${what}${how}`;
}

// Plan changes ---------------------------------------------------------------------------------

export interface ChargeTerms {
  unitAmount: number;
  quantity: number;
}

/**
 * The prorated difference of a plan change, on what the customer actually pays per period
 * (price × quantity − the coupon for the current cycle) for the time left. Preview and charge use this.
 */
export function prorateChange(i: {
  from: ChargeTerms;
  to: ChargeTerms;
  coupon: AppliedCoupon | null;
  /** The billing cycle the current period is (0 = first paid period). */
  cycle: number;
  interval: Interval;
  periodStart: Date;
  periodEnd: Date;
  at: Date;
}) {
  const oldAmount = amountDue(i.from.unitAmount, i.from.quantity, i.coupon, i.cycle, i.interval);
  const newAmount = amountDue(i.to.unitAmount, i.to.quantity, i.coupon, i.cycle, i.interval);
  return { oldAmount, newAmount, ...prorate({ oldAmount, newAmount, periodStart: i.periodStart, periodEnd: i.periodEnd, at: i.at }) };
}
