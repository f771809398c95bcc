import type { z } from 'zod';
import type { AppContext } from '../app/context.ts';

export type ProviderName = 'sandbox' | 'stripe' | 'paypal';

/** What a provider needs to know of the project it acts for (a project row satisfies it). */
export interface ProviderProject {
  id: string;
  /** Signs the sandbox provider's own webhooks. */
  sandbox_webhook_secret: string;
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
      paymentMethod?: { token: string; brand: string; last4: string } | null;
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
  | { kind: 'unsupported'; type: string };

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
}

/** One door for every payment provider. */
/** How a provider's settings are validated, previewed and given a mode (the sandbox needs none). */
export interface ProviderSettingsSpec<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** What may be shown back: previews of secrets, never the secrets. */
  preview(config: z.infer<S>): Record<string, unknown>;
  mode(config: z.infer<S>): 'test' | 'live';
}

export interface PaymentProvider {
  readonly name: ProviderName;
  /** The settings an operator gives this provider (`PUT /v1/providers/:provider`). */
  readonly settings?: ProviderSettingsSpec;
  createCheckout(ctx: AppContext, input: CreateCheckoutInput): Promise<CreateCheckoutResult>;
  /** Verifies the raw body and headers; throws SignatureError on anything wrong. */
  verifyWebhook(ctx: AppContext, input: VerifyWebhookInput): Promise<VerifiedWebhook>;
  /** Maps a stored provider payload to Tollgate events (unknown types → `unsupported`). */
  toEvents(payload: unknown): ProviderEvent[];
  refund(ctx: AppContext, input: RefundInput): Promise<RefundResult>;
  createPortal?(ctx: AppContext, input: PortalInput): Promise<{ url: string }>;
  /**
   * Changes a subscription the provider bills (cancel, resume, switch plan) and returns its new
   * state, which Tollgate applies through the same `subscription.changed` handler as a webhook.
   */
  updateSubscription?(ctx: AppContext, input: UpdateSubscriptionInput): Promise<Extract<ProviderEvent, { kind: 'subscription.changed' }>>;
}

export interface UpdateSubscriptionInput {
  project: ProviderProject;
  subscriptionRef: string;
  action: 'cancel_now' | 'cancel_at_period_end' | 'resume' | 'change_plan';
  /** Tollgate's plan id (change_plan). */
  planRef?: string;
  quantity?: number;
  idempotencyKey: string;
}
