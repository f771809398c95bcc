import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CatalogSchema } from '../../domain/catalog.ts';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { getCatalog, publicPlans, putCatalog } from './catalog.service.ts';

export function registerCatalogRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get('/v1/catalog', async (req) => {
    const { version, catalog } = await getCatalog(ctx, callerOf(req).projectId);
    return { version, ...catalog };
  });

  app.get('/v1/catalog/schema', { config: { auth: 'publishable' } }, async () => z.toJSONSchema(CatalogSchema, { io: 'input' }));

  app.put(
    '/v1/catalog',
    {
      // The body is described by CatalogSchema; putCatalog validates it itself (with the catalog's
      // own cross-checks and messages), so the route does not run a second validation.
      schema: { summary: 'Replace the catalog', body: CatalogSchema },
      validatorCompiler: () => (data) => ({ value: data }),
    },
    async (req, reply) =>
    idempotent(ctx, req, reply, async (trx) => {
      const { version, catalog } = await putCatalog(ctx, trx, callerOf(req), req.body);
      return { body: { version, ...catalog } };
    }),
  );

  app.get('/v1/plans', { config: { auth: 'publishable' } }, async (req) => {
    const { catalog } = await getCatalog(ctx, callerOf(req).projectId);
    return publicPlans(catalog);
  });
}
