/**
 * Webox: a shop front. `GET /products`, `POST /signup {user_id, email}`, `GET /cart/:user`,
 * `POST /cart/:user {product_id, quantity}`, `POST /checkout/:user {provider: "sandbox" | "paypal"}`
 * (the buyer is sent to `checkout_url`), `GET /orders/:id`.
 */
import { createServer, field, HttpError } from '../shared/http.ts';
import { addToCart, cart, checkoutCart, orderStatus, products, signUp, type Tollgate } from './tollgate.ts';

export function createApp({ tollgate }: { tollgate: Tollgate }) {
  return createServer({
    'GET /products': async () => ({ body: { data: await products(tollgate) } }),
    'POST /signup': async (req) => ({ status: 201, body: { user_id: (await signUp(tollgate, field(req, 'user_id'), field(req, 'email'))).id } }),
    'GET /cart/:user': async (req) => ({ body: await cart(tollgate, field(req, 'user')) }),
    'POST /cart/:user': async (req) => {
      const quantity = req.body.quantity === undefined ? 1 : Number(req.body.quantity);
      if (!Number.isInteger(quantity) || quantity < 1) throw new HttpError(400, { error: 'invalid_request', message: 'quantity must be a positive integer' });
      const r = await addToCart(tollgate, field(req, 'user'), field(req, 'product_id'), quantity);
      if (r.refused) return { status: r.refused.status, body: { error: r.refused.code, message: r.refused.message } };
      return { status: 201, body: r.cart };
    },
    'POST /checkout/:user': async (req) => {
      const provider = req.body.provider ?? 'sandbox';
      if (provider !== 'sandbox' && provider !== 'paypal') throw new HttpError(400, { error: 'invalid_request', message: 'provider is sandbox or paypal' });
      return { status: 201, body: await checkoutCart(tollgate, field(req, 'user'), provider, req.origin) };
    },
    'GET /orders/:id': async (req) => ({ body: await orderStatus(tollgate, field(req, 'id')) }),
  });
}
