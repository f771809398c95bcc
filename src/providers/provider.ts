import type { z } from 'zod';
import type { DisputeStatus } from '../domain/disputes.ts';

export type ProviderName = 'sandbox' | 'stripe' | 'paypal';

/** What a provider needs to know of the project it acts for (a project row satisfies it). */
export interface ProviderProject {
  id: string;
  /** Signs the sandbox provider's own webhooks. */
  sandbox_webhook_secret: string;
}

/**
 * Everything a provider is given for one call, as plain values (never the application context):
 * built by `providerCall(ctx, projectId, provider)` in src/modules/providers/provider-call.ts.
 */
export interface ProviderCall<S = unknown> {
  projectId: string;
  /** Tollgate's public URL (pages Tollgate hosts, e.g. the sandbox checkout or PayPal's return). */
  publicUrl: string;
  /** A provider-compatible API to call instead of the provider's own (`TOLLGATE_<PROVIDER>_API_BASE`). */
  apiBase?: string;
  /** The provider's decrypted settings for this project; undefined when the project has none. */
  settings: S | undefined;
  /** The mode those settings were saved in. */
  mode: 'test' | 'live' | undefined;
  /** Tollgate's clock when the call was built (webhook tolerances, certificate expiry). */
  now: Date;
  /** The timeout of every HTTP call to the provider (`TOLLGATE_PROVIDER_TIMEOUT_MS`). */
  timeoutMs: number;
  /** What the provider may read or remember in Tollgate's storage; implemented in src/modules. */
  store: ProviderStore;
}

/** Tollgate's storage as a provider sees it, scoped to the call's project and provider. */
export interface ProviderStore {
  /** The provider's customer linked to a Tollgate customer. */
  customerRef(customerId: string): Promise<string | undefined>;
  /** Links a Tollgate customer to the provider's customer (first link wins). */
  linkCustomer(customerId: string, ref: string): Promise<void>;
  /** The catalog item a Tollgate checkout session sells. */
  sessionItem(sessionId: string): Promise<{ type: string; id: string } | undefined>;
  /** The provider's price synced for a catalog item (Stripe's catalog sync), if any. */
  syncedPrice(kind: 'plan' | 'pack' | 'product', itemId: string): Promise<SyncedPrice | undefined>;
}

export interface SyncedPrice {
  price_ref: string;
  amount: number;
  currency: string;
  interval: string | null;
  active: boolean;
}

export interface LineItem {
  name: string;
  description?: string;
  amount: number; // unit amount in minor units
  currency: string;
  quantity: number;
  /** The provider's own price id when the catalog is synced (Stripe). */
  providerPriceId?: string;
  interval?: 'month' | 'year';
}

export interface CreateCheckoutInput {
  project: ProviderProject;
  /** Tollgate's checkout session id: ties the provider's session to our record. */
  sessionId: string;
  mode: 'payment' | 'subscription';
  customer: { id: string; email: string | null; providerRef?: string | null };
  lineItems: LineItem[];
  successUrl: string;
  cancelUrl: string;
  trialDays?: number | null;
  /** A trial that asks for no card (subscription mode). */
  trialWithoutCard?: boolean;
  promotionCode?: string | null;
  discount?: { percentOff?: number; amountOff?: number; duration: string; durationInMonths?: number } | null;
  expiresAt: Date;
  /** Whether the line amounts include tax or have it added on top (for a provider that computes tax). */
  taxBehavior?: 'inclusive' | 'exclusive';
  /** Deterministic: derived from our record so a retry after a crash reuses the provider object. */
  idempotencyKey: string;
  metadata: Record<string, string>;
}

export interface CreateCheckoutResult {
  providerRef: string;
  url: string;
}

export interface RefundInput {
  project: ProviderProject;
  paymentRef: string;
  amount: number;
  currency: string;
  idempotencyKey: string;
}

export interface RefundResult {
  refundRef: string;
  status: 'succeeded' | 'pending' | 'failed';
}

export interface PortalInput {
  project: ProviderProject;
  customerId: string;
  customerRef?: string | null;
  returnUrl: string;
  idempotencyKey: string;
}

export interface VerifyWebhookInput {
  project: ProviderProject;
  rawBody: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/** A provider event that passed verification; stored in the inbox as is. */
export interface VerifiedWebhook {
  eventId: string;
  type: string;
  occurredAt: Date | null;
  payload: unknown;
}

/** Tollgate's own event union: the domain never sees a provider's types. */
export type ProviderEvent =
  | {
      kind: 'checkout.completed';
      /** The provider's session reference, and ours when the provider echoes it back. */
      sessionRef: string;
      paymentRef: string | null;
      paymentStatus: 'paid' | 'unpaid' | 'no_payment_required';
      amount: number | null;
      currency: string | null;
      customerRef?: string | null;
      customerEmail?: string | null;
      subscriptionRef?: string | null;
      /** The provider's Payment Link the session was made from (Stripe's `payment_link`), if any. */
      paymentLinkRef?: string | null;
      paymentMethod?: { token: string; brand: string; last4: string; country?: string | null } | null;
      /** The issuing country of the card paid with (ISO 3166-1 alpha-2), when the provider says (VAT evidence). */
      cardCountry?: string | null;
      /** Tax the provider computed and charged on top (Stripe Tax), in minor units; null when it computed none. */
      providerTax?: { amount: number; rate: number | null; country: string | null } | null;
      /** The provider's fee when the event carries it (PayPal's seller receivable breakdown). */
      fee?: PaymentFee | null;
    }
  | { kind: 'checkout.async_payment_succeeded'; sessionRef: string; paymentRef: string | null }
  | { kind: 'checkout.async_payment_failed'; sessionRef: string; reason: string | null }
  | { kind: 'checkout.expired'; sessionRef: string }
  | {
      kind: 'subscription.changed';
      subscriptionRef: string;
      customerRef: string | null;
      status: string;
      planRef: string | null;
      /** The provider's price id, for prices bound to a plan (stripe_price_bindings) rather than synced. */
      priceRef?: string | null;
      currentPeriodStart: Date | null;
      currentPeriodEnd: Date | null;
      trialEnd: Date | null;
      cancelAtPeriodEnd: boolean;
      canceledAt: Date | null;
      deleted: boolean;
      metadata: Record<string, string>;
    }
  | { kind: 'subscription.trial_will_end'; subscriptionRef: string; trialEnd: Date | null }
  | ({ kind: 'invoice.paid' } & InvoiceEventFields)
  | ({ kind: 'invoice.payment_failed' } & InvoiceEventFields)
  | { kind: 'payment.refunded'; paymentRef: string; amountRefunded: number; currency: string; refundRef: string | null }
  | { kind: 'order.approved'; orderRef: string }
  | DisputeEvent
  | { kind: 'unsupported'; type: string };

/** Where a dispute stands, in Tollgate's words (each provider's statuses map onto these four). */
export type { DisputeStatus };

/** A dispute (chargeback) the provider opened, moved or closed: its whole current state, not a delta. */
export interface DisputeEvent {
  kind: 'dispute.changed';
  /** The provider's dispute id. */
  disputeRef: string;
  /** The references the provider gives for the disputed payment, tried in order (PaymentIntent, then charge). */
  paymentRefs: string[];
  amount: number | null;
  currency: string | null;
  reason: string | null;
  status: DisputeStatus;
  /** The provider's own status word (`warning_needs_response`, `WAITING_FOR_SELLER_RESPONSE`…). */
  providerStatus: string;
  evidenceDueBy: Date | null;
  /**
   * The fee the provider charged for the dispute so far (Stripe's dispute fee: the sum of the
   * dispute's balance transactions' fees), in the currency it was settled in; null when the event
   * states none (an inquiry, a provider whose dispute events carry no fee).
   */
  fee?: { amount: number; currency: string } | null;
}

/** The provider's fee for a payment and what it leaves, in the currency the provider settled it in. */
export interface PaymentFee {
  fee: number;
  net: number;
  currency: string;
}

/** The fields of `invoice.paid` and `invoice.payment_failed` (separate members so handlers can narrow on kind). */
export interface InvoiceEventFields {
  invoiceRef: string;
  subscriptionRef: string | null;
  customerRef: string | null;
  paymentRef: string | null;
  amount: number;
  currency: string;
  periodStart: Date | null;
  periodEnd: Date | null;
  billingReason: string | null;
  failureReason?: string | null;
  /** Tax the provider computed and charged (Stripe Tax), in minor units. */
  providerTax?: { amount: number; rate: number | null; country: string | null } | null;
}

/** One door for every payment provider. */
/** How a provider's settings are validated, previewed and given a mode (the sandbox needs none). */
export interface ProviderSettingsSpec<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** What may be shown back: previews of secrets, never the secrets. */
  preview(config: z.infer<S>): Record<string, unknown>;
  mode(config: z.infer<S>): 'test' | 'live';
}

/**
 * Whether the provider sends its webhooks to a URL: `registered` (an enabled endpoint has it),
 * `disabled` (only a disabled one), `missing` (none), `unknown` (the provider could not say: `error`).
 */
export interface WebhookRegistration {
  status: 'registered' | 'disabled' | 'missing' | 'unknown';
  url: string;
  endpoint_id: string | null;
  error: string | null;
}

export interface PaymentProvider {
  readonly name: ProviderName;
  /** The settings an operator gives this provider (`PUT /v1/providers/:provider`). */
  readonly settings?: ProviderSettingsSpec;
  createCheckout(call: ProviderCall, input: CreateCheckoutInput): Promise<CreateCheckoutResult>;
  /**
   * Asks the provider whether the call's settings are accepted, and in which mode (test or live); throws
   * on credentials it refuses. Called when an operator connects the provider to a live project. Given
   * `webhookUrl`, it also reads (never writes) whether the provider has a webhook endpoint sending there.
   */
  verifyCredentials?(call: ProviderCall, opts?: { webhookUrl?: string }): Promise<{ livemode: boolean; webhook?: WebhookRegistration }>;
  /** Verifies the raw body and headers; throws SignatureError on anything wrong. */
  verifyWebhook(call: ProviderCall, input: VerifyWebhookInput): Promise<VerifiedWebhook>;
  /** Maps a stored provider payload to Tollgate events (unknown types → `unsupported`). */
  toEvents(payload: unknown): ProviderEvent[];
  /** Whether the provider computes the tax of its checkouts itself with these settings (Stripe Tax). */
  computesTax?(settings: unknown): boolean;
  /**
   * What the provider can add to a stored payload by reading its own API (e.g. the card's country of
   * a completed checkout), called outside any transaction before the payload is applied.
   */
  enrichPayload?(call: ProviderCall, payload: unknown): Promise<unknown>;
  refund(call: ProviderCall, input: RefundInput): Promise<RefundResult>;
  /**
   * Reads the provider's fee for a payment it took (Stripe: the charge's balance transaction; PayPal:
   * the capture's seller receivable breakdown); null while the provider has not settled it yet.
   * Called by the `payments.fees` job after the payment committed, never inside a transaction.
   */
  paymentFee?(call: ProviderCall, input: { paymentRef: string; amount: number; currency: string }): Promise<PaymentFee | null>;
  createPortal?(call: ProviderCall, input: PortalInput): Promise<{ url: string }>;
  /**
   * Charges the customer's saved payment method without them present (auto top-up). A decline or a
   * card that needs the customer to authenticate is an answer (`ok: false`); a provider that cannot
   * be reached throws, and the caller charges again later with the same idempotency key.
   */
  chargeOffSession?(call: ProviderCall, input: ChargeOffSessionInput): Promise<OffSessionResult>;
  /**
   * Changes a subscription the provider bills (cancel, resume, switch plan) and returns its new
   * state, which Tollgate applies through the same `subscription.changed` handler as a webhook.
   */
  updateSubscription?(call: ProviderCall, input: UpdateSubscriptionInput): Promise<Extract<ProviderEvent, { kind: 'subscription.changed' }>>;
  /**
   * Reads a subscription's current state (null when the provider does not know it). Events of one
   * second arrive in any order; the state read when one is processed is the newest.
   */
  retrieveSubscription?(
    call: ProviderCall,
    input: { project: ProviderProject; subscriptionRef: string },
  ): Promise<Extract<ProviderEvent, { kind: 'subscription.changed' }> | null>;
}

export interface ChargeOffSessionInput {
  /** The provider's customer linked to the Tollgate customer. */
  customerRef: string;
  amount: number;
  currency: string;
  /** Deterministic (the top-up's own key): a charge made again answers the first one. */
  idempotencyKey: string;
  description: string;
  metadata: Record<string, string>;
}

export type OffSessionResult =
  | { ok: true; ref: string }
  | { ok: false; code: 'card_declined' | 'authentication_required' | 'no_payment_method' | (string & {}); message: string };

export interface UpdateSubscriptionInput {
  project: ProviderProject;
  subscriptionRef: string;
  action: 'cancel_now' | 'cancel_at_period_end' | 'resume' | 'change_plan';
  /** Tollgate's plan id (change_plan). */
  planRef?: string;
  quantity?: number;
  idempotencyKey: string;
}
