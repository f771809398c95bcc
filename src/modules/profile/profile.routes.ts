import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { z } from 'zod';
import { errorResponses, replies } from '../../http/openapi.ts';
import { Customer, CustomerParams, Onboarding } from '../../http/schemas.ts';
import { completeOnboarding, PatchCustomerBody, patchCustomer } from './profile.service.ts';

export function registerProfileRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.patch(
    '/v1/customers/:id',
    { schema: { params: CustomerParams, body: PatchCustomerBody, response: replies({ 200: Customer }) }, config: { auth: 'customer' } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({ body: await patchCustomer(ctx, q, callerOf(req), req.params.id, req.body) })),
  );

  app.post(
    '/v1/customers/:id/onboarding/complete',
    { schema: { params: CustomerParams, response: replies({ 200: Onboarding.extend({ object: z.literal('onboarding'), customer_id: z.string() }), ...errorResponses('conflict') }) }, config: { auth: 'customer' } },
    async (req, reply) => idempotent(ctx, req, reply, async (q) => ({ body: await completeOnboarding(ctx, q, callerOf(req), req.params.id) })),
  );
}
