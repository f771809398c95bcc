import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { Timestamp } from '../../http/schemas.ts';
import { listProviderSettings, putProviderSettings, verifyProviderSettings } from './providers.service.ts';

const ProviderSettings = z
  .looseObject({
    object: z.literal('provider_settings'),
    provider: z.string(),
    mode: z.enum(['test', 'live']),
    default: z.boolean().describe("Whether new checkouts use this provider"),
    updated_at: Timestamp.optional().describe('Absent for the built-in sandbox'),
  })
  .describe("Plus the provider's settings preview, secrets shortened (Stripe: secret_key, webhook_secrets, publishable_key; PayPal: client_id, client_secret, webhook_id, paypal_mode)");

export function registerProviderRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/v1/providers',
    {
      schema: {
        response: replies({
          200: z.object({ object: z.literal('list'), default: z.string(), data: z.array(ProviderSettings), has_more: z.boolean() }),
        }),
      },
    },
    async (req) => listProviderSettings(ctx, callerOf(req).projectId));
  app.put(
    '/v1/providers/:provider',
    { schema: { params: z.object({ provider: z.string().min(1).max(32) }), body: z.record(z.string(), z.unknown()), response: replies({ 200: ProviderSettings }) } },
    async (req, reply) => {
      // Live credentials are checked with the provider first, outside the transaction that stores them.
      await verifyProviderSettings(ctx, callerOf(req), req.params.provider, req.body);
      return idempotent(ctx, req, reply, async (q) => ({
        body: await putProviderSettings(ctx, q, callerOf(req), req.params.provider, req.body),
      }));
    },
  );
}
