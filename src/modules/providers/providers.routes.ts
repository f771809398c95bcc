import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { errorResponses, replies } from '../../http/openapi.ts';
import { Timestamp } from '../../http/schemas.ts';
import { listProviderSettings, putProviderSettings, verifyProviderSettings } from './providers.service.ts';
import { providerStatus, verifyProvider } from './providers.status.ts';

const ProviderSettings = z
  .looseObject({
    object: z.literal('provider_settings'),
    provider: z.string(),
    mode: z.enum(['test', 'live']),
    default: z.boolean().describe("Whether new checkouts use this provider"),
    updated_at: Timestamp.optional().describe('Absent for the built-in sandbox'),
  })
  .describe("Plus the provider's settings preview, secrets shortened (Stripe: secret_key, webhook_secrets, publishable_key; PayPal: client_id, client_secret, webhook_id, paypal_mode)");

const WebhookRegistration = z
  .object({
    status: z
      .enum(['registered', 'disabled', 'missing', 'unknown'])
      .describe('registered: an enabled provider webhook endpoint sends to `url`; disabled: only a disabled one; missing: none; unknown: the provider could not say (see error)'),
    url: z.string().describe("This project's webhook URL"),
    endpoint_id: z.string().nullable().describe("The provider's endpoint id (Stripe we_…)"),
    error: z.string().nullable(),
  })
  .nullable()
  .describe('Stripe only (read from GET /v1/webhook_endpoints); null for other providers or when not connected');

const ProviderParams = z.object({ provider: z.string().min(1).max(32) });

const ProviderStatus = z.object({
  object: z.literal('provider_status'),
  provider: z.string(),
  configured: z.boolean().describe('Whether keys are saved for this provider'),
  mode: z.string().nullable().describe('test or live; null when not configured'),
  updated_at: Timestamp.nullable(),
  webhook_url: z.string().describe("The URL to paste into the provider's webhook settings"),
  webhooks: z.object({
    received: z.number().int(),
    last_received_at: Timestamp.nullable(),
    failed: z.number().int(),
    last_error: z.object({ at: Timestamp, event_id: z.string().nullable(), message: z.string() }).nullable(),
  }),
  webhook: WebhookRegistration,
  catalog_sync: z
    .object({
      status: z.enum(['never', 'idle', 'pending', 'failed']),
      catalog_version: z.number().int().nullable(),
      synced_at: Timestamp.nullable(),
      last_error: z.string().nullable(),
    })
    .nullable()
    .describe('Stripe: the catalog pushed to Stripe Products and Prices; null for other providers'),
});

const ProviderVerification = z.object({
  object: z.literal('provider_verification'),
  provider: z.string(),
  mode: z.enum(['test', 'live']),
  ok: z.boolean(),
  error: z.string().nullable().describe('Why the provider refused the saved credentials'),
  warnings: z.array(z.string()),
  checked_at: Timestamp,
  webhook_url: z.string(),
  webhook: WebhookRegistration,
});

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
  app.get(
    '/v1/providers/:provider/status',
    { schema: { summary: 'Provider connection status', params: ProviderParams, response: replies({ 200: ProviderStatus }) } },
    async (req) => providerStatus(ctx, callerOf(req).projectId, req.params.provider),
  );
  app.post(
    '/v1/providers/:provider/verify',
    {
      schema: {
        summary: 'Verify a provider connection',
        description: 'Calls the provider with the saved credentials (one read-only request) and says whether it accepted them. Changes nothing.',
        params: ProviderParams,
        response: replies({ 200: ProviderVerification, ...errorResponses('conflict') }),
      },
    },
    async (req) => verifyProvider(ctx, callerOf(req).projectId, req.params.provider),
  );
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
