import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { newId } from '../domain/ids.ts';
import { registerKeyUsage } from '../modules/keys/key-usage.ts';
import { registerRateLimit } from '../modules/rate-limit/rate-limit.service.ts';
import { registerAuth } from './auth.ts';
import { registerCors } from './cors.ts';
import type { AppContext } from '../app/context.ts';
import { registerBodyParsers } from './body.ts';
import { registerErrorHandling } from './errors.ts';
import { describeRoute, transformRoute } from './openapi.ts';
import { WebhookEvent } from './schemas.ts';
import { registerApiReference } from './reference.ts';
import { registerPrometheus } from './prometheus.ts';
import { refuseUnstorableInput } from './input.ts';

export const BODY_LIMIT = 1024 * 1024;
/** The longest id a caller may choose (customer ids, ...), and so the longest path parameter. */
export const MAX_ID_LENGTH = 255;

export interface RouteEntry {
  method: string;
  url: string;
}
const ROUTES = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Every route the app serves (method + path pattern), in registration order. */
export function listRoutes(app: FastifyInstance): RouteEntry[] {
  return [...(ROUTES.get(app) ?? [])];
}

/** Assembles the HTTP server: every route is mounted here, in one place. */
export async function buildApp(
  ctx: AppContext,
  opts: { logger?: boolean | object; loggerInstance?: FastifyBaseLogger } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance } : { logger: opts.logger ?? false }),
    bodyLimit: BODY_LIMIT,
    // A request (headers and body) must arrive within requestTimeoutMs; Node checks open requests
    // every connectionsCheckingInterval, so that interval is kept well below the timeout.
    requestTimeout: ctx.config.requestTimeoutMs,
    connectionTimeout: Math.max(60_000, ctx.config.requestTimeoutMs),
    http: {
      requestTimeout: ctx.config.requestTimeoutMs,
      headersTimeout: Math.min(60_000, ctx.config.requestTimeoutMs),
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(ctx.config.requestTimeoutMs / 4))),
    },
    routerOptions: { maxParamLength: MAX_ID_LENGTH },
    frameworkErrors: (err, req, reply) => {
      const long = err.code === 'FST_ERR_MAX_PARAM_LENGTH';
      (reply as unknown as FastifyReply)
        .code(400)
        .type('application/json; charset=utf-8')
        .send({
          error: {
            code: 'invalid_request',
            message: long ? `A path parameter is longer than ${MAX_ID_LENGTH} characters` : `Malformed URL: ${err.message}`,
            request_id: req.id,
            param: 'path',
          },
        });
    },
    genReqId: () => newId('request'),
    requestIdHeader: false,
    return503OnClosing: true,
    // One line per request (see the onResponse hook below), not Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { coerceTypes: false } },
  });
  const routes: RouteEntry[] = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });
  if (ctx.config.maxConnections > 0) app.server.maxConnections = ctx.config.maxConnections;
  app.setValidatorCompiler(validatorCompiler);
  // Response schemas describe the replies in the OpenAPI document; they do not rewrite them at run
  // time (a reply is JSON-encoded as built). The test suite validates every reply against the document.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  let currentTag: string | undefined;
  app.addHook('onRoute', (route) => describeRoute(route, currentTag));
  ctx.log = app.log;
  await app.register(formbody, { bodyLimit: BODY_LIMIT });
  registerBodyParsers(app);
  await app.register(swagger, {
    openapi: {
      info: { title: 'Tollgate API', version: '1.0.0', description: 'Monetization server: catalog, credits, subscriptions, payments.' },
      servers: [{ url: ctx.config.publicUrl, description: 'This Tollgate (PUBLIC_URL)' }],
      components: {
        // Not an operation: the body Tollgate POSTs to webhook endpoints (docs/webhooks-and-metrics.md).
        schemas: { WebhookEvent: z.toJSONSchema(WebhookEvent, { target: 'openapi-3.0' }) as Record<string, unknown> },
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
    refuseUnstorableInput(req);
  });
  registerAuth(app, ctx);
  registerRateLimit(app, ctx);
  registerKeyUsage(app, ctx);
  app.addHook('onSend', async (req, reply) => {
    reply.header('request-id', req.id);
  });
  app.addHook('onResponse', async (req, reply) => {
    const ms = Math.round(reply.elapsedTime * 10) / 10;
    req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms }, `${req.method} ${req.url.split('?')[0]} ${reply.statusCode} ${ms}ms`);
  });

  app.get('/health', { schema: { hide: true } }, async (_req, reply) => {
    try {
      await ctx.db.query('SELECT 1');
      return { status: 'ok', database: ctx.db.kind };
    } catch {
      return reply.code(503).send({ status: 'unavailable', database: ctx.db.kind });
    }
  });

  registerPrometheus(app, ctx.db);
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
