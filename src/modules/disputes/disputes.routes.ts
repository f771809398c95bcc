import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { AppContext } from '../../app/context.ts';
import { callerOf } from '../../http/auth.ts';
import { idempotentOutsideTx } from '../../http/idempotency.ts';
import { errorResponses, replies } from '../../http/openapi.ts';
import { Dispute, IdParams, listOf } from '../../http/schemas.ts';
import { DisputesQuery, getDispute, listDisputes, MoveDisputeBody, moveSandboxDispute, OpenDisputeBody, openSandboxDispute } from './disputes.service.ts';

export function registerDisputeRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/v1/disputes',
    { schema: { description: 'Disputes (chargebacks) of payments, newest first.', querystring: DisputesQuery, response: replies({ 200: listOf(Dispute) }) } },
    async (req) => listDisputes(ctx.db, callerOf(req).projectId, req.query),
  );

  app.get('/v1/disputes/:id', { schema: { params: IdParams, response: replies({ 200: Dispute }) } }, async (req) =>
    getDispute(ctx.db, callerOf(req).projectId, req.params.id),
  );

  // Sandbox test helpers: the same signed-event path as a provider's dispute webhooks.
  app.post(
    '/v1/test-helpers/payments/:id/dispute',
    {
      schema: {
        description: 'Test mode: the buyer disputes a sandbox payment (a signed `charge.dispute.created` sandbox event).',
        params: IdParams,
        body: OpenDisputeBody,
        response: replies({ 200: Dispute, ...errorResponses('conflict') }),
      },
    },
    async (req, reply) =>
      idempotentOutsideTx(ctx, req, reply, async () => ({ body: await openSandboxDispute(ctx, callerOf(req).projectId, req.params.id, req.body ?? { reason: 'fraudulent' }) })),
  );

  app.post(
    '/v1/test-helpers/disputes/:id/update',
    {
      schema: {
        description: 'Test mode: a sandbox dispute goes under review, or closes won or lost (a signed `charge.dispute.updated|closed` sandbox event).',
        params: IdParams,
        body: MoveDisputeBody,
        response: replies({ 200: Dispute, ...errorResponses('conflict') }),
      },
    },
    async (req, reply) => idempotentOutsideTx(ctx, req, reply, async () => ({ body: await moveSandboxDispute(ctx, callerOf(req).projectId, req.params.id, req.body) })),
  );
}

