import { z } from 'zod';
import { CustomerIdSchema } from '../modules/customers/customers.service.ts';

export const CustomerParams = z.object({ id: CustomerIdSchema });
export const IdParams = z.object({ id: z.string().min(1).max(255) });
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
});

/** `{data, has_more}` from rows fetched with limit + 1. */
export function page<T>(rows: T[], limit: number): { object: 'list'; data: T[]; has_more: boolean } {
  return { object: 'list', data: rows.slice(0, limit), has_more: rows.length > limit };
}

/** A timestamp in a reply (ISO 8601, UTC). */
export const Timestamp = z.iso.datetime();

/** The JSON body of every outgoing webhook delivery (signed per Standard Webhooks). */
export const WebhookEvent = z
  .object({
    id: z.string().describe('The event id, also sent as `webhook-id`: the same on every retry'),
    type: z.string().describe('An event type (customer.created, credits.granted, ...) or webhook.test'),
    created_at: Timestamp,
    livemode: z.boolean().describe('true for an event of a live-mode project (sk_live_ keys), false in test mode'),
    customer_id: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .describe('The body Tollgate POSTs to a webhook endpoint');

/** A list reply for `item`. */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ object: z.literal('list'), data: z.array(item), has_more: z.boolean() });
}

/** An amount of money in a reply: integer minor units + ISO currency (lower case). */
export const Money = z.object({ amount: z.number().int(), currency: z.string() });

/** A subscription in a reply (src/modules/subscriptions/subscriptions.view.ts `subscriptionView`). */
export const Subscription = z.object({
  id: z.string(),
  object: z.literal('subscription'),
  customer_id: z.string(),
  plan: z.string().nullable().describe('The plan in force: the subscribed plan while live, else the catalog free plan (or null)'),
  plan_name: z.string().nullable(),
  previous_plan: z.string().optional().describe('Set once the subscription has ended: the plan it was on'),
  status: z.enum(['trialing', 'active', 'past_due', 'canceled', 'expired']),
  quantity: z.number().int(),
  price: Money,
  interval: z.enum(['month', 'year']),
  trial_start: Timestamp.nullable(),
  trial_end: Timestamp.nullable(),
  days_remaining: z.number().int().nullable(),
  current_period_start: Timestamp,
  current_period_end: Timestamp,
  cancel_at_period_end: z.boolean(),
  canceled_at: Timestamp.nullable(),
  ended_at: Timestamp.nullable(),
  pending_plan: z.string().nullable(),
  coupon: z
    .object({
      id: z.string(),
      percent_off: z.number().nullable(),
      amount_off: z.number().int().nullable(),
      duration: z.enum(['once', 'repeating', 'forever']).nullable(),
      duration_in_months: z.number().int().nullable(),
    })
    .nullable(),
  next_charge: Money.extend({ at: Timestamp }).nullable(),
  provider: z.string(),
  created_at: Timestamp,
});

/** A customer without a subscription row: on the free plan (or none). */
export const FreeSubscription = z.object({
  object: z.literal('subscription'),
  customer_id: z.string(),
  plan: z.string().nullable(),
  plan_name: z.string().nullable(),
  status: z.literal('free'),
  trial_end: z.null(),
  days_remaining: z.null(),
  current_period_end: z.null(),
  cancel_at_period_end: z.literal(false),
});

/** `GET /v1/customers/:id/subscription`: the live subscription, else the last one, else "free". */
export const CurrentSubscription = z.union([Subscription, FreeSubscription]);

/** A feature's value as a plan grants it (catalog `features[].value`). */
export const FeatureValue = z.union([z.number(), z.string(), z.boolean()]);
/** The same, or null (OpenAPI 3.0 wants `nullable` next to a `type`: the null rides on the number branch). */
export const FeatureValueOrNull = z.union([z.number().nullable(), z.string(), z.boolean()]);
export const FeatureType = z.enum(['metered', 'allocated', 'boolean', 'value', 'credits']);

/** One feature in the customer view's `entitlements.features` (src/modules/usage `entitlementsOf`). */
export const Entitlement = z.union([
  z.object({ type: z.literal('credits'), allowed: z.boolean(), balance: z.number().int() }),
  z.object({ type: z.literal('boolean'), allowed: z.boolean() }),
  z.object({ type: z.literal('value'), allowed: z.boolean(), value: FeatureValueOrNull.optional() }),
  z.object({
    type: z.enum(['metered', 'allocated']),
    allowed: z.boolean(),
    usage: z.number().int(),
    limit: z.number().int().nullable().describe('null: unlimited'),
    remaining: z.number().int().nullable(),
  }),
]);

export const OnboardingStep = z.object({
  id: z.string(),
  name: z.string(),
  optional: z.boolean(),
  status: z.enum(['pending', 'completed', 'skipped']),
  at: z.string().nullable(),
});
export const Onboarding = z.object({
  status: z.enum(['not_started', 'in_progress', 'completed']),
  completed_at: Timestamp.nullable(),
  current_step_index: z.number().int().nullable().describe('0-based index of the first step still pending; null once none is'),
  steps: z.array(OnboardingStep),
});

/** A dispute (chargeback) of a payment (src/modules/disputes/disputes.service.ts `disputeView`, docs/disputes.md). */
export const Dispute = z.object({
  id: z.string(),
  object: z.literal('dispute'),
  payment_id: z.string(),
  customer_id: z.string().nullable(),
  amount: z.number().int().describe('The disputed amount, in minor units of `currency`'),
  currency: z.string(),
  reason: z.string().nullable().describe("The provider's reason (Stripe's `fraudulent`, PayPal's `merchandise_or_service_not_received`…)"),
  status: z.enum(['needs_response', 'under_review', 'won', 'lost']),
  provider: z.string(),
  provider_ref: z.string().describe("The provider's dispute id (Stripe `dp_…`, PayPal `PP-D-…`)"),
  provider_status: z.string().nullable(),
  evidence_due_by: Timestamp.nullable(),
  on_open: z.enum(['hold', 'claw_back', 'none']).describe('The project policy (settings.disputes.on_open) applied when the dispute opened'),
  credits: z
    .object({
      requested: z.number().int().describe('The disputed share of the credits the payment bought'),
      held: z.number().int().describe('Set aside now (policy hold, while open)'),
      reversed: z.number().int().describe('Taken back (policy claw_back, or a lost hold)'),
      shortfall: z.number().int().describe('Already spent when the dispute opened: neither held nor taken back, never made a debt'),
    })
    .describe('What the dispute did to the credits the payment bought'),
  subscription_id: z.string().nullable().describe('The subscription flagged at risk by this dispute, if the payment paid for one'),
  fee: z
    .object({ amount: z.number().int(), currency: z.string() })
    .nullable()
    .describe("The provider's dispute fee (Stripe's, from the dispute's balance transactions), in the currency it was settled in; null if none was stated"),
  created_at: Timestamp,
  updated_at: Timestamp,
  closed_at: Timestamp.nullable(),
});

/** The customer view's `disputes` (src/modules/disputes `disputesCustomerView`). */
export const CustomerDisputes = z.object({
  open: z.number().int(),
  lost: z.number().int(),
  credits_held: z.number().int().describe('Credits set aside by open disputes (counted in `credits.held`)'),
  subscription_at_risk: z.boolean().describe('An open or lost dispute concerns a payment of a subscription'),
  data: z.array(Dispute).describe('Open and lost disputes, newest first (at most 20)'),
});

/** The customer view (src/modules/customers `customerView` with the profile, entitlements and subscription fields). */
export const Customer = z.object({
  id: z.string(),
  object: z.literal('customer'),
  email: z.string().nullable(),
  name: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: Timestamp,
  updated_at: Timestamp,
  balance: z.number().int(),
  credits: z.object({ balance: z.number().int(), held: z.number().int(), available: z.number().int() }),
  organization: z.string().nullable(),
  industry: z.string().nullable(),
  timezone: z.string().nullable(),
  locale: z.string().nullable(),
  marketing_opt_in: z.boolean().nullable(),
  terms_accepted_at: Timestamp.nullable(),
  settings: z.record(z.string(), z.unknown()),
  onboarding: Onboarding,
  entitlements: z.object({ plan: z.string().nullable(), features: z.record(z.string(), Entitlement) }),
  subscription: CurrentSubscription,
  disputes: CustomerDisputes,
});

/** A customer in a list (`GET /v1/customers`). */
export const CustomerSummary = z.object({
  id: z.string(),
  object: z.literal('customer'),
  email: z.string().nullable(),
  name: z.string().nullable(),
  created_at: Timestamp,
});

/** A checkout session (src/modules/payments/checkout.service.ts `sessionView`). */
export const CheckoutSession = z.object({
  id: z.string(),
  session_id: z.string(),
  object: z.literal('checkout_session'),
  customer_id: z.string().nullable(),
  provider: z.string(),
  mode: z.enum(['payment', 'subscription']),
  item_type: z.enum(['credit_pack', 'plan', 'order']),
  credit_pack: z.string().optional().describe('Set when item_type is credit_pack'),
  plan: z.string().optional().describe('Set when item_type is plan'),
  order: z.string().optional().describe('Set when item_type is order'),
  quantity: z.number().int(),
  amount_total: Money.describe('What is charged today (0 during a trial); the same figure as amount_due_today'),
  amount_due_today: Money,
  amount_subtotal: Money.describe("Today's charge before VAT added on top (after any discount)"),
  amount_tax: Money.nullable().describe("The VAT of today's charge (contained in it when prices include VAT); null when the provider computes it at payment"),
  tax_rate: z.number().nullable(),
  tax: z
    .object({
      behavior: z.enum(['inclusive', 'exclusive']),
      computed_by: z.enum(['tollgate', 'stripe']),
      rate: z.number().nullable(),
      country: z.string().nullable(),
      treatment: z.string().nullable(),
    })
    .nullable(),
  lines: z.array(z.object({ name: z.string(), quantity: z.number().int(), unit_amount: Money, amount: Money })),
  subtotal: Money,
  discount: z
    .object({
      coupon_id: z.string().nullable(),
      name: z.string().nullable(),
      amount: Money,
      percent_off: z.number().nullable(),
      amount_off: z.number().int().nullable(),
      duration: z.enum(['once', 'repeating', 'forever']),
      duration_in_months: z.number().int().nullable(),
    })
    .nullable(),
  trial: z.object({ days: z.number().int(), ends_at: Timestamp }).nullable(),
  recurring: z.object({ amount: Money, interval: z.enum(['month', 'year']), starts_at: Timestamp }).nullable(),
  status: z.enum(['open', 'complete', 'expired']),
  payment_status: z.string(),
  url: z.string().nullable().describe('Where to send the buyer while the session is open'),
  success_url: z.string(),
  cancel_url: z.string(),
  trial_days: z.number().int().nullable(),
  promotion_code: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  created_at: Timestamp,
  expires_at: Timestamp,
  completed_at: Timestamp.nullable(),
});

/** A payment (src/modules/payments/payments.service.ts `paymentView`). */
export const Payment = z.object({
  id: z.string(),
  object: z.literal('payment'),
  customer_id: z.string().nullable(),
  amount: z.number().int(),
  amount_refunded: z.number().int(),
  currency: z.string(),
  status: z.enum(['succeeded', 'failed', 'refunded', 'partially_refunded']),
  provider: z.string(),
  provider_ref: z.string(),
  kind: z.string(),
  item_id: z.string().nullable(),
  checkout_session_id: z.string().nullable(),
  subscription_id: z.string().nullable(),
  order_id: z.string().nullable(),
  period_start: Timestamp.nullable(),
  period_end: Timestamp.nullable(),
  failure_reason: z.string().nullable(),
  fee: Money.nullable().describe("The provider's fee (Stripe's balance transaction, PayPal's seller receivable breakdown, the sandbox's 2.9 % + 30); null until known"),
  net: Money.nullable().describe('What the payment leaves after the fee, in the fee currency; null until the fee is known'),
  dispute: z
    .object({ id: z.string(), status: z.enum(['needs_response', 'under_review', 'won', 'lost']) })
    .nullable()
    .describe("The payment's latest dispute (GET /v1/disputes/:id), or null"),
  created_at: Timestamp,
});
