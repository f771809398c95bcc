import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../../app/context.ts';
import { callerOf } from '../../http/auth.ts';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { Timestamp } from '../../http/schemas.ts';
import type { ImportShape } from './imports.service.ts';
import { ImportBody, ROW_SCHEMAS, runImport } from './imports.service.ts';
import { bindPrices, listBindings, PriceBindingsBody } from './price-bindings.service.ts';

export const ImportReportSchema = z.object({
  object: z.literal('import_batch'),
  shape: z.enum(['credits', 'payments', 'users', 'customers']),
  dry_run: z.boolean(),
  counts: z.object({ seen: z.number().int(), new: z.number().int(), unchanged: z.number().int(), skipped: z.number().int() }),
  totals: z.record(z.string(), z.number().int()).describe('What this batch brought in: balances and ledger entries, amounts by currency, customers, subscriptions'),
  reconciliation: z
    .object({ imported_balances: z.number().int(), opening_entries: z.number().int(), balanced: z.boolean() })
    .nullable()
    .describe('credits: the project-wide sum of imported balances against the sum of the import ledger entries'),
  rows: z.array(
    z.object({
      row: z.number().int(),
      source_id: z.string().nullable(),
      customer_id: z.string().nullable(),
      outcome: z.enum(['new', 'unchanged', 'skipped']),
      reason: z.string().nullable(),
    }),
  ),
});

export const PriceBindingSchema = z.object({
  object: z.literal('stripe_price_binding'),
  price: z.string(),
  kind: z.enum(['plan', 'pack']),
  item_id: z.string(),
  created_at: Timestamp,
});

const SUMMARIES: Record<ImportShape, string> = {
  credits: 'Import credit balances and their history',
  payments: 'Import past payments',
  users: 'Import users with their subscription state',
  customers: 'Import customers',
};

/**
 * `POST /v1/imports/<shape>`: one batch of parsed rows (at most 500), applied in one transaction;
 * each row is claimed by its source id, so the same batch again changes nothing (and with an
 * Idempotency-Key replays its report). `dry_run` reports the same and writes nothing.
 */
export function registerImportRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  for (const shape of ['credits', 'payments', 'users', 'customers'] as const) {
    app.post(
      `/v1/imports/${shape}`,
      { schema: { summary: SUMMARIES[shape], body: ImportBody(ROW_SCHEMAS[shape]), response: replies({ 200: ImportReportSchema }) } },
      async (req, reply) => {
        const projectId = callerOf(req).projectId;
        // Validated by the route; the service parses each row again into its shape's type.
        const raw = req.body as { rows: unknown[]; dry_run: boolean; first_row: number };
        if (raw.dry_run) return runImport(ctx, ctx.db, projectId, shape, raw);
        return idempotent(ctx, req, reply, async (q) => ({ body: await runImport(ctx, q, projectId, shape, raw) }));
      },
    );
  }
  app.get('/v1/providers/stripe/price-bindings', { schema: { summary: 'List the Stripe prices bound to catalog items', response: replies({ 200: z.object({ object: z.literal('list'), data: z.array(PriceBindingSchema) }) }) } }, async (req) => ({
    object: 'list' as const,
    data: await listBindings(ctx, callerOf(req).projectId),
  }));
  app.post(
    '/v1/providers/stripe/price-bindings',
    {
      schema: {
        summary: 'Bind existing Stripe prices to catalog plans and packs',
        body: PriceBindingsBody,
        response: replies({ 200: z.object({ object: z.literal('list'), data: z.array(PriceBindingSchema), changed: z.number().int() }) }),
      },
    },
    async (req, reply) => idempotent(ctx, req, reply, async (q) => ({ body: await bindPrices(ctx, q, callerOf(req).projectId, req.body) })),
  );
}
