import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { routeUrls } from '../../http/aliases.ts';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { z } from 'zod';
import { idempotent } from '../../http/idempotency.ts';
import { replies } from '../../http/openapi.ts';
import { Timestamp } from '../../http/schemas.ts';
import { CreateSessionBody, createCustomerSession } from './customer-sessions.service.ts';

const CustomerSession = z.object({
  id: z.string(),
  object: z.literal('customer_session'),
  customer_id: z.string(),
  token: z.string().describe('Sent by the browser as its bearer; shown once'),
  expires_at: Timestamp,
  urls: z.object({ pricing: z.string(), credits: z.string(), portal: z.string().describe('The hosted account page') }),
});

export function registerCustomerSessionRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  // `/v1/customer_sessions` is the older spelling, kept as an alias (and as the idempotency fingerprint's URL).
  for (const { url, config, deprecated } of routeUrls('/v1/customer-sessions', ['/v1/customer_sessions'], '/v1/customer_sessions')) {
    app.post(url, { schema: { body: CreateSessionBody, deprecated, response: replies({ 201: CustomerSession }) }, config }, async (req, reply) =>
      idempotent(ctx, req, reply, async (q) => ({
        status: 201,
        body: await createCustomerSession(ctx, q, callerOf(req), req.body.customer_id),
      })),
    );
  }
}
