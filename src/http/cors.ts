import cors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { cacheOf, invalidate } from '../db/invalidation.ts';
import { customerSessionsRepository, resolveCustomerSession } from '../modules/customer-sessions/customer-sessions.service.ts';
import { authenticateKey, getProject } from '../modules/projects/projects.service.ts';
import type { AppContext } from '../app/context.ts';

const DENY: FastifyCorsOptions = { origin: false };
const ALLOW: FastifyCorsOptions = {
  origin: true,
  methods: ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'],
  allowedHeaders: ['authorization', 'content-type', 'idempotency-key'],
  exposedHeaders: ['request-id', 'idempotent-replayed', 'retry-after'],
  credentials: false,
  maxAge: 600,
};

/** The project a bearer credential belongs to, without failing the request (auth does that later). */
async function projectOf(ctx: AppContext, req: FastifyRequest): Promise<string | undefined> {
  const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (!token) return undefined;
  if (token.startsWith('sk_') || token.startsWith('pk_')) return (await authenticateKey(ctx, token))?.caller.projectId;
  return (await resolveCustomerSession(ctx, token))?.project_id;
}

/**
 * CORS per project for the API (browsers call it with a customer session or a publishable key).
 * A preflight carries no credentials, so it is allowed when some project lists the origin; the
 * real request is then answered readable only when the caller's own project lists it.
 */
async function corsFor(ctx: AppContext, req: FastifyRequest): Promise<FastifyCorsOptions> {
  const origin = req.headers.origin;
  if (!origin || !req.url.startsWith('/v1/') || req.url.startsWith('/v1/webhooks/')) return DENY;
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
    const anywhere = cacheOf<boolean>(ctx.db, 'cors');
    let ok = anywhere.get(origin);
    if (ok === undefined) {
      ok = await customerSessionsRepository.originAllowedAnywhere(ctx.db, origin);
      anywhere.set(origin, ok);
    }
    return ok ? ALLOW : DENY;
  }
  const projectId = await projectOf(ctx, req);
  if (!projectId) return DENY;
  const project = await getProject(ctx, projectId);
  return project.cors_origins.includes(origin) ? ALLOW : DENY;
}

export async function registerCors(app: FastifyInstance, ctx: AppContext): Promise<void> {
  await app.register(cors, { hideOptionsRoute: true, delegator: (req: FastifyRequest) => corsFor(ctx, req) } as FastifyCorsOptions);
}

/** Forget cached origin decisions (after a project's origins change). */
export async function invalidateCorsCache(ctx: AppContext): Promise<void> {
  await invalidate(ctx.db, [{ scope: 'cors' }]);
}
