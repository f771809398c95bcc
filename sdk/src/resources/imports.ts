import type { Body, CallOptions } from '../types.js';
import type { RequestFn } from './request.js';

/**
 * Moving in what a product already has (docs/import.md): one batch of parsed rows per call (at
 * most 500), each row keyed by its source id so a second call changes nothing; `dry_run: true`
 * reports the same and writes nothing. `tollgate import <shape> <file>` reads the files for you.
 */
export function imports(request: RequestFn) {
  return {
    /** Balances with their recent history; the reply's `reconciliation` compares imported balances with the ledger. */
    credits: (batch: Body<'POST', '/v1/imports/credits'>, o?: CallOptions) => request('POST', '/v1/imports/credits', { body: batch, ...o }),
    /** Past payments (revenue history and refunds). */
    payments: (batch: Body<'POST', '/v1/imports/payments'>, o?: CallOptions) => request('POST', '/v1/imports/payments', { body: batch, ...o }),
    /** A users table: customers and their subscription state (trialing, active, past_due, canceled) on catalog plans. */
    users: (batch: Body<'POST', '/v1/imports/users'>, o?: CallOptions) => request('POST', '/v1/imports/users', { body: batch, ...o }),
    /** Customers (e-mail, name, the app's own id, metadata). */
    customers: (batch: Body<'POST', '/v1/imports/customers'>, o?: CallOptions) => request('POST', '/v1/imports/customers', { body: batch, ...o }),
    /** Existing Stripe prices (the STRIPE_PRICE_* ids) bound to catalog plans and packs. */
    bindStripePrices: (body: Body<'POST', '/v1/providers/stripe/price-bindings'>, o?: CallOptions) =>
      request('POST', '/v1/providers/stripe/price-bindings', { body, ...o }),
    listStripePriceBindings: (o?: CallOptions) => request('GET', '/v1/providers/stripe/price-bindings', { ...o }),
  };
}
