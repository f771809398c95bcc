/**
 * Everything Webox does with Tollgate (the shop front is in app.ts): the catalog's products, the
 * customer's cart, and an order paid by hosted checkout with the sandbox (cards) or PayPal.
 */
import { ConflictError, NotFoundError, Tollgate } from '@tollgate/sdk';

export type { Tollgate };
export const connect = (env = process.env) =>
  new Tollgate({ apiKey: env.TOLLGATE_KEY ?? 'sk_test_demo_webox', baseUrl: env.TOLLGATE_URL ?? 'http://localhost:4242' });

export const signUp = (tg: Tollgate, id: string, email: string) => tg.customers.create({ id, email });
type Product = { id: string; name: string; price: { amount: number; currency: string }; stock: number | null };
export const products = async (tg: Tollgate) => ((await tg.request('GET', '/v1/products')) as { data: Product[] }).data;
export const cart = (tg: Tollgate, customerId: string) => tg.cart.get(customerId);

/** Adds to the cart; `{refused}` when the stock does not cover it or the product is unknown. */
export async function addToCart(tg: Tollgate, customerId: string, productId: string, quantity: number) {
  try {
    return { cart: await tg.cart.add(customerId, { product_id: productId, quantity }) };
  } catch (err) {
    if (err instanceof ConflictError || err instanceof NotFoundError) return { refused: { status: err.status, code: err.code, message: err.message } };
    throw err;
  }
}

/** Freezes the cart into an order (stock reserved) and opens its hosted checkout. */
export async function checkoutCart(tg: Tollgate, customerId: string, provider: 'sandbox' | 'paypal', returnTo: string) {
  const order = await tg.orders.create(customerId);
  const back = { success_url: `${returnTo}/orders/${order.id}`, cancel_url: `${returnTo}/cart/${customerId}` };
  // No checkout (the provider is not set up): the order is canceled, its units back on sale.
  const session = await tg.checkout.create({ customer_id: customerId, order_id: order.id, provider, ...back }).catch(async (err: unknown) => {
    await tg.orders.cancel(order.id);
    throw err;
  });
  return { order_id: order.id, total: order.total, checkout_url: session.url, session_id: session.session_id };
}

export const orderStatus = async (tg: Tollgate, orderId: string) => {
  const o = await tg.orders.get(orderId);
  return { id: o.id, status: o.status, total: o.total };
};
