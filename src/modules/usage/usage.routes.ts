import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { check, track, UsageBody } from './usage.service.ts';

export function registerUsageRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post('/v1/check', { schema: { body: UsageBody }, config: { auth: 'customer' } }, async (req) =>
    check(ctx, callerOf(req).projectId, req.body),
  );

  app.post('/v1/track', { schema: { body: UsageBody } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await track(ctx, q, callerOf(req).projectId, req.body) }), { atomic: false }),
  );
}
