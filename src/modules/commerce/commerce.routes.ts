import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { errorResponses, replies } from '../../http/openapi.ts';
import { CustomerParams, IdParams, listOf, Money, Timestamp } from '../../http/schemas.ts';
import { CustomerIdSchema } from '../customers/customers.service.ts';
import {
  AddItemSchema,
  addToCart,
  cancelOrder,
  cartCount,
  clearCart,
  CreateOrderSchema,
  createOrder,
  fulfillOrder,
  getCart,
  getOrder,
  getProduct,
  listOrders,
  listProducts,
  OrdersQuery,
  removeCartItem,
  SetQuantitySchema,
  setCartItemQuantity,
} from './commerce.service.ts';

const Product = z.object({
  id: z.string(),
  object: z.literal('product'),
  name: z.string(),
  description: z.string().nullable(),
  price: Money,
  stock: z.number().int().nullable().describe('Units available now; null: unlimited'),
  unlimited: z.boolean(),
  in_stock: z.boolean(),
  active: z.boolean(),
  digital: z.boolean(),
  category: z.string().nullable(),
  image_url: z.string().nullable(),
});
const Cart = z.object({
  object: z.literal('cart'),
  customer_id: z.string(),
  items: z.array(
    z.object({
      id: z.string(),
      object: z.literal('cart_item'),
      product_id: z.string(),
      name: z.string(),
      quantity: z.number().int(),
      unit_price: Money,
      line_total: Money,
      purchasable: z.boolean().describe('false once the product left the catalog or is inactive (not counted in the total)'),
      stock: z.number().int().nullable(),
      added_at: Timestamp,
    }),
  ),
  count: z.number().int(),
  total: Money,
});
const CartCount = z.object({ object: z.literal('cart_count'), customer_id: z.string(), count: z.number().int(), lines: z.number().int() });
export const Order = z.object({
  id: z.string(),
  object: z.literal('order'),
  customer_id: z.string(),
  status: z.enum(['pending', 'paid', 'fulfilled', 'canceled', 'refunded']),
  items: z.array(
    z.object({ id: z.string(), product_id: z.string(), name: z.string(), quantity: z.number().int(), unit_price: Money, line_total: Money }),
  ),
  count: z.number().int(),
  total: Money,
  payment_id: z.string().nullable(),
  checkout_session_id: z.string().nullable(),
  cancel_reason: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  expires_at: Timestamp,
  created_at: Timestamp,
  paid_at: Timestamp.nullable(),
  fulfilled_at: Timestamp.nullable(),
  canceled_at: Timestamp.nullable(),
  refunded_at: Timestamp.nullable(),
});

const ItemParams = z.object({ id: CustomerIdSchema, item_id: z.string().min(1).max(64) });

export function registerCommerceRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/products', { schema: { response: replies({ 200: listOf(Product) }) }, config: { auth: 'publishable' } }, async (req) => listProducts(ctx, callerOf(req).projectId));
  app.get('/v1/products/:id', { schema: { params: IdParams, response: replies({ 200: Product }) }, config: { auth: 'publishable' } }, async (req) =>
    getProduct(ctx, callerOf(req).projectId, req.params.id),
  );

  app.get('/v1/customers/:id/cart', { schema: { params: CustomerParams, response: replies({ 200: Cart }) }, config: { auth: 'customer' } }, async (req) =>
    getCart(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );
  app.get('/v1/customers/:id/cart/count', { schema: { params: CustomerParams, response: replies({ 200: CartCount }) }, config: { auth: 'customer' } }, async (req) =>
    cartCount(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );
  app.post(
    '/v1/customers/:id/cart/items',
    { schema: { summary: 'Add an item to the cart', params: CustomerParams, body: AddItemSchema, response: replies({ 200: Cart, ...errorResponses('insufficient_stock', 'conflict') }) }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({ body: await addToCart(ctx, q, callerOf(req).projectId, req.params.id, req.body) })),
  );
  app.patch(
    '/v1/customers/:id/cart/items/:item_id',
    { schema: { summary: 'Set a cart item quantity', params: ItemParams, body: SetQuantitySchema, response: replies({ 200: Cart, ...errorResponses('insufficient_stock', 'conflict') }) }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({
        body: await setCartItemQuantity(ctx, q, callerOf(req).projectId, req.params.id, req.params.item_id, req.body.quantity),
      })),
  );
  app.delete('/v1/customers/:id/cart/items/:item_id', { schema: { summary: 'Remove a cart item', params: ItemParams, response: replies({ 200: Cart }) }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      body: await removeCartItem(ctx, q, callerOf(req).projectId, req.params.id, req.params.item_id),
    })),
  );
  app.delete('/v1/customers/:id/cart', { schema: { summary: 'Empty the cart', params: CustomerParams, response: replies({ 200: Cart }) }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await clearCart(ctx, q, callerOf(req).projectId, req.params.id) })),
  );

  app.post(
    '/v1/customers/:id/orders',
    { schema: { summary: 'Create an order from the cart', params: CustomerParams, body: CreateOrderSchema.optional(), response: replies({ 201: Order, ...errorResponses('insufficient_stock', 'conflict') }) }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({
        status: 201,
        body: await createOrder(ctx, q, callerOf(req).projectId, req.params.id, req.body ?? {}),
      })),
  );
  app.get(
    '/v1/customers/:id/orders',
    { schema: { params: CustomerParams, querystring: OrdersQuery, response: replies({ 200: listOf(Order) }) }, config: { auth: 'customer' } },
    async (req) => listOrders(ctx, ctx.db, callerOf(req).projectId, req.params.id, req.query),
  );
  app.get('/v1/orders/:id', { schema: { params: IdParams, response: replies({ 200: Order }) } }, async (req) => getOrder(ctx.db, callerOf(req).projectId, req.params.id));
  app.post('/v1/orders/:id/cancel', { schema: { summary: 'Cancel a pending order', params: IdParams, response: replies({ 200: Order, ...errorResponses('conflict') }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await cancelOrder(ctx, q, callerOf(req), req.params.id) })),
  );
  app.post('/v1/orders/:id/fulfill', { schema: { summary: 'Mark a paid order fulfilled', params: IdParams, response: replies({ 200: Order, ...errorResponses('conflict') }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await fulfillOrder(ctx, q, callerOf(req), req.params.id) })),
  );
}
