import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { IdParams } from '../../http/schemas.ts';
import { EventsQuery, getEvent, listEvents, receiveWebhook, replayEvent } from './inbox.service.ts';

const WebhookParams = z.object({
  provider: z.enum(['sandbox', 'stripe', 'paypal']),
  project: z.string().min(1).max(63),
});

export function registerInboxRoutes(root: FastifyInstance, ctx: AppContext): void {
  // Provider webhooks read the raw bytes: signatures are checked on exactly what was sent.
  root.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope
      .withTypeProvider<ZodTypeProvider>()
      .post('/v1/webhooks/:provider/:project', { schema: { params: WebhookParams }, config: { auth: 'none' } }, async (req) => {
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        return receiveWebhook(ctx, req.params.provider, req.params.project, raw, req.headers);
      });
  });

  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/events', { schema: { querystring: EventsQuery } }, async (req) => listEvents(ctx, callerOf(req).projectId, req.query));
  app.get('/v1/events/:id', { schema: { params: IdParams } }, async (req) => getEvent(ctx, callerOf(req).projectId, req.params.id));
  app.post('/v1/events/:id/replay', { schema: { params: IdParams } }, async (req) =>
    replayEvent(ctx, callerOf(req).projectId, req.params.id),
  );
}
