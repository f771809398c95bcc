import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent, idempotentOutsideTx } from '../../http/idempotency.ts';
import { z } from 'zod';
import { errorResponses, replies } from '../../http/openapi.ts';
import { CurrentSubscription, CustomerParams, IdParams, listOf, Money, Subscription, Timestamp } from '../../http/schemas.ts';
import { createPaymentLink, createPortal, getPaymentLink, PaymentLinkBody, PortalBody } from './portal.service.ts';
import { CancelBody, cancelSubscription, resumeSubscription } from './subscriptions.cancel.ts';
import { applyCoupon, ChangeBody, ChangeQuery, CouponBody, changePlan, PreviewQuery, previewChange } from './subscriptions.change.ts';
import { SubscribeBody, subscribeWithoutPayment } from './subscriptions.start.ts';
import { ExtendTrialBody, extendTrial } from './subscriptions.trial.ts';
import { getCustomerSubscription, ListSubscriptionsQuery, listSubscriptions } from './subscriptions.view.ts';

const Proration = Money.extend({
  credit: z.number().int().describe('unused part of the old plan'),
  charge: z.number().int().describe('remaining part of the new plan'),
  old_amount: z.number().int(),
  new_amount: z.number().int(),
});
const ChangePreview = z.object({
  object: z.literal('subscription_change_preview'),
  customer_id: z.string(),
  subscription_id: z.string(),
  plan: z.string(),
  quantity: z.number().int(),
  change: z.enum(['unchanged', 'upgrade', 'downgrade']),
  proration: Proration.nullable(),
  amount_due_today: Money,
  next_charge: Money.extend({ at: Timestamp }).nullable(),
  current_period_end: Timestamp,
});
const ChangedSubscription = Subscription.extend({
  change: z.enum(['unchanged', 'upgrade', 'downgrade', 'provider']).describe('provider: the provider billing the subscription changed it'),
  proration: Proration.extend({ payment_id: z.string() }).nullable().describe('The prorated charge made now (upgrades of an active subscription)'),
});
const PortalSession = z.object({
  object: z.literal('portal_session'),
  url: z.string(),
  provider: z.string(),
  expires_at: Timestamp.optional().describe('Sandbox portal sessions only'),
});
const PaymentLink = z.object({
  id: z.string(),
  object: z.literal('payment_link'),
  url: z.string(),
  plan: z.string().optional().describe('Set when the link sells a plan'),
  credit_pack: z.string().optional().describe('Set when the link sells a credit pack'),
  item_type: z.enum(['plan', 'credit_pack']),
  quantity: z.number().int(),
  trial_days: z.number().int().nullable(),
  success_url: z.string().nullable(),
  cancel_url: z.string().nullable(),
  active: z.boolean(),
  metadata: z.record(z.string(), z.unknown()),
  created_at: Timestamp,
});

export function registerSubscriptionRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/customers/:id/subscription', { schema: { params: CustomerParams, response: replies({ 200: CurrentSubscription }) }, config: { auth: 'customer' } }, async (req) =>
    ctx.db.tx((q) => getCustomerSubscription(ctx, q, callerOf(req).projectId, req.params.id)),
  );

  app.post('/v1/customers/:id/subscription', { schema: { summary: 'Start a subscription without payment (free plan or trial)', params: CustomerParams, body: SubscribeBody, response: replies({ 201: Subscription, ...errorResponses('payment_required', 'card_declined', 'conflict') }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      status: 201,
      body: await subscribeWithoutPayment(ctx, q, callerOf(req), req.params.id, req.body),
    })),
  );

  app.post(
    '/v1/customers/:id/subscription/cancel',
    { schema: { summary: 'Cancel the subscription', params: CustomerParams, body: CancelBody.optional(), response: replies({ 200: Subscription, ...errorResponses('conflict') }) }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotentOutsideTx(ctx, req, reply, async (q) => ({
        body: await cancelSubscription(ctx, q, callerOf(req), req.params.id, req.body?.at_period_end ?? true),
      })),
  );

  app.post(
    '/v1/customers/:id/subscription/resume',
    { schema: { summary: 'Resume a subscription set to cancel', params: CustomerParams, response: replies({ 200: Subscription, ...errorResponses('conflict') }) }, config: { auth: 'customer' } },
    async (req, reply) => idempotentOutsideTx(ctx, req, reply, async (q) => ({ body: await resumeSubscription(ctx, q, callerOf(req), req.params.id) })),
  );

  app.post(
    '/v1/customers/:id/subscription/change',
    { schema: { summary: 'Change plan (or preview the change)', params: CustomerParams, body: ChangeBody, querystring: ChangeQuery, response: replies({ 200: z.union([ChangedSubscription, ChangePreview]).describe('The changed subscription, or with `preview` the change preview'), ...errorResponses('payment_required', 'card_declined', 'conflict') }) }, config: { auth: 'customer' } },
    async (req, reply) => {
      // A preview changes nothing, so it needs no Idempotency-Key and is answered from a read.
      if (req.body.preview || req.query.preview === 'true') {
        return ctx.db.tx((q) => previewChange(ctx, q, callerOf(req).projectId, req.params.id, req.body));
      }
      return idempotentOutsideTx(ctx, req, reply, async (q) => ({ body: await changePlan(ctx, q, callerOf(req), req.params.id, req.body) }));
    },
  );

  app.get(
    '/v1/customers/:id/subscription/preview',
    { schema: { summary: 'Preview a plan change', params: CustomerParams, querystring: PreviewQuery, response: replies({ 200: ChangePreview, ...errorResponses('conflict') }) }, config: { auth: 'customer' } },
    async (req) => ctx.db.tx((q) => previewChange(ctx, q, callerOf(req).projectId, req.params.id, req.query)),
  );

  app.post(
    '/v1/customers/:id/subscription/extend-trial',
    { schema: { summary: 'Extend the trial', params: CustomerParams, body: ExtendTrialBody, response: replies({ 200: Subscription, ...errorResponses('conflict') }) } },
    async (req, reply) => idempotent(ctx, req, reply, async (q) => ({ body: await extendTrial(ctx, q, callerOf(req), req.params.id, req.body) })),
  );

  app.post('/v1/customers/:id/subscription/coupon', { schema: { summary: 'Apply a promotion code to the subscription', params: CustomerParams, body: CouponBody, response: replies({ 200: Subscription, ...errorResponses('conflict') }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      body: await applyCoupon(ctx, q, callerOf(req), req.params.id, req.body.promotion_code),
    })),
  );

  app.get('/v1/subscriptions', { schema: { querystring: ListSubscriptionsQuery, response: replies({ 200: listOf(Subscription) }) } }, async (req) =>
    listSubscriptions(ctx, callerOf(req).projectId, req.query),
  );

  app.post('/v1/portal', { schema: { summary: 'Open a billing portal session', body: PortalBody, response: replies({ 200: PortalSession }) }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotentOutsideTx(ctx, req, reply, async (q) => ({ body: await createPortal(ctx, q, callerOf(req), req.body) })),
  );

  app.post('/v1/payment-links', { schema: { body: PaymentLinkBody, response: replies({ 201: PaymentLink }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ status: 201, body: await createPaymentLink(ctx, q, callerOf(req), req.body) })),
  );

  app.get('/v1/payment-links/:id', { schema: { params: IdParams, response: replies({ 200: PaymentLink }) } }, async (req) => getPaymentLink(ctx, callerOf(req).projectId, req.params.id));
}
