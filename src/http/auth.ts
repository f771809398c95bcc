import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, ForbiddenError } from '../domain/errors.ts';
import { authenticateKey, getProject } from '../modules/projects/projects.service.ts';
import type { AppContext, Caller } from '../app/context.ts';

/**
 * What a route accepts:
 * - `secret`: a secret key (scope `full` for mutations, `read` is enough for GETs)
 * - `publishable`: a publishable or secret key (public catalog reads)
 * - `customer`: a secret key, or a customer session token for that customer
 * - `none`: public (webhooks verify their own signatures; hosted pages their own tokens)
 */
export type AuthMode = 'secret' | 'publishable' | 'customer' | 'none';

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
  interface FastifyContextConfig {
    auth?: AuthMode;
    /** Extra scope a secret key must hold (e.g. `secrets:reveal`). */
    scope?: string;
  }
}

function bearer(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m?.[1];
}

export function registerAuth(app: FastifyInstance, ctx: AppContext): void {
  app.decorateRequest('caller', undefined);
  app.addHook('preValidation', async (req) => {
    const mode: AuthMode = req.routeOptions.config?.auth ?? (req.url.startsWith('/v1/') ? 'secret' : 'none');
    if (mode === 'none') return;
    const token = bearer(req);
    if (!token) throw new AppError('unauthorized', 'Missing API key: send "Authorization: Bearer sk_..."');
    let caller: Caller | undefined;
    if (token.startsWith('sk_') || token.startsWith('pk_')) {
      const auth = await authenticateKey(ctx, token);
      if (auth) caller = { ...auth.caller, mode: auth.project.mode, ip: req.ip };
    } else {
      for (const fn of ctx.registry.sessionAuthenticators) {
        const found = await fn(ctx, token);
        if (found) {
          caller = { ...found, mode: found.mode ?? (await getProject(ctx, found.projectId)).mode, ip: req.ip };
          break;
        }
      }
    }
    if (!caller) throw new AppError('unauthorized', 'Invalid or revoked API key');
    if (caller.kind === 'publishable' && mode !== 'publishable') {
      throw new ForbiddenError('A publishable key can only read the public catalog; use a secret key');
    }
    if (caller.kind === 'customer_session' && mode !== 'customer' && mode !== 'publishable') {
      throw new ForbiddenError('A customer session cannot use this endpoint');
    }
    if (caller.kind === 'customer_session') {
      const params = req.params as Record<string, string> | undefined;
      const body = req.body as Record<string, unknown> | undefined;
      // `:id` names a customer only under /v1/customers/:id (elsewhere it is a session, hold, ...).
      const fromPath = req.routeOptions.url?.startsWith('/v1/customers/:id') ? params?.id : undefined;
      const named = fromPath ?? (typeof body?.customer_id === 'string' ? body.customer_id : undefined);
      if (named !== undefined && named !== caller.customerId) {
        throw new ForbiddenError('This customer session belongs to another customer');
      }
    }
    if (caller.kind === 'secret') {
      const write = req.method !== 'GET' && req.method !== 'HEAD';
      const has = (s: string) => caller.scopes.includes(s);
      const extra = req.routeOptions.config?.scope;
      // A route guarded by its own scope (reveal, resolve) needs exactly that scope: a read-only
      // backend key holding `secrets:reveal` may fetch secrets without being able to change anything.
      if (extra) {
        if (!has(extra)) throw new ForbiddenError(`This key lacks the "${extra}" scope`);
      } else if (write && !has('full')) {
        throw new ForbiddenError('This key is read-only');
      } else if (!write && !has('full') && !has('read')) {
        throw new ForbiddenError('This key cannot read');
      }
    }
    req.caller = caller;
  });
}

/** The authenticated caller of a route that required one. */
export function callerOf(req: FastifyRequest): Caller {
  if (!req.caller) throw new AppError('unauthorized', 'Not authenticated');
  return req.caller;
}
