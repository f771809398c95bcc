import type { Customer, List } from '../models.js';
import type { Body, CallOptions, Query } from '../types.js';
import type { R, RequestFn } from './request.js';

/** Customers, named by your app's own ids. */
export function customers(request: RequestFn) {
  const create = (customer: Body<'POST', '/v1/customers'>, o?: CallOptions) =>
    request('POST', '/v1/customers', { body: customer, ...o }) as R<'POST', '/v1/customers', Customer>;
  return {
    /** Creates the customer (201) or updates the one with that id (200); sign-up credits are granted once. */
    create,
    /** The same call as `create` (it creates or updates). */
    upsert: create,
    get: (id: string, o?: CallOptions) =>
      request('GET', '/v1/customers/{id}', { params: { path: { id } }, ...o }) as R<'GET', '/v1/customers/{id}', Customer>,
    list: (query?: Query<'GET', '/v1/customers'>, o?: CallOptions) =>
      request('GET', '/v1/customers', { params: { query }, ...o }) as R<'GET', '/v1/customers', List<Customer>>,
    /**
     * Changes only the fields given: `email`/`name` replace (null clears), `metadata` keys merge and a key
     * set to null or "" is removed, e.g. `update('u1', { metadata: { plan_hint: null } })`. 404 for an unknown id.
     */
    update: (id: string, patch: Body<'PATCH', '/v1/customers/{id}'>, o?: CallOptions) =>
      request('PATCH', '/v1/customers/{id}', { params: { path: { id } }, body: patch, ...o }) as R<'PATCH', '/v1/customers/{id}', Customer>,
    /** Erases the customer's personal data (docs/customers.md); afterwards the customer answers 404 `customer_deleted`. */
    delete: (id: string, o?: CallOptions) => request('DELETE', '/v1/customers/{id}', { params: { path: { id } }, ...o }),
    /** Everything Tollgate holds about the customer, as JSON. */
    export: (id: string, o?: CallOptions) => request('GET', '/v1/customers/{id}/export', { params: { path: { id } }, ...o }),
  };
}
