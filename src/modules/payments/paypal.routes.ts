import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../../app/context.ts';
import { esc, page } from '../../web/html.ts';
import { completePaypalReturn } from './paypal-orders.service.ts';

/** Where PayPal sends the buyer after approval; the unguessable session id is the capability. */
export function registerPaypalRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get(
    '/paypal/return/:session_id',
    { schema: { hide: true, params: z.object({ session_id: z.string().min(1).max(64) }) } },
    async (req, reply) => {
      const out = await completePaypalReturn(ctx, req.params.session_id);
      if ('redirect' in out) return reply.redirect(out.redirect, 303);
      const back = out.back ? `<a class="button secondary" href="${esc(out.back)}">Return</a>` : '';
      return reply
        .code(out.status)
        .type('text/html; charset=utf-8')
        .send(page({ title: 'PayPal', body: `<div class="card"><div class="alert error" role="alert">${esc(out.error)}</div>${back}</div>` }));
    },
  );
}
