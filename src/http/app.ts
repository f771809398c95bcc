import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { newId } from '../domain/ids.ts';
import { registerAuditRoutes } from '../modules/audit/audit.routes.ts';
import { registerCatalogRoutes } from '../modules/catalog/catalog.routes.ts';
import { registerCommerceRoutes } from '../modules/commerce/commerce.routes.ts';
import { registerCreditsRoutes } from '../modules/credits/credits.routes.ts';
import { registerCustomerSessionRoutes } from '../modules/customer-sessions/customer-sessions.routes.ts';
import { registerCustomerRoutes } from '../modules/customers/customers.routes.ts';
import { registerDashboard } from '../modules/dashboard/dashboard.routes.ts';
import { registerKeyRoutes } from '../modules/keys/keys.routes.ts';
import { registerMetricsRoutes } from '../modules/metrics/metrics.routes.ts';
import { registerPaymentRoutes } from '../modules/payments/payments.routes.ts';
import { registerProjectRoutes } from '../modules/projects/projects.routes.ts';
import { registerRefundRoutes } from '../modules/payments/refunds.routes.ts';
import { registerProfileRoutes } from '../modules/profile/profile.routes.ts';
import { registerProviderRoutes } from '../modules/providers/providers.routes.ts';
import { registerRateLimit } from '../modules/rate-limit/rate-limit.service.ts';
import { registerSubscriptionRoutes } from '../modules/subscriptions/subscriptions.routes.ts';
import { registerTestHelperRoutes } from '../modules/test-helpers/test-helpers.routes.ts';
import { registerUsageRoutes } from '../modules/usage/usage.routes.ts';
import { registerVaultRoutes } from '../modules/vault/vault.routes.ts';
import { registerInboxRoutes } from '../modules/webhooks-in/inbox.routes.ts';
import { registerStripeRoutes } from '../providers/stripe/stripe.routes.ts';
import { registerWebhookEndpointRoutes } from '../modules/webhooks-out/webhooks.routes.ts';
import { registerPaypalRoutes } from '../providers/paypal/paypal.routes.ts';
import { registerCheckoutPages } from '../web/checkout.page.ts';
import { registerPortalPages } from '../web/portal.page.ts';
import { registerHostedPages } from '../web/hosted.pages.ts';
import { registerAuth } from './auth.ts';
import { registerCors } from './cors.ts';
import type { AppContext } from './context.ts';
import { registerErrorHandling } from './errors.ts';
import { registerPrometheus } from './prometheus.ts';

export const BODY_LIMIT = 1024 * 1024;

/** Assembles the HTTP server: every route is mounted here, in one place. */
export async function buildApp(ctx: AppContext, opts: { logger?: boolean | object } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: BODY_LIMIT,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    genReqId: () => newId('request'),
    requestIdHeader: false,
    return503OnClosing: true,
    ajv: { customOptions: { coerceTypes: false } },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  ctx.log = app.log;
  await app.register(formbody, { bodyLimit: BODY_LIMIT });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Tollgate API', version: '1.0.0', description: 'Monetization server: catalog, credits, subscriptions, payments.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  registerErrorHandling(app);
  await registerCors(app, ctx);
  // A POST/PUT/PATCH/DELETE sent without a body means "no parameters": validate it as {}.
  app.addHook('preValidation', async (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD' && (req.body === undefined || req.body === null)) req.body = {};
  });
  registerAuth(app, ctx);
  registerRateLimit(app, ctx);
  app.addHook('onSend', async (req, reply) => {
    reply.header('request-id', req.id);
  });

  app.get('/health', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await ctx.db.query('SELECT 1');
      return { status: 'ok', database: ctx.db.kind };
    } catch {
      return reply.code(503).send({ status: 'unavailable', database: ctx.db.kind });
    }
  });

  registerPrometheus(app);
  registerCatalogRoutes(app, ctx);
  registerCustomerRoutes(app, ctx);
  registerCreditsRoutes(app, ctx);
  registerPaymentRoutes(app, ctx);
  registerRefundRoutes(app, ctx);
  registerCommerceRoutes(app, ctx);
  registerInboxRoutes(app, ctx);
  registerKeyRoutes(app, ctx);
  registerProviderRoutes(app, ctx);
  registerStripeRoutes(app, ctx);
  registerWebhookEndpointRoutes(app, ctx);
  registerMetricsRoutes(app, ctx);
  registerProfileRoutes(app, ctx);
  registerVaultRoutes(app, ctx);
  registerAuditRoutes(app, ctx);
  registerTestHelperRoutes(app, ctx);
  registerCheckoutPages(app, ctx);
  registerCustomerSessionRoutes(app, ctx);
  registerProjectRoutes(app, ctx);
  registerHostedPages(app, ctx);
  registerDashboard(app, ctx);
  registerPaypalRoutes(app, ctx);
  registerSubscriptionRoutes(app, ctx);
  registerUsageRoutes(app, ctx);
  registerPortalPages(app, ctx);

  // The sandbox delivers its webhooks through the public route, in process.
  ctx.deliverWebhook = async ({ provider, projectId, headers, body }) => {
    const res = await app.inject({ method: 'POST', url: `/v1/webhooks/${provider}/${projectId}`, headers, payload: body });
    return { status: res.statusCode, body: res.body };
  };
  return app;
}
