import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { errorResponses } from '../../http/openapi.ts';
import { CustomerParams, IdParams } from '../../http/schemas.ts';
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

const ItemParams = z.object({ id: CustomerIdSchema, item_id: z.string().min(1).max(64) });

export function registerCommerceRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/products', { config: { auth: 'publishable' } }, async (req) => listProducts(ctx, callerOf(req).projectId));
  app.get('/v1/products/:id', { schema: { params: IdParams }, config: { auth: 'publishable' } }, async (req) =>
    getProduct(ctx, callerOf(req).projectId, req.params.id),
  );

  app.get('/v1/customers/:id/cart', { schema: { params: CustomerParams }, config: { auth: 'customer' } }, async (req) =>
    getCart(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );
  app.get('/v1/customers/:id/cart/count', { schema: { params: CustomerParams }, config: { auth: 'customer' } }, async (req) =>
    cartCount(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );
  app.post(
    '/v1/customers/:id/cart/items',
    { schema: { summary: 'Add an item to the cart', params: CustomerParams, body: AddItemSchema, response: errorResponses('insufficient_stock', 'conflict') }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({ body: await addToCart(ctx, q, callerOf(req).projectId, req.params.id, req.body) })),
  );
  app.patch(
    '/v1/customers/:id/cart/items/:item_id',
    { schema: { summary: 'Set a cart item quantity', params: ItemParams, body: SetQuantitySchema, response: errorResponses('insufficient_stock', 'conflict') }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({
        body: await setCartItemQuantity(ctx, q, callerOf(req).projectId, req.params.id, req.params.item_id, req.body.quantity),
      })),
  );
  app.delete('/v1/customers/:id/cart/items/:item_id', { schema: { params: ItemParams }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      body: await removeCartItem(ctx, q, callerOf(req).projectId, req.params.id, req.params.item_id),
    })),
  );
  app.delete('/v1/customers/:id/cart', { schema: { params: CustomerParams }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await clearCart(ctx, q, callerOf(req).projectId, req.params.id) })),
  );

  app.post(
    '/v1/customers/:id/orders',
    { schema: { summary: 'Create an order from the cart', params: CustomerParams, body: CreateOrderSchema.optional(), response: errorResponses('insufficient_stock', 'conflict') }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({
        status: 201,
        body: await createOrder(ctx, q, callerOf(req).projectId, req.params.id, req.body ?? {}),
      })),
  );
  app.get(
    '/v1/customers/:id/orders',
    { schema: { params: CustomerParams, querystring: OrdersQuery }, config: { auth: 'customer' } },
    async (req) => listOrders(ctx, ctx.db, callerOf(req).projectId, req.params.id, req.query),
  );
  app.get('/v1/orders/:id', { schema: { params: IdParams } }, async (req) => getOrder(ctx.db, callerOf(req).projectId, req.params.id));
  app.post('/v1/orders/:id/cancel', { schema: { params: IdParams } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await cancelOrder(ctx, q, callerOf(req), req.params.id) })),
  );
  app.post('/v1/orders/:id/fulfill', { schema: { params: IdParams } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await fulfillOrder(ctx, q, callerOf(req), req.params.id) })),
  );
}
