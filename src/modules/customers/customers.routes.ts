import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { Customer, CustomerParams, CustomerSummary, ListQuery, listOf, page } from '../../http/schemas.ts';
import { CustomerIdSchema, customerView, listCustomers, requireCustomer, upsertCustomer } from './customers.service.ts';

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
