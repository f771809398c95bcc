import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';

/**
 * A local server speaking the subset of Stripe's API that Tollgate calls: form-encoded bodies with
 * bracketed keys, Stripe's object shapes and error format, Idempotency-Key replay, list paging.
 * Each secret key is its own account. It can also play Stripe's side of a payment (complete a
 * checkout, renew or cancel a subscription) and produce the events Stripe would send.
 */

type Obj = Record<string, any>;

export interface RecordedRequest {
  method: string;
  path: string;
  params: Obj;
  idempotencyKey: string | null;
  replayed: boolean;
  account: string;
}

interface Account {
  key: string;
  livemode: boolean;
  objects: Map<string, Obj>;
  order: string[];
  idempotency: Map<string, { fingerprint: string; status: number; body: string }>;
  events: Obj[];
}

export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Obj,
  ) {
    super(body.message);
  }
}

const rid = (prefix: string, n = 24) => `${prefix}_${randomBytes(n).toString('base64url').replace(/[-_]/g, '').slice(0, n)}`;

/** `a[b][0][c]=v` → `{a: {b: [{c: 'v'}]}}`, as Stripe parses form bodies. */
export function parseForm(body: string): Obj {
  const root: Obj = {};
  for (const part of body.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const rawKey = decodeURIComponent((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
    const value = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' '));
    const m = rawKey.match(/^([^[]+)((?:\[[^\]]*\])*)$/);
    if (!m) continue;
    const path = [m[1] as string, ...[...(m[2] ?? '').matchAll(/\[([^\]]*)\]/g)].map((x) => x[1] as string)];
    let cur: Obj = root;
    path.forEach((k, i) => {
      const key = k === '' ? String(Object.keys(cur).length) : k;
      if (i === path.length - 1) cur[key] = value;
      else cur = cur[key] ??= {};
    });
  }
  const arrays = (v: unknown): unknown => {
    if (!v || typeof v !== 'object') return v;
    const o = v as Obj;
    const keys = Object.keys(o);
    for (const k of keys) o[k] = arrays(o[k]);
    if (keys.length > 0 && keys.every((k, i) => k === String(i))) return keys.map((k) => o[k]);
    return o;
  };
  return arrays(root) as Obj;
}

const int = (v: unknown): number | undefined => (v === undefined || v === '' ? undefined : Number(v));
const bool = (v: unknown): boolean | undefined => (v === undefined ? undefined : v === true || v === 'true');

function fail(status: number, message: string, extra: Obj = {}): never {
  throw new StripeApiError(status, { type: 'invalid_request_error', message, ...extra });
}

export class LocalStripe {
  readonly accounts = new Map<string, Account>();
  readonly requests: RecordedRequest[] = [];
  private faults: { path: string; kind: 'drop' | 'error'; status?: number }[] = [];
  private server!: Server;
  url = '';
  now: () => number = () => Math.floor(Date.now() / 1000);

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  account(key: string): Account {
    let a = this.accounts.get(key);
    if (!a) {
      a = { key, livemode: key.startsWith('sk_live_'), objects: new Map(), order: [], idempotency: new Map(), events: [] };
      this.accounts.set(key, a);
    }
    return a;
  }

  /**
   * Faults for the next request to a path: `drop` acts, saves the idempotent result, then closes the
   * connection without answering (a crash or network cut after Stripe acted); `error` answers an
   * error without acting (nothing saved, as Stripe does for requests that never started).
   */
  fault(path: string, kind: 'drop' | 'error', status = 500): void {
    this.faults.push({ path, kind, status });
  }

  /** Requests that changed something (POST/DELETE), optionally for one path prefix. */
  writes(key: string, pathPrefix = ''): RecordedRequest[] {
    return this.requests.filter((r) => r.account === key && r.method !== 'GET' && r.path.startsWith(pathPrefix));
  }

  list(key: string, object: string): Obj[] {
    const a = this.account(key);
    return a.order.map((id) => a.objects.get(id) as Obj).filter((o) => o.object === object);
  }

  get(key: string, id: string): Obj | undefined {
    return this.account(key).objects.get(id);
  }

  /** Keys Stripe refuses (401), as for a revoked or mistyped key. */
  readonly refusedKeys = new Set<string>();

  /** Every answer waits this long first: a Stripe-compatible server answering slowly. */
  delayMs = 0;

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const auth = String(req.headers.authorization ?? '');
    const key = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const send = (status: number, body: string, headers: Obj = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': rid('req', 14), ...headers });
      res.end(body);
    };
    if (!/^(sk|rk)_(test|live)_/.test(key) || this.refusedKeys.has(key)) {
      send(401, JSON.stringify({ error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } }));
      return;
    }
    const a = this.account(key);
    const params = method === 'GET' ? parseForm(url.search.slice(1)) : parseForm(raw);
    const idem = (req.headers['idempotency-key'] as string | undefined) ?? null;
    const rec: RecordedRequest = { method, path: url.pathname, params, idempotencyKey: idem, replayed: false, account: key };
    this.requests.push(rec);
    // A fault hits a replayed answer too: a cut connection drops Stripe's answer, replayed or not.
    const fi = this.faults.findIndex((f) => url.pathname.startsWith(f.path));
    const fault = fi >= 0 ? this.faults.splice(fi, 1)[0] : undefined;
    if (method === 'POST' && idem) {
      const fingerprint = createHash('sha256').update(`${method} ${url.pathname}\n${raw}`).digest('hex');
      const prior = a.idempotency.get(idem);
      if (prior) {
        if (prior.fingerprint !== fingerprint) {
          send(
            400,
            JSON.stringify({
              error: {
                type: 'idempotency_error',
                message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idem}' if you meant to execute a different request.`,
              },
            }),
          );
          return;
        }
        rec.replayed = true;
        if (fault?.kind === 'drop') {
          req.socket.destroy();
          return;
        }
        send(prior.status, prior.body, { 'idempotent-replayed': 'true', 'original-request': 'req_replayed' });
        return;
      }
    }
    if (fault?.kind === 'error') {
      send(fault.status ?? 500, JSON.stringify({ error: { type: 'api_error', message: 'Simulated failure' } }), { 'stripe-should-retry': 'false' });
      return;
    }
    let status = 200;
    let body: string;
    try {
      body = JSON.stringify(this.route(a, method, url.pathname, params), (k, v) => (k.startsWith('_') ? undefined : v));
    } catch (err) {
      if (!(err instanceof StripeApiError)) throw err;
      status = err.status;
      body = JSON.stringify({ error: err.body });
      // Stripe saves nothing for a request that failed validation; a card error is an answer, saved.
      if (status !== 402) {
        send(status, body);
        return;
      }
    }
    if (method === 'POST' && idem) {
      a.idempotency.set(idem, {
        fingerprint: createHash('sha256').update(`${method} ${url.pathname}\n${raw}`).digest('hex'),
        status,
        body,
      });
    }
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    send(status, body);
  }

  private put(a: Account, o: Obj): Obj {
    if (!a.objects.has(o.id)) a.order.push(o.id);
    a.objects.set(o.id, o);
    return o;
  }

  private find(a: Account, id: string, object: string): Obj {
    const o = a.objects.get(id);
    if (!o || o.object !== object) fail(404, `No such ${object.replace(/^.*\./, '')}: '${id}'`, { code: 'resource_missing', param: 'id' });
    return o;
  }

  private page(a: Account, object: string, params: Obj, filter: (o: Obj) => boolean = () => true, url = ''): Obj {
    const all = [...a.order]
      .reverse()
      .map((id) => a.objects.get(id) as Obj)
      .filter((o) => o.object === object && filter(o));
    const limit = Math.min(int(params.limit) ?? 10, 100);
    let start = 0;
    if (params.starting_after) start = all.findIndex((o) => o.id === params.starting_after) + 1;
    const data = all.slice(start, start + limit);
    return { object: 'list', data, has_more: start + limit < all.length, url };
  }

  /** Records an event as Stripe would (also listed by GET /v1/events). */
  event(key: string, type: string, object: Obj, previous?: Obj): Obj {
    const a = this.account(key);
    const ev = {
      id: rid('evt', 24),
      object: 'event',
      api_version: Stripe.API_VERSION ?? '2026-10-28.endive',
      created: this.now(),
      data: { object: structuredClone(object), ...(previous ? { previous_attributes: previous } : {}) },
      livemode: a.livemode,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
    a.events.push(ev);
    return ev;
  }

  private route(a: Account, method: string, path: string, p: Obj): Obj {
    const seg = path.split('/').filter(Boolean); // ['v1', ...]
    const [, r1, r2, r3] = seg;
    const now = this.now();
    const live = a.livemode;
    const meta = (m: unknown) => (m && typeof m === 'object' ? { ...(m as Obj) } : {});

    // Balance (read by Tollgate to check a key and its mode)
    if (r1 === 'balance' && method === 'GET' && !r2) {
      return { object: 'balance', available: [{ amount: 0, currency: 'eur', source_types: { card: 0 } }], pending: [], livemode: live };
    }

    // Webhook endpoints (Tollgate only reads them, to say whether this project's URL is registered)
    if (r1 === 'webhook_endpoints') {
      if (method === 'POST' && !r2) {
        if (!p.url) fail(400, 'Missing required param: url.', { param: 'url', code: 'parameter_missing' });
        return this.put(a, {
          id: rid('we', 24),
          object: 'webhook_endpoint',
          url: p.url,
          enabled_events: Array.isArray(p.enabled_events) ? p.enabled_events : Object.values(meta(p.enabled_events)),
          status: p.disabled === 'true' ? 'disabled' : 'enabled',
          api_version: null,
          application: null,
          created: now,
          description: p.description ?? null,
          livemode: live,
          metadata: meta(p.metadata),
        });
      }
      if (method === 'GET' && r2) return this.find(a, r2, 'webhook_endpoint');
      if (method === 'GET') return this.page(a, 'webhook_endpoint', p, () => true, '/v1/webhook_endpoints');
    }

    // Customers
    if (r1 === 'customers') {
      if (method === 'POST' && !r2)
        return this.put(a, {
          id: rid('cus', 14),
          object: 'customer',
          created: now,
          email: p.email ?? null,
          name: p.name ?? null,
          metadata: meta(p.metadata),
          livemode: live,
          balance: 0,
          currency: null,
          delinquent: false,
          description: p.description ?? null,
          invoice_settings: { default_payment_method: null, custom_fields: null, footer: null, rendering_options: null },
          preferred_locales: [],
          tax_exempt: 'none',
          test_clock: null,
        });
      if (method === 'GET' && r2) return this.find(a, r2, 'customer');
      if (method === 'GET') return this.page(a, 'customer', p, (o) => !p.email || o.email === p.email, '/v1/customers');
    }

    // Products
    if (r1 === 'products') {
      if (method === 'POST' && !r2) {
        if (!p.name) fail(400, 'Missing required param: name.', { param: 'name', code: 'parameter_missing' });
        const id = p.id ?? rid('prod', 14);
        if (a.objects.has(id)) fail(400, `Product already exists.`, { code: 'resource_already_exists', param: 'id' });
        return this.put(a, {
          id,
          object: 'product',
          active: bool(p.active) ?? true,
          created: now,
          updated: now,
          default_price: null,
          description: p.description ?? null,
          images: [],
          livemode: live,
          marketing_features: [],
          metadata: meta(p.metadata),
          name: p.name,
          tax_code: null,
          type: 'service',
          unit_label: null,
          url: null,
        });
      }
      if (method === 'POST' && r2) {
        const o = this.find(a, r2, 'product');
        if (p.name !== undefined) o.name = p.name;
        if (p.description !== undefined) o.description = p.description || null;
        if (p.active !== undefined) o.active = bool(p.active);
        if (p.metadata) o.metadata = { ...o.metadata, ...p.metadata };
        o.updated = now;
        return o;
      }
      if (method === 'GET' && r2) return this.find(a, r2, 'product');
      if (method === 'GET') return this.page(a, 'product', p, (o) => p.active === undefined || o.active === bool(p.active), '/v1/products');
    }

    // Prices
    if (r1 === 'prices') {
      if (method === 'POST' && !r2) {
        const product = p.product ? this.find(a, p.product, 'product') : null;
        if (!product) fail(400, 'Missing required param: product.', { param: 'product' });
        if (p.unit_amount === undefined) fail(400, 'Missing required param: unit_amount.', { param: 'unit_amount' });
        if (p.lookup_key) {
          const holder = this.list(a.key, 'price').find((x) => x.lookup_key === p.lookup_key);
          if (holder) {
            if (bool(p.transfer_lookup_key)) holder.lookup_key = null;
            else
              fail(400, `A price (\`${holder.id}\`) already uses that lookup key.`, { param: 'lookup_key', code: 'lookup_key_already_exists' });
          }
        }
        return this.put(a, {
          id: rid('price', 24),
          object: 'price',
          active: true,
          billing_scheme: 'per_unit',
          created: now,
          currency: String(p.currency).toLowerCase(),
          livemode: live,
          lookup_key: p.lookup_key ?? null,
          metadata: meta(p.metadata),
          nickname: p.nickname ?? null,
          product: product.id,
          recurring: p.recurring
            ? {
                interval: p.recurring.interval,
                interval_count: int(p.recurring.interval_count) ?? 1,
                meter: null,
                trial_period_days: null,
                usage_type: 'licensed',
              }
            : null,
          tax_behavior: 'unspecified',
          tiers_mode: null,
          transform_quantity: null,
          type: p.recurring ? 'recurring' : 'one_time',
          unit_amount: int(p.unit_amount),
          unit_amount_decimal: String(p.unit_amount),
        });
      }
      if (method === 'POST' && r2) {
        const o = this.find(a, r2, 'price');
        if (p.active !== undefined) o.active = bool(p.active);
        if (p.metadata) o.metadata = { ...o.metadata, ...p.metadata };
        if (p.nickname !== undefined) o.nickname = p.nickname;
        if (p.lookup_key !== undefined) {
          const holder = this.list(a.key, 'price').find((x) => x.lookup_key === p.lookup_key && x.id !== o.id);
          if (holder && !bool(p.transfer_lookup_key)) fail(400, 'lookup key in use', { param: 'lookup_key' });
          if (holder) holder.lookup_key = null;
          o.lookup_key = p.lookup_key || null;
        }
        return o;
      }
      if (method === 'GET' && r2) return this.find(a, r2, 'price');
      if (method === 'GET') {
        const keys: string[] | undefined = p.lookup_keys ? [].concat(p.lookup_keys) : undefined;
        const res = this.page(
          a,
          'price',
          p,
          (o) =>
            (!keys || keys.includes(o.lookup_key)) &&
            (p.active === undefined || o.active === bool(p.active)) &&
            (!p.product || o.product === p.product),
          '/v1/prices',
        );
        const expand: string[] = p.expand ? [].concat(p.expand) : [];
        if (expand.includes('data.product')) res.data = res.data.map((x: Obj) => ({ ...x, product: a.objects.get(x.product) }));
        return res;
      }
    }

    // Coupons
    if (r1 === 'coupons') {
      if (method === 'POST' && !r2) {
        const id = p.id ?? rid('co', 8);
        if (a.objects.has(id)) fail(400, 'Coupon already exists.', { code: 'resource_already_exists', param: 'id' });
        return this.put(a, {
          id,
          object: 'coupon',
          amount_off: int(p.amount_off) ?? null,
          currency: p.currency ?? null,
          percent_off: p.percent_off !== undefined ? Number(p.percent_off) : null,
          duration: p.duration ?? 'once',
          duration_in_months: int(p.duration_in_months) ?? null,
          created: now,
          livemode: live,
          metadata: meta(p.metadata),
          name: p.name ?? null,
          valid: true,
          times_redeemed: 0,
        });
      }
      if (method === 'GET' && r2) return this.find(a, r2, 'coupon');
    }

    // PaymentMethods (cards saved to a customer)
    if (r1 === 'payment_methods' && method === 'GET' && r2) return this.find(a, r2, 'payment_method');
    if (r1 === 'payment_methods' && method === 'GET')
      return this.page(a, 'payment_method', p, (o) => (!p.customer || o.customer === p.customer) && (!p.type || o.type === p.type), '/v1/payment_methods');

    // PaymentIntents created and confirmed off-session against a saved payment method
    if (r1 === 'payment_intents' && method === 'POST' && !r2) return this.createPaymentIntent(a, p);

    // Checkout Sessions
    // PaymentIntents (read, with `expand[]=latest_charge`)
    if (r1 === 'payment_intents' && method === 'GET' && r2) {
      const pi = this.find(a, r2, 'payment_intent');
      const expand: string[] = p.expand ? [].concat(p.expand) : [];
      if (!pi.latest_charge || !expand.some((e) => e === 'latest_charge' || e.startsWith('latest_charge.'))) return pi;
      const ch = this.find(a, pi.latest_charge, 'charge');
      return { ...pi, latest_charge: expand.includes('latest_charge.balance_transaction') ? this.withBalanceTransaction(a, ch) : ch };
    }

    // Charges (read, with `expand[]=balance_transaction`)
    if (r1 === 'charges' && method === 'GET' && r2) {
      const ch = this.find(a, r2, 'charge');
      const expand: string[] = p.expand ? [].concat(p.expand) : [];
      return expand.includes('balance_transaction') ? this.withBalanceTransaction(a, ch) : ch;
    }

    // Disputes
    if (r1 === 'disputes' && method === 'GET' && r2) return this.find(a, r2, 'dispute');

    if (r1 === 'checkout' && r2 === 'sessions') {
      if (method === 'POST' && !r3) return this.createCheckoutSession(a, p);
      if (method === 'GET' && r3) return this.find(a, r3, 'checkout.session');
      if (method === 'GET') return this.page(a, 'checkout.session', p, () => true, '/v1/checkout/sessions');
    }

    // Payment Links (https://buy.stripe.com/...): a price and a quantity per line; Stripe makes the Checkout Session when one is paid.
    if (r1 === 'payment_links') {
      if (method === 'POST' && !r2) {
        const items = ([] as Obj[]).concat(p.line_items ?? []).map((li: Obj) => {
          const price = this.find(a, li.price, 'price');
          const quantity = int(li.quantity) ?? 1;
          return { id: rid('li', 14), object: 'item', price: structuredClone(price), quantity, amount_total: price.unit_amount * quantity, currency: price.currency, description: null };
        });
        if (items.length === 0) fail(400, 'Missing required param: line_items.', { param: 'line_items' });
        const id = rid('plink', 24);
        return this.put(a, {
          id,
          object: 'payment_link',
          active: p.active === undefined ? true : bool(p.active),
          livemode: live,
          metadata: meta(p.metadata),
          url: `https://buy.stripe.com/${live ? '' : 'test_'}${rid('x', 14).slice(2)}`,
          line_items: { object: 'list', data: items, has_more: false, url: `/v1/payment_links/${id}/line_items` },
        });
      }
      if (method === 'GET' && r2 && r3 === 'line_items') return this.find(a, r2, 'payment_link').line_items;
      if (method === 'GET' && r2) return this.find(a, r2, 'payment_link');
      if (method === 'GET') return this.page(a, 'payment_link', p, (o) => p.active === undefined || o.active === bool(p.active), '/v1/payment_links');
    }

    // Billing Portal
    if (r1 === 'billing_portal' && r2 === 'sessions' && method === 'POST') {
      const cus = this.find(a, p.customer, 'customer');
      const id = rid('bps', 24);
      return this.put(a, {
        id,
        object: 'billing_portal.session',
        configuration: 'bpc_local',
        created: now,
        customer: cus.id,
        flow: null,
        livemode: live,
        locale: null,
        on_behalf_of: null,
        return_url: p.return_url ?? null,
        url: `${this.url}/p/session/${id}`,
      });
    }

    // Subscriptions
    if (r1 === 'subscriptions') {
      if (method === 'GET' && r2) return this.find(a, r2, 'subscription');
      if (method === 'GET')
        return this.page(
          a,
          'subscription',
          p,
          (o) => (!p.customer || o.customer === p.customer) && (p.status === 'all' || (p.status ? o.status === p.status : o.status !== 'canceled')),
          '/v1/subscriptions',
        );
      if (method === 'POST' && r2) {
        const o = this.find(a, r2, 'subscription');
        const previous: Obj = {};
        if (p.cancel_at_period_end !== undefined) {
          previous.cancel_at_period_end = o.cancel_at_period_end;
          o.cancel_at_period_end = bool(p.cancel_at_period_end);
          o.cancel_at = o.cancel_at_period_end ? o.items.data[0].current_period_end : null;
          o.canceled_at = o.cancel_at_period_end ? now : null;
        }
        if (p.items) {
          const item = p.items[0];
          const price = this.find(a, item.price, 'price');
          previous.items = structuredClone(o.items);
          o.items.data[0].price = structuredClone(price);
          o.items.data[0].plan = { id: price.id, object: 'plan', amount: price.unit_amount, interval: price.recurring?.interval };
          if (item.quantity) o.items.data[0].quantity = int(item.quantity);
        }
        if (p.metadata) o.metadata = { ...o.metadata, ...p.metadata };
        this.event(a.key, 'customer.subscription.updated', o, previous);
        return o;
      }
      if (method === 'DELETE' && r2) return this.cancelSubscription(a.key, r2);
    }

    // Refunds
    if (r1 === 'refunds' && method === 'POST') {
      const pi = p.payment_intent ? this.find(a, p.payment_intent, 'payment_intent') : null;
      const ch = pi ? this.find(a, pi.latest_charge, 'charge') : this.find(a, p.charge, 'charge');
      const amount = int(p.amount) ?? ch.amount - ch.amount_refunded;
      if (amount <= 0 || amount > ch.amount - ch.amount_refunded)
        fail(400, `Refund amount (${amount}) is greater than unrefunded amount on charge`, { code: 'amount_too_large', param: 'amount' });
      const refund = this.put(a, {
        id: rid('re', 24),
        object: 'refund',
        amount,
        charge: ch.id,
        created: now,
        currency: ch.currency,
        metadata: meta(p.metadata),
        payment_intent: ch.payment_intent,
        reason: p.reason ?? null,
        status: 'succeeded',
      });
      ch.amount_refunded += amount;
      ch.refunded = ch.amount_refunded === ch.amount;
      ch.refunds = { object: 'list', data: [refund, ...(ch.refunds?.data ?? [])], has_more: false };
      this.event(a.key, 'charge.refunded', ch);
      return refund;
    }

    // Events
    if (r1 === 'events' && method === 'GET') {
      if (r2) {
        const ev = a.events.find((e) => e.id === r2);
        if (!ev) fail(404, `No such event: '${r2}'`, { code: 'resource_missing' });
        return ev;
      }
      const types: string[] | undefined = p.types ? [].concat(p.types) : p.type ? [p.type] : undefined;
      const gte = int(p.created?.gte);
      const all = [...a.events].reverse().filter((e) => (!types || types.includes(e.type)) && (gte === undefined || e.created >= gte));
      const limit = Math.min(int(p.limit) ?? 10, 100);
      const start = p.starting_after ? all.findIndex((e) => e.id === p.starting_after) + 1 : 0;
      return { object: 'list', data: all.slice(start, start + limit), has_more: start + limit < all.length, url: '/v1/events' };
    }

    fail(404, `Unrecognized request URL (${method}: ${path}).`);
  }

  /**
   * Saves a card to a customer as Stripe does when a checkout sets it up for later use. Test cards as
   * Stripe documents them off-session: 4242… succeeds, 4000 0027 6000 3184 requires authentication,
   * 4000 0000 0000 0341 is declined.
   */
  attachCard(key: string, customerId: string, number = '4242424242424242', opts: { default?: boolean } = {}): Obj {
    const a = this.account(key);
    const cus = this.find(a, customerId, 'customer');
    const pm = this.put(a, {
      id: rid('pm', 24),
      object: 'payment_method',
      type: 'card',
      created: this.now(),
      customer: cus.id,
      livemode: a.livemode,
      metadata: {},
      billing_details: { address: null, email: null, name: null, phone: null },
      card: { brand: 'visa', last4: number.slice(-4), country: 'US', exp_month: 12, exp_year: 2034, funding: 'credit' },
      _number: number,
    });
    if (opts.default) cus.invoice_settings.default_payment_method = pm.id;
    return pm;
  }

  private createPaymentIntent(a: Account, p: Obj): Obj {
    const amount = int(p.amount);
    if (!amount || amount < 1) fail(400, 'Missing required param: amount.', { param: 'amount', code: 'parameter_missing' });
    if (!p.currency) fail(400, 'Missing required param: currency.', { param: 'currency', code: 'parameter_missing' });
    const customer = p.customer ? this.find(a, p.customer, 'customer') : null;
    const pm = p.payment_method ? this.find(a, p.payment_method, 'payment_method') : null;
    if (pm && customer && pm.customer !== customer.id)
      fail(400, `The provided PaymentMethod ${pm.id} does not belong to the customer.`, { param: 'payment_method' });
    if (bool(p.off_session) && !bool(p.confirm)) fail(400, 'off_session can only be used with confirm=true.', { param: 'off_session' });
    const pi = this.put(a, {
      id: rid('pi', 24),
      object: 'payment_intent',
      amount,
      amount_received: 0,
      created: this.now(),
      currency: String(p.currency).toLowerCase(),
      customer: customer?.id ?? null,
      description: p.description ?? null,
      last_payment_error: null,
      latest_charge: null,
      livemode: a.livemode,
      metadata: p.metadata && typeof p.metadata === 'object' ? { ...p.metadata } : {},
      off_session: bool(p.off_session) ?? null,
      payment_method: pm?.id ?? null,
      status: pm ? 'requires_confirmation' : 'requires_payment_method',
    });
    if (!bool(p.confirm)) return pi;
    if (!pm) fail(400, 'You cannot confirm this PaymentIntent because it is missing a payment method.', { param: 'payment_method' });
    const number = String(pm._number);
    const declined = number === '4000000000000341';
    const sca = number === '4000002760003184';
    if (declined || sca) {
      const error = declined
        ? { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' }
        : {
            type: 'card_error',
            code: 'authentication_required',
            decline_code: 'authentication_required',
            message: 'Your card was declined. This transaction requires authentication.',
          };
      pi.status = 'requires_payment_method';
      pi.last_payment_error = { ...error, payment_method: structuredClone(pm) };
      this.event(a.key, 'payment_intent.payment_failed', pi);
      throw new StripeApiError(402, { ...error, payment_intent: structuredClone(pi), request_log_url: null });
    }
    const ch = this.put(a, {
      id: rid('ch', 24),
      object: 'charge',
      amount,
      amount_captured: amount,
      amount_refunded: 0,
      created: this.now(),
      currency: pi.currency,
      customer: pi.customer,
      livemode: a.livemode,
      metadata: { ...pi.metadata },
      paid: true,
      payment_intent: pi.id,
      payment_method: pm.id,
      payment_method_details: { type: 'card', card: { brand: pm.card.brand, last4: pm.card.last4, country: pm.card.country } },
      refunded: false,
      refunds: { object: 'list', data: [], has_more: false },
      status: 'succeeded',
    });
    this.settleCharge(a, ch);
    pi.status = 'succeeded';
    pi.amount_received = amount;
    pi.latest_charge = ch.id;
    this.event(a.key, 'charge.succeeded', ch);
    this.event(a.key, 'payment_intent.succeeded', pi);
    return pi;
  }

  private createCheckoutSession(a: Account, p: Obj): Obj {
    const mode = p.mode;
    if (!['payment', 'subscription', 'setup'].includes(mode)) fail(400, 'Invalid mode', { param: 'mode' });
    if (!p.success_url && p.ui_mode !== 'embedded') fail(400, 'Missing required param: success_url.', { param: 'success_url' });
    if (p.customer && p.customer_email) fail(400, 'You may only specify one of these parameters: customer, customer_email.', { param: 'customer' });
    if (p.customer) this.find(a, p.customer, 'customer');
    if (p.allow_promotion_codes && p.discounts) fail(400, 'You may only specify one of these parameters: allow_promotion_codes, discounts.');
    const items: Obj[] = p.line_items ?? [];
    if (items.length === 0) fail(400, 'Missing required param: line_items.', { param: 'line_items' });
    let currency: string | null = null;
    let subtotal = 0;
    const lines = items.map((li, i) => {
      let price: Obj;
      if (li.price) price = this.find(a, li.price, 'price');
      else if (li.price_data) {
        const pd = li.price_data;
        price = {
          id: rid('price', 24),
          object: 'price',
          active: false,
          currency: pd.currency,
          unit_amount: int(pd.unit_amount),
          recurring: pd.recurring ? { interval: pd.recurring.interval, interval_count: 1 } : null,
          type: pd.recurring ? 'recurring' : 'one_time',
          product: pd.product ?? { name: pd.product_data?.name },
          metadata: {},
          lookup_key: null,
        };
      } else fail(400, `line_items[${i}] needs price or price_data`, { param: `line_items[${i}]` });
      if (mode === 'subscription' && !price.recurring) fail(400, 'subscription mode needs a recurring price', { param: `line_items[${i}]` });
      if (mode === 'payment' && price.recurring) fail(400, 'payment mode needs a one-time price', { param: `line_items[${i}]` });
      currency ??= price.currency;
      const qty = int(li.quantity) ?? 1;
      subtotal += price.unit_amount * qty;
      return { price, quantity: qty };
    });
    let discount = 0;
    const discounts = p.discounts ?? [];
    for (const d of discounts) {
      const c = d.coupon ? this.find(a, d.coupon, 'coupon') : null;
      if (c?.percent_off) discount += Math.round((subtotal * c.percent_off) / 100);
      if (c?.amount_off) discount += c.amount_off;
    }
    const id = `cs_${a.livemode ? 'live' : 'test'}_${rid('a', 40).slice(2)}`;
    return this.put(a, {
      id,
      object: 'checkout.session',
      allow_promotion_codes: bool(p.allow_promotion_codes) ?? null,
      amount_subtotal: subtotal,
      amount_total: Math.max(0, subtotal - discount),
      cancel_url: p.cancel_url ?? null,
      client_reference_id: p.client_reference_id ?? null,
      created: this.now(),
      currency,
      customer: p.customer ?? null,
      customer_creation: p.customer ? null : 'if_required',
      customer_details: null,
      customer_email: p.customer_email ?? null,
      discounts: discounts.map((d: Obj) => ({ coupon: d.coupon ?? null, promotion_code: d.promotion_code ?? null })),
      expires_at: int(p.expires_at) ?? this.now() + 24 * 3600,
      invoice: null,
      livemode: a.livemode,
      locale: p.locale ?? null,
      metadata: { ...(p.metadata ?? {}) },
      mode,
      payment_intent: null,
      payment_link: null,
      payment_method_collection: p.payment_method_collection ?? (mode === 'subscription' ? 'always' : null),
      payment_method_types: ['card'],
      payment_status: 'unpaid',
      setup_intent: null,
      status: 'open',
      subscription: null,
      success_url: p.success_url ?? null,
      total_details: { amount_discount: discount, amount_shipping: 0, amount_tax: 0 },
      // Stripe Tax: the tax is computed once the customer's address is known (at completion here).
      automatic_tax: { enabled: bool(p.automatic_tax?.enabled) === true, liability: null, status: null },
      billing_address_collection: p.billing_address_collection ?? null,
      ui_mode: 'hosted',
      url: `${this.url}/c/pay/${id}`,
      // Kept for the simulation, as Stripe keeps them server side.
      _line_items: lines,
      _subscription_data: p.subscription_data ?? null,
      _payment_intent_data: p.payment_intent_data ?? null,
    });
  }

  /** A buyer pays through a Payment Link: Stripe makes the Checkout Session (with `payment_link` set) and completes it; its events are produced (not delivered). */
  payThroughLink(key: string, linkId: string, opts: { email?: string } = {}): Obj[] {
    const a = this.account(key);
    const link = this.find(a, linkId, 'payment_link');
    const items = link.line_items.data as Obj[];
    const cs = this.createCheckoutSession(a, {
      mode: items[0]?.price.recurring ? 'subscription' : 'payment',
      line_items: items.map((l) => ({ price: l.price.id, quantity: l.quantity })),
      success_url: 'https://buy.stripe.com/success',
    });
    cs.payment_link = link.id;
    return this.completeCheckout(key, cs.id, opts);
  }

  /** The customer pays on Stripe's page: the session completes and Stripe's events are produced (not delivered). */
  completeCheckout(
    key: string,
    sessionId: string,
    opts: { email?: string; async?: boolean; /** The billing address's country the customer gives (default FR). */ country?: string; /** The card's issuing country (default US). */ cardCountry?: string; /** The card number (test cards; default 4242…). */ card?: string } = {},
  ): Obj[] {
    const a = this.account(key);
    const s = this.find(a, sessionId, 'checkout.session');
    const now = this.now();
    const events: Obj[] = [];
    const country = opts.country ?? 'FR';
    if (s.automatic_tax?.enabled) {
      // Stripe Tax, simulated: the standard rate of the billing country (FR 20 %, DE 19 %, elsewhere none) on the amount after discount.
      const rate = STRIPE_TAX_RATES[country] ?? 0;
      const tax = Math.round((s.amount_total * rate) / 100);
      s.total_details = { ...s.total_details, amount_tax: tax };
      s.amount_total += tax;
      s.automatic_tax = { ...s.automatic_tax, status: 'complete' };
    }
    if (!s.customer) {
      const cus = this.route(a, 'POST', '/v1/customers', { email: opts.email ?? s.customer_email ?? 'buyer@example.com' });
      s.customer = cus.id;
    }
    s.customer_details = {
      email: opts.email ?? s.customer_email ?? (this.get(key, s.customer)?.email as string | null) ?? 'buyer@example.com',
      name: null,
      address: null,
      phone: null,
      tax_exempt: 'none',
      tax_ids: [],
    };
    if (s.billing_address_collection === 'required' || s.automatic_tax?.enabled) s.customer_details.address = { country, city: null, line1: null, line2: null, postal_code: null, state: null };
    s.status = 'complete';
    if (s.mode === 'payment') {
      const pi = this.put(a, {
        id: rid('pi', 24),
        object: 'payment_intent',
        amount: s.amount_total,
        currency: s.currency,
        customer: s.customer,
        status: opts.async ? 'processing' : 'succeeded',
        metadata: { ...(s._payment_intent_data?.metadata ?? {}) },
        latest_charge: null,
      });
      const ch = this.put(a, {
        id: rid('ch', 24),
        object: 'charge',
        amount: s.amount_total,
        amount_captured: s.amount_total,
        amount_refunded: 0,
        created: now,
        currency: s.currency,
        customer: s.customer,
        livemode: a.livemode,
        metadata: {},
        paid: true,
        payment_intent: pi.id,
        payment_method_details: { type: 'card', card: { brand: 'visa', last4: '4242', country: opts.cardCountry ?? 'US' } },
        refunded: false,
        refunds: { object: 'list', data: [], has_more: false },
        status: 'succeeded',
      });
      if (!opts.async) this.settleCharge(a, ch);
      pi.latest_charge = ch.id;
      if (s._payment_intent_data?.setup_future_usage) {
        const pm = this.attachCard(key, s.customer, opts.card ?? '4242424242424242');
        pi.payment_method = pm.id;
        pi.setup_future_usage = s._payment_intent_data.setup_future_usage;
      }
      s.payment_intent = pi.id;
      s.payment_status = opts.async ? 'unpaid' : 'paid';
      events.push(this.event(key, 'checkout.session.completed', this.publicSession(s)));
      return events;
    }
    // Subscription mode: the subscription is created, maybe trialing, and its first invoice.
    const line = s._line_items[0];
    const price = typeof line.price.product === 'string' ? line.price : this.ensurePrice(a, line.price);
    const trialDays = int(s._subscription_data?.trial_period_days);
    const periodEnd = trialDays ? now + trialDays * 86400 : now + 30 * 86400;
    const sub = this.put(a, {
      id: rid('sub', 24),
      object: 'subscription',
      billing_cycle_anchor: periodEnd,
      cancel_at: null,
      cancel_at_period_end: false,
      canceled_at: null,
      cancellation_details: { comment: null, feedback: null, reason: null },
      collection_method: 'charge_automatically',
      created: now,
      currency: price.currency,
      customer: s.customer,
      default_payment_method: null,
      discounts: [],
      ended_at: null,
      items: {
        object: 'list',
        data: [
          {
            id: rid('si', 14),
            object: 'subscription_item',
            created: now,
            current_period_start: now,
            current_period_end: periodEnd,
            metadata: {},
            price: structuredClone(price),
            quantity: line.quantity,
            subscription: null,
          },
        ],
        has_more: false,
        url: '/v1/subscription_items',
      },
      latest_invoice: null,
      livemode: a.livemode,
      metadata: { ...(s._subscription_data?.metadata ?? {}) },
      start_date: now,
      status: trialDays ? 'trialing' : 'active',
      trial_end: trialDays ? periodEnd : null,
      trial_settings: { end_behavior: { missing_payment_method: s._subscription_data?.trial_settings?.end_behavior?.missing_payment_method ?? 'create_invoice' } },
      trial_start: trialDays ? now : null,
    });
    sub.items.data[0].subscription = sub.id;
    sub._automatic_tax = s.automatic_tax?.enabled ? { rate: STRIPE_TAX_RATES[country] ?? 0, country } : null;
    const invoice = this.invoice(a, sub, trialDays ? 0 : s.amount_total, 'subscription_create', now, periodEnd);
    sub.latest_invoice = invoice.id;
    s.subscription = sub.id;
    s.invoice = invoice.id;
    s.payment_status = s.amount_total > 0 && !trialDays ? 'paid' : 'no_payment_required';
    events.push(this.event(key, 'customer.subscription.created', sub));
    events.push(this.event(key, 'invoice.paid', invoice));
    events.push(this.event(key, 'checkout.session.completed', this.publicSession(s)));
    return events;
  }

  private ensurePrice(a: Account, price: Obj): Obj {
    const product = this.route(a, 'POST', '/v1/products', { name: price.product?.name ?? 'Item' });
    return this.put(a, { ...price, product: product.id });
  }

  private invoice(a: Account, sub: Obj, amount: number, reason: string, start: number, end: number, paid = true): Obj {
    // With Stripe Tax the invoice's total includes the tax on its net amount.
    const taxed = sub._automatic_tax as { rate: number; country: string } | null | undefined;
    const tax = taxed && amount > 0 ? Math.round(amount - amount / (1 + taxed.rate / 100)) : 0;
    return this.put(a, {
      ...(taxed
        ? {
            automatic_tax: { enabled: true, status: 'complete' },
            customer_address: { country: taxed.country },
            tax,
            total_taxes: [{ amount: tax, tax_behavior: 'exclusive' }],
          }
        : {}),
      id: rid('in', 24),
      object: 'invoice',
      amount_due: amount,
      amount_paid: paid ? amount : 0,
      amount_remaining: paid ? 0 : amount,
      attempt_count: 1,
      attempted: true,
      billing_reason: reason,
      collection_method: 'charge_automatically',
      created: start,
      currency: sub.currency,
      customer: sub.customer,
      lines: {
        object: 'list',
        data: [
          {
            id: rid('il', 24),
            object: 'line_item',
            amount,
            currency: sub.currency,
            period: { start, end },
            pricing: { type: 'price_details', price_details: { price: sub.items.data[0].price.id, product: sub.items.data[0].price.product } },
            parent: {
              type: 'subscription_item_details',
              subscription_item_details: { subscription: sub.id, subscription_item: sub.items.data[0].id, proration: false },
            },
            quantity: sub.items.data[0].quantity,
          },
        ],
        has_more: false,
      },
      livemode: a.livemode,
      metadata: {},
      parent: { type: 'subscription_details', subscription_details: { metadata: { ...sub.metadata }, subscription: sub.id } },
      period_end: start,
      period_start: start,
      status: paid ? 'paid' : 'open',
      status_transitions: { paid_at: paid ? start : null },
      total: amount,
    });
  }

  /** Renews a subscription for one period: invoice.paid (or payment_failed) and customer.subscription.updated. */
  renew(key: string, subId: string, opts: { fail?: boolean } = {}): Obj[] {
    const a = this.account(key);
    const sub = this.find(a, subId, 'subscription');
    const item = sub.items.data[0];
    const start = item.current_period_end;
    const end = start + 30 * 86400;
    const net = item.price.unit_amount * item.quantity;
    const taxed = sub._automatic_tax as { rate: number } | null | undefined;
    const inv = this.invoice(a, sub, taxed ? net + Math.round((net * taxed.rate) / 100) : net, 'subscription_cycle', start, end, !opts.fail);
    const previous = { status: sub.status };
    sub.status = opts.fail ? 'past_due' : 'active';
    sub.trial_end = sub.trial_end && sub.trial_end > start ? sub.trial_end : sub.trial_end;
    item.current_period_start = start;
    item.current_period_end = end;
    sub.latest_invoice = inv.id;
    return [this.event(key, opts.fail ? 'invoice.payment_failed' : 'invoice.paid', inv), this.event(key, 'customer.subscription.updated', sub, previous)];
  }

  /** Ends a subscription now (DELETE /v1/subscriptions/:id, or the end of a period after cancel_at_period_end). */
  cancelSubscription(key: string, subId: string): Obj {
    const a = this.account(key);
    const sub = this.find(a, subId, 'subscription');
    sub.status = 'canceled';
    sub.ended_at = this.now();
    sub.canceled_at ??= this.now();
    this.event(key, 'customer.subscription.deleted', sub);
    return sub;
  }

  /** Stripe's dispute fee here (15.00 in the charge's currency, as in the EEA), debited when a chargeback opens. */
  static readonly DISPUTE_FEE = 1500;

  /** Stripe's fee on a card charge here: 1.5 % + 25 minor units (the EEA standard card rate), in the charge's currency. */
  static fee(amount: number): number {
    return Math.round(amount * 0.015) + 25;
  }

  /** The charge's balance transaction, made when the charge succeeds (a delayed payment has none yet). */
  private settleCharge(a: Account, ch: Obj): Obj {
    const fee = LocalStripe.fee(ch.amount);
    const txn = this.put(a, {
      id: rid('txn', 24),
      object: 'balance_transaction',
      amount: ch.amount,
      available_on: this.now() + 2 * 86400,
      created: this.now(),
      currency: ch.currency,
      description: null,
      fee,
      fee_details: [{ amount: fee, application: null, currency: ch.currency, description: 'Stripe processing fees', type: 'stripe_fee' }],
      net: ch.amount - fee,
      reporting_category: 'charge',
      source: ch.id,
      status: 'pending',
      type: 'charge',
    });
    ch.balance_transaction = txn.id;
    return txn;
  }

  private withBalanceTransaction(a: Account, ch: Obj): Obj {
    return ch.balance_transaction ? { ...ch, balance_transaction: this.find(a, ch.balance_transaction, 'balance_transaction') } : { ...ch, balance_transaction: null };
  }

  /**
   * The cardholder disputes a charge (named by its id or its PaymentIntent's): the Dispute is made
   * and Stripe's `charge.dispute.created` and `charge.dispute.funds_withdrawn` events are produced
   * (not delivered), as Stripe does for a chargeback.
   */
  openDispute(key: string, ref: string, opts: { amount?: number; reason?: string; inquiry?: boolean } = {}): { dispute: Obj; events: Obj[] } {
    const a = this.account(key);
    const ch = ref.startsWith('pi_') ? this.find(a, this.find(a, ref, 'payment_intent').latest_charge, 'charge') : this.find(a, ref, 'charge');
    const amount = opts.amount ?? ch.amount;
    const dispute = this.put(a, {
      id: rid('dp', 24),
      object: 'dispute',
      amount,
      balance_transactions: [],
      charge: ch.id,
      created: this.now(),
      currency: ch.currency,
      evidence: { customer_email_address: null, product_description: null, uncategorized_text: null },
      evidence_details: { due_by: this.now() + 7 * 86400, has_evidence: false, past_due: false, submission_count: 0 },
      is_charge_refundable: false,
      livemode: a.livemode,
      metadata: {},
      payment_intent: ch.payment_intent ?? null,
      reason: opts.reason ?? 'fraudulent',
      status: opts.inquiry ? 'warning_needs_response' : 'needs_response',
    });
    ch.disputed = true;
    // A chargeback withdraws the amount and Stripe's dispute fee at once: the created dispute already
    // lists that balance transaction (an inquiry withdraws nothing).
    if (!opts.inquiry) {
      dispute.balance_transactions = [
        { id: rid('txn', 24), object: 'balance_transaction', amount: -amount, currency: ch.currency, fee: LocalStripe.DISPUTE_FEE, net: -amount - LocalStripe.DISPUTE_FEE, type: 'adjustment', reporting_category: 'dispute' },
      ];
    }
    const events = [this.event(key, 'charge.dispute.created', dispute)];
    if (!opts.inquiry) events.push(this.event(key, 'charge.dispute.funds_withdrawn', dispute));
    return { dispute, events };
  }

  /** Evidence submitted (`under_review`) or Stripe's decision (`won`/`lost`), with the events Stripe sends for it. */
  moveDispute(key: string, id: string, status: 'under_review' | 'won' | 'lost'): Obj[] {
    const a = this.account(key);
    const dispute = this.find(a, id, 'dispute');
    const previous = { status: dispute.status };
    dispute.status = status;
    if (status === 'under_review') {
      dispute.evidence_details = { ...dispute.evidence_details, has_evidence: true, submission_count: 1 };
      return [this.event(key, 'charge.dispute.updated', dispute, previous)];
    }
    const events = [this.event(key, 'charge.dispute.closed', dispute, previous)];
    if (status === 'won') {
      dispute.balance_transactions = [
        ...dispute.balance_transactions,
        { id: rid('txn', 24), object: 'balance_transaction', amount: dispute.amount, currency: dispute.currency, fee: 0, net: dispute.amount, type: 'adjustment', reporting_category: 'dispute_reversal' },
      ];
      events.push(this.event(key, 'charge.dispute.funds_reinstated', dispute));
    }
    return events;
  }

  lastEvent(key: string, type?: string): Obj {
    const evs = this.account(key).events.filter((e) => !type || e.type === type);
    const e = evs[evs.length - 1];
    if (!e) throw new Error(`no ${type ?? ''} event`);
    return e;
  }

  private publicSession(s: Obj): Obj {
    const { _line_items, _subscription_data, _payment_intent_data, ...pub } = s;
    return pub;
  }
}

/** The rates the simulated Stripe Tax applies, by billing country. */
const STRIPE_TAX_RATES: Record<string, number> = { FR: 20, DE: 19 };

/** Signs a payload the way Stripe does, with the SDK's own helper. */
export function stripeSignature(payload: string, secret: string, timestamp: number): string {
  return Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
}
