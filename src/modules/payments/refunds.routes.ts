import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent, idempotentOutsideTx } from '../../http/idempotency.ts';
import { z } from 'zod';
import { errorResponses, replies } from '../../http/openapi.ts';
import { IdParams, listOf, Payment, Timestamp } from '../../http/schemas.ts';
import { listPaymentRefunds, RefundBodySchema, refundPayment } from './refunds.service.ts';

const Refund = z.object({
  id: z.string(),
  object: z.literal('refund'),
  payment_id: z.string(),
  amount: z.number().int(),
  currency: z.string(),
  status: z.enum(['succeeded', 'pending', 'failed']),
  provider: z.string(),
  provider_ref: z.string(),
  origin: z.enum(['api', 'provider']),
  reason: z.string().nullable(),
  created_at: Timestamp,
});
/** A refund with the payment after it and what the refund undid (credits taken back, the order refunded). */
const RefundResult = Refund.extend({
  payment: Payment,
  credits: z
    .object({
      requested: z.number().int(),
      reversed: z.number().int(),
      shortfall: z.number().int(),
      balance: z.number().int().optional(),
      transaction_id: z.string().nullable().optional(),
    })
    .optional()
    .describe('Credit pack payments: the credits taken back (shortfall: already spent)'),
  order: z.object({ id: z.string(), status: z.string() }).optional().describe('Order payments: the order after the refund'),
});

export function registerRefundRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post('/v1/payments/:id/refund', { schema: { summary: 'Refund a payment', params: IdParams, body: RefundBodySchema.optional(), response: replies({ 200: RefundResult, ...errorResponses('conflict') }) } }, async (req, reply) =>
    idempotentOutsideTx(ctx, req, reply, async (q) => ({ body: await refundPayment(ctx, q, callerOf(req), req.params.id, req.body ?? {}) })),
  );

  app.get('/v1/payments/:id/refunds', { schema: { params: IdParams, response: replies({ 200: listOf(Refund) }) } }, async (req) =>
    listPaymentRefunds(ctx.db, callerOf(req).projectId, req.params.id),
  );
}
