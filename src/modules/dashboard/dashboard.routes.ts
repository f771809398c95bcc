import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, ForbiddenError, NotFoundError } from '../../domain/errors.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotent } from '../../http/idempotency.ts';
import { CustomerParams } from '../../http/schemas.ts';
import { pricingPreview } from '../../web/hosted.pages.ts';
import { validateCatalog } from '../catalog/catalog.service.ts';
import { getProject } from '../projects/projects.service.ts';
import { AdjustBody, adjustCredits, overview, projectsForOperator } from './dashboard.service.ts';
import { serveDashboardFile } from './dashboard.static.ts';
import {
  Credentials,
  completeSetup,
  type OperatorSession,
  operatorCaller,
  operatorOfSession,
  SetupBody,
  signIn,
  signOut,
} from './operators.service.ts';

export const COOKIE = 'tollgate_dashboard';
const ProjectParams = z.object({ project: z.string().min(1).max(68) });

function cookieToken(req: FastifyRequest): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === COOKIE) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

function setCookie(ctx: AppContext, reply: FastifyReply, value: string, maxAgeS: number) {
  const secure = ctx.config.publicUrl.startsWith('https:') ? '; Secure' : '';
  reply.header('set-cookie', `${COOKIE}=${encodeURIComponent(value)}; Path=/dashboard; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}${secure}`);
}

function signedIn(ctx: AppContext, reply: FastifyReply, s: OperatorSession) {
  setCookie(ctx, reply, s.token, Math.floor((s.expires_at.getTime() - ctx.clock.now().getTime()) / 1000));
  return { object: 'operator', id: s.operator.id, email: s.operator.email };
}

/** Cross-site requests never act: the cookie is SameSite=Lax and a foreign Origin is refused. */
function refuseCrossSite(req: FastifyRequest) {
  if (req.method === 'GET' || req.method === 'HEAD') return;
  const origin = req.headers.origin;
  if (origin && origin !== `${req.protocol}://${req.headers.host}`) throw new ForbiddenError('Cross-site request refused');
  if (req.headers['sec-fetch-site'] === 'cross-site') throw new ForbiddenError('Cross-site request refused');
}

async function requireOperator(ctx: AppContext, req: FastifyRequest) {
  refuseCrossSite(req);
  const token = cookieToken(req);
  const op = await operatorOfSession(ctx, token);
  if (!op || !token) throw new AppError('unauthorized', 'Sign in to the dashboard');
  return { op, token };
}

const PROXY_HEADERS = ['content-type', 'content-disposition', 'idempotent-replayed', 'retry-after', 'request-id'];

type DashboardApp = ReturnType<typeof withZod>;
const withZod = (root: FastifyInstance) => root.withTypeProvider<ZodTypeProvider>();
const open = { schema: { hide: true }, config: { auth: 'none' as const } };

/** Signing in and out, and what the signed-in operator may see. */
function registerOperatorRoutes(app: DashboardApp, ctx: AppContext): void {
  app.post('/dashboard/api/login', { ...open, schema: { hide: true, body: Credentials } }, async (req, reply) => {
    refuseCrossSite(req);
    return signedIn(ctx, reply, await signIn(ctx, req.body, req.ip));
  });

  app.post('/dashboard/api/setup', { ...open, schema: { hide: true, body: SetupBody } }, async (req, reply) => {
    refuseCrossSite(req);
    return reply.code(201).send(signedIn(ctx, reply, await completeSetup(ctx, req.body)));
  });

  app.post('/dashboard/api/logout', open, async (req, reply) => {
    refuseCrossSite(req);
    const token = cookieToken(req);
    if (token) await signOut(ctx, token);
    setCookie(ctx, reply, '', 0);
    return { signed_out: true };
  });

  app.get('/dashboard/api/me', open, async (req) => {
    const { op } = await requireOperator(ctx, req);
    return { object: 'operator', id: op.id, email: op.email };
  });

  app.get('/dashboard/api/projects', open, async (req) => {
    await requireOperator(ctx, req);
    return { object: 'list', data: await projectsForOperator(ctx), has_more: false };
  });
}

/** Dashboard-only views and actions on one project. */
function registerProjectViews(app: DashboardApp, ctx: AppContext): void {
  app.get('/dashboard/api/p/:project/overview', { ...open, schema: { hide: true, params: ProjectParams } }, async (req) => {
    await requireOperator(ctx, req);
    await getProject(ctx, req.params.project);
    return overview(ctx, req.params.project);
  });

  // The hosted pricing page rendered for a draft catalog (nothing is stored); a bad draft is a 400 with the catalog's messages.
  app.post(
    '/dashboard/api/p/:project/catalog/pricing-preview',
    { ...open, schema: { hide: true, params: ProjectParams, body: z.object({ catalog: z.unknown() }).strict() } },
    async (req) => {
      await requireOperator(ctx, req);
      await getProject(ctx, req.params.project);
      const catalog = validateCatalog(req.body.catalog);
      return { object: 'pricing_preview', html: await pricingPreview(ctx, req.params.project, catalog) };
    },
  );

  app.post(
    '/dashboard/api/p/:project/customers/:id/credits/adjust',
    { ...open, schema: { hide: true, params: ProjectParams.extend(CustomerParams.shape), body: AdjustBody } },
    async (req, reply) => {
      const { op } = await requireOperator(ctx, req);
      await getProject(ctx, req.params.project);
      req.caller = { ...operatorCaller(op, req.params.project), ip: req.ip };
      const caller = req.caller;
      return idempotent(ctx, req, reply, async (q) => ({ body: await adjustCredits(ctx, q, caller, req.params.id, req.body) }));
    },
  );
}

/** The public API, called as the operator on the chosen project (actor "dashboard:<email>"). */
function proxyAsOperator(root: FastifyInstance, ctx: AppContext) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
  const { token } = await requireOperator(ctx, req);
  const params = req.params as { project: string; '*': string };
  const rest = params['*'];
  if (rest.split('/').some((s) => s === '..' || s === '.') || rest.startsWith('/')) throw new NotFoundError('route', rest);
  await getProject(ctx, params.project);
  const qs = req.url.includes('?') ? req.url.slice(req.url.indexOf('?')) : '';
  const headers: Record<string, string> = { authorization: `Bearer ${token}.${params.project}` };
  const idem = req.headers['idempotency-key'];
  if (typeof idem === 'string') headers['idempotency-key'] = idem;
  const hasBody = req.body !== undefined && req.body !== null;
  if (hasBody) headers['content-type'] = 'application/json';
  const res = await root.inject({
    // The audit log records where the operator really was.
    remoteAddress: req.ip,
    method: req.method as HTTPMethods,
    url: `/v1/${rest}${qs}`,
    headers,
    ...(hasBody ? { payload: JSON.stringify(req.body) } : {}),
  });
  reply.code(res.statusCode);
  for (const h of PROXY_HEADERS) {
    const v = res.headers[h];
    if (v !== undefined) reply.header(h, v);
  }
  return reply.send(res.rawPayload);
  };
}

/**
 * The dashboard: its static app under /dashboard/ and its JSON API under /dashboard/api/.
 * Operators sign in with a password (argon2) or the first-run link; the session cookie then lets
 * the app call the public API as the operator on any project, through /dashboard/api/p/:project/v1/*.
 */
export function registerDashboard(root: FastifyInstance, ctx: AppContext): void {
  const app = withZod(root);
  registerOperatorRoutes(app, ctx);
  registerProjectViews(app, ctx);
  app.route({
    method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as HTTPMethods[],
    url: '/dashboard/api/p/:project/v1/*',
    ...open,
    handler: proxyAsOperator(root, ctx),
  });

  app.get('/dashboard', open, async (_req, reply) => reply.redirect('/dashboard/', 302));
  app.get('/dashboard/*', open, async (req, reply) => {
    const path = (req.params as { '*': string })['*'];
    if (path.startsWith('api/')) throw new NotFoundError('route', `/dashboard/${path}`);
    return serveDashboardFile(reply, path);
  });
}
