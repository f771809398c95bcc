import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import { AppError } from '../../domain/errors.ts';
import type {
  ProviderSettingsSpec,
  CreateCheckoutInput,
  CreateCheckoutResult,
  PaymentFee,
  PaymentProvider,
  ProviderCall,
  PortalInput,
  RefundInput,
  RefundResult,
  ProviderEvent,
  UpdateSubscriptionInput,
  ChargeOffSessionInput,
  OffSessionResult,
  WebhookRegistration,
} from '../provider.ts';
import { type StripeSettings, stripeSettingsSpec } from './stripe.settings.ts';
import { Stripe as StripeSdk, callStripe, stripeFor } from './stripe.client.ts';
import { stripeToEvents, subscriptionEvent } from './stripe.events.ts';
import { verifyStripeWebhook } from './stripe.webhooks.ts';

const sameUrl = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/**
 * Whether the account has a webhook endpoint sending to `url` (GET /v1/webhook_endpoints, read
 * only, at most 5 pages of 100). A key that may not list endpoints (a restricted key) is `unknown`.
 */
async function stripeWebhookRegistration(stripe: InstanceType<typeof StripeSdk>, url: string): Promise<WebhookRegistration> {
  try {
    let disabled: string | null = null;
    let startingAfter: string | undefined;
    for (let page = 0; page < 5; page++) {
      const list = await callStripe('webhookEndpoints.list', () =>
        stripe.webhookEndpoints.list({ limit: 100, ...(startingAfter ? { starting_after: startingAfter } : {}) }),
      );
      for (const e of list.data) {
        if (!sameUrl(e.url, url)) continue;
        if (e.status !== 'disabled') return { status: 'registered', url, endpoint_id: e.id, error: null };
        disabled ??= e.id;
      }
      if (!list.has_more || list.data.length === 0) break;
      startingAfter = list.data[list.data.length - 1]?.id;
    }
    return disabled ? { status: 'disabled', url, endpoint_id: disabled, error: null } : { status: 'missing', url, endpoint_id: null, error: null };
  } catch (err) {
    return { status: 'unknown', url, endpoint_id: null, error: `Stripe did not list its webhook endpoints: ${(err as Error).message}` };
  }
}

/**
 * The Stripe customer for a Tollgate customer: the stored link, or a new Stripe customer created
 * under a key derived from (project, customer) and linked through the call's store.
 */
export async function ensureStripeCustomer(
  call: ProviderCall,
  stripe: Stripe,
  projectId: string,
  customer: { id: string; email: string | null },
): Promise<string> {
  const known = await call.store.customerRef(customer.id);
  if (known) return known;
  const created = await callStripe('customers.create', () =>
    stripe.customers.create(
      { ...(customer.email ? { email: customer.email } : {}), metadata: { tollgate_project: projectId, tollgate_customer: customer.id } },
      { idempotencyKey: `tollgate-customer-${projectId}-${digest(customer.id)}` },
    ),
  );
  await call.store.linkCustomer(customer.id, created.id);
  return created.id;
}

const digest = (s: string) => createHash('sha256').update(s).digest('base64url').slice(0, 32);

/** A catalog-synced Price for the session's item, used only when it still says what our catalog says. */
async function mappedPrice(call: ProviderCall, input: CreateCheckoutInput): Promise<string | undefined> {
  if (input.lineItems.length !== 1) return undefined;
  const line = input.lineItems[0];
  if (!line) return undefined;
  if (line.providerPriceId) return line.providerPriceId;
  const session = await call.store.sessionItem(input.sessionId);
  if (!session) return undefined;
  const kind = session.type === 'credit_pack' ? 'pack' : session.type === 'plan' ? 'plan' : null;
  if (!kind) return undefined;
  const row = await call.store.syncedPrice(kind, session.id);
  if (!row?.active || row.amount !== line.amount || row.currency !== line.currency) return undefined;
  if ((row.interval ?? undefined) !== (input.mode === 'subscription' ? (line.interval ?? 'month') : undefined)) return undefined;
  return row.price_ref;
}

/** A Stripe coupon for a catalog discount; its id is derived from the discount so it is created once. */
async function couponFor(stripe: Stripe, projectId: string, d: NonNullable<CreateCheckoutInput['discount']>, currency: string): Promise<string> {
  const id = `tollgate_${digest(JSON.stringify([projectId, d.percentOff ?? null, d.amountOff ?? null, currency, d.duration, d.durationInMonths ?? null])).slice(0, 24)}`;
  try {
    await stripe.coupons.create(
      {
        id,
        ...(d.percentOff ? { percent_off: d.percentOff } : { amount_off: d.amountOff ?? 0, currency }),
        duration: d.duration as 'once' | 'repeating' | 'forever',
        ...(d.duration === 'repeating' ? { duration_in_months: d.durationInMonths ?? 1 } : {}),
        metadata: { tollgate_project: projectId },
      },
      { idempotencyKey: `tollgate-coupon-${id}` },
    );
  } catch (err) {
    // Created by an earlier checkout whose idempotency key has since been pruned.
    if ((err as { code?: string }).code !== 'resource_already_exists') throw err;
  }
  return id;
}

export const stripeProvider: PaymentProvider = {
  name: 'stripe',
  settings: stripeSettingsSpec as ProviderSettingsSpec,

  async createCheckout(call: ProviderCall, input: CreateCheckoutInput): Promise<CreateCheckoutResult> {
    const { stripe } = stripeFor(call);
    const projectId = input.project.id;
    const customerRef =
      input.customer.providerRef ?? (input.customer.id ? await ensureStripeCustomer(call, stripe, projectId, input.customer) : null);
    const automaticTax = (call.settings as StripeSettings | null)?.automatic_tax === true;
    // With Stripe Tax, a catalog-synced Price has no tax behaviour of ours: price_data carries it.
    const priceRef = automaticTax ? undefined : await mappedPrice(call, input);
    const line_items: Stripe.Checkout.SessionCreateParams.LineItem[] = input.lineItems.map((l) =>
      priceRef
        ? { price: priceRef, quantity: l.quantity }
        : {
            quantity: l.quantity,
            price_data: {
              currency: l.currency,
              unit_amount: l.amount,
              product_data: { name: l.name, ...(l.description ? { description: l.description } : {}) },
              ...(input.mode === 'subscription' ? { recurring: { interval: l.interval ?? 'month' } } : {}),
              ...(automaticTax && input.taxBehavior ? { tax_behavior: input.taxBehavior } : {}),
            },
          },
    );
    const session = await call.store.sessionItem(input.sessionId);
    const metadata: Record<string, string> = {
      ...input.metadata,
      ...(session ? { tollgate_item_type: session.type, tollgate_item: session.id } : {}),
    };
    const params: Stripe.Checkout.SessionCreateParams = {
      mode: input.mode,
      line_items,
      success_url: input.successUrl,
      cancel_url: input.cancelUrl,
      client_reference_id: input.sessionId,
      metadata,
      ...(customerRef ? { customer: customerRef } : input.customer.email ? { customer_email: input.customer.email } : {}),
    };
    // Stripe's own 24 h expiry matches our session's; sending a time here would break replay after a crash.
    if (input.mode === 'payment') {
      // A credit pack's card is kept for later off-session charges (auto top-up).
      params.payment_intent_data = { metadata, ...(customerRef && session?.type === 'credit_pack' ? { setup_future_usage: 'off_session' } : {}) };
    } else {
      const planMeta: Record<string, string> = session?.type === 'plan' ? { tollgate_plan: session.id } : {};
      params.subscription_data = {
        metadata: { ...metadata, ...planMeta },
        ...(input.trialDays ? { trial_period_days: input.trialDays } : {}),
        ...(input.trialDays && input.trialWithoutCard ? { trial_settings: { end_behavior: { missing_payment_method: 'cancel' } } } : {}),
      };
      if (input.trialDays && input.trialWithoutCard) params.payment_method_collection = 'if_required';
    }
    if (automaticTax) {
      // Stripe Tax computes the tax from the address the customer gives on Stripe's page.
      params.automatic_tax = { enabled: true };
      params.billing_address_collection = 'required';
      if (customerRef) params.customer_update = { address: 'auto', name: 'auto' };
    }
    if (input.discount) {
      params.discounts = [{ coupon: await couponFor(stripe, projectId, input.discount, input.lineItems[0]?.currency ?? 'eur') }];
    } else if (input.mode === 'subscription') {
      params.allow_promotion_codes = true;
    }
    const created = await callStripe('checkout.sessions.create', () =>
      stripe.checkout.sessions.create(params, { idempotencyKey: input.idempotencyKey }),
    );
    if (!created.url) throw new Error(`Stripe returned checkout session ${created.id} without a URL`);
    return { providerRef: created.id, url: created.url };
  },

  verifyWebhook: verifyStripeWebhook,

  async verifyCredentials(call: ProviderCall, opts: { webhookUrl?: string } = {}): Promise<{ livemode: boolean; webhook?: WebhookRegistration }> {
    const { stripe } = stripeFor(call);
    // The balance is readable by every standard key and says the key's mode.
    const balance = await callStripe('balance.retrieve', () => stripe.balance.retrieve());
    if (opts.webhookUrl === undefined) return { livemode: balance.livemode };
    return { livemode: balance.livemode, webhook: await stripeWebhookRegistration(stripe, opts.webhookUrl) };
  },

  computesTax: (settings: unknown) => (settings as StripeSettings | null)?.automatic_tax === true,

  /**
   * A completed one-off checkout names its PaymentIntent only: it is read with its charge expanded,
   * so the event carries the card's country (`payment_method_details.card.country`). Read outside
   * any transaction; when Stripe cannot be reached the payload is applied as it came.
   */
  async enrichPayload(call: ProviderCall, payload: unknown): Promise<unknown> {
    const e = payload as { type?: string; data?: { object?: { payment_intent?: unknown } } };
    const pi = e?.data?.object?.payment_intent;
    if (e?.type !== 'checkout.session.completed' || typeof pi !== 'string') return payload;
    try {
      const { stripe } = stripeFor(call);
      const intent = await callStripe('paymentIntents.retrieve', () => stripe.paymentIntents.retrieve(pi, { expand: ['latest_charge'] }));
      return { ...e, data: { ...e.data, object: { ...e.data?.object, payment_intent: intent } } };
    } catch {
      return payload;
    }
  },

  toEvents: stripeToEvents,

  /**
   * The charge's balance transaction (`fee`, `net`, its currency), read with the official SDK: a
   * PaymentIntent through its latest charge, a charge directly. Null until Stripe has made it.
   */
  async paymentFee(call: ProviderCall, input: { paymentRef: string; amount: number; currency: string }): Promise<PaymentFee | null> {
    const { stripe } = stripeFor(call);
    let charge: Stripe.Charge | null;
    if (input.paymentRef.startsWith('pi_')) {
      const pi = await callStripe('paymentIntents.retrieve', () =>
        stripe.paymentIntents.retrieve(input.paymentRef, { expand: ['latest_charge.balance_transaction'] }),
      );
      charge = typeof pi.latest_charge === 'object' ? pi.latest_charge : null;
    } else if (input.paymentRef.startsWith('ch_')) {
      charge = await callStripe('charges.retrieve', () => stripe.charges.retrieve(input.paymentRef, { expand: ['balance_transaction'] }));
    } else {
      return null;
    }
    const bt = charge?.balance_transaction;
    if (!bt || typeof bt !== 'object') return null;
    return { fee: bt.fee, net: bt.net, currency: bt.currency };
  },

  async refund(call: ProviderCall, input: RefundInput): Promise<RefundResult> {
    const { stripe } = stripeFor(call);
    const target = input.paymentRef.startsWith('ch_') ? { charge: input.paymentRef } : { payment_intent: input.paymentRef };
    const r = await callStripe('refunds.create', () =>
      stripe.refunds.create({ ...target, amount: input.amount, metadata: { tollgate_project: input.project.id } }, { idempotencyKey: input.idempotencyKey }),
    );
    const status = r.status === 'succeeded' ? 'succeeded' : r.status === 'failed' || r.status === 'canceled' ? 'failed' : 'pending';
    return { refundRef: r.id, status };
  },

  async createPortal(call: ProviderCall, input: PortalInput): Promise<{ url: string }> {
    const { stripe } = stripeFor(call);
    const customer = input.customerRef ?? (await ensureStripeCustomer(call, stripe, input.project.id, { id: input.customerId, email: null }));
    const s = await callStripe('billingPortal.sessions.create', () =>
      stripe.billingPortal.sessions.create({ customer, return_url: input.returnUrl }, { idempotencyKey: input.idempotencyKey }),
    );
    return { url: s.url };
  },

  /**
   * A PaymentIntent confirmed off-session against the customer's default payment method (else their
   * first card), under the caller's idempotency key: a charge made again answers the first one.
   */
  async chargeOffSession(call: ProviderCall, input: ChargeOffSessionInput): Promise<OffSessionResult> {
    const { stripe } = stripeFor(call);
    const customer = await callStripe('customers.retrieve', () => stripe.customers.retrieve(input.customerRef));
    if ((customer as { deleted?: boolean }).deleted) return { ok: false, code: 'no_payment_method', message: 'The Stripe customer was deleted' };
    const dflt = (customer as Stripe.Customer).invoice_settings?.default_payment_method;
    let pm = typeof dflt === 'string' ? dflt : (dflt?.id ?? null);
    if (!pm) {
      const cards = await callStripe('paymentMethods.list', () => stripe.paymentMethods.list({ customer: input.customerRef, type: 'card', limit: 1 }));
      pm = cards.data[0]?.id ?? null;
    }
    if (!pm) return { ok: false, code: 'no_payment_method', message: 'No card saved at Stripe for this customer' };
    const payment_method = pm;
    let intent: Stripe.PaymentIntent;
    try {
      intent = await stripe.paymentIntents.create(
        {
          amount: input.amount,
          currency: input.currency,
          customer: input.customerRef,
          payment_method,
          confirm: true,
          off_session: true,
          description: input.description,
          metadata: input.metadata,
        },
        { idempotencyKey: input.idempotencyKey },
      );
    } catch (err) {
      if (err instanceof StripeSdk.errors.StripeCardError) {
        const code = err.code === 'authentication_required' ? 'authentication_required' : (err.code ?? 'card_declined');
        return { ok: false, code, message: err.message };
      }
      return await callStripe('paymentIntents.create', () => Promise.reject(err));
    }
    if (intent.status === 'succeeded') return { ok: true, ref: intent.id };
    if (intent.status === 'requires_action') return { ok: false, code: 'authentication_required', message: 'The card requires the customer to authenticate' };
    return { ok: false, code: 'card_declined', message: `The payment was not completed (${intent.status})` };
  },

  /** Cancel, resume or change plan at Stripe; Stripe's answer is applied at once (its webhook follows). */
  async updateSubscription(call: ProviderCall, input: UpdateSubscriptionInput): Promise<Extract<ProviderEvent, { kind: 'subscription.changed' }>> {
    const { stripe } = stripeFor(call);
    const opts = { idempotencyKey: input.idempotencyKey };
    let sub: Stripe.Subscription;
    if (input.action === 'cancel_now') {
      sub = await callStripe('subscriptions.cancel', () => stripe.subscriptions.cancel(input.subscriptionRef, {}, opts));
      return subscriptionEvent(sub as unknown as Record<string, unknown>, true);
    }
    const params: Stripe.SubscriptionUpdateParams = {};
    if (input.action === 'cancel_at_period_end') params.cancel_at_period_end = true;
    if (input.action === 'resume') params.cancel_at_period_end = false;
    if (input.action === 'change_plan') {
      if (!input.planRef) throw new Error('change_plan needs a plan');
      const row = await call.store.syncedPrice('plan', input.planRef);
      if (!row?.active) {
        throw new AppError('conflict', `Plan '${input.planRef}' has no Stripe price yet (the catalog sync has not run)`, { plan: input.planRef });
      }
      const current = await callStripe('subscriptions.retrieve', () => stripe.subscriptions.retrieve(input.subscriptionRef));
      const item = current.items.data[0];
      params.items = [{ ...(item ? { id: item.id } : {}), price: row.price_ref, ...(input.quantity ? { quantity: input.quantity } : {}) }];
      params.metadata = { tollgate_plan: input.planRef };
    }
    sub = await callStripe('subscriptions.update', () => stripe.subscriptions.update(input.subscriptionRef, params, opts));
    return subscriptionEvent(sub as unknown as Record<string, unknown>, false);
  },

  async retrieveSubscription(call: ProviderCall, input: { subscriptionRef: string }) {
    const { stripe } = stripeFor(call);
    let sub: Stripe.Subscription;
    try {
      sub = await callStripe('subscriptions.retrieve', () => stripe.subscriptions.retrieve(input.subscriptionRef));
    } catch (err) {
      if (err instanceof AppError && err.details.stripe_status === 404) return null;
      throw err;
    }
    return subscriptionEvent(sub as unknown as Record<string, unknown>, sub.status === 'canceled');
  },
};
