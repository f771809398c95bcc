import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { IdParams, Timestamp } from '../../http/schemas.ts';
import { audit } from '../audit/audit.service.ts';
import { createModeKey, KEY_SCOPES, listKeys, revokeKey } from '../projects/projects.service.ts';

const CreateKeyBody = z
  .object({
    kind: z.enum(['secret', 'publishable']).default('secret'),
    scopes: z.array(z.enum(KEY_SCOPES)).min(1).max(3).default(['full']),
    name: z.string().max(100).optional(),
    /** `live` makes an `sk_live_`/`pk_live_` key of the project's live mode; default: the calling key's mode (docs/modes.md). */
    mode: z.enum(['test', 'live']).optional(),
  })
  .strict();

const KeyKind = z.enum(['secret', 'publishable']);
const KeyScope = z.enum([...KEY_SCOPES, 'publishable']);
/** A key as listed: never the key itself, only its preview. */
const ApiKey = z.object({
  id: z.string(),
  project_id: z.string(),
  mode: z.enum(['test', 'live']),
  kind: KeyKind,
  preview: z.string(),
  scopes: z.array(KeyScope),
  name: z.string().nullable(),
  created_at: Timestamp,
  revoked_at: Timestamp.nullable(),
  last_used_at: Timestamp.nullable().describe('When the key was last used, to within 5 minutes (null: not since this was recorded)'),
});
const CreatedKey = z.object({
  id: z.string(),
  object: z.literal('api_key'),
  key: z.string().describe('The key itself: shown once, with the creation'),
  project_id: z.string().describe('The project of the key\'s mode: `<id>_live` for a live key'),
  mode: z.enum(['test', 'live']),
  kind: KeyKind,
  scopes: z.array(KeyScope),
  preview: z.string(),
  created_at: Timestamp,
});

export function registerKeyRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get('/v1/keys', { schema: { response: replies({ 200: z.object({ object: z.literal('list'), data: z.array(ApiKey), has_more: z.boolean() }) }) } }, async (req) => ({ object: 'list', data: await listKeys(ctx, callerOf(req).projectId), has_more: false }));

  app.post('/v1/keys', { schema: { body: CreateKeyBody, response: replies({ 201: CreatedKey }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => {
      const caller = callerOf(req);
      const body = req.body;
      const key = await createModeKey(ctx, q, caller, { kind: body.kind, scopes: body.scopes, name: body.name, mode: body.mode });
      await audit(q, caller, { action: 'key.created', target: key.id, details: { kind: key.kind, scopes: key.scopes, mode: key.mode } }, ctx.clock.now());
      return { status: 201, body: { ...key, object: 'api_key' } };
    }),
  );

  app.delete('/v1/keys/:id', { schema: { summary: 'Revoke a key', params: IdParams, response: replies({ 200: ApiKey.extend({ object: z.literal('api_key') }) }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => {
      const caller = callerOf(req);
      const key = await revokeKey(ctx, q, caller.projectId, req.params.id);
      await audit(q, caller, { action: 'key.revoked', target: key.id }, ctx.clock.now());
      return { body: { ...key, object: 'api_key' } };
    }),
  );
}
