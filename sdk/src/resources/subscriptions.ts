import type { List, PlanChangePreview, Subscription } from '../models.js';
import type { Body, CallOptions, Query } from '../types.js';
import type { R, RequestFn } from './request.js';

type Sub = '/v1/customers/{id}/subscription';

/** A customer's subscription: read it, start one without payment, change plan, cancel, resume. */
export function subscriptions(request: RequestFn) {
  const path = (id: string) => ({ path: { id } });
  return {
    /** The current subscription (status `free` and the free plan when there is none). */
    get: (customerId: string, o?: CallOptions) => request('GET', '/v1/customers/{id}/subscription', { params: path(customerId), ...o }) as R<'GET', Sub, Subscription>,
    /** Starts a free plan or a trial without payment (paid plans go through `checkout.create`). */
    subscribe: (customerId: string, body: Body<'POST', Sub>, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/subscription', { params: path(customerId), body, ...o }) as R<'POST', Sub, Subscription>,
    /** Upgrades (prorated, charged now) or downgrades (at the period end). */
    changePlan: (customerId: string, body: Body<'POST', '/v1/customers/{id}/subscription/change'>, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/subscription/change', { params: path(customerId), body, ...o }) as R<
        'POST',
        '/v1/customers/{id}/subscription/change',
        Subscription
      >,
    /** What `changePlan` would do and charge now; changes nothing. */
    preview: (customerId: string, query: Query<'GET', '/v1/customers/{id}/subscription/preview'>, o?: CallOptions) =>
      request('GET', '/v1/customers/{id}/subscription/preview', { params: { path: { id: customerId }, query }, ...o }) as R<
        'GET',
        '/v1/customers/{id}/subscription/preview',
        PlanChangePreview
      >,
    /** At the period end by default; `{ at_period_end: false }` ends it now. */
    cancel: (customerId: string, body: Body<'POST', '/v1/customers/{id}/subscription/cancel'> = {}, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/subscription/cancel', { params: path(customerId), body, ...o }) as R<
        'POST',
        '/v1/customers/{id}/subscription/cancel',
        Subscription
      >,
    /** Undoes a cancel at the period end. */
    resume: (customerId: string, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/subscription/resume', { params: path(customerId), ...o }) as R<
        'POST',
        '/v1/customers/{id}/subscription/resume',
        Subscription
      >,
    /** Moves the end of a trial (and its first charge) `days` later; a subscription that is not trialing is 409. */
    extendTrial: (customerId: string, body: Body<'POST', '/v1/customers/{id}/subscription/extend-trial'>, o?: CallOptions) =>
      request('POST', '/v1/customers/{id}/subscription/extend-trial', { params: path(customerId), body, ...o }) as R<
        'POST',
        '/v1/customers/{id}/subscription/extend-trial',
        Subscription
      >,
    list: (query?: Query<'GET', '/v1/subscriptions'>, o?: CallOptions) =>
      request('GET', '/v1/subscriptions', { params: { query }, ...o }) as R<'GET', '/v1/subscriptions', List<Subscription>>,
  };
}
