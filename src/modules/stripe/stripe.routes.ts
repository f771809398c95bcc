import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import { replies } from '../../http/openapi.ts';
import { Money, Timestamp } from '../../http/schemas.ts';
import type { AppContext } from '../../app/context.ts';
import { catalogSyncStatus } from './stripe.service.ts';
import { syncCatalog } from './stripe.catalog.ts';
import { reconcileStripe } from './stripe.reconcile.ts';

const CatalogKind = z.enum(['plan', 'pack', 'product']);
const SyncStatus = z.object({
  object: z.literal('stripe_catalog'),
  status: z.enum(['idle', 'pending', 'failed']),
  catalog_version: z.number().int().nullable(),
  last_error: z.string().nullable(),
  synced_at: Timestamp.nullable(),
  data: z.array(
    z.object({
      kind: CatalogKind,
      item_id: z.string(),
      lookup_key: z.string(),
      product: z.string().describe('Stripe product id'),
      price: z.string().describe('Stripe price id'),
      amount: Money,
      interval: z.string().nullable(),
      active: z.boolean(),
      synced_at: Timestamp,
    }),
  ),
});
const SyncResult = z.object({
  object: z.literal('stripe_catalog_sync'),
  dry_run: z.boolean(),
  actions: z.array(
    z.object({
      action: z.enum(['unchanged', 'rename', 'create', 'adopt', 'replace', 'archive']),
      kind: CatalogKind,
      item_id: z.string(),
      description: z.string(),
    }),
  ),
  changed: z.number().int(),
});
const ReconcileResult = z.object({
  object: z.literal('stripe_reconcile'),
  events_seen: z.number().int(),
  events_missed: z.number().int(),
  sessions_checked: z.number().int(),
  sessions_repaired: z.number().int(),
});

/**
 * Stripe operations. Both POSTs call Stripe, so they run outside any database transaction; they
 * are idempotent by construction (a sync or reconcile repeated changes nothing more).
 */
export function registerStripeRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/providers/stripe/sync', { schema: { summary: 'Get the Stripe catalog sync state', response: replies({ 200: SyncStatus }) } }, async (req) => catalogSyncStatus(ctx, callerOf(req).projectId));
  app.post(
    '/v1/providers/stripe/sync',
    { schema: { summary: 'Sync the catalog to Stripe', body: z.object({ dry_run: z.boolean().default(false) }).strict().optional(), response: replies({ 200: SyncResult }) } },
    async (req) => syncCatalog(ctx, callerOf(req).projectId, { dryRun: req.body?.dry_run ?? false }),
  );
  app.post('/v1/providers/stripe/reconcile', { schema: { summary: 'Reconcile with Stripe', response: replies({ 200: ReconcileResult }) } }, async (req) => reconcileStripe(ctx, callerOf(req).projectId));
}
