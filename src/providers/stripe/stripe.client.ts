import Stripe from 'stripe';
import { AppError, ProviderError } from '../../domain/errors.ts';
import type { ProviderCall } from '../provider.ts';
import type { StripeSettings } from './stripe.settings.ts';

export { Stripe };

/** `TOLLGATE_STRIPE_API_BASE` (a Stripe-compatible server) as the SDK's host/port/protocol options. */
export function apiBaseOptions(base: string | undefined): { host?: string; port?: number; protocol?: 'http' | 'https' } {
  if (!base) return {};
  const u = new URL(base);
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  return { host: u.hostname, port: u.port ? Number(u.port) : protocol === 'http' ? 80 : 443, protocol };
}

const clients = new Map<string, Stripe>();

/** One SDK client per secret key, API base and timeout (clients are cheap but keep their HTTP agent). */
export function stripeClient(call: Pick<ProviderCall, 'apiBase' | 'timeoutMs'>, secretKey: string): Stripe {
  const k = `${call.apiBase ?? ''}|${call.timeoutMs}|${secretKey}`;
  let c = clients.get(k);
  if (!c) {
    c = new Stripe(secretKey, {
      ...apiBaseOptions(call.apiBase),
      // Retries reuse our own idempotency key, so a retried POST cannot act twice.
      maxNetworkRetries: 2,
      timeout: call.timeoutMs,
      telemetry: false,
      appInfo: { name: 'Tollgate' },
    });
    clients.set(k, c);
  }
  return c;
}

/** The project's Stripe client, from the call's settings; 400 when the project has no Stripe settings. */
export function stripeFor(call: ProviderCall): { stripe: Stripe; settings: StripeSettings } {
  const settings = call.settings as StripeSettings | undefined;
  if (!settings) {
    throw new AppError('invalid_request', 'Stripe is not configured for this project (PUT /v1/providers/stripe)', { param: 'provider' });
  }
  return { stripe: stripeClient(call, settings.secret_key), settings };
}

/** Runs a Stripe call; Stripe's own errors become a 502 provider_error carrying Stripe's code and message. */
export async function callStripe<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof Stripe.errors.StripeError) {
      throw new ProviderError('stripe', `${what} failed: ${err.message}`, {
        stripe_type: err.type,
        stripe_code: err.code ?? null,
        stripe_status: err.statusCode ?? null,
      });
    }
    throw err;
  }
}
