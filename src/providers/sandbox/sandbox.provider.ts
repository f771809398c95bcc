import { timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { SignatureError } from '../../domain/errors.ts';
import { sandboxFee } from '../../domain/disputes.ts';
import type {
  ProviderProject,
  CreateCheckoutInput,
  CreateCheckoutResult,
  PaymentFee,
  PaymentProvider,
  ProviderCall,
  ProviderEvent,
  RefundInput,
  RefundResult,
  VerifiedWebhook,
  VerifyWebhookInput,
} from '../provider.ts';

/** A sandbox event, shaped like a provider's: `{id, type, created, data: {object}}`. */
export interface SandboxEvent {
  id: string;
  type: string;
  created: number;
  livemode: false;
  data: { object: Record<string, unknown> };
}

const TOLERANCE_S = 300;

function header(h: VerifyWebhookInput['headers'], name: string): string {
  const v = h[name];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

/** Signs a sandbox event with the project's secret (Standard Webhooks: webhook-id/-timestamp/-signature). */
export function signSandboxEvent(project: ProviderProject, body: string, eventId: string, at: Date): Record<string, string> {
  const wh = new Webhook(project.sandbox_webhook_secret);
  return {
    'content-type': 'application/json',
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': wh.sign(eventId, at, body),
  };
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const date = (v: unknown): Date | null => (typeof v === 'number' ? new Date(v * 1000) : null);

export const sandboxProvider: PaymentProvider = {
  name: 'sandbox',

  async createCheckout(call: ProviderCall, input: CreateCheckoutInput): Promise<CreateCheckoutResult> {
    // The sandbox's hosted page is Tollgate's own; its session is our record.
    return { providerRef: input.sessionId, url: `${call.publicUrl}/checkout/${input.sessionId}` };
  },

  async verifyWebhook(call: ProviderCall, input: VerifyWebhookInput): Promise<VerifiedWebhook> {
    const id = header(input.headers, 'webhook-id');
    const ts = header(input.headers, 'webhook-timestamp');
    const sig = header(input.headers, 'webhook-signature');
    if (!id || !ts || !sig) throw new SignatureError('Missing webhook-id, webhook-timestamp or webhook-signature header');
    const t = Number(ts);
    if (!/^\d{1,12}$/.test(ts) || Math.abs(call.now.getTime() / 1000 - t) > TOLERANCE_S) {
      throw new SignatureError('Webhook timestamp is outside the 300 s tolerance');
    }
    // Our own tolerance (above) uses Tollgate's clock; the signature is the library's own scheme.
    const body = input.rawBody.toString('utf8');
    const expected = new Webhook(input.project.sandbox_webhook_secret).sign(id, new Date(t * 1000), body);
    if (!sig.split(' ').some((s) => safeEqual(s, expected))) throw new SignatureError('Webhook signature does not match');
    let event: SandboxEvent;
    try {
      event = JSON.parse(body) as SandboxEvent;
    } catch {
      throw new SignatureError('Webhook body is not JSON');
    }
    if (typeof event?.id !== 'string' || typeof event.type !== 'string' || event.id !== id) {
      throw new SignatureError('Webhook body is not a sandbox event');
    }
    return { eventId: event.id, type: event.type, occurredAt: date(event.created), payload: event };
  },

  toEvents(payload: unknown): ProviderEvent[] {
    const e = payload as SandboxEvent;
    const o = e.data?.object ?? {};
    switch (e.type) {
      case 'checkout.session.completed': {
        const pm = o.payment_method as { token?: string; brand?: string; last4?: string; country?: string } | undefined;
        return [
          {
            kind: 'checkout.completed',
            sessionRef: String(o.id),
            paymentRef: str(o.payment_intent),
            paymentStatus: (str(o.payment_status) as 'paid' | 'unpaid' | 'no_payment_required') ?? 'paid',
            amount: num(o.amount_total),
            currency: str(o.currency),
            customerRef: str(o.customer),
            customerEmail: str(o.customer_email),
            subscriptionRef: str(o.subscription),
            paymentMethod: pm?.token ? { token: pm.token, brand: pm.brand ?? 'card', last4: pm.last4 ?? '', country: str(pm.country) } : null,
            cardCountry: str(pm?.country),
          },
        ];
      }
      case 'invoice.paid':
      case 'invoice.payment_failed':
        return [
          {
            kind: e.type,
            invoiceRef: String(o.id),
            subscriptionRef: str(o.subscription),
            customerRef: str(o.customer),
            paymentRef: str(o.payment_intent),
            amount: num(o.amount) ?? 0,
            currency: str(o.currency) ?? 'eur',
            periodStart: date(o.period_start),
            periodEnd: date(o.period_end),
            billingReason: str(o.billing_reason),
            failureReason: str(o.failure_reason),
          },
        ];
      case 'customer.subscription.created':
      case 'customer.subscription.updated':
      case 'customer.subscription.deleted': {
        const meta = o.metadata && typeof o.metadata === 'object' ? (o.metadata as Record<string, unknown>) : {};
        return [
          {
            kind: 'subscription.changed',
            subscriptionRef: String(o.id),
            customerRef: str(o.customer),
            status: str(o.status) ?? 'active',
            planRef: str(o.plan),
            currentPeriodStart: date(o.current_period_start),
            currentPeriodEnd: date(o.current_period_end),
            trialEnd: date(o.trial_end),
            cancelAtPeriodEnd: o.cancel_at_period_end === true,
            canceledAt: date(o.canceled_at),
            deleted: e.type === 'customer.subscription.deleted',
            metadata: Object.fromEntries(Object.entries(meta).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
          },
        ];
      }
      case 'customer.subscription.trial_will_end':
        return [{ kind: 'subscription.trial_will_end', subscriptionRef: String(o.id), trialEnd: date(o.trial_end) }];
      case 'charge.refunded':
        return [
          {
            kind: 'payment.refunded',
            paymentRef: String(o.payment_intent),
            amountRefunded: num(o.amount_refunded) ?? 0,
            currency: str(o.currency) ?? 'eur',
            refundRef: str(o.refund),
          },
        ];
      case 'charge.dispute.created':
      case 'charge.dispute.updated':
      case 'charge.dispute.closed': {
        const status = str(o.status);
        return [
          {
            kind: 'dispute.changed',
            disputeRef: String(o.id),
            paymentRefs: [String(o.payment_intent)],
            amount: num(o.amount),
            currency: str(o.currency),
            reason: str(o.reason),
            status: status === 'under_review' || status === 'won' || status === 'lost' ? status : 'needs_response',
            providerStatus: status ?? 'needs_response',
            evidenceDueBy: date(o.evidence_due_by),
          },
        ];
      }
      default:
        return [{ kind: 'unsupported', type: e.type }];
    }
  },

  /** The sandbox's documented deterministic fee (2.9 % + 30 minor units), computed, not fetched. */
  async paymentFee(_call: ProviderCall, input: { paymentRef: string; amount: number; currency: string }): Promise<PaymentFee | null> {
    const fee = sandboxFee(input.amount);
    return { fee, net: input.amount - fee, currency: input.currency };
  },

  async refund(_call: ProviderCall, input: RefundInput): Promise<RefundResult> {
    // Deterministic: the same refund request always names the same sandbox refund.
    return { refundRef: `sbxre_${input.idempotencyKey}`.slice(0, 64), status: 'succeeded' };
  },
};

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
