import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { CustomerParams, IdParams, ListQuery } from '../../http/schemas.ts';
import {
  balanceOf,
  CaptureSchema,
  captureHold,
  createHold,
  deduct,
  GrantSchema,
  getHold,
  HoldSchema,
  history,
  manualGrant,
  releaseHold,
  SpendSchema,
  TransferSchema,
  transfer,
} from './credits.service.ts';
import { AutoTopUpSchema, getAutoTopUp, maybeStartTopUp, putAutoTopUp } from './credits.topup.ts';

export function registerCreditsRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/v1/customers/:id/credits',
    { schema: { params: CustomerParams }, config: { auth: 'customer' } },
    async (req) => balanceOf(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.get(
    '/v1/customers/:id/credits/transactions',
    { schema: { params: CustomerParams, querystring: ListQuery }, config: { auth: 'customer' } },
    async (req) =>
      history(ctx, ctx.db, callerOf(req).projectId, req.params.id, {
        limit: req.query.limit,
        startingAfter: req.query.starting_after,
      }),
  );

  app.post('/v1/customers/:id/credits/grant', { schema: { params: CustomerParams, body: GrantSchema } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await manualGrant(ctx, q, callerOf(req), req.params.id, req.body) })),
  );

  app.post('/v1/customers/:id/credits/deduct', { schema: { params: CustomerParams, body: SpendSchema } }, async (req, reply) => {
    const out = await idempotent(
      ctx,
      req,
      reply,
      async (q) => ({ body: await deduct(ctx, q, callerOf(req).projectId, req.params.id, req.body) }),
      { atomic: false },
    );
    // After the deduct committed: its own small step (one top-up per customer at a time).
    await maybeStartTopUp(ctx, callerOf(req).projectId, req.params.id);
    return out;
  });

  app.get(
    '/v1/customers/:id/credits/auto-top-up',
    { schema: { params: CustomerParams }, config: { auth: 'customer' } },
    async (req) => getAutoTopUp(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.put('/v1/customers/:id/credits/auto-top-up', { schema: { params: CustomerParams, body: AutoTopUpSchema } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await putAutoTopUp(ctx, q, callerOf(req).projectId, req.params.id, req.body) })),
  );

  app.post('/v1/credits/transfer', { schema: { body: TransferSchema } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await transfer(ctx, q, callerOf(req).projectId, req.body) })),
  );

  app.post('/v1/customers/:id/credits/holds', { schema: { params: CustomerParams, body: HoldSchema } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({
      status: 201,
      body: await createHold(ctx, q, callerOf(req).projectId, req.params.id, req.body),
    })),
  );

  app.get('/v1/holds/:id', { schema: { params: IdParams } }, async (req) => getHold(ctx.db, callerOf(req).projectId, req.params.id));

  app.post('/v1/holds/:id/capture', { schema: { params: IdParams, body: CaptureSchema } }, async (req, reply) => {
    const out = (await idempotent(ctx, req, reply, async (q) => ({
      body: await captureHold(ctx, q, callerOf(req).projectId, req.params.id, req.body?.amount),
    }))) as { customer_id?: string };
    if (out?.customer_id) await maybeStartTopUp(ctx, callerOf(req).projectId, out.customer_id);
    return out;
  });

  app.post('/v1/holds/:id/release', { schema: { params: IdParams } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await releaseHold(ctx, q, callerOf(req).projectId, req.params.id) })),
  );
}
