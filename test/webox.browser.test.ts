import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CATALOGS } from '../src/demo/catalogs.ts';
import { describeBrowser, HAS_BROWSER, launchBrowser, SCREENSHOT_DIR } from './support/browser.ts';
import { createHarness, type Harness, type TestProject } from './support/harness.ts';
import { PaypalTestServer } from './support/paypal-server.ts';

/**
 * A stand-in for the Webox app: its server holds the secret key and calls Tollgate, its pages are
 * plain HTML forms. The browser sees the shop, then Tollgate's hosted checkout, then the shop again.
 */
function weboxApp(tollgate: string, key: string, customer: string) {
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${tollgate}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const euros = (m: { amount: number }) => `${(m.amount / 100).toFixed(2)} €`;
  const layout = (title: string, count: number, body: string) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:system-ui,sans-serif;margin:0;background:#fff7ed}header{background:#ea580c;color:#fff;padding:1rem 2rem;display:flex;justify-content:space-between}
main{max-width:900px;margin:1.5rem auto;padding:0 1rem}.grid{display:grid;grid-template-columns:repeat(3,1fr);gap:1rem}.card{background:#fff;border-radius:10px;padding:1rem;box-shadow:0 1px 3px #0002}
button{background:#ea580c;color:#fff;border:0;border-radius:6px;padding:.5rem 1rem;cursor:pointer}table{width:100%;background:#fff}td{padding:.4rem}</style></head>
<body><header><strong>Webox marketplace</strong><a style="color:#fff" href="/cart" id="cart-link">Cart (<span id="cart-count">${count}</span>)</a></header><main>${body}</main></body></html>`;
  const form = async (req: IncomingMessage) => {
    let raw = '';
    for await (const c of req) raw += c;
    return new URLSearchParams(raw);
  };
  let base = '';
  const server: Server = createServer(async (req, res) => {
    const send = (html: string) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    };
    const redirect = (to: string) => {
      res.writeHead(303, { location: to });
      res.end();
    };
    const url = new URL(req.url ?? '/', base);
    const count = (await api('GET', `/v1/customers/${customer}/cart/count`)).body.count;
    if (url.pathname === '/' && req.method === 'GET') {
      const products = (await api('GET', '/v1/products')).body.data;
      return send(
        layout(
          'Webox',
          count,
          `<h1>Products</h1><div class="grid">${products
            .map(
              (p: any) => `<div class="card" data-product="${p.id}"><h3>${p.name}</h3><p>${euros(p.price)}</p>
<p class="stock">${p.stock === null ? 'Unlimited' : `${p.stock} in stock`}</p>
<form method="post" action="/cart/add"><input type="hidden" name="product_id" value="${p.id}"><input name="quantity" value="1" size="2"><button>Add to cart</button></form></div>`,
            )
            .join('')}</div>`,
        ),
      );
    }
    if (url.pathname === '/cart/add' && req.method === 'POST') {
      const f = await form(req);
      await api('POST', `/v1/customers/${customer}/cart/items`, { product_id: f.get('product_id'), quantity: Number(f.get('quantity')) });
      return redirect('/');
    }
    if (url.pathname === '/cart') {
      const cart = (await api('GET', `/v1/customers/${customer}/cart`)).body;
      return send(
        layout(
          'Cart',
          count,
          `<h1>Your cart</h1><table>${cart.items.map((i: any) => `<tr><td>${i.name}</td><td>× ${i.quantity}</td><td>${euros(i.line_total)}</td></tr>`).join('')}
<tr><td><strong>Total</strong></td><td></td><td id="cart-total">${euros(cart.total)}</td></tr></table>
<form method="post" action="/checkout"><button id="place-order">Place order and pay</button></form>
<form method="post" action="/checkout?provider=paypal"><button id="pay-paypal">Pay with PayPal</button></form>`,
        ),
      );
    }
    if (url.pathname === '/checkout' && req.method === 'POST') {
      const order = (await api('POST', `/v1/customers/${customer}/orders`, {})).body;
      const co = await api('POST', '/v1/checkout', {
        customer_id: customer,
        order_id: order.id,
        ...(url.searchParams.get('provider') === 'paypal' ? { provider: 'paypal' } : {}),
        success_url: `${base}/orders/${order.id}`,
        cancel_url: `${base}/cart`,
      });
      return redirect(co.body.url);
    }
    const m = /^\/orders\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const o = (await api('GET', `/v1/orders/${m[1]}`)).body;
      return send(
        layout(
          'Order',
          count,
          `<h1>Order ${o.id}</h1><p>Status: <strong id="order-status">${o.status}</strong></p><p>Total ${euros(o.total)}</p>
<ul>${o.items.map((i: any) => `<li>${i.name} × ${i.quantity}</li>`).join('')}</ul>`,
        ),
      );
    }
    res.writeHead(404);
    res.end();
  });
  return {
    async start() {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      return base;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let h: Harness;
let browser: Browser;
let p: TestProject;
let app: ReturnType<typeof weboxApp>;
let shop: string;
let pp: PaypalTestServer;

beforeAll(async () => {
  pp = new PaypalTestServer();
  await pp.start();
  h = await createHarness({ config: { paypalApiBase: pp.url } });
  const tollgate = await h.listen();
  p = await h.project({ catalog: DEMO_CATALOGS.webox!.catalog });
  app = weboxApp(tollgate, p.key, 'buyer-1');
  shop = await app.start();
  if (HAS_BROWSER) browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await h?.close();
  await pp?.stop();
});

describeBrowser('the Webox flow in Chromium', () => {
  it('browse → cart → order → pay with 4242 on the hosted checkout → order paid, stock decremented', async () => {
    const page = await browser.newPage();
    await page.goto(shop);
    await expect(page.locator('[data-product]').count()).resolves.toBe(6);
    const kit = page.locator('[data-product="voice-clone-kit"]');
    await kit.locator('input[name=quantity]').fill('2');
    await kit.locator('button').click();
    await page.waitForURL(`${shop}/`);
    await page.locator('[data-product="ebook-ai-business"] button').click();
    await page.waitForURL(`${shop}/`);
    expect(await page.locator('#cart-count').textContent()).toBe('3');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/webox-products.png`, fullPage: true });

    await page.click('#cart-link');
    expect(await page.locator('#cart-total').textContent()).toBe('70.00 €');
    await page.click('#place-order');
    await page.waitForURL(/\/checkout\/cs_/);
    expect(await page.locator('[data-testid=amount]').textContent()).toContain('70.00');
    await page.fill('#card', '4242 4242 4242 4242');
    await page.fill('#exp', '12 / 34');
    await page.fill('#cvc', '123');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/webox-checkout.png`, fullPage: true });
    await page.click('#pay');
    await page.waitForURL(new RegExp(`${shop}/orders/ord_`));
    expect(await page.locator('#order-status').textContent()).toBe('paid');
    expect(await page.locator('#cart-count').textContent()).toBe('0');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/webox-order-paid.png`, fullPage: true });

    const products = (await p.call('GET', '/v1/products')).body.data;
    expect(products.find((x: { id: string }) => x.id === 'voice-clone-kit').stock).toBe(23);
    expect(products.find((x: { id: string }) => x.id === 'ebook-ai-business').stock).toBeNull();
    const orders = (await p.call('GET', '/v1/customers/buyer-1/orders')).body.data;
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({ status: 'paid', total: { amount: 7000, currency: 'eur' } });
    await page.close();
  });

  it('pays an order with PayPal: approve on PayPal, back through Tollgate, order paid', async () => {
    const put = await p.call('PUT', '/v1/providers/paypal', {
      client_id: 'AZbrowserClient01',
      client_secret: 'ECbrowserSecret01',
      webhook_id: 'WH-BROWSER',
      mode: 'sandbox',
    });
    expect(put.status).toBe(200);
    const page = await browser.newPage();
    await page.goto(shop);
    await page.locator('[data-product="dataset-starter"] button').click();
    await page.waitForURL(`${shop}/`);
    await page.click('#cart-link');
    await page.click('#pay-paypal');
    await page.waitForURL(new RegExp(`^${pp.url}/checkoutnow`));
    expect(await page.locator('[data-testid=paypal-amount]').textContent()).toBe('99.00 EUR');
    await page.click('#paypal-approve');
    await page.waitForURL(new RegExp(`${shop}/orders/ord_`));
    expect(await page.locator('#order-status').textContent()).toBe('paid');
    await page.screenshot({ path: `${SCREENSHOT_DIR}/webox-paypal-paid.png`, fullPage: true });
    const products = (await p.call('GET', '/v1/products')).body.data;
    expect(products.find((x: { id: string }) => x.id === 'dataset-starter').stock).toBe(24);
    const payments = (await p.call('GET', '/v1/payments?customer_id=buyer-1')).body.data;
    expect(payments.map((x: { provider: string }) => x.provider).sort()).toEqual(['paypal', 'sandbox']);
    await page.close();
  });
});
