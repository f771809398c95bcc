import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { MetricsQuery, MetricsResponse, metrics } from './metrics.service.ts';

export function registerMetricsRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/v1/metrics',
    {
      schema: {
        description:
          'Revenue figures as of an instant. Money is a list of {amount, currency} (integer minor units), one entry per currency; currencies are never added together.',
        querystring: MetricsQuery,
        response: { 200: MetricsResponse },
      },
    },
    async (req) => metrics(ctx, ctx.db, callerOf(req).projectId, req.query),
  );
}
