import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { CreateSessionBody, createCustomerSession } from './customer-sessions.service.ts';

export function registerCustomerSessionRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.post('/v1/customer_sessions', { schema: { body: CreateSessionBody } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      status: 201,
      body: await createCustomerSession(ctx, q, callerOf(req), req.body.customer_id),
    })),
  );
}
