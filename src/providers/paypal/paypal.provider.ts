import {
  CheckoutPaymentIntent,
  PaypalExperienceUserAction,
  PaypalWalletContextShippingPreference,
} from '@paypal/paypal-server-sdk';
import { InvalidRequestError, ProviderError } from '../../domain/errors.ts';
import { currencyExponent } from '../../domain/money.ts';
import type {
  ProviderSettingsSpec,
  CreateCheckoutInput,
  CreateCheckoutResult,
  DisputeStatus,
  PaymentFee,
  PaymentProvider,
  ProviderCall,
  ProviderEvent,
  RefundInput,
  RefundResult,
  VerifiedWebhook,
  VerifyWebhookInput,
} from '../provider.ts';
import { paypalApi, paypalError, rawJson } from './paypal.client.ts';
import { type PaypalSettings, paypalSettingsSpec } from './paypal.settings.ts';
import { verifyPaypalWebhook } from './paypal.webhook.ts';

/** 1999 eur → "19.99"; 500 jpy → "500". */
export function toPaypalValue(amount: number, currency: string): string {
  const exp = currencyExponent(currency);
  if (exp === 0) return String(amount);
  const s = String(amount).padStart(exp + 1, '0');
  return `${s.slice(0, -exp)}.${s.slice(-exp)}`;
}

/** "19.99" eur → 1999; null when it is not a plain decimal of that currency. */
export function fromPaypalValue(value: unknown, currency: string): number | null {
  if (typeof value !== 'string') return null;
  const exp = currencyExponent(currency.toLowerCase());
  const m = /^(\d{1,15})(?:\.(\d+))?$/.exec(value);
  if (!m || (m[2] ?? '').length > exp) return null;
  return Number(m[1]) * 10 ** exp + Number((m[2] ?? '').padEnd(exp, '0') || 0);
}

type Json = Record<string, any>;

function money(m: Json | undefined): { amount: number | null; currency: string | null } {
  const currency = typeof m?.currency_code === 'string' ? m.currency_code.toLowerCase() : null;
  return { amount: currency ? fromPaypalValue(m?.value, currency) : null, currency };
}

/** The capture of a PayPal order (after capture, or as the webhook sends it). */
export function captureOf(order: Json): Json | undefined {
  return order?.purchase_units?.[0]?.payments?.captures?.[0];
}

/** PayPal's fee of a capture (`seller_receivable_breakdown.paypal_fee`), null when PayPal has not said it. */
export function captureFee(capture: Json): PaymentFee | null {
  const b = capture?.seller_receivable_breakdown;
  const fee = money(b?.paypal_fee);
  const net = money(b?.net_amount);
  if (fee.amount === null || !fee.currency) return null;
  return { fee: fee.amount, net: net.currency === fee.currency && net.amount !== null ? net.amount : (money(b?.gross_amount).amount ?? 0) - fee.amount, currency: fee.currency };
}

/** PayPal's dispute statuses and outcomes in Tollgate's four. */
function paypalDisputeStatus(r: Json): DisputeStatus {
  if (r.status === 'RESOLVED') {
    const outcome = r.dispute_outcome?.outcome_code;
    return outcome === 'RESOLVED_SELLER_FAVOUR' || outcome === 'CANCELED_BY_BUYER' || outcome === 'DENIED' ? 'won' : 'lost';
  }
  if (r.status === 'UNDER_REVIEW' || r.status === 'WAITING_FOR_BUYER_RESPONSE') return 'under_review';
  return 'needs_response';
}

/** A PayPal dispute resource (CUSTOMER.DISPUTE.*) as Tollgate's `dispute.changed`; the capture is the seller's transaction. */
export function paypalDisputeEvents(r: Json): ProviderEvent[] {
  const txs: Json[] = Array.isArray(r.disputed_transactions) ? r.disputed_transactions : [];
  const refs = txs.map((t) => t?.seller_transaction_id).filter((x): x is string => typeof x === 'string' && x !== '');
  if (typeof r.dispute_id !== 'string' || refs.length === 0) return [{ kind: 'unsupported', type: 'dispute without a transaction' }];
  const { amount, currency } = money(r.dispute_amount);
  const due = typeof r.seller_response_due_date === 'string' ? new Date(r.seller_response_due_date) : null;
  return [
    {
      kind: 'dispute.changed',
      disputeRef: r.dispute_id,
      paymentRefs: refs,
      amount,
      currency,
      reason: typeof r.reason === 'string' ? r.reason.toLowerCase() : null,
      status: paypalDisputeStatus(r),
      providerStatus: r.status === 'RESOLVED' ? `RESOLVED:${r.dispute_outcome?.outcome_code ?? 'NONE'}` : String(r.status ?? 'OPEN'),
      evidenceDueBy: due && !Number.isNaN(due.getTime()) ? due : null,
    },
  ];
}

/** Tollgate's events for a capture resource: paid, pending (unpaid for now) or denied. */
export function captureEvents(capture: Json, fallbackSessionRef?: string): ProviderEvent[] {
  const sessionRef = capture.custom_id ?? capture.invoice_id ?? capture.supplementary_data?.related_ids?.order_id ?? fallbackSessionRef;
  if (typeof sessionRef !== 'string') return [{ kind: 'unsupported', type: 'capture without a session' }];
  const { amount, currency } = money(capture.amount);
  if (capture.status === 'COMPLETED' || capture.status === 'PENDING') {
    return [
      {
        kind: 'checkout.completed',
        sessionRef,
        paymentRef: String(capture.id),
        paymentStatus: capture.status === 'COMPLETED' ? 'paid' : 'unpaid',
        amount,
        currency,
        fee: captureFee(capture),
      },
    ];
  }
  if (capture.status === 'DECLINED' || capture.status === 'FAILED') {
    return [{ kind: 'checkout.async_payment_failed', sessionRef, reason: capture.status_details?.reason ?? capture.status }];
  }
  return [{ kind: 'unsupported', type: `capture ${capture.status}` }];
}

function captureIdOfRefund(refund: Json): string | null {
  const up = (refund.links as Json[] | undefined)?.find((l) => l.rel === 'up' && typeof l.href === 'string');
  const m = up ? /\/captures\/([^/?#]+)/.exec(up.href) : null;
  return m?.[1] ?? null;
}

export const paypalProvider: PaymentProvider = {
  name: 'paypal',
  settings: paypalSettingsSpec as ProviderSettingsSpec,

  async createCheckout(call: ProviderCall, input: CreateCheckoutInput): Promise<CreateCheckoutResult> {
    if (input.mode !== 'payment') {
      throw new InvalidRequestError('PayPal takes one-time payments here (credit packs, orders); subscriptions need another provider', 'provider');
    }
    const first = input.lineItems[0];
    if (!first) throw new InvalidRequestError('Nothing to pay', 'provider');
    const currency = first.currency;
    const code = currency.toUpperCase();
    const total = input.lineItems.reduce((s, i) => s + i.amount * i.quantity, 0);
    const api = paypalApi(call);
    try {
      const res = await api.orders.createOrder({
        paypalRequestId: input.idempotencyKey,
        prefer: 'return=representation',
        body: {
          intent: CheckoutPaymentIntent.Capture,
          purchaseUnits: [
            {
              referenceId: input.sessionId,
              customId: input.sessionId,
              invoiceId: input.sessionId,
              description: input.lineItems.map((i) => i.name).join(', ').slice(0, 127),
              amount: {
                currencyCode: code,
                value: toPaypalValue(total, currency),
                breakdown: { itemTotal: { currencyCode: code, value: toPaypalValue(total, currency) } },
              },
              items: input.lineItems.map((i) => ({
                name: i.name.slice(0, 127),
                unitAmount: { currencyCode: code, value: toPaypalValue(i.amount, currency) },
                quantity: String(i.quantity),
              })),
            },
          ],
          paymentSource: {
            paypal: {
              experienceContext: {
                returnUrl: `${call.publicUrl}/paypal/return/${input.sessionId}`,
                cancelUrl: input.cancelUrl,
                userAction: PaypalExperienceUserAction.PayNow,
                shippingPreference: PaypalWalletContextShippingPreference.NoShipping,
              },
            },
          },
        },
      });
      const order = rawJson(res);
      const link = (order.links as Json[] | undefined)?.find((l) => l.rel === 'payer-action' || l.rel === 'approve');
      if (typeof order.id !== 'string' || !link) throw new Error('PayPal order has no approval link');
      return { providerRef: order.id, url: String(link.href) };
    } catch (err) {
      throw paypalError(err, 'creating the PayPal order');
    }
  },

  async verifyCredentials(call: ProviderCall): Promise<{ livemode: boolean }> {
    const settings = call.settings as PaypalSettings | undefined;
    if (!settings) throw new InvalidRequestError('PayPal is not configured for this project: PUT /v1/providers/paypal first', 'provider');
    const base = (call.apiBase ?? (settings.mode === 'live' ? 'https://api-m.paypal.com' : 'https://api-m.sandbox.paypal.com')).replace(/\/$/, '');
    // An access token is granted only to client credentials of the environment asked (sandbox or live).
    let res: Response;
    try {
      res = await fetch(`${base}/v1/oauth2/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${settings.client_id}:${settings.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials',
        signal: AbortSignal.timeout(call.timeoutMs),
      });
    } catch (err) {
      throw new ProviderError('paypal', `could not be reached: ${(err as Error).message}`, { paypal_status: null, paypal_issue: null });
    }
    if (!res.ok) {
      const body = (await res.json().catch(() => ({}))) as { error?: string };
      throw new ProviderError('paypal', `refused these credentials${body.error ? `: ${body.error}` : ''}`, {
        paypal_status: res.status,
        paypal_issue: body.error ?? null,
      });
    }
    return { livemode: settings.mode === 'live' };
  },

  verifyWebhook(call: ProviderCall, input: VerifyWebhookInput): Promise<VerifiedWebhook> {
    return verifyPaypalWebhook(call, input);
  },

  toEvents(payload: unknown): ProviderEvent[] {
    const e = payload as Json;
    const r = (e?.resource ?? {}) as Json;
    switch (e?.event_type) {
      case 'CHECKOUT.ORDER.APPROVED':
        return typeof r.id === 'string' ? [{ kind: 'order.approved', orderRef: r.id }] : [{ kind: 'unsupported', type: e.event_type }];
      case 'PAYMENT.CAPTURE.COMPLETED':
      case 'PAYMENT.CAPTURE.PENDING':
      case 'PAYMENT.CAPTURE.DENIED':
        return captureEvents(r);
      case 'PAYMENT.CAPTURE.REFUNDED': {
        const captureId = captureIdOfRefund(r);
        const total = money(r.seller_payable_breakdown?.total_refunded_amount ?? r.amount);
        if (!captureId || total.amount === null || !total.currency) return [{ kind: 'unsupported', type: 'refund without a capture' }];
        return [
          { kind: 'payment.refunded', paymentRef: captureId, amountRefunded: total.amount, currency: total.currency, refundRef: String(r.id) },
        ];
      }
      case 'CUSTOMER.DISPUTE.CREATED':
      case 'CUSTOMER.DISPUTE.UPDATED':
      case 'CUSTOMER.DISPUTE.RESOLVED':
        return paypalDisputeEvents(r);
      default:
        return [{ kind: 'unsupported', type: String(e?.event_type) }];
    }
  },

  /** The capture's `seller_receivable_breakdown`, read with the official SDK (null until PayPal states the fee). */
  async paymentFee(call: ProviderCall, input: { paymentRef: string; amount: number; currency: string }): Promise<PaymentFee | null> {
    const api = paypalApi(call);
    try {
      return captureFee(rawJson(await api.payments.getCapturedPayment({ captureId: input.paymentRef })));
    } catch (err) {
      throw paypalError(err, 'reading the PayPal capture');
    }
  },

  async refund(call: ProviderCall, input: RefundInput): Promise<RefundResult> {
    const api = paypalApi(call);
    try {
      const res = await api.payments.refundCapturedPayment({
        captureId: input.paymentRef,
        paypalRequestId: input.idempotencyKey,
        prefer: 'return=representation',
        body: { amount: { currencyCode: input.currency.toUpperCase(), value: toPaypalValue(input.amount, input.currency) } },
      });
      const refund = rawJson(res);
      const status = refund.status === 'COMPLETED' ? 'succeeded' : refund.status === 'PENDING' ? 'pending' : 'failed';
      return { refundRef: String(refund.id), status };
    } catch (err) {
      throw paypalError(err, 'refunding the PayPal capture');
    }
  },
};
