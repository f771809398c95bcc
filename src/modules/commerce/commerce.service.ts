import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { type Catalog, findProduct, type Product } from '../../domain/catalog.ts';
import { ConflictError, InsufficientStockError, InvalidRequestError, NotFoundError } from '../../domain/errors.ts';
import { newId } from '../../domain/ids.ts';
import type { Money } from '../../domain/money.ts';
import type { AppContext, Caller } from '../../app/context.ts';
import { audit } from '../audit/audit.service.ts';
import { type CatalogPushHook, getCatalog } from '../catalog/catalog.service.ts';
import { ensureCustomer, requireCustomer } from '../customers/customers.service.ts';
import type { CheckoutItemBuilder } from '../payments/checkout.service.ts';
import { expireOpenSessionsFor } from '../payments/payments.repository.ts';
import type { Fulfillment } from '../../app/registry.ts';
import { owePaymentBack, type RefundEffect } from '../payments/refunds.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import { emit } from '../webhooks-out/outbox.ts';
import * as repo from './commerce.repository.ts';

/** Units of one product in one cart line. */
export const MAX_LINE_QUANTITY = 99;
export const MAX_CART_LINES = 50;
export const DEFAULT_ORDER_TTL_S = 30 * 60;

const Quantity = z
  .number({ error: 'must be a whole number' })
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(MAX_LINE_QUANTITY, `must be at most ${MAX_LINE_QUANTITY}`);

export const AddItemSchema = z.object({ product_id: z.string().min(1).max(64), quantity: Quantity.default(1) }).strict();
export const SetQuantitySchema = z.object({ quantity: Quantity }).strict();
export const CreateOrderSchema = z
  .object({
    /** Seconds an unpaid order holds its stock before it expires (default 30 min). */
    expires_in: z.number().int().min(60).max(7 * 24 * 3600).optional(),
    metadata: z.record(z.string(), z.string().max(500)).optional(),
  })
  .strict();
export const OrdersQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(255).optional(),
  status: z.enum(['pending', 'paid', 'fulfilled', 'canceled', 'refunded']).optional(),
});

const money = (amount: number, currency: string): Money => ({ amount, currency });

// Stock ---------------------------------------------------------------------------------------

/**
 * The catalog's `stock` is the number of units the operator has for sale at the moment of the push.
 * - A new product gets a stock row with `available = stock` (null = unlimited).
 * - An unchanged `stock` leaves `available` alone: orders keep counting it down.
 * - A changed `stock` resets `available = max(0, stock − units held by pending orders)`, so units
 *   already promised to unpaid orders are not sold twice; paid units are gone and not counted.
 * Products dropped from the catalog keep their row (their orders may still be refunded).
 */
export const syncStockOnCatalogPush: CatalogPushHook = async (ctx, q, { projectId, next }) => {
  if (next.products.length === 0) return;
  const at = await projectNow(ctx, projectId);
  const existing = new Map((await repo.listStock(q, projectId)).map((s) => [s.product_id, s]));
  let reserved: Map<string, number> | undefined;
  for (const p of next.products) {
    const row = existing.get(p.id);
    if (row && row.catalog_stock === p.stock) continue;
    let available = p.stock;
    if (row && p.stock !== null) {
      reserved ??= await repo.reservedByPendingOrders(q, projectId);
      available = Math.max(0, p.stock - (reserved.get(p.id) ?? 0));
    }
    await repo.upsertStock(q, { projectId, productId: p.id, catalogStock: p.stock, available, at });
  }
};

function productView(p: Product, stock: number | null) {
  return {
    id: p.id,
    object: 'product',
    name: p.name,
    description: p.description ?? null,
    price: p.price,
    stock,
    unlimited: stock === null,
    in_stock: stock === null || stock > 0,
    active: p.active,
    digital: p.digital,
    category: p.category ?? null,
    image_url: p.image_url ?? null,
  };
}

async function stockOf(q: Queryable, projectId: string): Promise<Map<string, number | null>> {
  return new Map((await repo.listStock(q, projectId)).map((s) => [s.product_id, s.available]));
}

function availableOf(stock: Map<string, number | null>, p: Product): number | null {
  return stock.has(p.id) ? (stock.get(p.id) ?? null) : p.stock;
}

export async function listProducts(ctx: AppContext, projectId: string) {
  const { catalog } = await getCatalog(ctx, projectId);
  const stock = await stockOf(ctx.db, projectId);
  return {
    object: 'list',
    data: catalog.products.filter((p) => p.active).map((p) => productView(p, availableOf(stock, p))),
    has_more: false,
  };
}

export async function getProduct(ctx: AppContext, projectId: string, productId: string) {
  const { catalog } = await getCatalog(ctx, projectId);
  const p = findProduct(catalog, productId);
  if (!p?.active) throw new NotFoundError('product', productId);
  return productView(p, availableOf(await stockOf(ctx.db, projectId), p));
}

// Cart ----------------------------------------------------------------------------------------

function requireProduct(catalog: Catalog, productId: string): Product {
  const p = findProduct(catalog, productId);
  if (!p) throw new NotFoundError('product', productId);
  if (!p.active) throw new InvalidRequestError(`Product '${productId}' is not for sale`, 'product_id', { product_id: productId });
  return p;
}

async function cartView(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  const { catalog } = await getCatalog(ctx, projectId, q);
  const rows = await repo.listCart(q, projectId, customerId);
  const stock = await stockOf(q, projectId);
  let total = 0;
  let count = 0;
  let currency: string | null = null;
  const items = rows.map((r) => {
    const p = findProduct(catalog, r.product_id);
    const purchasable = Boolean(p?.active);
    const unit = p?.price.amount ?? 0;
    const cur = p?.price.currency ?? catalog.currency;
    if (purchasable) {
      total += unit * r.quantity;
      count += r.quantity;
      currency ??= cur;
    }
    return {
      id: r.id,
      object: 'cart_item',
      product_id: r.product_id,
      name: p?.name ?? r.product_id,
      quantity: r.quantity,
      unit_price: money(unit, cur),
      line_total: money(unit * r.quantity, cur),
      purchasable,
      stock: p ? availableOf(stock, p) : 0,
      added_at: r.created_at,
    };
  });
  return { object: 'cart', customer_id: customerId, items, count, total: money(total, currency ?? catalog.currency) };
}

export async function getCart(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  await requireCustomer(q, projectId, customerId);
  return cartView(ctx, q, projectId, customerId);
}

export async function cartCount(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  const cart = await getCart(ctx, q, projectId, customerId);
  return { object: 'cart_count', customer_id: customerId, count: cart.count, lines: cart.items.length };
}

async function checkStock(q: Queryable, projectId: string, p: Product, quantity: number): Promise<void> {
  const row = await repo.findStock(q, projectId, p.id);
  const available = row ? row.available : p.stock;
  if (available !== null && available < quantity) throw new InsufficientStockError(p.id, available, quantity);
}

function checkCurrency(catalog: Catalog, lines: repo.CartItemRow[], p: Product): void {
  for (const l of lines) {
    const other = findProduct(catalog, l.product_id);
    if (l.product_id !== p.id && other?.active && other.price.currency !== p.price.currency) {
      throw new InvalidRequestError(
        `The cart holds ${other.price.currency} products; '${p.id}' is priced in ${p.price.currency}`,
        'product_id',
        { product_id: p.id },
      );
    }
  }
}

/** Adds a product; the same product again raises that line's quantity. */
export async function addToCart(ctx: AppContext, q: Queryable, projectId: string, customerId: string, body: z.infer<typeof AddItemSchema>) {
  await ensureCustomer(ctx, q, projectId, customerId);
  await repo.lockCustomer(q, projectId, customerId);
  const { catalog } = await getCatalog(ctx, projectId, q);
  const p = requireProduct(catalog, body.product_id);
  const lines = await repo.listCart(q, projectId, customerId);
  checkCurrency(catalog, lines, p);
  const line = lines.find((l) => l.product_id === p.id);
  const quantity = (line?.quantity ?? 0) + body.quantity;
  if (quantity > MAX_LINE_QUANTITY) {
    throw new InvalidRequestError(`At most ${MAX_LINE_QUANTITY} units of one product per order`, 'quantity', {
      in_cart: line?.quantity ?? 0,
    });
  }
  if (!line && lines.length >= MAX_CART_LINES) throw new InvalidRequestError(`A cart holds at most ${MAX_CART_LINES} products`, 'product_id');
  await checkStock(q, projectId, p, quantity);
  const at = await projectNow(ctx, projectId);
  if (line) await repo.setCartQuantity(q, line.id, quantity, at);
  else await repo.insertCartItem(q, { id: newId('cartItem'), projectId, customerId, productId: p.id, quantity, at });
  return cartView(ctx, q, projectId, customerId);
}

export async function setCartItemQuantity(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  itemId: string,
  quantity: number,
) {
  await ensureCustomer(ctx, q, projectId, customerId);
  await repo.lockCustomer(q, projectId, customerId);
  const line = await repo.findCartItem(q, projectId, customerId, itemId);
  if (!line) throw new NotFoundError('cart item', itemId);
  const { catalog } = await getCatalog(ctx, projectId, q);
  const p = requireProduct(catalog, line.product_id);
  await checkStock(q, projectId, p, quantity);
  await repo.setCartQuantity(q, line.id, quantity, await projectNow(ctx, projectId));
  return cartView(ctx, q, projectId, customerId);
}

export async function removeCartItem(ctx: AppContext, q: Queryable, projectId: string, customerId: string, itemId: string) {
  await ensureCustomer(ctx, q, projectId, customerId);
  if ((await repo.deleteCartItem(q, projectId, customerId, itemId)) === 0) throw new NotFoundError('cart item', itemId);
  return cartView(ctx, q, projectId, customerId);
}

export async function clearCart(ctx: AppContext, q: Queryable, projectId: string, customerId: string) {
  await ensureCustomer(ctx, q, projectId, customerId);
  await repo.clearCart(q, projectId, customerId);
  return cartView(ctx, q, projectId, customerId);
}

// Orders --------------------------------------------------------------------------------------

function orderView(o: repo.OrderRow, items: repo.OrderItemRow[]) {
  return {
    id: o.id,
    object: 'order',
    customer_id: o.customer_id,
    status: o.status,
    items: items.map((i) => ({
      id: i.id,
      product_id: i.product_id,
      name: i.name,
      quantity: i.quantity,
      unit_price: money(i.unit_amount, i.currency),
      line_total: money(i.unit_amount * i.quantity, i.currency),
    })),
    count: items.reduce((n, i) => n + i.quantity, 0),
    total: money(o.amount_total, o.currency),
    payment_id: o.payment_id,
    checkout_session_id: o.checkout_session_id,
    cancel_reason: o.cancel_reason,
    metadata: o.metadata,
    expires_at: o.expires_at,
    created_at: o.created_at,
    paid_at: o.paid_at,
    fulfilled_at: o.fulfilled_at,
    canceled_at: o.canceled_at,
    refunded_at: o.refunded_at,
  };
}

async function viewOf(q: Queryable, o: repo.OrderRow) {
  return orderView(o, await repo.orderItems(q, [o.id]));
}

/** Takes every line's units or none: lines in product order, so racing orders lock rows alike. */
async function reserveAll(q: Queryable, projectId: string, lines: { product_id: string; quantity: number }[], catalog: Catalog, at: Date) {
  const taken: { product_id: string; quantity: number }[] = [];
  for (const l of [...lines].sort((a, b) => a.product_id.localeCompare(b.product_id))) {
    const p = findProduct(catalog, l.product_id);
    await repo.insertStockIfMissing(q, { projectId, productId: l.product_id, catalogStock: p?.stock ?? null, at });
    if (!(await repo.reserveStock(q, projectId, l.product_id, l.quantity, at))) {
      // Give back what this call took, so a caller that carries on after the error stays consistent.
      for (const t of taken) await repo.releaseStock(q, projectId, t.product_id, t.quantity, at);
      const row = await repo.findStock(q, projectId, l.product_id);
      throw new InsufficientStockError(l.product_id, row?.available ?? 0, l.quantity);
    }
    taken.push(l);
  }
}

async function releaseAll(q: Queryable, o: repo.OrderRow, at: Date): Promise<void> {
  if (!o.stock_reserved) return;
  for (const i of await repo.orderItems(q, [o.id])) await repo.releaseStock(q, o.project_id, i.product_id, i.quantity, at);
}

/** An order from the cart: prices frozen from the catalog now, stock reserved, the cart emptied. */
export async function createOrder(
  ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  body: z.infer<typeof CreateOrderSchema>,
) {
  await ensureCustomer(ctx, q, projectId, customerId);
  await repo.lockCustomer(q, projectId, customerId);
  const lines = await repo.lockCart(q, projectId, customerId);
  if (lines.length === 0) throw new InvalidRequestError('The cart is empty', 'cart');
  const { catalog } = await getCatalog(ctx, projectId, q);
  const priced = lines.map((l) => {
    const p = findProduct(catalog, l.product_id);
    if (!p?.active) {
      throw new InvalidRequestError(`Product '${l.product_id}' is no longer for sale; remove it from the cart`, 'cart', {
        product_id: l.product_id,
      });
    }
    return { line: l, product: p };
  });
  const currency = priced[0]?.product.price.currency ?? catalog.currency;
  if (priced.some((x) => x.product.price.currency !== currency)) throw new InvalidRequestError('The cart mixes currencies', 'cart');
  const at = await projectNow(ctx, projectId);
  await reserveAll(q, projectId, lines, catalog, at);
  const id = newId('order');
  const order = await repo.insertOrder(q, {
    id,
    project_id: projectId,
    customer_id: customerId,
    amount_total: priced.reduce((s, x) => s + x.product.price.amount * x.line.quantity, 0),
    currency,
    metadata: body.metadata ?? {},
    expires_at: new Date(at.getTime() + (body.expires_in ?? DEFAULT_ORDER_TTL_S) * 1000),
    created_at: at,
  });
  let position = 0;
  for (const { line, product } of priced) {
    await repo.insertOrderItem(q, {
      id: newId('orderItem'),
      order_id: id,
      project_id: projectId,
      product_id: product.id,
      name: product.name,
      unit_amount: product.price.amount,
      currency: product.price.currency,
      quantity: line.quantity,
      position: position++,
    });
  }
  await repo.clearCart(q, projectId, customerId);
  return viewOf(q, order);
}

export async function getOrder(q: Queryable, projectId: string, id: string) {
  const o = await repo.findOrder(q, projectId, id);
  if (!o) throw new NotFoundError('order', id);
  return viewOf(q, o);
}

export async function listOrders(
  _ctx: AppContext,
  q: Queryable,
  projectId: string,
  customerId: string,
  f: z.infer<typeof OrdersQuery>,
) {
  // A read: an unknown customer is a 404, never created here.
  await requireCustomer(q, projectId, customerId);
  const rows = await repo.listOrders(q, projectId, customerId, { limit: f.limit, startingAfter: f.starting_after, status: f.status });
  const shown = rows.slice(0, f.limit);
  const items = await repo.orderItems(q, shown.map((o) => o.id));
  return {
    object: 'list',
    data: shown.map((o) => orderView(o, items.filter((i) => i.order_id === o.id))),
    has_more: rows.length > f.limit,
  };
}

async function lockOrThrow(q: Queryable, projectId: string, id: string): Promise<repo.OrderRow> {
  const o = await repo.lockOrder(q, projectId, id);
  if (!o) throw new NotFoundError('order', id);
  return o;
}

/** pending → canceled: the units go back on sale. A paid order is refunded instead. */
export async function cancelOrder(ctx: AppContext, q: Queryable, caller: Caller, id: string) {
  const o = await lockOrThrow(q, caller.projectId, id);
  if (o.status !== 'pending') {
    throw new ConflictError(`A ${o.status} order cannot be canceled${o.status === 'paid' ? '; refund its payment instead' : ''}`, {
      status: o.status,
    });
  }
  const at = await projectNow(ctx, caller.projectId);
  await releaseAll(q, o, at);
  await expireOpenSessionsFor(q, o.project_id, 'order', o.id);
  const done = await repo.updateOrder(q, o.id, { status: 'canceled', stockReserved: false, cancelReason: 'requested', at });
  const view = await viewOf(q, done);
  await emit(q, { projectId: o.project_id, type: 'order.canceled', customerId: o.customer_id, data: view, at });
  await audit(q, caller, { action: 'order.canceled', customerId: o.customer_id, target: o.id }, at);
  return view;
}

/** paid → fulfilled. */
export async function fulfillOrder(ctx: AppContext, q: Queryable, caller: Caller, id: string) {
  const o = await lockOrThrow(q, caller.projectId, id);
  if (o.status !== 'paid') throw new ConflictError(`Only a paid order can be fulfilled; this one is ${o.status}`, { status: o.status });
  const at = await projectNow(ctx, caller.projectId);
  const done = await repo.updateOrder(q, o.id, { status: 'fulfilled', at });
  await audit(q, caller, { action: 'order.fulfilled', customerId: o.customer_id, target: o.id }, at);
  return viewOf(q, done);
}

/** Background: unpaid orders past their time expire and give their units back. */
export async function expireOrders(ctx: AppContext, batch = 100): Promise<number> {
  return ctx.db.tx(async (trx) => {
    const due = await repo.claimExpiredOrders(trx, ctx.clock.now(), batch);
    for (const o of due) {
      const at = await projectNow(ctx, o.project_id);
      await releaseAll(trx, o, at);
      const done = await repo.updateOrder(trx, o.id, { status: 'canceled', stockReserved: false, cancelReason: 'expired', at });
      await emit(trx, { projectId: o.project_id, type: 'order.canceled', customerId: o.customer_id, data: await viewOf(trx, done), at });
    }
    return due.length;
  });
}

// Checkout, payment and refund of an order ----------------------------------------------------

/** A checkout for a pending order of this customer (one open session per order). */
export const orderCheckoutItem: CheckoutItemBuilder = async (ctx, q, { projectId, customerId, body }) => {
  const id = body.order_id as string;
  const o = await repo.findOrder(q, projectId, id);
  if (!o || o.customer_id !== customerId) throw new NotFoundError('order', id);
  if (o.status !== 'pending') throw new ConflictError(`This order is ${o.status}; only a pending order can be paid`, { status: o.status });
  const items = await repo.orderItems(q, [o.id]);
  // An order is charged at one tax behaviour: its products' (the project's setting for those without one).
  const { catalog } = await getCatalog(ctx, projectId, q);
  const behaviors = new Set(items.map((i) => catalog.products.find((p) => p.id === i.product_id)?.price.tax_behavior ?? 'default'));
  if (behaviors.size > 1) {
    throw new InvalidRequestError('This order mixes tax-inclusive and tax-exclusive prices; pay them in separate orders', 'order_id');
  }
  const own = [...behaviors][0];
  // One open checkout per order: an earlier one (another provider, a second tab) cannot be paid too.
  await expireOpenSessionsFor(q, projectId, 'order', o.id);
  return {
    itemType: 'order',
    itemId: o.id,
    mode: 'payment',
    amount: o.amount_total,
    currency: o.currency,
    quantity: 1,
    lineItems: items.map((i) => ({ name: i.name, amount: i.unit_amount, currency: i.currency, quantity: i.quantity })),
    // The session lives no longer than the reservation it pays for.
    expiresAt: o.expires_at,
    taxBehavior: own === 'inclusive' || own === 'exclusive' ? own : undefined,
    details: { name: `Order ${o.id}`, order_id: o.id, count: items.reduce((n, i) => n + i.quantity, 0) },
  };
};

export const fulfillOrderPayment: Fulfillment = async (ctx, q, { session, payment }) => {
  const o = await repo.lockOrder(q, session.project_id, session.item_id);
  if (!o) throw new Error(`order ${session.item_id} of session ${session.id} not found`);
  const at = await projectNow(ctx, o.project_id);
  if (o.status !== 'pending') {
    if (o.status === 'canceled' && o.cancel_reason === 'expired' && !o.stock_reserved) {
      // Paid just after it expired: take the units again if they are still there.
      const { catalog } = await getCatalog(ctx, o.project_id, q);
      const items = await repo.orderItems(q, [o.id]);
      try {
        await reserveAll(q, o.project_id, items, catalog, at);
      } catch (err) {
        if (!(err instanceof InsufficientStockError)) throw err;
        // The units went to someone else: the order stays canceled and the money goes back.
        ctx.log.warn({ order: o.id, payment: payment?.id }, 'order paid after it expired and its stock is gone; refunding it');
        const marked = await repo.updateOrder(q, o.id, { status: 'canceled', cancelReason: OUT_OF_STOCK, paymentId: payment?.id ?? null, checkoutSessionId: session.id, at });
        await emit(q, { projectId: o.project_id, type: 'order.canceled', customerId: o.customer_id, data: await viewOf(q, marked), at });
        return payment ? { outside: await owePaymentBack(ctx, q, payment, 'The order was paid after its stock was gone', at) } : undefined;
      }
      await repo.updateOrder(q, o.id, { status: 'pending', stockReserved: true, at });
    } else {
      // Canceled before the money arrived, or paid a second time: this payment goes back; the order
      // keeps its state (a canceled order with no payment names this one as the payment refunded).
      ctx.log.warn({ order: o.id, status: o.status, payment: payment?.id }, 'order paid twice or after cancelation; refunding the extra payment');
      if (!payment) return;
      if (o.status === 'canceled' && !o.payment_id) await repo.updateOrder(q, o.id, { status: 'canceled', paymentId: payment.id, checkoutSessionId: session.id, at });
      return { outside: await owePaymentBack(ctx, q, payment, o.status === 'canceled' ? 'The order was canceled before it was paid' : 'The order was already paid', at) };
    }
  }
  const done = await repo.updateOrder(q, o.id, { status: 'paid', paymentId: payment?.id ?? null, checkoutSessionId: session.id, at });
  await emit(q, { projectId: o.project_id, type: 'order.paid', customerId: o.customer_id, data: await viewOf(q, done), at });
};

/** Why an order paid after its units were sold elsewhere was canceled (and its payment refunded). */
export const OUT_OF_STOCK = 'out_of_stock';

/** A full refund of an order's payment releases its stock and marks it refunded. */
export const orderRefundEffect: RefundEffect = async (_ctx, q, { payment, full, at }) => {
  if (!payment.order_id) return {};
  const o = await repo.lockOrder(q, payment.project_id, payment.order_id);
  if (!o) return {};
  // Only the payment the order names changes it: an extra payment refunded leaves the order alone.
  if (o.payment_id !== payment.id) return { order: { id: o.id, status: o.status } };
  const canceledPaid = o.status === 'canceled';
  if (!full || (o.status !== 'paid' && o.status !== 'fulfilled' && !canceledPaid)) return { order: { id: o.id, status: o.status } };
  await releaseAll(q, o, at);
  const done = await repo.updateOrder(q, o.id, { status: 'refunded', stockReserved: false, at });
  await emit(q, { projectId: o.project_id, type: 'order.refunded', customerId: o.customer_id, data: await viewOf(q, done), at });
  return { order: { id: o.id, status: done.status } };
};
