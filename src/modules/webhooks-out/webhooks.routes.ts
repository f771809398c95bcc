import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { errorResponses } from '../../http/openapi.ts';
import { IdParams, ListQuery } from '../../http/schemas.ts';
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
  redeliver,
  secretForReplay,
  UpdateEndpointSchema,
  updateEndpoint,
} from './webhooks.service.ts';

/** The app's own webhook endpoints and their deliveries (Standard Webhooks). */
export function registerWebhookEndpointRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post('/v1/webhook-endpoints', { schema: { body: CreateEndpointSchema } }, async (req, reply) => {
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

  app.get('/v1/webhook-endpoints', { schema: { querystring: ListQuery } }, async (req) =>
    listEndpoints(ctx.db, callerOf(req).projectId, req.query),
  );

  app.get('/v1/webhook-endpoints/:id', { schema: { params: IdParams } }, async (req) =>
    getEndpoint(ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.patch('/v1/webhook-endpoints/:id', { schema: { params: IdParams, body: UpdateEndpointSchema } }, async (req, reply) => {
    const caller = callerOf(req);
    const out = await idempotent(ctx, req, reply, async (q) => ({ body: await updateEndpoint(ctx, q, caller, req.params.id, req.body) }));
    await afterEndpointChange(ctx, caller.projectId);
    return out;
  });

  app.delete('/v1/webhook-endpoints/:id', { schema: { params: IdParams } }, async (req, reply) => {
    const caller = callerOf(req);
    const out = await idempotent(ctx, req, reply, async (q) => ({ body: await deleteEndpoint(ctx, q, caller, req.params.id) }));
    await afterEndpointChange(ctx, caller.projectId);
    return out;
  });

  app.get('/v1/webhook-endpoints/:id/deliveries', { schema: { params: IdParams, querystring: DeliveriesQuery } }, async (req) =>
    listDeliveries(ctx.db, callerOf(req).projectId, req.params.id, req.query),
  );

  app.get('/v1/webhook-deliveries', { schema: { summary: 'List webhook deliveries', querystring: DeliveriesQuery, response: errorResponses('not_found') } }, async (req) =>
    listDeliveries(ctx.db, callerOf(req).projectId, req.query.endpoint_id ?? null, req.query),
  );

  app.get('/v1/webhook-deliveries/:id', { schema: { params: IdParams } }, async (req) =>
    getDelivery(ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.post('/v1/webhook-deliveries/:id/redeliver', { schema: { params: IdParams } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await redeliver(ctx, q, callerOf(req).projectId, req.params.id) })),
  );
}
