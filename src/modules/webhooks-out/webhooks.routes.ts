import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent, idempotentOutsideTx } from '../../http/idempotency.ts';
import { z } from 'zod';
import { errorResponses, replies } from '../../http/openapi.ts';
import { IdParams, ListQuery, listOf, Timestamp } from '../../http/schemas.ts';
import {
  afterEndpointChange,
  CreateEndpointSchema,
  createEndpoint,
  DeliveriesQuery,
  deleteEndpoint,
  getDelivery,
  getEndpoint,
  listDeliveries,
  listEndpoints,
  RotateSecretSchema,
  redeliver,
  rotateEndpointSecret,
  secretForReplay,
  sendTestEvent,
  UpdateEndpointSchema,
  updateEndpoint,
} from './webhooks.service.ts';

const Endpoint = z.object({
  id: z.string(),
  object: z.literal('webhook_endpoint'),
  url: z.string(),
  events: z.array(z.string()),
  enabled: z.boolean(),
  description: z.string().nullable(),
  disabled_reason: z.string().nullable(),
  previous_secret_expires_at: Timestamp.nullable().describe('After a rotation: until when the old secret still signs deliveries'),
  created_at: Timestamp,
  updated_at: Timestamp,
});
const Delivery = z.object({
  id: z.string(),
  object: z.literal('webhook_delivery'),
  endpoint_id: z.string(),
  event_id: z.string(),
  event_type: z.string(),
  status: z.enum(['pending', 'succeeded', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: Timestamp.nullable(),
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  created_at: Timestamp,
  completed_at: Timestamp.nullable(),
});
const DeliveryWithLog = Delivery.extend({
  attempt_log: z.array(
    z.object({
      attempt: z.number().int(),
      url: z.string(),
      status_code: z.number().int().nullable(),
      duration_ms: z.number().int(),
      error: z.string().nullable(),
      response_excerpt: z.string().nullable(),
      created_at: Timestamp,
    }),
  ),
});

/** The app's own webhook endpoints and their deliveries (Standard Webhooks). */
export function registerWebhookEndpointRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post('/v1/webhook-endpoints', { schema: { body: CreateEndpointSchema, response: replies({ 201: Endpoint.extend({ secret: z.string().describe('The signing secret (whsec_...); shown with the creation only') }) }) } }, async (req, reply) => {
    const caller = callerOf(req);
    let secret: string | null = null;
    const out = (await idempotent(ctx, req, reply, async (q) => {
      const created = await createEndpoint(ctx, q, caller, req.body);
      secret = created.secret;
      return { status: 201, body: created.endpoint };
    })) as { id: string };
    await afterEndpointChange(ctx, caller.projectId);
    // The secret is shown with the creation only, and never stored with the idempotent reply.
    return { ...out, secret: secret ?? (await secretForReplay(ctx, caller.projectId, out.id)) };
  });

  app.get('/v1/webhook-endpoints', { schema: { querystring: ListQuery, response: replies({ 200: listOf(Endpoint) }) } }, async (req) =>
    listEndpoints(ctx.db, callerOf(req).projectId, req.query),
  );

  app.get('/v1/webhook-endpoints/:id', { schema: { params: IdParams, response: replies({ 200: Endpoint }) } }, async (req) =>
    getEndpoint(ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.patch('/v1/webhook-endpoints/:id', { schema: { params: IdParams, body: UpdateEndpointSchema, response: replies({ 200: Endpoint }) } }, async (req, reply) => {
    const caller = callerOf(req);
    const out = await idempotent(ctx, req, reply, async (q) => ({ body: await updateEndpoint(ctx, q, caller, req.params.id, req.body) }));
    await afterEndpointChange(ctx, caller.projectId);
    return out;
  });

  app.delete('/v1/webhook-endpoints/:id', { schema: { params: IdParams, response: replies({ 200: z.object({ id: z.string(), object: z.literal('webhook_endpoint'), deleted: z.literal(true) }) }) } }, async (req, reply) => {
    const caller = callerOf(req);
    const out = await idempotent(ctx, req, reply, async (q) => ({ body: await deleteEndpoint(ctx, q, caller, req.params.id) }));
    await afterEndpointChange(ctx, caller.projectId);
    return out;
  });

  app.post(
    '/v1/webhook-endpoints/:id/rotate-secret',
    {
      schema: {
        summary: 'Rotate an endpoint signing secret',
        params: IdParams,
        body: RotateSecretSchema,
        response: replies({ 200: Endpoint.extend({ secret: z.string().describe('The new signing secret (whsec_...); shown with the rotation only') }) }),
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      let secret: string | null = null;
      const out = (await idempotent(ctx, req, reply, async (q) => {
        const rotated = await rotateEndpointSecret(ctx, q, caller, req.params.id, req.body);
        secret = rotated.secret;
        return { body: rotated.endpoint };
      })) as { id: string };
      // Like a creation's, the secret is never stored with the idempotent reply.
      return { ...out, secret: secret ?? (await secretForReplay(ctx, caller.projectId, out.id)) };
    },
  );

  app.post(
    '/v1/webhook-endpoints/:id/test',
    {
      schema: {
        summary: 'Send a test event to an endpoint',
        description: 'Sends a `webhook.test` event to this endpoint only, now, and returns the delivery with its attempt.',
        params: IdParams,
        response: replies({ 200: DeliveryWithLog, ...errorResponses('conflict') }),
      },
    },
    async (req, reply) => idempotentOutsideTx(ctx, req, reply, async () => ({ body: await sendTestEvent(ctx, callerOf(req), req.params.id) })),
  );

  app.get('/v1/webhook-endpoints/:id/deliveries', { schema: { params: IdParams, querystring: DeliveriesQuery, response: replies({ 200: listOf(DeliveryWithLog) }) } }, async (req) =>
    listDeliveries(ctx.db, callerOf(req).projectId, req.params.id, req.query),
  );

  app.get('/v1/webhook-deliveries', { schema: { summary: 'List webhook deliveries', querystring: DeliveriesQuery, response: replies({ 200: listOf(DeliveryWithLog), ...errorResponses('not_found') }) } }, async (req) =>
    listDeliveries(ctx.db, callerOf(req).projectId, req.query.endpoint_id ?? null, req.query),
  );

  app.get('/v1/webhook-deliveries/:id', { schema: { params: IdParams, response: replies({ 200: DeliveryWithLog }) } }, async (req) =>
    getDelivery(ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.post('/v1/webhook-deliveries/:id/redeliver', { schema: { summary: 'Redeliver a webhook', params: IdParams, response: replies({ 200: Delivery, ...errorResponses('conflict') }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await redeliver(ctx, q, callerOf(req).projectId, req.params.id) })),
  );
}
