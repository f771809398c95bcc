import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { invalidateCorsCache } from '../../http/cors.ts';
import { z } from 'zod';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { Timestamp } from '../../http/schemas.ts';
import { getProjectView, ProjectPatchBody, updateProject } from './projects.service.ts';

const Project = z.object({
  id: z.string(),
  object: z.literal('project'),
  name: z.string(),
  default_provider: z.string(),
  cors_origins: z.array(z.string()),
  catalog_version: z.number().int(),
  /** The prefix of the customer API keys this project issues (docs/api-keys.md). */
  api_keys: z.object({ prefix: z.string().nullable() }),
  /** E-mails to customers (docs/emails.md): what is set; absent fields take their defaults. */
  email: z.object({
    enabled: z.boolean().optional(),
    from: z.string().optional(),
    portal_url: z.string().optional(),
    templates: z.record(z.string(), z.object({ enabled: z.boolean().optional(), subject: z.string().optional(), text: z.string().optional() })).optional(),
  }),
  /** What a dispute does to what the payment bought (docs/disputes.md). */
  disputes: z.object({ on_open: z.enum(['hold', 'claw_back', 'none']) }),
  created_at: Timestamp,
});

export function registerProjectRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/project', { schema: { response: replies({ 200: Project }) } }, async (req) => getProjectView(ctx, callerOf(req).projectId));
  app.patch('/v1/project', { schema: { body: ProjectPatchBody, response: replies({ 200: Project }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => {
      const body = await updateProject(ctx, q, callerOf(req), req.body);
      await invalidateCorsCache(ctx);
      return { body };
    }),
  );
}
