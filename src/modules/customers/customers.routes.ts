import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { Customer, CustomerParams, CustomerSummary, ListQuery, listOf, page, Timestamp } from '../../http/schemas.ts';
import {
  CustomerIdSchema,
  customerView,
  invalidateCustomer,
  listCustomers,
  refuseDeletedCustomer,
  requireCustomer,
  upsertCustomer,
} from './customers.service.ts';
import { deleteCustomer, exportCustomer } from './erasure.service.ts';

const DeletedReply = z.object({ id: z.string(), object: z.literal('customer'), deleted: z.literal(true), deleted_at: Timestamp });

const Rows = z.array(z.record(z.string(), z.unknown()));
const ExportReply = z.looseObject({
  object: z.literal('customer_export'),
  exported_at: Timestamp,
  customer: z.looseObject({ id: z.string(), email: z.string().nullable(), name: z.string().nullable(), metadata: z.record(z.string(), z.unknown()) }),
  profile: z.record(z.string(), z.unknown()).nullable(),
  settings: z.record(z.string(), z.unknown()),
  billing_details: z.record(z.string(), z.unknown()).nullable(),
  credits: z.record(z.string(), z.unknown()).nullable(),
  view: z.record(z.string(), z.unknown()),
  ledger: Rows,
  holds: Rows,
  grants: Rows,
  usage: Rows,
  subscriptions: Rows,
  orders: Rows,
  cart: Rows,
  payments: Rows,
  refunds: Rows,
  disputes: Rows,
  payment_methods: Rows,
  invoices: Rows,
  api_keys: Rows,
  secrets: z.array(z.object({ name: z.string(), created_at: Timestamp, updated_at: Timestamp })),
  audit: Rows,
  imports: z.array(
    z.object({
      shape: z.enum(['credits', 'payments', 'users', 'customers']),
      source_id: z.string(),
      target_id: z.string().nullable(),
      amount: z.number().int().nullable(),
      fingerprint: z.string(),
      created_at: Timestamp,
    }),
  ),
  checkout_sessions: Rows,
  top_ups: Rows,
  auto_top_up: z.record(z.string(), z.unknown()).nullable(),
  trials: Rows,
  provider_customers: Rows,
  sessions: Rows,
  portal_sessions: Rows,
  usage_events: Rows,
  emails: Rows,
  events: Rows,
});

/** The customer a request names: `:id` under /v1/customers/:id, else a body's `customer_id`. */
function namedCustomer(req: FastifyRequest): string | undefined {
  if (req.routeOptions.url?.startsWith('/v1/customers/:id')) {
    const id = (req.params as { id?: unknown } | undefined)?.id;
    if (typeof id === 'string') return id;
  }
  const body = req.body as { customer_id?: unknown } | undefined;
  return body && typeof body === 'object' && typeof body.customer_id === 'string' ? body.customer_id : undefined;
}

const UpsertBody = z
  .object({
    id: CustomerIdSchema,
    email: z.email().max(320).nullable().optional(),
    name: z.string().max(200).nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export function registerCustomerRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  // An erased customer: every API request naming it answers 404 customer_deleted (reads and mutations).
  root.addHook('preHandler', async (req) => {
    if (!req.caller || !req.routeOptions.url?.startsWith('/v1/')) return;
    // The erasure itself answers customer_deleted when repeated, after replaying a retry of its own Idempotency-Key.
    if (req.method === 'DELETE' && req.routeOptions.url === '/v1/customers/:id') return;
    const id = namedCustomer(req);
    if (id !== undefined) await refuseDeletedCustomer(ctx, req.caller.projectId, id);
  });

  app.delete(
    '/v1/customers/:id',
    { schema: { summary: "Delete a customer (erase personal data)", params: CustomerParams, response: replies({ 200: DeletedReply }) } },
    async (req, reply) => {
      const caller = callerOf(req);
      const out = await idempotent(ctx, req, reply, async (q) => ({ body: await deleteCustomer(ctx, q, caller, req.params.id) }));
      await invalidateCustomer(ctx, caller.projectId, req.params.id);
      return out;
    },
  );

  app.get(
    '/v1/customers/:id/export',
    { schema: { summary: 'Export everything held about a customer', params: CustomerParams, response: replies({ 200: ExportReply }) } },
    async (req) => exportCustomer(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.post('/v1/customers', { schema: { summary: 'Create or update a customer', body: UpsertBody, response: replies({ 200: Customer, 201: Customer }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => {
      const { customer, created } = await upsertCustomer(ctx, q, callerOf(req).projectId, req.body);
      return { status: created ? 201 : 200, body: await customerView(ctx, q, customer) };
    }),
  );

  app.get('/v1/customers/:id', { schema: { params: CustomerParams, response: replies({ 200: Customer }) }, config: { auth: 'customer' } }, async (req) => {
    const c = await requireCustomer(ctx.db, callerOf(req).projectId, req.params.id);
    return customerView(ctx, ctx.db, c);
  });

  app.get(
    '/v1/customers',
    { schema: { querystring: ListQuery.extend({ search: z.string().max(200).optional() }), response: replies({ 200: listOf(CustomerSummary) }) } },
    async (req) => {
      const rows = await listCustomers(ctx.db, callerOf(req).projectId, {
        limit: req.query.limit,
        startingAfter: req.query.starting_after,
        search: req.query.search,
      });
      const p = page(rows, req.query.limit);
      return { ...p, data: p.data.map((c) => ({ id: c.id, object: 'customer', email: c.email, name: c.name, created_at: c.created_at })) };
    },
  );
}
