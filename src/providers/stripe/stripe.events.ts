import type { DisputeEvent, DisputeStatus, ProviderEvent } from '../provider.ts';

/** Stripe's JSON, read defensively: the domain sees only Tollgate's event union. */
type O = Record<string, unknown>;

const obj = (v: unknown): O => (v && typeof v === 'object' ? (v as O) : {});
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const date = (v: unknown): Date | null => (typeof v === 'number' ? new Date(v * 1000) : null);
/** An id field that may be expanded into its object. */
const ref = (v: unknown): string | null => str(v) ?? str(obj(v).id);
const list = (v: unknown): O[] => (Array.isArray(obj(v).data) ? (obj(v).data as unknown[]).map(obj) : []);
const strings = (v: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(obj(v)).filter((e): e is [string, string] => typeof e[1] === 'string'));

export const LOOKUP_KEY = /^tollgate_([a-z0-9][a-z0-9-]*)_(plan|pack|product)_([a-z0-9][a-z0-9_-]*)$/;

/** `tollgate_<project>_<kind>_<id>`: how catalog items are found again at Stripe. */
export function lookupKey(projectId: string, kind: 'plan' | 'pack' | 'product', itemId: string): string {
  return `tollgate_${projectId}_${kind}_${itemId}`;
}

/** Tollgate's plan id for a Stripe price: metadata set by catalog sync, else its lookup key. */
export function planOfPrice(price: unknown): string | null {
  const p = obj(price);
  const fromMeta = str(obj(p.metadata).tollgate_plan);
  if (fromMeta) return fromMeta;
  const m = str(p.lookup_key)?.match(LOOKUP_KEY);
  return m && m[2] === 'plan' ? (m[3] ?? null) : null;
}

/** A Stripe subscription object as Tollgate's `subscription.changed`. */
export function subscriptionEvent(s: O, deleted: boolean): Extract<ProviderEvent, { kind: 'subscription.changed' }> {
  const item = list(s.items)[0] ?? {};
  const metadata = strings(s.metadata);
  return {
    kind: 'subscription.changed',
    subscriptionRef: String(s.id),
    customerRef: ref(s.customer),
    status: deleted ? 'canceled' : (str(s.status) ?? 'incomplete'),
    planRef: planOfPrice(item.price) ?? metadata.tollgate_plan ?? null,
    priceRef: ref(item.price),
    // Current API versions keep the period on the item; older ones on the subscription.
    currentPeriodStart: date(s.current_period_start) ?? date(item.current_period_start),
    currentPeriodEnd: date(s.current_period_end) ?? date(item.current_period_end),
    trialEnd: date(s.trial_end),
    cancelAtPeriodEnd: s.cancel_at_period_end === true || (typeof s.cancel_at === 'number' && s.status !== 'canceled'),
    canceledAt: date(s.canceled_at),
    deleted,
    metadata,
  };
}

function invoiceSubscription(i: O): string | null {
  const fromParent = ref(obj(obj(i.parent).subscription_details).subscription);
  if (fromParent) return fromParent;
  if (i.subscription) return ref(i.subscription);
  for (const line of list(i.lines)) {
    const s = ref(obj(obj(line.parent).subscription_item_details).subscription) ?? ref(line.subscription);
    if (s) return s;
  }
  return null;
}

function invoicePayment(i: O): string | null {
  if (i.payment_intent) return ref(i.payment_intent);
  for (const p of list(i.payments)) {
    const pi = ref(obj(p.payment).payment_intent);
    if (pi) return pi;
  }
  return ref(i.charge);
}

/** The tax Stripe Tax computed for a completed session or a paid invoice (null without Stripe Tax). */
function automaticTax(o: O): { amount: number; rate: number | null; country: string | null } | null {
  if (obj(o.automatic_tax).enabled !== true) return null;
  // The address Stripe taxed: the session's customer details, or the invoice's customer address.
  const country = str(obj(obj(o.customer_details).address).country) ?? str(obj(o.customer_address).country);
  const fromSession = num(obj(o.total_details).amount_tax);
  const fromInvoice = num(o.tax) ?? (Array.isArray(o.total_taxes) ? (o.total_taxes as unknown[]).reduce<number>((s, t) => s + (num(obj(t).amount) ?? 0), 0) : null);
  const amount = fromSession ?? fromInvoice;
  return amount === null ? null : { amount, rate: null, country };
}

/** Stripe's dispute statuses in Tollgate's four (an inquiry, `warning_*`, is treated as the dispute it may become). */
function disputeStatus(status: string | null): DisputeStatus {
  switch (status) {
    case 'warning_under_review':
    case 'under_review':
      return 'under_review';
    case 'won':
    case 'warning_closed':
    case 'prevented':
      return 'won';
    case 'lost':
      return 'lost';
    default:
      return 'needs_response';
  }
}

/**
 * Stripe's dispute fee: the dispute's balance transactions' fees summed (the withdrawal carries it,
 * a reinstatement may give it back as a negative fee), in their currency; null with none yet.
 */
export function disputeFee(d: O): { amount: number; currency: string } | null {
  const txs = (Array.isArray(d.balance_transactions) ? d.balance_transactions : []).map(obj).filter((t) => num(t.fee) !== null && str(t.currency));
  if (txs.length === 0) return null;
  const currency = String(txs[0]!.currency).toLowerCase();
  const amount = txs.filter((t) => String(t.currency).toLowerCase() === currency).reduce((s, t) => s + (num(t.fee) ?? 0), 0);
  return { amount: Math.max(0, amount), currency };
}

/** A Stripe Dispute object as Tollgate's `dispute.changed` (every `charge.dispute.*` event carries the whole dispute). */
export function disputeEvent(d: O): DisputeEvent {
  const refs = [ref(d.payment_intent), ref(d.charge)].filter((r): r is string => r !== null);
  return {
    kind: 'dispute.changed',
    disputeRef: String(d.id),
    paymentRefs: refs,
    amount: num(d.amount),
    currency: str(d.currency),
    reason: str(d.reason),
    status: disputeStatus(str(d.status)),
    providerStatus: str(d.status) ?? 'needs_response',
    evidenceDueBy: date(obj(d.evidence_details).due_by),
    fee: disputeFee(d),
  };
}

/** Maps a verified Stripe event to Tollgate's union; anything else is `unsupported` (acknowledged). */
export function stripeToEvents(payload: unknown): ProviderEvent[] {
  const e = obj(payload);
  const type = String(e.type);
  const o = obj(obj(e.data).object);
  switch (type) {
    case 'checkout.session.completed': {
      const status = str(o.payment_status);
      return [
        {
          kind: 'checkout.completed',
          sessionRef: String(o.id),
          paymentRef: ref(o.payment_intent),
          paymentStatus: status === 'paid' || status === 'no_payment_required' ? status : 'unpaid',
          amount: num(o.amount_total),
          currency: str(o.currency),
          customerRef: ref(o.customer),
          customerEmail: str(obj(o.customer_details).email) ?? str(o.customer_email),
          paymentLinkRef: ref(o.payment_link),
          subscriptionRef: ref(o.subscription),
          paymentMethod: null,
          // Present when the PaymentIntent was read with its charge (enrichPayload).
          cardCountry: str(obj(obj(obj(obj(o.payment_intent).latest_charge).payment_method_details).card).country),
          providerTax: automaticTax(o),
        },
      ];
    }
    case 'checkout.session.async_payment_succeeded':
      return [{ kind: 'checkout.async_payment_succeeded', sessionRef: String(o.id), paymentRef: ref(o.payment_intent) }];
    case 'checkout.session.async_payment_failed':
      return [{ kind: 'checkout.async_payment_failed', sessionRef: String(o.id), reason: 'The delayed payment failed' }];
    case 'checkout.session.expired':
      return [{ kind: 'checkout.expired', sessionRef: String(o.id) }];
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.paused':
    case 'customer.subscription.resumed':
      return [subscriptionEvent(o, false)];
    case 'customer.subscription.deleted':
      return [subscriptionEvent(o, true)];
    case 'customer.subscription.trial_will_end':
      return [{ kind: 'subscription.trial_will_end', subscriptionRef: String(o.id), trialEnd: date(o.trial_end) }];
    case 'invoice.paid':
    case 'invoice.payment_failed': {
      const line = list(o.lines)[0] ?? {};
      const period = obj(line.period);
      const failure = obj(o.last_finalization_error);
      return [
        {
          kind: type,
          invoiceRef: String(o.id),
          subscriptionRef: invoiceSubscription(o),
          customerRef: ref(o.customer),
          paymentRef: invoicePayment(o),
          amount: (type === 'invoice.paid' ? num(o.amount_paid) : num(o.amount_due)) ?? 0,
          currency: str(o.currency) ?? 'eur',
          // A subscription invoice's own period_start/end is the previous period: the line has the one paid for.
          periodStart: date(period.start) ?? date(o.period_start),
          periodEnd: date(period.end) ?? date(o.period_end),
          billingReason: str(o.billing_reason),
          providerTax: type === 'invoice.paid' ? automaticTax(o) : null,
          failureReason: type === 'invoice.payment_failed' ? (str(failure.message) ?? 'The payment failed') : null,
        },
      ];
    }
    case 'charge.refunded': {
      const refunds = list(o.refunds);
      return [
        {
          kind: 'payment.refunded',
          paymentRef: ref(o.payment_intent) ?? String(o.id),
          amountRefunded: num(o.amount_refunded) ?? 0,
          currency: str(o.currency) ?? 'eur',
          refundRef: refunds[0] ? ref(refunds[0]) : null,
        },
      ];
    }
    case 'charge.dispute.created':
    case 'charge.dispute.updated':
    case 'charge.dispute.closed':
    case 'charge.dispute.funds_withdrawn':
    case 'charge.dispute.funds_reinstated':
      return [disputeEvent(o)];
    default:
      return [{ kind: 'unsupported', type }];
  }
}
