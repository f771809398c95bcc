import type { AutoTopUp, CreditTransfer } from '../models.js';
import type { Body, CallOptions, Query } from '../types.js';
import type { R, RequestFn } from './request.js';

/** Prepaid credits: balance, history, grants, deducts, holds (reserve, then capture or release), transfers. */
export function credits(request: RequestFn) {
  return {
    balance: (customerId: string, o?: CallOptions) => request('GET', '/v1/customers/{id}/credits', { params: { path: { id: customerId } }, ...o }),
    /** The ledger, newest first, paged with `limit` and `starting_after`. */
    transactions: (customerId: string, query?: Query<'GET', '/v1/customers/{id}/credits/transactions'>, o?: CallOptions) =>
      request('GET', '/v1/customers/{id}/credits/transactions', { params: { path: { id: customerId }, query }, ...o }),
    grant: (customerId: string, grant: Body<'POST', '/v1/customers/{id}/credits/grant'>, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/credits/grant', { params: { path: { id: customerId } }, body: grant, ...o }),
    /** `{amount}` or `{usage: {feature, quantity}}`; throws `InsufficientCreditsError` (402) when they do not cover it. */
    deduct: (customerId: string, spend: Body<'POST', '/v1/customers/{id}/credits/deduct'>, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/credits/deduct', { params: { path: { id: customerId } }, body: spend, ...o }),
    /** Reserves credits before a long job; `capture` what it really cost, or `release` them. */
    hold: (customerId: string, hold: Body<'POST', '/v1/customers/{id}/credits/holds'>, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/credits/holds', { params: { path: { id: customerId } }, body: hold, ...o }),
    getHold: (holdId: string, o?: CallOptions) => request('GET', '/v1/holds/{id}', { params: { path: { id: holdId } }, ...o }),
    /** Spends `amount` of the hold (default: all of it) and frees the rest. */
    capture: (holdId: string, amount?: number, o?: CallOptions) =>
      request('POST', '/v1/holds/{id}/capture', { params: { path: { id: holdId } }, body: amount === undefined ? {} : { amount }, ...o }),
    release: (holdId: string, o?: CallOptions) => request('POST', '/v1/holds/{id}/release', { params: { path: { id: holdId } }, ...o }),
    /** Moves credits between two customers atomically; throws `InsufficientCreditsError` (402). */
    transfer: (transfer: Body<'POST', '/v1/credits/transfer'>, o?: CallOptions) =>
      request('POST', '/v1/credits/transfer', { body: transfer, ...o }) as R<'POST', '/v1/credits/transfer', CreditTransfer>,
    autoTopUp: (customerId: string, o?: CallOptions) =>
      request('GET', '/v1/customers/{id}/credits/auto-top-up', { params: { path: { id: customerId } }, ...o }) as R<
        'GET',
        '/v1/customers/{id}/credits/auto-top-up',
        AutoTopUp
      >,
    /** Team balances: the members of an organisation customer, who spend from its balance (`member_id` on a deduct). */
    members: {
      list: (organizationId: string, o?: CallOptions) => request('GET', '/v1/customers/{id}/members', { params: { path: { id: organizationId } }, ...o }),
      get: (organizationId: string, memberId: string, o?: CallOptions) =>
        request('GET', '/v1/customers/{id}/members/{member}', { params: { path: { id: organizationId, member: memberId } }, ...o }),
      /** Adds the member, or changes its limit: `{limit: {amount, period: 'day' | 'month'}}` or `{limit: null}`. */
      set: (organizationId: string, memberId: string, member: Body<'PUT', '/v1/customers/{id}/members/{member}'>, o?: CallOptions) =>
        request('PUT', '/v1/customers/{id}/members/{member}', { params: { path: { id: organizationId, member: memberId } }, body: member, ...o }),
      remove: (organizationId: string, memberId: string, o?: CallOptions) =>
        request('DELETE', '/v1/customers/{id}/members/{member}', { params: { path: { id: organizationId, member: memberId } }, ...o }),
    },
    setAutoTopUp: (customerId: string, settings: Body<'PUT', '/v1/customers/{id}/credits/auto-top-up'>, o?: CallOptions) =>
      request('PUT', '/v1/customers/{id}/credits/auto-top-up', { params: { path: { id: customerId } }, body: settings, ...o }) as R<
        'PUT',
        '/v1/customers/{id}/credits/auto-top-up',
        AutoTopUp
      >,
  };
}
