import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { invalidateCorsCache } from '../../http/cors.ts';
import { z } from 'zod';
import { idempotent } from '../../http/idempotency.ts';
import { errorResponses, replies } from '../../http/openapi.ts';
import { Timestamp } from '../../http/schemas.ts';
import { getProjectView, ProjectPatchBody, updateProject } from './projects.service.ts';

const Project = z.object({
  id: z.string(),
  object: z.literal('project'),
  /** The mode of the key that asked (docs/modes.md): a live key's project is the live twin `<id>_live`. */
  mode: z.enum(['test', 'live']),
  test_project_id: z.string().describe("The test mode's project id (the id the project was created with)"),
  live_project_id: z.string().describe("The live mode's project id: `<test id>_live`"),
  live_catalog: z.enum(['shared', 'own']).describe('`shared`: live mode sells the test catalog; `own`: a live catalog was pushed'),
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
  /** Requests per second the API accepts (docs/api.md): null takes the server default; 0 is unlimited. */
  rate_limit: z.object({
    per_key_per_second: z.number().int().nullable(),
    per_customer_per_second: z.number().int().nullable(),
    server_defaults: z.object({ per_key_per_second: z.number().int(), per_customer_per_second: z.number().int() }),
  }),
  /** What hosted pages and e-mails show over the catalog's theme; null: the catalog's value. */
  branding: z.object({ name: z.string().nullable(), primary_color: z.string().nullable(), logo_url: z.string().nullable() }),
  /** The locale of hosted pages and e-mails over the catalog's `locale`; null: the catalog's. */
  locale: z.string().nullable(),
  /** What a dispute does to what the payment bought (docs/disputes.md). */
  disputes: z.object({ on_open: z.enum(['hold', 'claw_back', 'none']) }),
  created_at: Timestamp,
});

export function registerProjectRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/project', { schema: { response: replies({ 200: Project }) } }, async (req) => getProjectView(ctx, callerOf(req).projectId));
  app.patch('/v1/project', { schema: { body: ProjectPatchBody, response: replies({ 200: Project, ...errorResponses('conflict') }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => {
      const body = await updateProject(ctx, q, callerOf(req), req.body);
      await invalidateCorsCache(ctx);
      return { body };
    }),
  );
}
