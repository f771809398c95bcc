/**
 * `@tollgate/sdk`: a typed client for Tollgate's HTTP API, for an app's backend (secret key
 * `sk_...`) or its front end (publishable key `pk_...`, or a customer session token). Plain
 * `fetch`, no dependencies, no Node-only imports: it runs in Node >= 20 and in browsers.
 *
 * Every operation of the OpenAPI document is reachable through `request(method, path, options)`,
 * typed from the document (`schema.d.ts`, generated from `openapi.json`). The groups below are
 * shortcuts for the common calls. Every mutation sends an Idempotency-Key (yours, or a generated
 * one) and retries network errors, 5xx and 429 with that same key, so a retried call never takes
 * effect twice.
 */
import { ApiKeyVerifier, type ApiKeyVerifierOptions } from './api-key-cache.js';
import { apiKeys } from './resources/api-keys.js';
import { imports } from './resources/imports.js';
import { checkout, portal } from './resources/checkout.js';
import { cart, orders } from './resources/commerce.js';
import { credits } from './resources/credits.js';
import { customers } from './resources/customers.js';
import { keys, project, providers, webhookEndpoints } from './resources/operations.js';
import { disputes } from './resources/disputes.js';
import type { RequestFn } from './resources/request.js';
import { secrets } from './resources/secrets.js';
import { catalog } from './resources/catalog.js';
import { subscriptions } from './resources/subscriptions.js';
import { EntitlementCache, type EntitlementCacheOptions } from './realtime.js';
import { buildPath, Transport } from './transport.js';
import { UsageRecorder, type UsageRecorderOptions } from './usage.js';
import type { Body, CallOptions, Method, Operation, PathsWith, Reply, RequestArgs } from './types.js';
import type { Plans, Subscription, UsageAnswer } from './models.js';
import { type VerifyOptions, verifyWebhook, type WebhookEvent, type WebhookHeaders } from './webhooks.js';

export * from './errors.js';
export type * from './models.js';
export type { RequestFn } from './resources/request.js';
export type { DisputeListQuery } from './resources/disputes.js';
export { newIdempotencyKey } from './transport.js';
export type * from './types.js';
export * from './webhooks.js';
export * from './realtime.js';
export * from './api-key-cache.js';
export { sha256Hex } from './sha256.js';
export * from './usage.js';

export interface ClientOptions {
  /** A secret key (`sk_...`), a publishable key (`pk_...`) or a customer session token. */
  apiKey: string;
  /** Tollgate's address (default `http://localhost:4242`). */
  baseUrl?: string;
  /** Per attempt, in milliseconds (default 30 000); 0 turns it off. */
  timeoutMs?: number;
  /** Retries of network errors, timeouts, 5xx and 429 (default 2), each with the same Idempotency-Key. */
  maxRetries?: number;
  /** First backoff delay in ms (default 250), doubled per retry with jitter. */
  retryDelayMs?: number;
  /** Longest wait before a retry (default 60 000 ms); a Retry-After beyond it is not waited for. */
  maxRetryDelayMs?: number;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
  /** How to wait between attempts (default: a timer). */
  sleep?: (ms: number) => Promise<void>;
}

type UsageInput = { customer_id: string; feature: string; quantity?: number };

export class Tollgate {
  readonly #transport: Transport;
  readonly #options: ClientOptions;

  constructor(options: ClientOptions) {
    if (!options?.apiKey) throw new TypeError('Tollgate: apiKey is required (sk_..., pk_... or a customer session token)');
    this.#options = options;
    this.#transport = new Transport({
      apiKey: options.apiKey,
      baseUrl: (options.baseUrl ?? 'http://localhost:4242').replace(/\/+$/, ''),
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: Math.max(0, options.maxRetries ?? 2),
      retryDelayMs: options.retryDelayMs ?? 250,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 60_000,
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    });
  }

  /**
   * Any operation of the API, typed from the OpenAPI document:
   * `request('POST', '/v1/customers/{id}/credits/deduct', { params: { path: { id } }, body: { amount: 3 } })`.
   */
  request<M extends Method, P extends PathsWith<M>>(method: M, path: P, ...args: RequestArgs<Operation<M, P>>): Promise<Reply<M, P>> {
    const o = (args[0] ?? {}) as { params?: { path?: Record<string, unknown>; query?: Record<string, unknown> }; body?: unknown } & CallOptions;
    return this.#transport.send({
      method,
      path: buildPath(path, o.params?.path, o.params?.query),
      body: o.body,
      idempotencyKey: o.idempotencyKey,
      timeoutMs: o.timeoutMs,
      maxRetries: o.maxRetries,
      signal: o.signal,
    });
  }

  readonly #request: RequestFn = (method, path, ...args) => this.request(method, path, ...args);

  // The groups of calls. A new group (a new capability of the API) is one more file in
  // resources/ and one more line here.
  readonly customers = customers(this.#request);
  readonly credits = credits(this.#request);
  readonly checkout = checkout(this.#request);
  readonly subscriptions = subscriptions(this.#request);
  readonly catalog = catalog(this.#request);
  readonly portal = portal(this.#request);
  readonly cart = cart(this.#request);
  readonly orders = orders(this.#request);
  readonly secrets = secrets(this.#request);
  readonly apiKeys = {
    ...apiKeys(this.#request),
    /**
     * Verifies keys in-process from the push stream (docs/api-keys.md, "Verifying in-process"):
     * `verifyLocal(key)` (synchronous, null when only the server can answer) and `verify(key)`.
     * Call `start()` first.
     */
    verifier: (options: Omit<ApiKeyVerifierOptions, 'baseUrl' | 'apiKey'> = {}): ApiKeyVerifier =>
      new ApiKeyVerifier({ ...this.#connection(), ...options }),
  };
  readonly project = project(this.#request);
  readonly keys = keys(this.#request);
  readonly providers = providers(this.#request);
  readonly webhookEndpoints = webhookEndpoints(this.#request);
  readonly disputes = disputes(this.#request);
  readonly imports = imports(this.#request);

  /**
   * Decisions without a round trip (docs/sdk-realtime.md): a per-customer snapshot kept fresh from
   * `GET /v1/stream`, answering `check` in-process within a staleness bound. Call `start()` first.
   */
  entitlements(options: Omit<EntitlementCacheOptions, 'baseUrl' | 'apiKey'> = {}): EntitlementCache {
    return new EntitlementCache({ ...this.#connection(), ...options });
  }

  /** A batching usage recorder over `POST /v1/track/batch`: each event once, across retries and restarts. */
  usage(options: Omit<UsageRecorderOptions, 'baseUrl' | 'apiKey'> = {}): UsageRecorder {
    return new UsageRecorder({ ...this.#connection(), ...options });
  }

  #connection() {
    const baseUrl = (this.#options.baseUrl ?? 'http://localhost:4242').replace(/\/+$/, '');
    return { baseUrl, apiKey: this.#options.apiKey, ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}) };
  }

  /** Outgoing webhooks: check a delivery's signature before trusting it. */
  readonly webhooks = {
    verify: <T = Record<string, unknown>>(headers: WebhookHeaders, body: string | Uint8Array | ArrayBuffer, secret: string, options?: VerifyOptions): Promise<WebhookEvent<T>> =>
      verifyWebhook<T>(headers, body, secret, options),
  };

  /** May this customer do X (quantity, default 1)? Reads only; `allowed: false` is an answer, not an error. */
  check(customerId: string, feature: string, quantity?: number, o?: CallOptions): Promise<Reply<'POST', '/v1/check', UsageAnswer>>;
  check(usage: UsageInput, o?: CallOptions): Promise<Reply<'POST', '/v1/check', UsageAnswer>>;
  check(a: string | UsageInput, b?: string | CallOptions, c?: number, d?: CallOptions) {
    const [body, o] = usageArgs(a, b, c, d);
    return this.request('POST', '/v1/check', { body, ...o }) as Promise<Reply<'POST', '/v1/check', UsageAnswer>>;
  }

  /** Records usage; at a limit the answer is `allowed: false` (nothing recorded), never an exception. */
  track(customerId: string, feature: string, quantity?: number, o?: CallOptions): Promise<Reply<'POST', '/v1/track', UsageAnswer>>;
  track(usage: UsageInput, o?: CallOptions): Promise<Reply<'POST', '/v1/track', UsageAnswer>>;
  track(a: string | UsageInput, b?: string | CallOptions, c?: number, d?: CallOptions) {
    const [body, o] = usageArgs(a, b, c, d);
    return this.request('POST', '/v1/track', { body, ...o }) as Promise<Reply<'POST', '/v1/track', UsageAnswer>>;
  }

  /** The public catalog: plans and credit packs (a publishable key is enough). */
  plans(o?: CallOptions) {
    return this.request('GET', '/v1/plans', { ...o }) as Promise<Reply<'GET', '/v1/plans', Plans>>;
  }

  /** @deprecated use `subscriptions.get(customerId)`. */
  subscription(customerId: string) {
    return this.subscriptions.get(customerId) as Promise<Reply<'GET', '/v1/customers/{id}/subscription', Subscription>>;
  }
}

function usageArgs(a: string | UsageInput, b?: string | CallOptions, c?: number, d?: CallOptions): [Body<'POST', '/v1/check'>, CallOptions | undefined] {
  if (typeof a === 'string') return [{ customer_id: a, feature: b as string, ...(c === undefined ? {} : { quantity: c }) }, d];
  return [a as Body<'POST', '/v1/check'>, b as CallOptions | undefined];
}
