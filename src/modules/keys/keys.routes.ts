import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { IdParams } from '../../http/schemas.ts';
import { audit } from '../audit/audit.service.ts';
import { createKey, KEY_SCOPES, listKeys, revokeKey } from '../projects/projects.service.ts';

const CreateKeyBody = z
  .object({
    kind: z.enum(['secret', 'publishable']).default('secret'),
    scopes: z.array(z.enum(KEY_SCOPES)).min(1).max(3).default(['full']),
    name: z.string().max(100).optional(),
  })
  .strict();

export function registerKeyRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/keys', async (req) => ({ object: 'list', data: await listKeys(ctx, callerOf(req).projectId), has_more: false }));

  app.post('/v1/keys', { schema: { body: CreateKeyBody } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => {
      const caller = callerOf(req);
      const body = req.body;
      const key = await createKey(q, caller.projectId, { kind: body.kind, scopes: body.scopes, name: body.name });
      await audit(q, caller, { action: 'key.created', target: key.id, details: { kind: key.kind, scopes: key.scopes } }, ctx.clock.now());
      return { status: 201, body: { ...key, object: 'api_key' } };
    }),
  );

  app.delete('/v1/keys/:id', { schema: { params: IdParams } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => {
      const caller = callerOf(req);
      const key = await revokeKey(ctx, q, caller.projectId, req.params.id);
      await audit(q, caller, { action: 'key.revoked', target: key.id }, ctx.clock.now());
      return { body: { ...key, object: 'api_key' } };
    }),
  );
}
