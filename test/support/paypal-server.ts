import { execFileSync } from 'node:child_process';
import { createSign, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ManualClock } from '../../src/clock.ts';
import type { Config } from '../../src/config.ts';
import { setPaypalCertFetcher } from '../../src/providers/paypal/paypal.webhook.ts';
import { createHarness, type Harness } from './harness.ts';

type Json = Record<string, any>;

/** A signing key and a self-signed certificate made for this test run (openssl). */
export function makeTestCertificate(): { keyPem: string; certPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'paypal-cert-'));
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '3650', '-subj', '/CN=messageverificationcerts.sandbox.paypal.com'],
      { stdio: 'ignore' },
    );
    return { keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'), certPem: readFileSync(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RecordedRequest {
  method: string;
  path: string;
  requestId: string | null;
  body: Json | null;
}

/**
 * A local server speaking the PayPal REST endpoints Tollgate uses (OAuth token, Orders v2 create /
 * get / capture, captures refund) with PayPal's JSON shapes and PayPal-Request-Id replay, plus an
 * approval page standing in for paypal.com, and webhook signing with a test certificate.
 */
export class PaypalTestServer {
  readonly requests: RecordedRequest[] = [];
  readonly orders = new Map<string, Json>();
  readonly captures = new Map<string, { capture: Json; orderId: string; refunded: number }>();
  /** Client ids the token endpoint refuses (401 invalid_client), as PayPal does with wrong credentials. */
  readonly rejectedClients = new Set<string>();
  private readonly replays = new Map<string, { status: number; body: Json }>();
  private server!: Server;
  url = '';
  readonly cert = makeTestCertificate();
  readonly certUrl = 'https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-test';
  private seq = 0;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => this.send(res, 500, { name: 'INTERNAL_SERVER_ERROR', message: String(err) }));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private id(prefix: string): string {
    this.seq++;
    return `${prefix}${String(this.seq).padStart(4, '0')}${randomBytes(6).toString('hex').toUpperCase()}`.slice(0, 17);
  }

  private send(res: ServerResponse, status: number, body: Json | string, type = 'application/json') {
    res.writeHead(status, { 'content-type': type, 'paypal-debug-id': randomBytes(6).toString('hex') });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  }

  private unprocessable(issue: string, description: string) {
    return {
      status: 422,
      body: { name: 'UNPROCESSABLE_ENTITY', message: 'The requested action could not be performed.', details: [{ issue, description }] },
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const path = url.pathname;
    const requestId = (req.headers['paypal-request-id'] as string | undefined) ?? null;
    let body: Json | null = null;
    if (raw && String(req.headers['content-type']).includes('json')) body = JSON.parse(raw);
    this.requests.push({ method: req.method ?? 'GET', path, requestId, body });

    if (req.method === 'POST' && path === '/v1/oauth2/token') {
      if (!String(req.headers.authorization).startsWith('Basic ')) return this.send(res, 401, { error: 'invalid_client' });
      const client = Buffer.from(String(req.headers.authorization).slice(6), 'base64').toString('utf8').split(':')[0] ?? '';
      if (this.rejectedClients.has(client)) return this.send(res, 401, { error: 'invalid_client', error_description: 'Client Authentication failed' });
      return this.send(res, 200, {
        scope: 'https://uri.paypal.com/services/payments/payment',
        access_token: `A21AA${randomBytes(16).toString('hex')}`,
        token_type: 'Bearer',
        app_id: 'APP-80W284485P519543T',
        expires_in: 32400,
        nonce: randomBytes(8).toString('hex'),
      });
    }
    // The buyer's approval page (paypal.com/checkoutnow in production).
    if (path === '/checkoutnow') return this.approvalPage(req, res, url);

    if (!String(req.headers.authorization).startsWith('Bearer ')) {
      return this.send(res, 401, { error: 'invalid_token', error_description: 'No access token' });
    }
    if (req.method === 'POST' && requestId) {
      const key = `${path}|${requestId}`;
      const prior = this.replays.get(key);
      if (prior) return this.send(res, prior.status, prior.body);
      const out = this.mutate(path, body);
      if (out.status < 500) this.replays.set(key, out);
      return this.send(res, out.status, out.body);
    }
    if (req.method === 'POST') {
      const out = this.mutate(path, body);
      return this.send(res, out.status, out.body);
    }
    const getCapture = /^\/v2\/payments\/captures\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && getCapture) {
      const c = this.captures.get(getCapture[1] as string);
      return c ? this.send(res, 200, c.capture) : this.send(res, 404, { name: 'RESOURCE_NOT_FOUND', details: [{ issue: 'INVALID_RESOURCE_ID' }] });
    }
    const get = /^\/v2\/checkout\/orders\/([^/]+)$/.exec(path);
    if (req.method === 'GET' && get) {
      const order = this.orders.get(get[1] as string);
      return order ? this.send(res, 200, order) : this.send(res, 404, { name: 'RESOURCE_NOT_FOUND', details: [{ issue: 'INVALID_RESOURCE_ID' }] });
    }
    return this.send(res, 404, { name: 'NOT_FOUND', message: `no route ${req.method} ${path}` });
  }

  private mutate(path: string, body: Json | null): { status: number; body: Json } {
    if (path === '/v2/checkout/orders') return this.createOrder(body ?? {});
    const capture = /^\/v2\/checkout\/orders\/([^/]+)\/capture$/.exec(path);
    if (capture) return this.captureOrder(capture[1] as string);
    const refund = /^\/v2\/payments\/captures\/([^/]+)\/refund$/.exec(path);
    if (refund) return this.refund(refund[1] as string, body);
    return { status: 404, body: { name: 'NOT_FOUND' } };
  }

  private createOrder(body: Json) {
    const unit = body.purchase_units?.[0];
    if (body.intent !== 'CAPTURE' || !unit?.amount?.value) {
      return { status: 400, body: { name: 'INVALID_REQUEST', details: [{ issue: 'MISSING_REQUIRED_PARAMETER' }] } };
    }
    const id = this.id('5O');
    const ctx = body.payment_source?.paypal?.experience_context ?? {};
    const order = {
      id,
      intent: 'CAPTURE',
      status: 'PAYER_ACTION_REQUIRED',
      payment_source: { paypal: {} },
      purchase_units: [{ ...unit, payee: { email_address: 'merchant@example.com', merchant_id: 'MERCHANT1' } }],
      create_time: new Date().toISOString(),
      links: [
        { href: `${this.url}/v2/checkout/orders/${id}`, rel: 'self', method: 'GET' },
        { href: `${this.url}/checkoutnow?token=${id}`, rel: 'payer-action', method: 'GET' },
      ],
      _return_url: ctx.return_url,
      _cancel_url: ctx.cancel_url,
    };
    this.orders.set(id, order);
    return { status: 200, body: this.public(order) };
  }

  private public(order: Json): Json {
    const { _return_url, _cancel_url, _decline, ...rest } = order;
    return structuredClone(rest);
  }

  /** The buyer approves (as on paypal.com); `decline` makes the later capture fail. */
  approve(orderId: string, opts: { decline?: boolean } = {}): string {
    const order = this.orders.get(orderId);
    if (!order) throw new Error(`no order ${orderId}`);
    order.status = 'APPROVED';
    order._decline = opts.decline ?? false;
    order.payer = { payer_id: 'PAYERID123', email_address: 'buyer@example.com', name: { given_name: 'Test', surname: 'Buyer' } };
    return `${order._return_url}?token=${orderId}&PayerID=PAYERID123`;
  }

  private approvalPage(req: IncomingMessage, res: ServerResponse, url: URL) {
    const id = url.searchParams.get('token') ?? '';
    const order = this.orders.get(id);
    if (!order) return this.send(res, 404, 'no such order', 'text/html');
    if (req.method === 'POST') {
      res.writeHead(303, { location: this.approve(id) });
      res.end();
      return;
    }
    const amount = order.purchase_units[0].amount;
    return this.send(
      res,
      200,
      `<!doctype html><html><body style="font-family:sans-serif;max-width:480px;margin:3rem auto">
<h1 style="color:#003087">PayPal</h1><p>Pay <strong data-testid="paypal-amount">${amount.value} ${amount.currency_code}</strong> to the merchant.</p>
<form method="post" action="/checkoutnow?token=${id}"><button id="paypal-approve" type="submit" style="background:#ffc439;border:0;padding:.8rem 2rem;border-radius:20px;font-size:1rem">Pay Now</button></form>
<p><a id="paypal-cancel" href="${order._cancel_url}">Cancel and return</a></p></body></html>`,
      'text/html; charset=utf-8',
    );
  }

  private captureOrder(orderId: string) {
    const order = this.orders.get(orderId);
    if (!order) return { status: 404, body: { name: 'RESOURCE_NOT_FOUND', details: [{ issue: 'INVALID_RESOURCE_ID' }] } };
    if (order.status === 'COMPLETED') return this.unprocessable('ORDER_ALREADY_CAPTURED', 'Order already captured.');
    if (order.status !== 'APPROVED') return this.unprocessable('ORDER_NOT_APPROVED', 'Payer has not yet approved the Order for payment.');
    const unit = order.purchase_units[0];
    const capture: Json = {
      id: this.id('3C'),
      status: order._decline ? 'DECLINED' : 'COMPLETED',
      amount: unit.amount && { currency_code: unit.amount.currency_code, value: unit.amount.value },
      final_capture: true,
      custom_id: unit.custom_id,
      invoice_id: unit.invoice_id,
      seller_protection: { status: 'ELIGIBLE', dispute_categories: ['ITEM_NOT_RECEIVED', 'UNAUTHORIZED_TRANSACTION'] },
      supplementary_data: { related_ids: { order_id: orderId } },
      create_time: new Date().toISOString(),
      update_time: new Date().toISOString(),
      links: [
        { href: `${this.url}/v2/payments/captures/CAPTURE`, rel: 'self', method: 'GET' },
        { href: `${this.url}/v2/checkout/orders/${orderId}`, rel: 'up', method: 'GET' },
      ],
    };
    if (order._decline) capture.status_details = { reason: 'DECLINED_BY_RISK_FRAUD_FILTERS' };
    else if (unit.amount) {
      // PayPal's standard rate here: 3.49 % + 49 minor units, taken from the gross (seller_receivable_breakdown).
      const v = (n: number) => (n / 100).toFixed(2);
      const gross = Math.round(Number(unit.amount.value) * 100);
      const fee = PaypalTestServer.fee(gross);
      const money = (n: number) => ({ currency_code: unit.amount.currency_code, value: v(n) });
      capture.seller_receivable_breakdown = { gross_amount: money(gross), paypal_fee: money(fee), net_amount: money(gross - fee) };
    }
    capture.links[0].href = `${this.url}/v2/payments/captures/${capture.id}`;
    order.status = 'COMPLETED';
    unit.payments = { captures: [capture] };
    this.captures.set(capture.id, { capture, orderId, refunded: 0 });
    return { status: 201, body: this.public(order) };
  }

  private refund(captureId: string, body: Json | null) {
    const c = this.captures.get(captureId);
    if (c?.capture.status !== 'COMPLETED') return { status: 404, body: { name: 'RESOURCE_NOT_FOUND', details: [{ issue: 'INVALID_RESOURCE_ID' }] } };
    const currency = c.capture.amount.currency_code;
    const total = Math.round(Number(c.capture.amount.value) * 100);
    const amount = body?.amount?.value ? Math.round(Number(body.amount.value) * 100) : total - c.refunded;
    if (amount <= 0 || c.refunded + amount > total) return this.unprocessable('REFUND_AMOUNT_EXCEEDED', 'The refund amount must be less than or equal to the capture amount that has not yet been refunded.');
    c.refunded += amount;
    c.capture.status = c.refunded >= total ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
    return { status: 201, body: this.refundResource(captureId, amount, c.refunded, currency) };
  }

  refundResource(captureId: string, amount: number, totalRefunded: number, currency: string, id = this.id('1R')): Json {
    const v = (n: number) => (n / 100).toFixed(2);
    return {
      id,
      status: 'COMPLETED',
      amount: { currency_code: currency, value: v(amount) },
      seller_payable_breakdown: {
        gross_amount: { currency_code: currency, value: v(amount) },
        net_amount: { currency_code: currency, value: v(amount) },
        total_refunded_amount: { currency_code: currency, value: v(totalRefunded) },
      },
      create_time: new Date().toISOString(),
      links: [
        { href: `${this.url}/v2/payments/refunds/${id}`, rel: 'self', method: 'GET' },
        { href: `${this.url}/v2/payments/captures/${captureId}`, rel: 'up', method: 'GET' },
      ],
    };
  }

  /** PayPal's fee on a capture here: 3.49 % + 49 minor units. */
  static fee(gross: number): number {
    return Math.round(gross * 0.0349) + 49;
  }

  /**
   * A dispute resource as PayPal's Disputes API and its CUSTOMER.DISPUTE.* webhooks carry it: the
   * disputed capture is the seller's transaction; `outcome` resolves it (RESOLVED_BUYER_FAVOUR = lost).
   */
  disputeResource(
    captureId: string,
    opts: { id?: string; status?: string; outcome?: string; amount?: number; reason?: string } = {},
  ): Json {
    const c = this.captures.get(captureId);
    if (!c) throw new Error(`no capture ${captureId}`);
    const currency = c.capture.amount.currency_code;
    const gross = Math.round(Number(c.capture.amount.value) * 100);
    const v = (n: number) => (n / 100).toFixed(2);
    return {
      dispute_id: opts.id ?? this.id('PP-D-'),
      create_time: new Date().toISOString(),
      update_time: new Date().toISOString(),
      disputed_transactions: [
        {
          buyer_transaction_id: this.id('BT'),
          seller_transaction_id: captureId,
          create_time: c.capture.create_time,
          transaction_status: 'COMPLETED',
          gross_amount: { currency_code: currency, value: v(gross) },
          invoice_number: c.capture.invoice_id ?? null,
          custom: c.capture.custom_id ?? null,
        },
      ],
      reason: opts.reason ?? 'MERCHANDISE_OR_SERVICE_NOT_RECEIVED',
      status: opts.status ?? 'WAITING_FOR_SELLER_RESPONSE',
      dispute_amount: { currency_code: currency, value: v(opts.amount ?? gross) },
      ...(opts.outcome ? { dispute_outcome: { outcome_code: opts.outcome, amount_refunded: { currency_code: currency, value: v(opts.amount ?? gross) } } } : {}),
      dispute_life_cycle_stage: 'CHARGEBACK',
      dispute_channel: 'EXTERNAL',
      seller_response_due_date: new Date(Date.now() + 10 * 86_400_000).toISOString(),
      links: [{ href: `${this.url}/v1/customer/disputes/${opts.id ?? 'PP-D'}`, rel: 'self', method: 'GET' }],
    };
  }

  /** A webhook event as PayPal sends it, with the signature headers (offline verification scheme). */
  signedWebhook(
    eventType: string,
    resource: Json,
    opts: { webhookId: string; eventId?: string; certUrl?: string; key?: string; transmissionTime?: Date },
  ): { body: string; headers: Record<string, string> } {
    const event = {
      id: opts.eventId ?? `WH-${randomBytes(8).toString('hex').toUpperCase()}`,
      event_version: '1.0',
      create_time: new Date().toISOString(),
      resource_type: eventType.startsWith('CHECKOUT')
        ? 'checkout-order'
        : eventType.startsWith('CUSTOMER.DISPUTE')
          ? 'dispute'
          : eventType.includes('REFUNDED')
            ? 'refund'
            : 'capture',
      event_type: eventType,
      summary: eventType,
      resource,
    };
    const body = JSON.stringify(event);
    const transmissionId = randomBytes(16).toString('hex');
    const time = (opts.transmissionTime ?? new Date()).toISOString();
    const signer = createSign('RSA-SHA256');
    signer.update(`${transmissionId}|${time}|${opts.webhookId}|${crc32(Buffer.from(body)) >>> 0}`);
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'paypal-transmission-id': transmissionId,
        'paypal-transmission-time': time,
        'paypal-transmission-sig': signer.sign(opts.key ?? this.cert.keyPem, 'base64'),
        'paypal-cert-url': opts.certUrl ?? this.certUrl,
        'paypal-auth-algo': 'SHA256withRSA',
      },
    };
  }
}

/** The webhook id the PayPal test projects are configured with. */
export const PAYPAL_WEBHOOK_ID = '8PT597110X687430LKGECATA';

/**
 * A harness wired to a local PayPal server whose certificates are fetched through a recording fetcher
 * (`certFetches` lists each URL fetched). The test certificate is valid from the moment it was made:
 * the harness clock starts just after.
 */
export async function startPaypalHarness(
  config: Partial<Config> = {},
): Promise<{ h: Harness; pp: PaypalTestServer; certFetches: string[]; close: () => Promise<void> }> {
  const pp = new PaypalTestServer();
  await pp.start();
  const h = await createHarness({ clock: new ManualClock(new Date(Date.now() + 1000)), config: { ...config, paypalApiBase: pp.url } });
  const certFetches: string[] = [];
  setPaypalCertFetcher(async (url) => {
    certFetches.push(url);
    return pp.cert.certPem;
  });
  return {
    h,
    pp,
    certFetches,
    close: async () => {
      setPaypalCertFetcher(null);
      await h.close();
      await pp.stop();
    },
  };
}
