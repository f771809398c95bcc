import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { newId } from '../domain/ids.ts';
import { registerRateLimit } from '../modules/rate-limit/rate-limit.service.ts';
import { registerAuth } from './auth.ts';
import { registerCors } from './cors.ts';
import type { AppContext } from '../app/context.ts';
import { registerErrorHandling } from './errors.ts';
import { describeRoute, transformRoute } from './openapi.ts';
import { registerApiReference } from './reference.ts';
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
  // Response schemas describe the replies in the OpenAPI document; they do not rewrite them at run
  // time (a reply is JSON-encoded as built). The test suite validates every reply against the document.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  let currentTag: string | undefined;
  app.addHook('onRoute', (route) => describeRoute(route, currentTag));
  ctx.log = app.log;
  await app.register(formbody, { bodyLimit: BODY_LIMIT });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Tollgate API', version: '1.0.0', description: 'Monetization server: catalog, credits, subscriptions, payments.' },
      servers: [{ url: ctx.config.publicUrl, description: 'This Tollgate (PUBLIC_URL)' }],
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description:
              'A secret key `sk_...` (scope full for mutations, read for GETs); a publishable key `pk_...` for public catalog reads; a customer session token for that customer\'s own routes.',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: transformRoute,
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  registerApiReference(app);

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
  for (const capability of ctx.registry.capabilities) {
    currentTag = capability.name;
    for (const register of capability.routes ?? []) register(app, ctx);
  }
  currentTag = undefined;

  // The sandbox delivers its webhooks through the public route, in process.
  ctx.deliverWebhook = async ({ provider, projectId, headers, body }) => {
    const res = await app.inject({ method: 'POST', url: `/v1/webhooks/${provider}/${projectId}`, headers, payload: body });
    return { status: res.statusCode, body: res.body };
  };
  return app;
}
