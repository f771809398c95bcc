import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { errorResponses, replies } from '../../http/openapi.ts';
import { IdParams, listOf, Timestamp } from '../../http/schemas.ts';
import { EventsQuery, getEvent, listEvents, receiveWebhook, replayEvent } from './inbox.service.ts';

const WebhookParams = z.object({
  provider: z.enum(['sandbox', 'stripe', 'paypal']),
  /** A project id, or its live twin's `<id>_live` (docs/modes.md). */
  project: z.string().min(1).max(68),
});

const EventStatus = z.enum(['pending', 'processed', 'failed', 'ignored']);
const ProviderEvent = z.object({
  id: z.string(),
  object: z.literal('provider_event'),
  livemode: z.boolean().describe('Whether the event belongs to the live mode (docs/modes.md)'),
  provider: z.string(),
  event_id: z.string().describe("The provider's own event id"),
  type: z.string(),
  status: EventStatus,
  attempts: z.number().int(),
  last_error: z.string().nullable(),
  occurred_at: Timestamp.nullable(),
  received_at: Timestamp,
  processed_at: Timestamp.nullable(),
  payload: z.unknown().describe('The event as the provider sent it'),
});
const Received = z.object({
  received: z.literal(true),
  event_id: z.string(),
  id: z.string(),
  duplicate: z.boolean().describe('The provider had sent this event before'),
  status: EventStatus,
});

export function registerInboxRoutes(root: FastifyInstance, ctx: AppContext): void {
  // Provider webhooks read the raw bytes: signatures are checked on exactly what was sent.
  root.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope
      .withTypeProvider<ZodTypeProvider>()
      .post('/v1/webhooks/:provider/:project', { schema: { summary: 'Receive a provider webhook', params: WebhookParams, response: replies({ 200: Received, ...errorResponses('livemode_forbidden') }) }, config: { auth: 'none' } }, async (req) => {
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        return receiveWebhook(ctx, req.params.provider, req.params.project, raw, req.headers);
      });
  });

  const app = root.withTypeProvider<ZodTypeProvider>();
  app.get('/v1/events', { schema: { querystring: EventsQuery, response: replies({ 200: listOf(ProviderEvent) }) } }, async (req) => listEvents(ctx, callerOf(req).projectId, req.query));
  app.get('/v1/events/:id', { schema: { params: IdParams, response: replies({ 200: ProviderEvent }) } }, async (req) => getEvent(ctx, callerOf(req).projectId, req.params.id));
  app.post('/v1/events/:id/replay', { schema: { summary: 'Replay a provider event', params: IdParams, response: replies({ 200: ProviderEvent, ...errorResponses('conflict') }) } }, async (req) =>
    replayEvent(ctx, callerOf(req).projectId, req.params.id),
  );
}
