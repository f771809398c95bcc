import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { FeatureType, FeatureValueOrNull } from '../../http/schemas.ts';
import { TrackBatchBody, trackBatch } from './usage.batch.ts';
import { checkRequest, trackRequest } from './usage.group.ts';
import { UsageBody } from './usage.service.ts';

/** The answer of check and track: allowed or not, and why; the counter or the credit balance behind it. */
const UsageAnswer = z.object({
  allowed: z.boolean(),
  reason: z.enum(['limit_reached', 'insufficient_credits', 'not_included']).optional().describe('Set when not allowed'),
  feature: z.string(),
  type: FeatureType,
  plan: z.string().nullable(),
  usage: z.number().int().optional().describe('metered and allocated features'),
  limit: z.number().int().nullable().optional().describe('null: unlimited'),
  remaining: z.number().int().nullable().optional(),
  balance: z.number().int().optional().describe('credits features'),
  required: z.number().int().optional().describe('credits features: what the quantity costs'),
  value: FeatureValueOrNull.optional().describe('value features'),
});

const TrackBatchReply = z.object({
  results: z.array(
    z.object({
      event_id: z.string(),
      status: z.enum(['recorded', 'duplicate', 'error']).describe('duplicate: this event_id was recorded before (nothing counted again)'),
      error: z
        .object({ code: z.enum(['invalid_request', 'limit_reached', 'not_included', 'insufficient_credits']), message: z.string() })
        .optional()
        .describe('Why the event was not applied (status error); its event_id may be sent again'),
    }),
  ),
});

export function registerUsageRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post('/v1/check', { schema: { summary: 'Check an entitlement', body: UsageBody, response: replies({ 200: UsageAnswer }) }, config: { auth: 'customer' } }, async (req) =>
    checkRequest(ctx, callerOf(req).projectId, req.body),
  );

  // Counted features are group-committed with the project's concurrent tracks (usage.group.ts).
  app.post('/v1/track', { schema: { summary: 'Track usage', body: UsageBody, response: replies({ 200: UsageAnswer }) } }, async (req, reply) =>
    trackRequest(ctx, req, reply),
  );

  app.post(
    '/v1/track/batch',
    {
      schema: {
        summary: 'Record usage events in a batch',
        description:
          'Up to 1000 events, applied in order as POST /v1/track would, in one transaction. Each event_id counts once per project, forever after a resend or restart: the reply says per event whether it was recorded, a duplicate, or not applied (error, with the reason).',
        body: TrackBatchBody,
        response: replies({ 200: TrackBatchReply }),
      },
    },
    async (req, reply) => idempotent(ctx, req, reply, async (q) => ({ body: await trackBatch(ctx, q, callerOf(req).projectId, req.body) })),
  );
}
