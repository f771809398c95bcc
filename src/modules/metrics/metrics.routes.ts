import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { z } from 'zod';
import { content, replies } from '../../http/openapi.ts';
import { MetricsQuery, MetricsResponse, metrics, prometheusMoney } from './metrics.service.ts';

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

  app.get(
    '/v1/metrics/prometheus',
    {
      schema: {
        description:
          "The project's money for a Prometheus scrape (bearer auth with a secret key): all-time gross, refunded, provider fees and lost disputes as counters, open disputes and net as gauges, per currency in minor units.",
        response: replies({ 200: content('Prometheus text exposition format', { 'text/plain': z.string() }) }),
      },
    },
    async (req, reply) => {
      const out = await prometheusMoney(ctx.db, callerOf(req).projectId);
      return reply.type(out.contentType).send(out.text);
    },
  );
}
