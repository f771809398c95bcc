import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent, idempotentOutsideTx } from '../../http/idempotency.ts';
import { errorResponses } from '../../http/openapi.ts';
import { CustomerParams, IdParams } from '../../http/schemas.ts';
import { createPaymentLink, createPortal, getPaymentLink, PaymentLinkBody, PortalBody } from './portal.service.ts';
import { CancelBody, cancelSubscription, resumeSubscription } from './subscriptions.cancel.ts';
import { applyCoupon, ChangeBody, ChangeQuery, CouponBody, changePlan, PreviewQuery, previewChange } from './subscriptions.change.ts';
import { SubscribeBody, subscribeWithoutPayment } from './subscriptions.start.ts';
import { getCustomerSubscription, ListSubscriptionsQuery, listSubscriptions } from './subscriptions.view.ts';

export function registerSubscriptionRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/customers/:id/subscription', { schema: { params: CustomerParams }, config: { auth: 'customer' } }, async (req) =>
    ctx.db.tx((q) => getCustomerSubscription(ctx, q, callerOf(req).projectId, req.params.id)),
  );

  app.post('/v1/customers/:id/subscription', { schema: { summary: 'Start a subscription without payment (free plan or trial)', params: CustomerParams, body: SubscribeBody, response: errorResponses('payment_required', 'card_declined', 'conflict') } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      status: 201,
      body: await subscribeWithoutPayment(ctx, q, callerOf(req), req.params.id, req.body),
    })),
  );

  app.post(
    '/v1/customers/:id/subscription/cancel',
    { schema: { params: CustomerParams, body: CancelBody.optional() }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotentOutsideTx(ctx, req, reply, async (q) => ({
        body: await cancelSubscription(ctx, q, callerOf(req), req.params.id, req.body?.at_period_end ?? true),
      })),
  );

  app.post(
    '/v1/customers/:id/subscription/resume',
    { schema: { params: CustomerParams }, config: { auth: 'customer' } },
    async (req, reply) => idempotentOutsideTx(ctx, req, reply, async (q) => ({ body: await resumeSubscription(ctx, q, callerOf(req), req.params.id) })),
  );

  app.post(
    '/v1/customers/:id/subscription/change',
    { schema: { summary: 'Change plan (or preview the change)', params: CustomerParams, body: ChangeBody, querystring: ChangeQuery, response: errorResponses('payment_required', 'card_declined', 'conflict') }, config: { auth: 'customer' } },
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
    { schema: { summary: 'Preview a plan change', params: CustomerParams, querystring: PreviewQuery }, config: { auth: 'customer' } },
    async (req) => ctx.db.tx((q) => previewChange(ctx, q, callerOf(req).projectId, req.params.id, req.query)),
  );

  app.post('/v1/customers/:id/subscription/coupon', { schema: { params: CustomerParams, body: CouponBody } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      body: await applyCoupon(ctx, q, callerOf(req), req.params.id, req.body.promotion_code),
    })),
  );

  app.get('/v1/subscriptions', { schema: { querystring: ListSubscriptionsQuery } }, async (req) =>
    listSubscriptions(ctx, callerOf(req).projectId, req.query),
  );

  app.post('/v1/portal', { schema: { body: PortalBody }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotentOutsideTx(ctx, req, reply, async (q) => ({ body: await createPortal(ctx, q, callerOf(req), req.body) })),
  );

  app.post('/v1/payment-links', { schema: { body: PaymentLinkBody } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ status: 201, body: await createPaymentLink(ctx, q, callerOf(req), req.body) })),
  );

  app.get('/v1/payment-links/:id', { schema: { params: IdParams } }, async (req) => getPaymentLink(ctx, callerOf(req).projectId, req.params.id));
}
