import { type ApiResponse, Client, Environment, LogLevel, OrdersController, PaymentsController } from '@paypal/paypal-server-sdk';
import { InvalidRequestError, ProviderError } from '../../domain/errors.ts';
import type { ProviderCall } from '../provider.ts';
import type { PaypalSettings } from './paypal.settings.ts';

export interface PaypalApi {
  orders: OrdersController;
  payments: PaymentsController;
  settings: PaypalSettings;
}

const OFFICIAL = /^https:\/\/api-m\.(sandbox\.)?paypal\.com/;

/** The official SDK, pointed at `TOLLGATE_PAYPAL_API_BASE` when set (a PayPal-compatible test API). */
function makeClient(settings: PaypalSettings, apiBase: string | undefined, timeoutMs: number): Client {
  class RebasedClient extends Client {
    override getRequestBuilderFactory() {
      const inner = super.getRequestBuilderFactory();
      if (!apiBase) return inner;
      const base = apiBase.replace(/\/$/, '');
      return ((...args: Parameters<typeof inner>) => {
        const rb = inner(...args);
        rb.interceptRequest((req) => ({ ...req, url: req.url.replace(OFFICIAL, base) }));
        return rb;
      }) as typeof inner;
    }
  }
  return new RebasedClient({
    clientCredentialsAuthCredentials: { oAuthClientId: settings.client_id, oAuthClientSecret: settings.client_secret },
    environment: settings.mode === 'live' ? Environment.Production : Environment.Sandbox,
    timeout: timeoutMs,
    // The SDK logs every request and response by default; Tollgate logs failures itself.
    logging: { logger: { log: () => {} }, logLevel: LogLevel.Error },
  });
}

const clients = new Map<string, { key: string; api: PaypalApi }>();

/** The project's PayPal API, from the call's settings (one SDK client per project while they stay the same). */
export function paypalApi(call: ProviderCall): PaypalApi {
  const settings = call.settings as PaypalSettings | undefined;
  if (!settings) throw new InvalidRequestError('PayPal is not configured for this project: PUT /v1/providers/paypal first', 'provider');
  const key = `${settings.client_id}:${settings.client_secret}:${settings.mode}:${call.apiBase ?? ''}:${call.timeoutMs}`;
  const hit = clients.get(call.projectId);
  if (hit && hit.key === key) return hit.api;
  const client = makeClient(settings, call.apiBase, call.timeoutMs);
  const api = { orders: new OrdersController(client), payments: new PaymentsController(client), settings };
  clients.set(call.projectId, { key, api });
  return api;
}

/** PayPal's own JSON (snake_case), as sent: what webhooks carry too. */
export function rawJson(res: ApiResponse<unknown>): Record<string, any> {
  return typeof res.body === 'string' ? JSON.parse(res.body) : {};
}

/** The JSON body of an SDK error, or undefined. */
export function errorBody(err: unknown): Record<string, any> | undefined {
  const body = (err as { body?: unknown })?.body;
  if (typeof body !== 'string') return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

export function paypalError(err: unknown, what: string): ProviderError {
  const body = errorBody(err);
  const issue = body?.details?.[0]?.issue ?? body?.name ?? body?.error;
  return new ProviderError('paypal', `${what} failed${issue ? `: ${issue}` : `: ${(err as Error).message}`}`, {
    paypal_status: (err as { statusCode?: number }).statusCode ?? null,
    paypal_issue: issue ?? null,
  });
}
