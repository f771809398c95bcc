import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { listProviderSettings, putProviderSettings } from './providers.service.ts';

export function registerProviderRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/providers', async (req) => listProviderSettings(ctx, callerOf(req).projectId));
  app.put(
    '/v1/providers/:provider',
    { schema: { params: z.object({ provider: z.string().min(1).max(32) }), body: z.record(z.string(), z.unknown()) } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({
        body: await putProviderSettings(ctx, q, callerOf(req), req.params.provider, req.body),
      })),
  );
}
