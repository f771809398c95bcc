import type { CheckoutSession, PortalSession } from '../models.js';
import type { Body, CallOptions } from '../types.js';
import type { R, RequestFn } from './request.js';

/** Hosted checkout for a credit pack, a plan or an order. */
export function checkout(request: RequestFn) {
  return {
    /** Exactly one of `credit_pack`, `plan` or `order_id`; send the customer to the reply's `url`. */
    create: (session: Body<'POST', '/v1/checkout'>, o?: CallOptions) =>
      request('POST', '/v1/checkout', { body: session, ...o }) as R<'POST', '/v1/checkout', CheckoutSession>,
    get: (sessionId: string, o?: CallOptions) =>
      request('GET', '/v1/checkout/{id}', { params: { path: { id: sessionId } }, ...o }) as R<'GET', '/v1/checkout/{id}', CheckoutSession>,
  };
}

/** The billing portal: a link where the customer manages their subscription and payment method. */
export function portal(request: RequestFn) {
  return {
    session: (session: Body<'POST', '/v1/portal'>, o?: CallOptions) =>
      request('POST', '/v1/portal', { body: session, ...o }) as R<'POST', '/v1/portal', PortalSession>,
  };
}
