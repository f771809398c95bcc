import { SignatureError } from '../../domain/errors.ts';
import type { ProviderCall, VerifiedWebhook, VerifyWebhookInput } from '../provider.ts';
import { Stripe } from './stripe.client.ts';
import type { StripeSettings } from './stripe.settings.ts';

export const TOLERANCE_S = 300;

/**
 * Parses `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…][,v0=…]` strictly. Only v1 counts (v0 and other
 * schemes are ignored so a downgrade is impossible); anything malformed is a 400, never a 500.
 */
export function parseSignatureHeader(value: string): { t: number; v1: string[] } {
  let t: number | null = null;
  const v1: string[] = [];
  for (const item of value.split(',')) {
    const i = item.indexOf('=');
    if (i <= 0) continue;
    const k = item.slice(0, i).trim();
    const v = item.slice(i + 1).trim();
    if (k === 't') {
      if (!/^\d{1,12}$/.test(v)) throw new SignatureError('Stripe-Signature has a malformed timestamp');
      t = Number(v);
    } else if (k === 'v1' && /^[0-9a-f]{64}$/.test(v)) v1.push(v);
  }
  if (t === null) throw new SignatureError('Stripe-Signature has no timestamp');
  if (v1.length === 0) throw new SignatureError('Stripe-Signature has no v1 signature');
  return { t, v1 };
}

/** Verifies against the secrets and mode in `call.settings`; tolerance measured on `call.now`. */
export async function verifyStripeWebhook(call: ProviderCall, input: VerifyWebhookInput): Promise<VerifiedWebhook> {
  const raw = input.headers['stripe-signature'];
  const header = Array.isArray(raw) ? raw[0] : raw;
  if (!header) throw new SignatureError('Missing Stripe-Signature header');
  const { t } = parseSignatureHeader(header);
  const nowMs = call.now.getTime();
  // Both directions: the SDK alone rejects only old timestamps.
  if (Math.abs(nowMs / 1000 - t) > TOLERANCE_S) throw new SignatureError('Webhook timestamp is outside the 300 s tolerance');
  const settings = call.settings as StripeSettings | undefined;
  if (!settings) throw new SignatureError('Stripe is not configured for this project');
  if (settings.webhook_secrets.length === 0) throw new SignatureError('No Stripe webhook secret is configured for this project');

  let event: Record<string, unknown> | null = null;
  for (const secret of settings.webhook_secrets) {
    try {
      // Verified on the raw bytes; tolerance measured on Tollgate's clock.
      event = Stripe.webhooks.constructEvent(input.rawBody, header, secret, TOLERANCE_S, undefined, nowMs) as unknown as Record<string, unknown>;
      break;
    } catch (err) {
      if (err instanceof Stripe.errors.StripeSignatureVerificationError) continue;
      if (err instanceof SyntaxError) throw new SignatureError('Webhook body is not JSON');
      throw new SignatureError(`Webhook could not be verified: ${(err as Error).message}`);
    }
  }
  if (!event) throw new SignatureError('No Stripe signature matches any configured webhook secret');
  if (event.object !== 'event' || typeof event.id !== 'string' || typeof event.type !== 'string' || typeof event.data !== 'object') {
    throw new SignatureError('Webhook body is not a Stripe event');
  }
  const mode = call.mode ?? 'test';
  if (event.livemode !== (mode === 'live')) {
    throw new SignatureError(`A ${event.livemode ? 'live' : 'test'}-mode event cannot be accepted by a project in ${mode} mode`);
  }
  return {
    eventId: event.id,
    type: event.type,
    occurredAt: typeof event.created === 'number' ? new Date(event.created * 1000) : null,
    payload: event,
  };
}
