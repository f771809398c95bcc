/**
 * A small typed client for Tollgate's HTTP API, for an app's backend (secret key) or front end
 * (customer session token). Every mutation sends an Idempotency-Key (yours, or a generated one
 * reused across this call's retries), so a retried call never takes effect twice.
 */
export interface Money {
  amount: number;
  currency: string;
}

export interface TollgateErrorBody {
  code: string;
  message: string;
  request_id?: string;
  [detail: string]: unknown;
}

export interface CustomerApiKey {
  id: string;
  object: 'customer_api_key';
  customer_id: string;
  name: string | null;
  preview: string;
  scopes: string[];
  status: 'active' | 'expired' | 'revoked';
  expires_at: string | null;
  rate_limit: { limit: number; window_seconds: number } | null;
  remaining: number | null;
  auto_issued: boolean;
  rolled_to: string | null;
  created_at: string;
  revoked_at: string | null;
}

export interface ApiKeyVerification {
  valid: boolean;
  code?: 'not_found' | 'revoked' | 'expired' | 'usage_exceeded' | 'rate_limited' | 'customer_deleted';
  key_id?: string;
  customer_id?: string;
  name?: string | null;
  scopes?: string[];
  plan?: string | null;
  entitlements?: Record<string, unknown>;
  remaining?: number | null;
  expires_at?: string | null;
  rate_limit?: { limit: number; remaining: number; reset: string } | null;
}

export class TollgateError extends Error {
  constructor(
    readonly status: number,
    readonly body: TollgateErrorBody,
  ) {
    super(`${body.code}: ${body.message}`);
  }
  get code(): string {
    return this.body.code;
  }
}

export interface ClientOptions {
  /** A secret key (sk_...), a publishable key (pk_...) or a customer session token. */
  apiKey: string;
  baseUrl?: string;
  /** Retries of network errors and 5xx replies (same Idempotency-Key each time). */
  maxRetries?: number;
  fetch?: typeof fetch;
}

export interface CallOptions {
  idempotencyKey?: string;
}

export interface CreditBalance {
  customer_id: string;
  balance: number;
  held: number;
  available: number;
}

export interface DeductResult {
  balance: number;
  held: number;
  available: number;
  deducted: number;
  transaction_id: string;
}

export interface CreditTransfer {
  id: string;
  object: 'credit_transfer';
  amount: number;
  reason: string;
  from: CreditBalance & { transaction_id: string };
  to: CreditBalance & { transaction_id: string };
  created_at: string;
}

export interface CheckResult {
  allowed: boolean;
  reason?: string;
  usage?: number;
  limit?: number | null;
  remaining?: number | null;
  balance?: number;
  value?: unknown;
}

export interface CheckoutSession {
  session_id: string;
  url: string | null;
  status: 'open' | 'complete' | 'expired';
  [field: string]: unknown;
}

export interface List<T> {
  data: T[];
  has_more: boolean;
}

export class Tollgate {
  private readonly baseUrl: string;
  private readonly maxRetries: number;
  private readonly doFetch: typeof fetch;

  constructor(private readonly opts: ClientOptions) {
    this.baseUrl = (opts.baseUrl ?? 'http://localhost:4242').replace(/\/$/, '');
    this.maxRetries = opts.maxRetries ?? 2;
    this.doFetch = opts.fetch ?? fetch;
  }

  async request<T>(method: string, path: string, body?: unknown, o: CallOptions = {}): Promise<T> {
    const mutation = method !== 'GET';
    const key = mutation ? (o.idempotencyKey ?? crypto.randomUUID()) : undefined;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.doFetch(`${this.baseUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.opts.apiKey}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(key ? { 'idempotency-key': key } : {}),
          },
          body: body !== undefined ? JSON.stringify(body) : undefined,
        });
      } catch (err) {
        if (attempt < this.maxRetries) continue;
        throw err;
      }
      if (res.status >= 500 && attempt < this.maxRetries) continue;
      const text = await res.text();
      const json = text ? (JSON.parse(text) as unknown) : undefined;
      if (!res.ok) throw new TollgateError(res.status, (json as { error: TollgateErrorBody }).error);
      return json as T;
    }
  }

  private c(id: string): string {
    return `/v1/customers/${encodeURIComponent(id)}`;
  }

  readonly customers = {
    upsert: (c: { id: string; email?: string; name?: string; metadata?: Record<string, unknown> }, o?: CallOptions) =>
      this.request<Record<string, unknown>>('POST', '/v1/customers', c, o),
    get: (id: string) => this.request<Record<string, unknown>>('GET', this.c(id)),
    update: (id: string, patch: Record<string, unknown>, o?: CallOptions) => this.request<Record<string, unknown>>('PATCH', this.c(id), patch, o),
    /** Erases the customer's personal data (docs/customers.md); afterwards the customer answers 404 `customer_deleted`. */
    delete: (id: string, o?: CallOptions) =>
      this.request<{ id: string; object: 'customer'; deleted: true; deleted_at: string }>('DELETE', this.c(id), undefined, o),
    /** Everything Tollgate holds about the customer, as JSON. */
    export: (id: string) => this.request<Record<string, unknown>>('GET', `${this.c(id)}/export`),
  };

  /** Your app's API keys for its customers (docs/api-keys.md). */
  readonly apiKeys = {
    /** The reply's `key` is the only time the key is shown. */
    create: (
      customerId: string,
      k: { name?: string; scopes?: string[]; expires_at?: string; rate_limit?: { limit: number; window_seconds: number }; remaining?: number } = {},
      o?: CallOptions,
    ) => this.request<CustomerApiKey & { key: string }>('POST', `${this.c(customerId)}/api-keys`, k, o),
    list: (customerId: string) => this.request<List<CustomerApiKey>>('GET', `${this.c(customerId)}/api-keys`),
    roll: (keyId: string, graceSeconds = 0, o?: CallOptions) =>
      this.request<CustomerApiKey & { key: string; previous: CustomerApiKey }>('POST', `/v1/api-keys/${encodeURIComponent(keyId)}/roll`, { grace_seconds: graceSeconds }, o),
    revoke: (keyId: string, o?: CallOptions) => this.request<CustomerApiKey>('DELETE', `/v1/api-keys/${encodeURIComponent(keyId)}`, undefined, o),
    /** `valid: false` comes with a `code`; never an exception for an invalid key. */
    verify: (key: string, o?: CallOptions) => this.request<ApiKeyVerification>('POST', '/v1/api-keys/verify', { key }, o),
  };

  readonly credits = {
    balance: (customerId: string) => this.request<CreditBalance>('GET', `${this.c(customerId)}/credits`),
    transactions: (customerId: string, page: { limit?: number; starting_after?: string } = {}) =>
      this.request<List<Record<string, unknown>>>(
        'GET',
        `${this.c(customerId)}/credits/transactions?${new URLSearchParams(Object.entries(page).map(([k, v]) => [k, String(v)]))}`,
      ),
    grant: (customerId: string, g: { amount: number; reason: string; expires_at?: string }, o?: CallOptions) =>
      this.request<DeductResult>('POST', `${this.c(customerId)}/credits/grant`, g, o),
    /** `{amount}` or `{usage: {feature, quantity}}`; throws TollgateError `insufficient_credits` (402). */
    deduct: (
      customerId: string,
      d: { amount: number; reason?: string } | { usage: { feature: string; quantity: number }; reason?: string },
      o?: CallOptions,
    ) => this.request<DeductResult>('POST', `${this.c(customerId)}/credits/deduct`, d, o),
    hold: (customerId: string, h: { amount?: number; usage?: { feature: string; quantity: number }; expires_in?: number }, o?: CallOptions) =>
      this.request<{ id: string; amount: number; status: string }>('POST', `${this.c(customerId)}/credits/holds`, h, o),
    capture: (holdId: string, amount?: number, o?: CallOptions) =>
      this.request<Record<string, unknown>>('POST', `/v1/holds/${holdId}/capture`, amount === undefined ? {} : { amount }, o),
    release: (holdId: string, o?: CallOptions) => this.request<Record<string, unknown>>('POST', `/v1/holds/${holdId}/release`, {}, o),
    autoTopUp: (customerId: string) => this.request<Record<string, unknown>>('GET', `${this.c(customerId)}/credits/auto-top-up`),
    setAutoTopUp: (
      customerId: string,
      s: { enabled: boolean; threshold: number; pack: string; monthly_cap: number },
      o?: CallOptions,
    ) => this.request<Record<string, unknown>>('PUT', `${this.c(customerId)}/credits/auto-top-up`, s, o),
    /** Moves credits between two customers atomically; throws TollgateError `insufficient_credits` (402). */
    transfer: (t: { from: string; to: string; amount: number; reason?: string; metadata?: Record<string, unknown> }, o?: CallOptions) =>
      this.request<CreditTransfer>('POST', '/v1/credits/transfer', t, o),
  };

  readonly plans = () => this.request<{ plans: unknown[]; credit_packs: unknown[] }>('GET', '/v1/plans');

  readonly checkout = {
    create: (
      body: {
        customer_id: string;
        success_url: string;
        cancel_url: string;
        plan?: string;
        credit_pack?: string;
        order_id?: string;
        quantity?: number;
        trial_days?: number;
        promotion_code?: string;
        provider?: 'sandbox' | 'stripe' | 'paypal';
      },
      o?: CallOptions,
    ) => this.request<CheckoutSession>('POST', '/v1/checkout', body, o),
    get: (sessionId: string) => this.request<CheckoutSession>('GET', `/v1/checkout/${sessionId}`),
  };

  /** May this customer do X? Reads only. */
  check(customerId: string, feature: string, quantity = 1) {
    return this.request<CheckResult>('POST', '/v1/check', { customer_id: customerId, feature, quantity });
  }

  /** Record what it cost: at a limit the answer is `allowed: false`, never an exception. */
  track(customerId: string, feature: string, quantity: number, o?: CallOptions) {
    return this.request<CheckResult>('POST', '/v1/track', { customer_id: customerId, feature, quantity }, o);
  }

  subscription(customerId: string) {
    return this.request<{
      plan: string | null;
      status: string;
      trial_end?: string | null;
      days_remaining?: number | null;
      current_period_end?: string | null;
      cancel_at_period_end?: boolean;
    }>('GET', `${this.c(customerId)}/subscription`);
  }
}
