import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { NotFoundError } from '../../domain/errors.ts';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent, idempotentOutsideTx } from '../../http/idempotency.ts';
import { z } from 'zod';
import { errorResponses, replies } from '../../http/openapi.ts';
import { CheckoutSession, IdParams, listOf, Payment, Subscription } from '../../http/schemas.ts';
import { CheckoutBodySchema, createCheckout, getSession } from './checkout.service.ts';
import { getPayment, listPayments, PaymentsQuery } from './payments.service.ts';

/** A checkout that needs no payment (a free plan, a trial without card): done at once, no session. */
const CheckoutComplete = z.object({
  session_id: z.null(),
  url: z.null(),
  status: z.literal('complete'),
  subscription: Subscription,
});

export function registerPaymentRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post('/v1/checkout', { schema: { body: CheckoutBodySchema, response: replies({ 201: z.union([CheckoutSession, CheckoutComplete]), ...errorResponses('payment_required', 'conflict') }) }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotentOutsideTx(ctx, req, reply, async () =>
      createCheckout(ctx, callerOf(req), req.body, { requestKey: req.headers['idempotency-key'] as string | undefined }),
    ),
  );

  app.get('/v1/checkout/:id', { schema: { params: IdParams, response: replies({ 200: CheckoutSession }) }, config: { auth: 'customer' } }, async (req) => {
    const caller = callerOf(req);
    const s = await getSession(ctx.db, caller.projectId, req.params.id);
    // A customer session sees its own customer's checkout sessions only.
    if (caller.customerId !== undefined && s.customer_id !== caller.customerId) throw new NotFoundError('checkout session', req.params.id);
    return s;
  });

  app.get('/v1/payments', { schema: { querystring: PaymentsQuery, response: replies({ 200: listOf(Payment) }) } }, async (req) =>
    listPayments(ctx.db, callerOf(req).projectId, req.query),
  );

  app.get('/v1/payments/:id', { schema: { params: IdParams, response: replies({ 200: Payment }) } }, async (req) => getPayment(ctx.db, callerOf(req).projectId, req.params.id));
}
