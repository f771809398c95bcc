import { Counter, Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { InvalidRequestError } from '../../domain/errors.ts';
import type { AppContext } from '../../app/context.ts';
import { projectNow } from '../projects/projects.service.ts';
import { vatOfRevenue } from '../invoices/invoices.service.ts';
import * as repo from './metrics.repository.ts';

const DateOrDateTime = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

export const MetricsQuery = z.object({
  as_of: DateOrDateTime.optional().describe(
    'The instant the figures are taken at, included (a date means the whole of that day, UTC); default: now',
  ),
  from: DateOrDateTime.optional().describe('Start of the period flows are counted over (a date means its start, UTC); default: the first of as_of\'s month'),
  months: z.coerce.number().int().min(1).max(36).default(12).describe('How many calendar months revenue_by_month covers, ending with as_of\'s month'),
});

const Money = z.object({ amount: z.number().int(), currency: z.string() });
const Rate = z.number().nullable().describe('A fraction between 0 and 1; null when there was nothing to count');

/** The reply of `GET /v1/metrics`: money is always a list of `{amount, currency}`, one per currency. */
export const MetricsResponse = z.object({
  object: z.literal('metrics'),
  as_of: z.string().describe('The instant stock figures (MRR, active, trialing) are taken at'),
  period: z.object({ from: z.string(), to: z.string() }).describe('Flows (revenue, credits, churn, trial conversion) count over [from, to)'),
  mrr: z.array(Money).describe('Monthly recurring revenue of paying subscriptions at as_of (price less a coupon in effect; yearly / 12), per currency'),
  revenue: z.array(Money).describe('Net revenue (paid minus refunded) in the period, per currency'),
  revenue_excluding_vat: z
    .array(Money)
    .describe('The same revenue less the VAT its invoices carry (less the VAT of their credit notes), per currency'),
  revenue_by_month: z
    .array(
      z.object({
        month: z.string().describe('YYYY-MM, UTC'),
        currency: z.string(),
        amount: z.number().int().describe('Net: gross minus refunded'),
        gross: z.number().int(),
        refunded: z.number().int(),
        payments: z.number().int(),
      }),
    )
    .describe('Every month of the window for every currency seen in it (zero-filled), oldest first'),
  revenue_by_product: z
    .array(
      z.object({
        kind: z.string().describe('credit_pack, plan/subscription, order...'),
        item_id: z.string().nullable(),
        currency: z.string(),
        amount: z.number().int(),
        payments: z.number().int(),
      }),
    )
    .describe('Net revenue in the period by what was sold'),
  active_subscriptions: z.number().int(),
  trialing_subscriptions: z.number().int(),
  trial_conversion: z.object({ trials_ended: z.number().int(), converted: z.number().int(), rate: Rate }),
  churn: z.object({ active_at_start: z.number().int(), churned: z.number().int(), rate: Rate }),
  credits_sold: z.object({ credits: z.number().int(), revenue: z.array(Money) }),
  credits_consumed: z.object({ credits: z.number().int() }),
  net_revenue: z
    .array(
      z.object({
        currency: z.string(),
        gross: z.number().int().describe('Paid by the payments made in the period'),
        refunded: z.number().int(),
        fees: z
          .number()
          .int()
          .describe("The providers' fees in this currency, payment fees and dispute fees (a fee settled in another currency counts under that one)"),
        disputes: z.object({
          held: z.number().int().describe('Disputed and still open: the provider holds the money'),
          lost: z.number().int().describe('Disputes lost: the money is gone'),
          fees: z.number().int().describe("The providers' dispute fees (Stripe's), in this currency: the part of `fees` disputes cost"),
        }),
        net: z.number().int().describe('gross − refunded − fees − disputes held − disputes lost'),
        payments: z.number().int(),
        fees_unknown: z.number().int().describe('Payments whose fee the provider has not stated yet (counted as 0)'),
      }),
    )
    .describe('What the payments made in the period leave, per currency, after refunds, provider fees and disputes'),
});
export type Metrics = z.infer<typeof MetricsResponse>;

const DAY_MS = 86_400_000;
const isDateOnly = (s: string) => /^\d{4}-\d{2}-\d{2}$/.test(s);

function monthStart(d: Date, back = 0): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - back, 1));
}

/** The `count` calendar months (YYYY-MM, UTC) ending with `asOf`'s month, oldest first. */
export function monthWindow(asOf: Date, count: number): string[] {
  return monthsBetween(monthStart(asOf, count - 1), count);
}

function monthsBetween(first: Date, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(monthStart(first, -i).toISOString().slice(0, 7));
  return out;
}

const ratio = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 10_000) / 10_000 : null);

async function subscriptionFigures(q: Queryable, projectId: string, from: Date, to: Date) {
  const [f, mrr] = await Promise.all([repo.subscriptionFigures(q, projectId, from, to), repo.mrrAt(q, projectId, to)]);
  return { mrr, ...f };
}

/**
 * Credits bought and spent over the project's whole life up to `to` — the same rule as the period's
 * `credits_sold` / `credits_consumed` of `GET /v1/metrics`, over all time (the dashboard's totals).
 */
export async function creditTotals(q: Queryable, projectId: string, to: Date): Promise<{ sold: number; consumed: number }> {
  const r = await repo.creditFlows(q, projectId, new Date(0), to);
  return { sold: Number(r.sold), consumed: Number(r.consumed) };
}

/**
 * Revenue and usage figures of one project as of an instant, money per currency. The one definition of
 * revenue, MRR, churn and trial conversion: `GET /v1/metrics` and the dashboard both read it.
 */
export async function metrics(ctx: AppContext, q: Queryable, projectId: string, query: z.infer<typeof MetricsQuery>): Promise<Metrics> {
  const now = await projectNow(ctx, projectId);
  // as_of is inclusive: flows count over [from, end) where end is just after it. A date names the
  // whole day: "as of 2026-03-31" includes all of the 31st.
  const end = query.as_of
    ? new Date(isDateOnly(query.as_of) ? Date.parse(query.as_of) + DAY_MS : Date.parse(query.as_of) + 1)
    : new Date(now.getTime() + 1);
  const asOf = new Date(end.getTime() - 1);
  const from = query.from ? new Date(Date.parse(query.from)) : monthStart(asOf);
  if (from.getTime() > asOf.getTime()) throw new InvalidRequestError('from must not be after as_of', 'from');
  const windowStart = monthStart(asOf, query.months - 1);

  const [byMonth, byProduct, packRevenue, credits, subs, vat, net] = await Promise.all([
    repo.revenueByMonth(q, projectId, windowStart, end),
    repo.revenueByProduct(q, projectId, from, end),
    repo.creditPackRevenue(q, projectId, from, end),
    repo.creditFlows(q, projectId, from, end),
    subscriptionFigures(q, projectId, from, end),
    vatOfRevenue(q, projectId, from, end),
    repo.netRevenue(q, projectId, from, end),
  ]);

  const currencies = [...new Set(byMonth.map((r) => r.currency))].sort();
  const months = monthsBetween(windowStart, query.months);
  const revenue_by_month = months.flatMap((month) =>
    currencies.map((currency) => {
      const r = byMonth.find((x) => x.month === month && x.currency === currency);
      const gross = r?.gross ?? 0;
      const refunded = r?.refunded ?? 0;
      return { month, currency, amount: gross - refunded, gross, refunded, payments: r?.payments ?? 0 };
    }),
  );
  const revenue = new Map<string, number>();
  for (const p of byProduct) revenue.set(p.currency, (revenue.get(p.currency) ?? 0) + p.amount);

  return {
    object: 'metrics',
    as_of: asOf.toISOString(),
    period: { from: from.toISOString(), to: end.toISOString() },
    mrr: subs.mrr,
    revenue: [...revenue].sort(([a], [b]) => a.localeCompare(b)).map(([currency, amount]) => ({ amount, currency })),
    revenue_excluding_vat: [...revenue]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([currency, amount]) => ({ amount: amount - (vat.get(currency) ?? 0), currency })),
    revenue_by_month,
    revenue_by_product: byProduct,
    active_subscriptions: subs.active,
    trialing_subscriptions: subs.trialing,
    trial_conversion: { trials_ended: subs.trials_ended, converted: subs.trials_converted, rate: ratio(subs.trials_converted, subs.trials_ended) },
    churn: { active_at_start: subs.active_at_start, churned: subs.churned, rate: ratio(subs.churned, subs.active_at_start) },
    credits_sold: { credits: credits.sold, revenue: packRevenue },
    credits_consumed: { credits: credits.consumed },
    net_revenue: net.map(netView),
  };
}

function netView(r: repo.NetRevenueRow) {
  const [gross, refunded, paymentFees, held, lost, disputeFees] = [r.gross, r.refunded, r.fees, r.disputes_held, r.disputes_lost, r.dispute_fees].map(
    Number,
  ) as [number, number, number, number, number, number];
  const fees = paymentFees + disputeFees;
  return {
    currency: r.currency,
    gross,
    refunded,
    fees,
    disputes: { held, lost, fees: disputeFees },
    net: gross - refunded - fees - held - lost,
    payments: Number(r.payments),
    fees_unknown: Number(r.fees_unknown),
  };
}

/**
 * The project's money as Prometheus exposition text (`GET /v1/metrics/prometheus`): all-time totals per
 * currency as counters (gross, refunded, fees, dispute fees, disputes lost), and gauges for what open disputes hold,
 * the net and the number of open disputes.
 */
export async function prometheusMoney(q: Queryable, projectId: string): Promise<{ contentType: string; text: string }> {
  const [rows, disputes] = await Promise.all([repo.netRevenue(q, projectId, new Date(0), new Date('9999-01-01T00:00:00Z')), repo.openDisputes(q, projectId)]);
  const register = new Registry();
  const labelNames = ['project', 'currency'] as const;
  const counter = (name: string, help: string) => new Counter({ name, help, labelNames, registers: [register] });
  const gauge = (name: string, help: string, labels: readonly string[] = labelNames) => new Gauge({ name, help, labelNames: labels, registers: [register] });
  const gross = counter('tollgate_revenue_gross_minor_units_total', 'Paid by all payments, in minor units of the currency.');
  const refunded = counter('tollgate_revenue_refunded_minor_units_total', 'Refunded, in minor units.');
  const fees = counter('tollgate_provider_fees_minor_units_total', "The providers' fees (payment and dispute fees), in minor units of the fee currency.");
  const disputeFees = counter('tollgate_dispute_fees_minor_units_total', "The providers' dispute fees (part of the provider fees), in minor units.");
  const lost = counter('tollgate_disputes_lost_minor_units_total', 'Disputed and lost, in minor units.');
  const held = gauge('tollgate_disputes_held_minor_units', 'Disputed and still open (held by the provider), in minor units.');
  const net = gauge('tollgate_revenue_net_minor_units', 'gross - refunded - fees - disputes held - disputes lost, in minor units.');
  const open = gauge('tollgate_disputes_open', 'Disputes still open (needs_response or under_review).', ['project']);
  for (const r of rows) {
    const v = netView(r);
    const l = { project: projectId, currency: r.currency };
    gross.inc(l, v.gross);
    refunded.inc(l, v.refunded);
    fees.inc(l, v.fees);
    lost.inc(l, v.disputes.lost);
    disputeFees.inc(l, v.disputes.fees);
    held.set(l, v.disputes.held);
    net.set(l, v.net);
  }
  open.set({ project: projectId }, disputes[0]?.open ?? 0);
  return { contentType: register.contentType, text: await register.metrics() };
}
