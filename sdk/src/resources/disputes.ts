import type { CallOptions } from '../types.js';
import type { RequestFn } from './request.js';

/** Filters of `disputes.list`. */
export interface DisputeListQuery {
  limit?: number;
  starting_after?: string;
  customer_id?: string;
  payment_id?: string;
  status?: 'needs_response' | 'under_review' | 'won' | 'lost';
}

/** Disputes (chargebacks) of payments, as Stripe, PayPal or the sandbox reported them (docs/disputes.md). */
export function disputes(request: RequestFn) {
  return {
    /** Newest first; `{data, has_more}`, paged with `limit` + `starting_after`. */
    list: (query: DisputeListQuery = {}, o?: CallOptions) => request('GET', '/v1/disputes', { params: { query }, ...o }),
    get: (id: string, o?: CallOptions) => request('GET', '/v1/disputes/{id}', { params: { path: { id } }, ...o }),
  };
}
