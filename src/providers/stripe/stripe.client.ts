import Stripe from 'stripe';
import { AppError, ProviderError } from '../../domain/errors.ts';
import type { AppContext } from '../../app/context.ts';
import { getProviderConfig } from '../../modules/providers/providers.service.ts';
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

/** One SDK client per secret key and API base (clients are cheap but keep their HTTP agent). */
export function stripeClient(ctx: AppContext, secretKey: string): Stripe {
  const k = `${ctx.config.stripeApiBase ?? ''}|${secretKey}`;
  let c = clients.get(k);
  if (!c) {
    c = new Stripe(secretKey, {
      ...apiBaseOptions(ctx.config.stripeApiBase),
      // Retries reuse our own idempotency key, so a retried POST cannot act twice.
      maxNetworkRetries: 2,
      timeout: 20_000,
      telemetry: false,
      appInfo: { name: 'Tollgate' },
    });
    clients.set(k, c);
  }
  return c;
}

export async function stripeSettings(ctx: AppContext, projectId: string): Promise<StripeSettings | undefined> {
  return getProviderConfig<StripeSettings>(ctx, projectId, 'stripe');
}

/** The project's Stripe client; 400 when the project has no Stripe settings. */
export async function stripeFor(ctx: AppContext, projectId: string): Promise<{ stripe: Stripe; settings: StripeSettings }> {
  const settings = await stripeSettings(ctx, projectId);
  if (!settings) {
    throw new AppError('invalid_request', 'Stripe is not configured for this project (PUT /v1/providers/stripe)', { param: 'provider' });
  }
  return { stripe: stripeClient(ctx, settings.secret_key), settings };
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
