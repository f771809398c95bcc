import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { catalogSyncStatus } from './stripe.service.ts';
import { syncCatalog } from './stripe.catalog.ts';
import { reconcileStripe } from './stripe.reconcile.ts';

/**
 * Stripe operations. Both POSTs call Stripe, so they run outside any database transaction; they
 * are idempotent by construction (a sync or reconcile repeated changes nothing more).
 */
export function registerStripeRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/providers/stripe/sync', async (req) => catalogSyncStatus(ctx, callerOf(req).projectId));
  app.post(
    '/v1/providers/stripe/sync',
    { schema: { body: z.object({ dry_run: z.boolean().default(false) }).strict().optional() } },
    async (req) => syncCatalog(ctx, callerOf(req).projectId, { dryRun: req.body?.dry_run ?? false }),
  );
  app.post('/v1/providers/stripe/reconcile', async (req) => reconcileStripe(ctx, callerOf(req).projectId));
}
