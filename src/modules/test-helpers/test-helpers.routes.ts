import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponses, replies } from '../../http/openapi.ts';
import { CheckoutSession, Timestamp } from '../../http/schemas.ts';
import { ForbiddenError, InvalidRequestError, LivemodeForbiddenError } from '../../domain/errors.ts';
import { routeUrls } from '../../http/aliases.ts';
import { callerOf } from '../../http/auth.ts';
import { idempotent } from '../../http/idempotency.ts';
import type { AppContext } from '../../app/context.ts';
import { runDueJobs } from '../../jobs/runner.ts';
import { payCheckoutSession } from '../payments/sandbox-checkout.service.ts';
import { sessionView } from '../payments/checkout.service.ts';
import { addClockOffset } from '../projects/projects.repository.ts';
import { getProject, invalidateProject, projectNowUncached, projectTime } from '../projects/projects.service.ts';

const MAX_ADVANCE_S = 5 * 366 * 24 * 3600;

const AdvanceBody = z
  .object({
    seconds: z.number().int().min(1).max(MAX_ADVANCE_S).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
  })
  .strict()
  .refine((b) => (b.seconds === undefined) !== (b.to === undefined), { message: 'send exactly one of "seconds" or "to"', path: ['seconds'] });

async function requireSandbox(ctx: AppContext, projectId: string) {
  const project = await getProject(ctx, projectId);
  if (project.mode === 'live') {
    throw new LivemodeForbiddenError('Test helpers and the test clock exist in test mode only: use a test key (sk_test_…); live time is never moved');
  }
  if (project.default_provider !== 'sandbox') {
    throw new ForbiddenError('Test helpers are available only to projects on the sandbox provider');
  }
  return project;
}

/** `/v1/test-helpers/<path>`, and the older `/v1/test_helpers/<path>` kept as an alias. */
const helperUrls = (path: string) => routeUrls(`/v1/test-helpers${path}`, [`/v1/test_helpers${path}`], `/v1/test_helpers${path}`);

/** Like Stripe's test helpers: drive sandbox payments and time without a browser or waiting. */
export function registerTestHelperRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  for (const { url, config, deprecated } of helperUrls('/checkout/:session_id/pay')) {
    app.post(
      url,
      {
        config,
        schema: {
          deprecated,
          params: z.object({ session_id: z.string().min(1).max(64) }),
          body: z.object({ card: z.string().min(1).max(40).default('4242424242424242'), email: z.email().optional() }).strict(),
          response: replies({ 200: CheckoutSession, ...errorResponses('card_declined', 'conflict') }),
        },
      },
      async (req) => {
        const caller = callerOf(req);
        await requireSandbox(ctx, caller.projectId);
        const s = await payCheckoutSession(ctx, req.params.session_id, {
          card: req.body?.card ?? '4242424242424242',
          email: req.body?.email ?? null,
          projectId: caller.projectId,
        });
        return sessionView(s);
      },
    );
  }

  for (const { url, config, deprecated } of helperUrls('/clock/advance')) {
    app.post(url, {
        schema: {
          body: AdvanceBody,
          deprecated,
          response: replies({
            200: z.object({
              object: z.literal('test_clock'),
              now: Timestamp,
              advanced_seconds: z.number().int(),
              ran: z.record(z.string(), z.number().int()).describe('Background jobs that ran after the move: rows handled per job'),
            }),
          }),
        },
        config,
      }, async (req, reply) => {
      const caller = callerOf(req);
      await requireSandbox(ctx, caller.projectId);
      // The move is made once per Idempotency-Key: a retried advance replays the first answer.
      const moved = (await idempotent(ctx, req, reply, async (trx) => {
        const before = await projectNowUncached(ctx, caller.projectId);
        const ms = req.body.seconds !== undefined ? req.body.seconds * 1000 : new Date(req.body.to as string).getTime() - before.getTime();
        if (ms <= 0) {
          throw new InvalidRequestError('The clock only moves forward', req.body.to ? 'to' : 'seconds', { now: before.toISOString() });
        }
        if (ms > MAX_ADVANCE_S * 1000) throw new InvalidRequestError('Advance at most five years at a time', 'to');
        const row = await addClockOffset(trx, caller.projectId, ms);
        const now = projectTime(ctx, row ?? { clock_offset_ms: 0 });
        return { body: { object: 'test_clock' as const, now, advanced_seconds: Math.round(ms / 1000) } };
      })) as { object: 'test_clock'; now: Date | string; advanced_seconds: number };
      await invalidateProject(ctx, caller.projectId);
      // Due work runs after the commit, outside the transaction (it may call providers).
      const ran = await runDueJobs(ctx);
      return { ...moved, ran };
    });
  }
}
