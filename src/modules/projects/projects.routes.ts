import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { invalidateCorsCache } from '../../http/cors.ts';
import { idempotent } from '../../http/idempotency.ts';
import { getProjectView, ProjectPatchBody, updateProject } from './projects.service.ts';

export function registerProjectRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/project', async (req) => getProjectView(ctx, callerOf(req).projectId));
  app.patch('/v1/project', { schema: { body: ProjectPatchBody } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => {
      const body = await updateProject(ctx, q, callerOf(req), req.body);
      await invalidateCorsCache(ctx);
      return { body };
    }),
  );
}
