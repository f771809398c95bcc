import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent, requestHash } from '../../http/idempotency.ts';
import { findFeature } from '../../domain/catalog.ts';
import { getCatalog } from '../catalog/catalog.service.ts';
import { replies } from '../../http/openapi.ts';
import { FeatureType, FeatureValueOrNull } from '../../http/schemas.ts';
import { TrackBatchBody, trackBatch } from './usage.batch.ts';
import { checkRequest, trackBatcher } from './usage.group.ts';
import { track, UsageBody, validateQuantity } from './usage.service.ts';

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

/** The route: counted features through the batcher, everything else (and every bad input) as before. */
async function trackRequest(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const projectId = callerOf(req).projectId;
  const body = req.body as z.infer<typeof UsageBody>;
  const single = () => idempotent(ctx, req, reply, async (q) => ({ body: await track(ctx, q, projectId, body) }), { atomic: false });
  const header = req.headers['idempotency-key'];
  const key = header === undefined ? null : Array.isArray(header) ? (header[0] ?? '') : header;
  if (key !== null && (key.length === 0 || key.length > 255)) return single();
  const { catalog } = await getCatalog(ctx, projectId);
  const feature = findFeature(catalog, body.feature);
  if (!feature || (feature.type !== 'metered' && feature.type !== 'allocated')) return single();
  try {
    validateQuantity(feature, body.quantity, true);
  } catch {
    return single();
  }
  const out = await trackBatcher(ctx, projectId).submit({ body, feature, key, hash: key === null ? null : requestHash(req), single });
  if ('direct' in out) return out.direct;
  if (out.replayed) reply.header('idempotent-replayed', 'true');
  reply.code(out.status);
  return out.body;
}

