import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../../app/context.ts';
import { callerOf } from '../../http/auth.ts';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { CustomerParams, IdParams, listOf, Timestamp } from '../../http/schemas.ts';
import { streamChangedLocally } from '../stream/stream.service.ts';
import { CreateApiKeyBody, createApiKey, listApiKeys, revokeApiKey, rollApiKey, verifyApiKey } from './api-keys.service.ts';

const RateLimit = z.object({ limit: z.number().int(), window_seconds: z.number().int() });

export const CustomerApiKey = z.object({
  id: z.string(),
  object: z.literal('customer_api_key'),
  customer_id: z.string(),
  name: z.string().nullable(),
  preview: z.string().describe('The first characters and the last 4 of the key; the key itself is shown once'),
  scopes: z.array(z.string()),
  status: z.enum(['active', 'expired', 'revoked']),
  expires_at: Timestamp.nullable(),
  rate_limit: RateLimit.nullable(),
  remaining: z.number().int().nullable().describe('Verifications left; null = unlimited'),
  auto_issued: z.boolean(),
  rolled_to: z.string().nullable(),
  created_at: Timestamp,
  revoked_at: Timestamp.nullable(),
});

const WithKey = CustomerApiKey.extend({ key: z.string().describe('The key: shown only in this reply') });

const RollBody = z.object({ grace_seconds: z.number().int().min(0).max(30 * 86_400).default(0) }).strict();
const VerifyBody = z.object({ key: z.string().min(1).max(200) }).strict();

const VerifyReply = z.object({
  valid: z.boolean(),
  code: z.enum(['not_found', 'revoked', 'expired', 'usage_exceeded', 'rate_limited', 'customer_deleted']).optional().describe('Why the key is not valid'),
  key_id: z.string().optional(),
  customer_id: z.string().optional(),
  name: z.string().nullable().optional(),
  scopes: z.array(z.string()).optional(),
  plan: z.string().nullable().optional(),
  entitlements: z.record(z.string(), z.unknown()).optional(),
  remaining: z.number().int().nullable().optional(),
  expires_at: Timestamp.nullable().optional(),
  rate_limit: z.object({ limit: z.number().int(), remaining: z.number().int(), reset: Timestamp }).nullable().optional(),
});

export function registerApiKeyRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post(
    '/v1/customers/:id/api-keys',
    { schema: { summary: "Create a customer's API key", params: CustomerParams, body: CreateApiKeyBody, response: replies({ 201: WithKey }) } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({ status: 201, body: await createApiKey(ctx, q, callerOf(req), req.params.id, req.body) })),
  );

  app.get(
    '/v1/customers/:id/api-keys',
    { schema: { summary: "List a customer's API keys", params: CustomerParams, response: replies({ 200: listOf(CustomerApiKey) }) } },
    async (req) => listApiKeys(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.post(
    '/v1/api-keys/:id/roll',
    {
      schema: {
        summary: 'Roll a customer API key',
        params: IdParams,
        body: RollBody,
        response: replies({ 200: WithKey.extend({ previous: CustomerApiKey }) }),
      },
    },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({ body: await rollApiKey(ctx, q, callerOf(req), req.params.id, req.body.grace_seconds) })).then((body) => {
        streamChangedLocally(ctx, callerOf(req).projectId, [(body as { customer_id: string }).customer_id]);
        return body;
      }),
  );

  app.delete(
    '/v1/api-keys/:id',
    { schema: { summary: 'Revoke a customer API key', params: IdParams, response: replies({ 200: CustomerApiKey }) } },
    async (req, reply) => {
      const body = await idempotent(ctx, req, reply, async (q) => ({ body: await revokeApiKey(ctx, q, callerOf(req), req.params.id) }), { atomic: false });
      // Committed: this instance's SDK streams learn it now (the NOTIFY still follows for the others).
      streamChangedLocally(ctx, callerOf(req).projectId, [(body as { customer_id: string }).customer_id]);
      return body;
    },
  );

  app.post(
    '/v1/api-keys/verify',
    { schema: { summary: 'Verify a customer API key', body: VerifyBody, response: replies({ 200: VerifyReply }) } },
    async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({ body: await verifyApiKey(ctx, q, callerOf(req).projectId, req.body.key) }), { atomic: false }),
  );
}
