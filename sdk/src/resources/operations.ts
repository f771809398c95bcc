import type { Body, CallOptions } from '../types.js';
import type { RequestFn } from './request.js';

/** The project itself: name, CORS origins, rate limits, branding, locale, e-mail settings. */
export function project(request: RequestFn) {
  return {
    get: (o?: CallOptions) => request('GET', '/v1/project', { ...o }),
    /** A null field of `rate_limit` or `branding` (or `locale: null`) returns to the default. */
    update: (patch: Body<'PATCH', '/v1/project'>, o?: CallOptions) => request('PATCH', '/v1/project', { body: patch, ...o }),
  };
}

/** The project's secret and publishable keys (not your customers' keys: see `apiKeys`). */
export function keys(request: RequestFn) {
  return {
    /** Each with `last_used_at`, to within 5 minutes. */
    list: (o?: CallOptions) => request('GET', '/v1/keys', { ...o }),
    /** The reply's `key` is the only time the key is shown. */
    create: (key: Body<'POST', '/v1/keys'> = {}, o?: CallOptions) => request('POST', '/v1/keys', { body: key, ...o }),
    revoke: (keyId: string, o?: CallOptions) => request('DELETE', '/v1/keys/{id}', { params: { path: { id: keyId } }, ...o }),
  };
}

/** Payment providers: connect with keys, see the webhook URL and what the provider sent, verify the keys. */
export function providers(request: RequestFn) {
  return {
    list: (o?: CallOptions) => request('GET', '/v1/providers', { ...o }),
    connect: (provider: 'stripe' | 'paypal', settings: Body<'PUT', '/v1/providers/{provider}'>, o?: CallOptions) =>
      request('PUT', '/v1/providers/{provider}', { params: { path: { provider } }, body: settings, ...o }),
    status: (provider: 'stripe' | 'paypal', o?: CallOptions) => request('GET', '/v1/providers/{provider}/status', { params: { path: { provider } }, ...o }),
    /** `ok: false` with an `error` when the provider refuses the saved keys; an answer, not an exception. */
    verify: (provider: 'stripe' | 'paypal', o?: CallOptions) => request('POST', '/v1/providers/{provider}/verify', { params: { path: { provider } }, ...o }),
  };
}

/** Your app's webhook endpoints: create (the secret is shown once), change, test, rotate the secret. */
export function webhookEndpoints(request: RequestFn) {
  return {
    create: (endpoint: Body<'POST', '/v1/webhook-endpoints'>, o?: CallOptions) => request('POST', '/v1/webhook-endpoints', { body: endpoint, ...o }),
    list: (o?: CallOptions) => request('GET', '/v1/webhook-endpoints', { ...o }),
    get: (id: string, o?: CallOptions) => request('GET', '/v1/webhook-endpoints/{id}', { params: { path: { id } }, ...o }),
    update: (id: string, patch: Body<'PATCH', '/v1/webhook-endpoints/{id}'>, o?: CallOptions) =>
      request('PATCH', '/v1/webhook-endpoints/{id}', { params: { path: { id } }, body: patch, ...o }),
    delete: (id: string, o?: CallOptions) => request('DELETE', '/v1/webhook-endpoints/{id}', { params: { path: { id } }, ...o }),
    /** Sends a `webhook.test` event now; the reply is the delivery with its attempt. */
    test: (id: string, o?: CallOptions) => request('POST', '/v1/webhook-endpoints/{id}/test', { params: { path: { id } }, ...o }),
    /** A new secret (shown once); the old one keeps signing for `expiresInSeconds` (default 24 h, 0 = at once). */
    rotateSecret: (id: string, expiresInSeconds = 86_400, o?: CallOptions) =>
      request('POST', '/v1/webhook-endpoints/{id}/rotate-secret', { params: { path: { id } }, body: { expires_in_seconds: expiresInSeconds }, ...o }),
  };
}
