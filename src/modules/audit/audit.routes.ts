import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { replies } from '../../http/openapi.ts';
import { ListQuery, listOf, page, Timestamp } from '../../http/schemas.ts';
import { listAudit } from './audit.repository.ts';

const AuditQuery = ListQuery.extend({
  customer_id: z.string().min(1).max(255).optional(),
  actor: z.string().min(1).max(255).optional(),
  /** An exact action (`secret.revealed`) or a family (`secret`). */
  action: z.string().min(1).max(100).optional(),
}).strict();

const AuditEntry = z.object({
  id: z.string(),
  object: z.literal('audit_entry'),
  actor: z.string(),
  action: z.string(),
  customer_id: z.string().nullable(),
  target: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
  ip: z.string().nullable(),
  created_at: Timestamp,
});

export function registerAuditRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/audit', { schema: { querystring: AuditQuery, response: replies({ 200: listOf(AuditEntry) }) } }, async (req) => {
    const rows = await listAudit(ctx.db, callerOf(req).projectId, {
      customerId: req.query.customer_id,
      actor: req.query.actor,
      action: req.query.action,
      startingAfter: req.query.starting_after,
      limit: req.query.limit,
    });
    const p = page(rows, req.query.limit);
    return {
      ...p,
      data: p.data.map((r) => ({
        id: r.id,
        object: 'audit_entry',
        actor: r.actor,
        action: r.action,
        customer_id: r.customer_id,
        target: r.target,
        details: r.details,
        ip: r.ip,
        created_at: r.created_at,
      })),
    };
  });
}
