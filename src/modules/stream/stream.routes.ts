import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppContext } from '../../app/context.ts';
import { callerOf } from '../../http/auth.ts';
import { content, replies } from '../../http/openapi.ts';
import { CustomerParams, Timestamp } from '../../http/schemas.ts';
import { idempotent } from '../../http/idempotency.ts';
import { closeHub, customerSnapshot, openStream, parseCustomerFilter, parseLastEventId, releaseLease, takeLease } from './stream.service.ts';

const FeatureSnapshot = z.object({
  type: z.enum(['metered', 'allocated', 'boolean', 'value', 'credits']),
  granted: z.boolean(),
  limit: z.number().int().nullable().optional().describe('Counters: the limit of the plan (null: unlimited)'),
  usage: z.number().int().optional().describe('Counters: the count a check compares with the limit'),
  resets_at: Timestamp.nullable().optional().describe('Metered: when the count starts again (project time)'),
  value: z.unknown().optional(),
  credit_cost: z.object({ credits: z.number(), per: z.number(), rounding: z.enum(['up', 'down', 'nearest']) }).optional(),
});

const ApiKeySnapshot = z.object({
  id: z.string(),
  key_hash: z.string().describe('The SHA-256 of the key (hex): the SDK hashes a presented key and looks it up'),
  name: z.string().nullable(),
  scopes: z.array(z.string()),
  expires_at: Timestamp.nullable(),
  revoked_at: Timestamp.nullable(),
  rate_limit: z.object({ limit: z.number().int(), window_seconds: z.number().int() }).nullable(),
  remaining: z.number().int().nullable(),
  rolled_to: z.string().nullable(),
});

export const EntitlementSnapshot = z
  .object({
    object: z.literal('entitlement_snapshot'),
    customer_id: z.string(),
    known: z.boolean(),
    seq: z.number().int().describe('The version of these inputs: a snapshot with a lower seq is older'),
    now: Timestamp.describe("The project's time when it was read"),
    plan: z.string().nullable(),
    credits: z.object({ balance: z.number().int(), held: z.number().int(), available: z.number().int() }),
    features: z.record(z.string(), FeatureSnapshot),
    api_keys: z
      .object({ customer_deleted: z.boolean(), keys: z.array(ApiKeySnapshot) })
      .optional()
      .describe('Streams opened with `api_keys=true` only: the customer\'s API keys (docs/api-keys.md, verifying in-process)'),
  })
  .describe('Everything `POST /v1/check` decides on for one customer (docs/sdk-realtime.md)');

const StreamQuery = z
  .object({
    customers: z.string().max(300_000).optional().describe('Comma-separated customer ids (at most 1000): snapshots of these at connect, then their changes only'),
    last_event_id: z.string().max(20).optional().describe('Same as the Last-Event-ID header (for clients that cannot set headers)'),
    once: z.enum(['true', 'false']).optional().describe('true: send the initial messages and `ready`, then end'),
    api_keys: z
      .enum(['true', 'false'])
      .optional()
      .describe("true: snapshots carry the customers' API keys; without `customers`, a snapshot of every key holder at connect and after a reset"),
  })
  .strict();

const LeaseId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -, at most 64');
const StreamLease = z
  .object({
    object: z.literal('stream_lease'),
    id: LeaseId,
    expires_at: Timestamp.describe('When the lease lapses unless renewed (database clock)'),
    ttl_seconds: z.number().int(),
    renew_after_seconds: z.number().int().describe('Renew (POST with this id) after this long'),
  })
  .describe("While a project has a live lease its writes are logged for GET /v1/stream (docs/sdk-realtime.md)");
const LeaseBody = z.object({ id: LeaseId.optional().describe('Renew this lease (a lapsed one is revived); omit to take a new one') }).strict();
const LeaseDeleted = z.object({ object: z.literal('stream_lease'), id: z.string(), deleted: z.literal(true) });

export function registerStreamRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.post(
    '/v1/stream/leases',
    {
      schema: {
        summary: 'Take or renew a stream lease',
        description:
          "A project's changes are logged for GET /v1/stream only while it holds a live lease: take one before opening the stream, renew it every renew_after_seconds while open, release it on close. The SDK's EntitlementCache does all three.",
        body: LeaseBody,
        response: replies({ 200: StreamLease }),
      },
    },
    async (req, reply) => idempotent(ctx, req, reply, async (q) => ({ body: await takeLease(q, callerOf(req).projectId, req.body.id) }), { atomic: false }),
  );

  app.delete(
    '/v1/stream/leases/:id',
    { schema: { summary: 'Release a stream lease', params: z.object({ id: LeaseId }).strict(), response: replies({ 200: LeaseDeleted }) } },
    async (req, reply) => idempotent(ctx, req, reply, async (q) => ({ body: await releaseLease(q, callerOf(req).projectId, req.params.id) }), { atomic: false }),
  );

  app.addHook('preClose', async () => closeHub(ctx));

  app.get(
    '/v1/stream',
    {
      schema: {
        summary: 'Stream entitlement snapshots (Server-Sent Events)',
        description:
          'text/event-stream. Events: `snapshot` (data: an entitlement snapshot), `reset` (the catalog or the project clock changed: every cached snapshot is outdated), `ready` (the initial messages are sent); `: ping` every 15 s. Every event has an `id:`; reconnect with `Last-Event-ID` to receive what changed meanwhile.',
        querystring: StreamQuery,
        response: replies({ 200: content('Server-Sent Events: snapshot, reset and ready events, and pings', { 'text/event-stream': z.string() }) }),
      },
    },
    async (req, reply) => {
      const { projectId } = callerOf(req);
      const customers = parseCustomerFilter(req.query.customers);
      const header = req.headers['last-event-id'];
      const lastEventId = parseLastEventId(Array.isArray(header) ? header[0] : (header ?? req.query.last_event_id));
      const res = reply.raw;
      let headed = false;
      const sink = {
        write(chunk: string) {
          if (!headed) {
            // Taken over at the first message: a failure before it is an ordinary JSON error reply.
            headed = true;
            reply.hijack();
            res.writeHead(200, {
              'content-type': 'text/event-stream; charset=utf-8',
              'cache-control': 'no-cache, no-transform',
              connection: 'keep-alive',
              'x-accel-buffering': 'no',
            });
          }
          if (res.writableEnded) return;
          res.write(chunk);
          // A reader that stopped reading: drop it; it reconnects and resumes.
          if (res.writableLength > 8 * 1024 * 1024) res.destroy();
        },
        end() {
          if (!res.writableEnded) res.end();
        },
      };
      const stop = await openStream(ctx, { projectId, customers, lastEventId, once: req.query.once === 'true', apiKeys: req.query.api_keys === 'true' }, sink);
      if (res.destroyed) stop();
      else res.on('close', stop);
    },
  );

  app.get(
    '/v1/customers/:id/entitlements-snapshot',
    { schema: { summary: "Get a customer's entitlement snapshot", params: CustomerParams, response: replies({ 200: EntitlementSnapshot }) } },
    async (req) => customerSnapshot(ctx, callerOf(req).projectId, req.params.id),
  );
}
