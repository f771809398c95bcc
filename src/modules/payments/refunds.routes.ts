import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent, idempotentOutsideTx } from '../../http/idempotency.ts';
import { IdParams } from '../../http/schemas.ts';
import { listPaymentRefunds, RefundBodySchema, refundPayment } from './refunds.service.ts';

export function registerRefundRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post('/v1/payments/:id/refund', { schema: { params: IdParams, body: RefundBodySchema.optional() } }, async (req, reply) =>
    idempotentOutsideTx(ctx, req, reply, async (q) => ({ body: await refundPayment(ctx, q, callerOf(req), req.params.id, req.body ?? {}) })),
  );

  app.get('/v1/payments/:id/refunds', { schema: { params: IdParams } }, async (req) =>
    listPaymentRefunds(ctx.db, callerOf(req).projectId, req.params.id),
  );
}
