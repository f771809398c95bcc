import { claimDue, } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';

export interface StockRow {
  project_id: string;
  product_id: string;
  catalog_stock: number | null;
  available: number | null;
  updated_at: Date;
}

export interface CartItemRow {
  id: string;
  project_id: string;
  customer_id: string;
  product_id: string;
  quantity: number;
  created_at: Date;
  updated_at: Date;
}

export type OrderStatus = 'pending' | 'paid' | 'fulfilled' | 'canceled' | 'refunded';

export interface OrderRow {
  id: string;
  project_id: string;
  customer_id: string;
  status: OrderStatus;
  amount_total: number;
  currency: string;
  stock_reserved: boolean;
  payment_id: string | null;
  checkout_session_id: string | null;
  cancel_reason: string | null;
  metadata: Record<string, unknown>;
  expires_at: Date;
  created_at: Date;
  paid_at: Date | null;
  fulfilled_at: Date | null;
  canceled_at: Date | null;
  refunded_at: Date | null;
}

export interface OrderItemRow {
  id: string;
  order_id: string;
  project_id: string;
  product_id: string;
  name: string;
  unit_amount: number;
  currency: string;
  quantity: number;
  position: number;
}

// Stock -------------------------------------------------------------------------------------

export async function listStock(q: Queryable, projectId: string): Promise<StockRow[]> {
  return (await q.query<StockRow>('SELECT * FROM product_stock WHERE project_id = $1', [projectId])).rows;
}

export async function findStock(q: Queryable, projectId: string, productId: string): Promise<StockRow | undefined> {
  return (
    await q.query<StockRow>('SELECT * FROM product_stock WHERE project_id = $1 AND product_id = $2', [projectId, productId])
  ).rows[0];
}

/** Units held by pending orders, per product (what a stock reset must keep aside). */
export async function reservedByPendingOrders(q: Queryable, projectId: string): Promise<Map<string, number>> {
  const r = await q.query<{ product_id: string; units: number }>(
    `SELECT i.product_id, SUM(i.quantity)::bigint AS units FROM order_items i JOIN orders o ON o.id = i.order_id
     WHERE o.project_id = $1 AND o.status = 'pending' AND o.stock_reserved GROUP BY i.product_id`,
    [projectId],
  );
  return new Map(r.rows.map((row) => [row.product_id, Number(row.units)]));
}

export async function upsertStock(
  q: Queryable,
  s: { projectId: string; productId: string; catalogStock: number | null; available: number | null; at: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO product_stock (project_id, product_id, catalog_stock, available, updated_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (project_id, product_id) DO UPDATE SET catalog_stock = EXCLUDED.catalog_stock,
       available = EXCLUDED.available, updated_at = EXCLUDED.updated_at`,
    [s.projectId, s.productId, s.catalogStock, s.available, s.at],
  );
}

/** Takes units if enough remain (unlimited always succeeds); a row lock makes racing orders queue. */
export async function reserveStock(q: Queryable, projectId: string, productId: string, units: number, at: Date): Promise<boolean> {
  const r = await q.query(
    `UPDATE product_stock SET available = CASE WHEN available IS NULL THEN NULL ELSE available - $3 END, updated_at = $4
     WHERE project_id = $1 AND product_id = $2 AND (available IS NULL OR available >= $3)`,
    [projectId, productId, units, at],
  );
  return r.rowCount === 1;
}

export async function releaseStock(q: Queryable, projectId: string, productId: string, units: number, at: Date): Promise<void> {
  await q.query(
    `UPDATE product_stock SET available = available + $3, updated_at = $4
     WHERE project_id = $1 AND product_id = $2 AND available IS NOT NULL`,
    [projectId, productId, units, at],
  );
}

// Cart --------------------------------------------------------------------------------------

export async function listCart(q: Queryable, projectId: string, customerId: string): Promise<CartItemRow[]> {
  return (
    await q.query<CartItemRow>('SELECT * FROM cart_items WHERE project_id = $1 AND customer_id = $2 ORDER BY seq', [
      projectId,
      customerId,
    ])
  ).rows;
}

export async function lockCart(q: Queryable, projectId: string, customerId: string): Promise<CartItemRow[]> {
  return (
    await q.query<CartItemRow>(
      'SELECT * FROM cart_items WHERE project_id = $1 AND customer_id = $2 ORDER BY product_id FOR UPDATE',
      [projectId, customerId],
    )
  ).rows;
}

export async function findCartItem(q: Queryable, projectId: string, customerId: string, id: string): Promise<CartItemRow | undefined> {
  return (
    await q.query<CartItemRow>('SELECT * FROM cart_items WHERE project_id = $1 AND customer_id = $2 AND id = $3 FOR UPDATE', [
      projectId,
      customerId,
      id,
    ])
  ).rows[0];
}

export async function insertCartItem(
  q: Queryable,
  c: { id: string; projectId: string; customerId: string; productId: string; quantity: number; at: Date },
): Promise<CartItemRow> {
  const r = await q.query<CartItemRow>(
    `INSERT INTO cart_items (id, project_id, customer_id, product_id, quantity, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *`,
    [c.id, c.projectId, c.customerId, c.productId, c.quantity, c.at],
  );
  return r.rows[0] as CartItemRow;
}

export async function setCartQuantity(q: Queryable, id: string, quantity: number, at: Date): Promise<void> {
  await q.query('UPDATE cart_items SET quantity = $2, updated_at = $3 WHERE id = $1', [id, quantity, at]);
}

export async function deleteCartItem(q: Queryable, projectId: string, customerId: string, id: string): Promise<number> {
  return (
    await q.query('DELETE FROM cart_items WHERE project_id = $1 AND customer_id = $2 AND id = $3', [projectId, customerId, id])
  ).rowCount;
}

export async function clearCart(q: Queryable, projectId: string, customerId: string): Promise<number> {
  return (await q.query('DELETE FROM cart_items WHERE project_id = $1 AND customer_id = $2', [projectId, customerId])).rowCount;
}

// Orders ------------------------------------------------------------------------------------

export async function insertOrder(
  q: Queryable,
  o: Pick<OrderRow, 'id' | 'project_id' | 'customer_id' | 'amount_total' | 'currency' | 'metadata' | 'expires_at' | 'created_at'>,
): Promise<OrderRow> {
  const r = await q.query<OrderRow>(
    `INSERT INTO orders (id, project_id, customer_id, status, amount_total, currency, metadata, expires_at, created_at)
     VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8) RETURNING *`,
    [o.id, o.project_id, o.customer_id, o.amount_total, o.currency, JSON.stringify(o.metadata), o.expires_at, o.created_at],
  );
  return r.rows[0] as OrderRow;
}

export async function insertOrderItem(q: Queryable, i: OrderItemRow): Promise<void> {
  await q.query(
    `INSERT INTO order_items (id, order_id, project_id, product_id, name, unit_amount, currency, quantity, position)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [i.id, i.order_id, i.project_id, i.product_id, i.name, i.unit_amount, i.currency, i.quantity, i.position],
  );
}

export async function findOrder(q: Queryable, projectId: string, id: string): Promise<OrderRow | undefined> {
  return (await q.query<OrderRow>('SELECT * FROM orders WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}

export async function lockOrder(q: Queryable, projectId: string, id: string): Promise<OrderRow | undefined> {
  return (await q.query<OrderRow>('SELECT * FROM orders WHERE project_id = $1 AND id = $2 FOR UPDATE', [projectId, id])).rows[0];
}

export async function orderItems(q: Queryable, orderIds: string[]): Promise<OrderItemRow[]> {
  if (orderIds.length === 0) return [];
  return (
    await q.query<OrderItemRow>('SELECT * FROM order_items WHERE order_id = ANY($1::text[]) ORDER BY order_id, position', [orderIds])
  ).rows;
}

export async function listOrders(
  q: Queryable,
  projectId: string,
  customerId: string,
  f: { limit: number; startingAfter?: string; status?: string },
): Promise<OrderRow[]> {
  return (
    await q.query<OrderRow>(
      `SELECT * FROM orders WHERE project_id = $1 AND customer_id = $2
         AND ($3::text IS NULL OR status = $3)
         AND ($4::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM orders WHERE project_id = $1 AND id = $4))
       ORDER BY created_at DESC, id DESC LIMIT $5`,
      [projectId, customerId, f.status ?? null, f.startingAfter ?? null, f.limit + 1],
    )
  ).rows;
}

export async function updateOrder(
  q: Queryable,
  id: string,
  patch: {
    status: OrderStatus;
    stockReserved?: boolean;
    paymentId?: string | null;
    checkoutSessionId?: string | null;
    cancelReason?: string | null;
    at: Date;
  },
): Promise<OrderRow> {
  const r = await q.query<OrderRow>(
    `UPDATE orders SET status = $2,
       stock_reserved = COALESCE($3, stock_reserved),
       payment_id = COALESCE($4, payment_id),
       checkout_session_id = COALESCE($5, checkout_session_id),
       cancel_reason = COALESCE($6, cancel_reason),
       paid_at = CASE WHEN $2 = 'paid' THEN $7 ELSE paid_at END,
       fulfilled_at = CASE WHEN $2 = 'fulfilled' THEN $7 ELSE fulfilled_at END,
       canceled_at = CASE WHEN $2 = 'canceled' THEN $7 ELSE canceled_at END,
       refunded_at = CASE WHEN $2 = 'refunded' THEN $7 ELSE refunded_at END
     WHERE id = $1 RETURNING *`,
    [id, patch.status, patch.stockReserved ?? null, patch.paymentId ?? null, patch.checkoutSessionId ?? null, patch.cancelReason ?? null, patch.at],
  );
  return r.rows[0] as OrderRow;
}

/** Claims pending orders past their expiry on the project's clock; other instances skip them. */
export async function claimExpiredOrders(q: Queryable, now: Date, limit: number): Promise<OrderRow[]> {
  return claimDue<OrderRow>(q, { table: 'orders', alias: 'o', where: "o.status = 'pending'", dueAt: 'expires_at', projectClock: true }, now, limit);
}

/** Serialises one customer's cart and order operations (two tabs adding at once). */
export async function lockCustomer(q: Queryable, projectId: string, customerId: string): Promise<void> {
  await q.query('SELECT 1 FROM customers WHERE project_id = $1 AND id = $2 FOR UPDATE', [projectId, customerId]);
}

/** Seeds a stock row from the catalog when none exists yet (a catalog pushed before the shop existed). */
export async function insertStockIfMissing(
  q: Queryable,
  s: { projectId: string; productId: string; catalogStock: number | null; at: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO product_stock (project_id, product_id, catalog_stock, available, updated_at) VALUES ($1, $2, $3, $3, $4)
     ON CONFLICT (project_id, product_id) DO NOTHING`,
    [s.projectId, s.productId, s.catalogStock, s.at],
  );
}
