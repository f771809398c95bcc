import type { Cart, List, Order } from '../models.js';
import type { Body, CallOptions, Query } from '../types.js';
import type { R, RequestFn } from './request.js';

/** A customer's cart. */
export function cart(request: RequestFn) {
  return {
    get: (customerId: string, o?: CallOptions) =>
      request('GET', '/v1/customers/{id}/cart', { params: { path: { id: customerId } }, ...o }) as R<'GET', '/v1/customers/{id}/cart', Cart>,
    /** Adds `quantity` (default 1) of a product; 409 `insufficient_stock` when stock does not cover it. */
    add: (customerId: string, item: Body<'POST', '/v1/customers/{id}/cart/items'>, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/cart/items', { params: { path: { id: customerId } }, body: item, ...o }) as R<
        'POST',
        '/v1/customers/{id}/cart/items',
        Cart
      >,
    setQuantity: (customerId: string, itemId: string, quantity: number, o?: CallOptions) =>
      request('PATCH', '/v1/customers/{id}/cart/items/{item_id}', { params: { path: { id: customerId, item_id: itemId } }, body: { quantity }, ...o }) as R<
        'PATCH',
        '/v1/customers/{id}/cart/items/{item_id}',
        Cart
      >,
    remove: (customerId: string, itemId: string, o?: CallOptions) =>
      request('DELETE', '/v1/customers/{id}/cart/items/{item_id}', { params: { path: { id: customerId, item_id: itemId } }, ...o }) as R<
        'DELETE',
        '/v1/customers/{id}/cart/items/{item_id}',
        Cart
      >,
    clear: (customerId: string, o?: CallOptions) =>
      request('DELETE', '/v1/customers/{id}/cart', { params: { path: { id: customerId } }, ...o }) as R<'DELETE', '/v1/customers/{id}/cart', Cart>,
  };
}

/** Orders: the cart frozen at its prices with its stock reserved until paid or expired. */
export function orders(request: RequestFn) {
  return {
    /** Turns the customer's cart into a pending order; pay it with `checkout.create({ order_id })`. */
    create: (customerId: string, order: Body<'POST', '/v1/customers/{id}/orders'> = {}, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/orders', { params: { path: { id: customerId } }, body: order, ...o }) as R<
        'POST',
        '/v1/customers/{id}/orders',
        Order
      >,
    get: (orderId: string, o?: CallOptions) => request('GET', '/v1/orders/{id}', { params: { path: { id: orderId } }, ...o }) as R<'GET', '/v1/orders/{id}', Order>,
    list: (customerId: string, query?: Query<'GET', '/v1/customers/{id}/orders'>, o?: CallOptions) =>
      request('GET', '/v1/customers/{id}/orders', { params: { path: { id: customerId }, query }, ...o }) as R<
        'GET',
        '/v1/customers/{id}/orders',
        List<Order>
      >,
    cancel: (orderId: string, o?: CallOptions) =>
      request('POST', '/v1/orders/{id}/cancel', { params: { path: { id: orderId } }, ...o }) as R<'POST', '/v1/orders/{id}/cancel', Order>,
  };
}
