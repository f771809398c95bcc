import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { NotFoundError } from '../../domain/errors.ts';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent, idempotentOutsideTx } from '../../http/idempotency.ts';
import { IdParams } from '../../http/schemas.ts';
import { CheckoutBodySchema, createCheckout, getSession } from './checkout.service.ts';
import { getPayment, listPayments, PaymentsQuery } from './payments.service.ts';

export function registerPaymentRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post('/v1/checkout', { schema: { body: CheckoutBodySchema }, config: { auth: 'customer' } }, async (req, reply) =>
    idempotentOutsideTx(ctx, req, reply, async () =>
      createCheckout(ctx, callerOf(req), req.body, { requestKey: req.headers['idempotency-key'] as string | undefined }),
    ),
  );

  app.get('/v1/checkout/:id', { schema: { params: IdParams }, config: { auth: 'customer' } }, async (req) => {
    const caller = callerOf(req);
    const s = await getSession(ctx.db, caller.projectId, req.params.id);
    // A customer session sees its own customer's checkout sessions only.
    if (caller.customerId !== undefined && s.customer_id !== caller.customerId) throw new NotFoundError('checkout session', req.params.id);
    return s;
  });

  app.get('/v1/payments', { schema: { querystring: PaymentsQuery } }, async (req) =>
    listPayments(ctx.db, callerOf(req).projectId, req.query),
  );

  app.get('/v1/payments/:id', { schema: { params: IdParams } }, async (req) => getPayment(ctx.db, callerOf(req).projectId, req.params.id));
}
