import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { callerOf } from '../../http/auth.ts';
import type { AppContext } from '../../app/context.ts';
import { idempotencyOf, idempotent } from '../../http/idempotency.ts';
import { deductGrouped } from './credits.batch.ts';
import { type HoldOp, submitHoldOp } from './credits.holds-batch.ts';
import { z } from 'zod';
import { errorResponses, replies } from '../../http/openapi.ts';
import { CustomerParams, IdParams, ListQuery, listOf, Timestamp } from '../../http/schemas.ts';
import {
  balanceOf,
  CaptureSchema,
  creditsRequired,
  captureHold,
  createHold,
  deduct,
  GrantSchema,
  getHold,
  HoldSchema,
  history,
  manualGrant,
  releaseHold,
  SpendSchema,
  type SpendInput,
  TransferSchema,
  transfer,
} from './credits.service.ts';
import { getMember, listMembers, MemberBody, MemberIdSchema, putMember, removeMember } from './credits.members.ts';
import { AutoTopUpSchema, getAutoTopUp, maybeStartTopUp, putAutoTopUp } from './credits.topup.ts';

export const OrganizationMember = z.object({
  object: z.literal('organization_member'),
  organization_id: z.string(),
  member_id: z.string(),
  limit: z.object({ amount: z.number().int(), period: z.enum(['day', 'month']) }).nullable(),
  spent_this_period: z.number().int(),
  remaining_this_period: z.number().int().nullable(),
  period_start: Timestamp,
  created_at: Timestamp,
});
const MemberParams = CustomerParams.extend({ member: MemberIdSchema });

const Balance = z.object({ balance: z.number().int(), held: z.number().int(), available: z.number().int() });
export const CreditBalance = Balance.extend({ customer_id: z.string() });
export const DeductReply = Balance.extend({ deducted: z.number().int(), transaction_id: z.string() });
export const GrantReply = Balance.extend({ granted: z.number().int(), transaction_id: z.string(), duplicate: z.boolean() });
export const CreditTransaction = z.object({
  id: z.string(),
  object: z.literal('credit_transaction'),
  customer_id: z.string(),
  amount: z.number().int(),
  type: z.enum(['credit', 'debit']),
  kind: z.string(),
  reason: z.string().nullable(),
  balance_after: z.number().int(),
  /** The organisation member who spent it (team balances), else null. */
  member_id: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  expires_at: Timestamp.nullable(),
  created_at: Timestamp,
});
export const Hold = z.object({
  id: z.string(),
  object: z.literal('hold'),
  customer_id: z.string(),
  amount: z.number().int(),
  status: z.enum(['held', 'captured', 'released', 'expired']),
  captured_amount: z.number().int().nullable(),
  reason: z.string().nullable(),
  expires_at: Timestamp,
  created_at: Timestamp,
  closed_at: Timestamp.nullable(),
  balance: z.number().int().optional(),
  held: z.number().int().optional(),
  available: z.number().int().optional(),
});

const TopUp = z.object({
  id: z.string(),
  pack_id: z.string(),
  credits: z.number().int(),
  amount: z.number().int(),
  currency: z.string(),
  status: z.string(),
  failure_reason: z.string().nullable(),
  created_at: Timestamp,
});
export const AutoTopUp = z.object({
  object: z.literal('auto_top_up'),
  customer_id: z.string(),
  enabled: z.boolean(),
  threshold: z.number().int().nullable(),
  pack: z.string().nullable(),
  monthly_cap: z.number().int().nullable(),
  spent_this_month: z.number().int(),
  last_error: z.string().nullable(),
  disabled_at: Timestamp.nullable(),
});
const TransferSide = Balance.extend({ customer_id: z.string(), transaction_id: z.string() });
export const CreditTransfer = z.object({
  id: z.string(),
  object: z.literal('credit_transfer'),
  amount: z.number().int(),
  reason: z.string(),
  from: TransferSide,
  to: TransferSide,
  created_at: Timestamp,
});

/**
 * A deduct through this instance's group commit; what the batch cannot express takes `unbatched`.
 * Then, after the commit, the auto top-up check, unless the batch said the account has none to consider.
 */
async function groupedDeduct(
  ctx: AppContext,
  req: FastifyRequest,
  reply: FastifyReply,
  customerId: string,
  body: SpendInput,
  unbatched: () => Promise<unknown>,
): Promise<unknown> {
  const projectId = callerOf(req).projectId;
  const r = await deductGrouped(ctx, projectId, customerId, body, idempotencyOf(req));
  let out: unknown;
  if (r === 'unbatched') out = await unbatched();
  else if ('replayed' in r) {
    reply.header('idempotent-replayed', 'true');
    reply.code(r.status);
    out = r.replayed;
  } else {
    if (r.topUp !== false) await maybeStartTopUp(ctx, projectId, customerId);
    return r.result;
  }
  await maybeStartTopUp(ctx, projectId, customerId);
  return out;
}

type HoldOpOf<K> = K extends HoldOp['kind'] ? Omit<Extract<HoldOp, { kind: K }>, 'ctx' | 'projectId' | 'idempotency' | 'single'> : never;

/** A hold, capture or release through this instance's group commit (`single` is the one-at-a-time path, for a batch of one). */
async function groupedHoldOp(ctx: AppContext, req: FastifyRequest, reply: FastifyReply, op: HoldOpOf<HoldOp['kind']>, single: () => Promise<unknown>): Promise<unknown> {
  const r = await submitHoldOp({ ...op, ctx, projectId: callerOf(req).projectId, idempotency: idempotencyOf(req), single } as HoldOp);
  if ('direct' in r) return r.direct;
  if (r.replayed) reply.header('idempotent-replayed', 'true');
  reply.code(r.status);
  return r.body;
}

export function registerCreditsRoutes(root: FastifyInstance, ctx: AppContext): void {
  const app = root.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/v1/customers/:id/credits',
    { schema: { summary: 'Get a credit balance', params: CustomerParams, response: replies({ 200: CreditBalance }) }, config: { auth: 'customer' } },
    async (req) => balanceOf(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.get(
    '/v1/customers/:id/credits/transactions',
    {
      schema: {
        summary: 'List credit transactions',
        params: CustomerParams,
        querystring: ListQuery.extend({ member_id: z.string().max(255).optional().describe("Only the organisation member's spending") }),
        response: replies({ 200: listOf(CreditTransaction) }),
      },
      config: { auth: 'customer' },
    },
    async (req) =>
      history(ctx, ctx.db, callerOf(req).projectId, req.params.id, {
        limit: req.query.limit,
        startingAfter: req.query.starting_after,
        memberId: req.query.member_id,
      }),
  );

  app.post('/v1/customers/:id/credits/grant', { schema: { summary: 'Grant credits', params: CustomerParams, body: GrantSchema, response: replies({ 200: GrantReply }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await manualGrant(ctx, q, callerOf(req), req.params.id, req.body) })),
  );

  app.post('/v1/customers/:id/credits/deduct', {
      schema: {
        summary: 'Deduct credits',
        params: CustomerParams,
        body: SpendSchema,
        response: replies({ 200: DeductReply, ...errorResponses('insufficient_credits', 'member_limit_exceeded') }),
      },
    }, async (req, reply) => {
    const unbatched = () =>
      idempotent(ctx, req, reply, async (q) => ({ body: await deduct(ctx, q, callerOf(req).projectId, req.params.id, req.body) }), {
        atomic: false,
      });
    // A member's spend (its limit and the balance together) takes the unbatched path.
    if (ctx.config.groupCommit.enabled && req.body.member_id === undefined) return groupedDeduct(ctx, req, reply, req.params.id, req.body, unbatched);
    const out = await unbatched();
    // After the deduct committed: its own small step (one top-up per customer at a time).
    await maybeStartTopUp(ctx, callerOf(req).projectId, req.params.id);
    return out;
  });

  app.get('/v1/customers/:id/members', { schema: { summary: 'List organisation members', params: CustomerParams, response: replies({ 200: listOf(OrganizationMember) }) } }, async (req) =>
    listMembers(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );
  app.get('/v1/customers/:id/members/:member', { schema: { summary: 'Get an organisation member', params: MemberParams, response: replies({ 200: OrganizationMember }) } }, async (req) =>
    getMember(ctx, ctx.db, callerOf(req).projectId, req.params.id, req.params.member),
  );
  app.put(
    '/v1/customers/:id/members/:member',
    { schema: { summary: 'Add or update an organisation member', params: MemberParams, body: MemberBody, response: replies({ 200: OrganizationMember }) } },
    async (req, reply) => idempotent(ctx, req, reply, async (q) => ({ body: await putMember(ctx, q, callerOf(req).projectId, req.params.id, req.params.member, req.body ?? { limit: null }) })),
  );
  app.delete(
    '/v1/customers/:id/members/:member',
    { schema: { summary: 'Remove an organisation member', params: MemberParams, response: replies({ 200: OrganizationMember.extend({ deleted: z.literal(true) }) }) } },
    async (req, reply) => idempotent(ctx, req, reply, async (q) => ({ body: await removeMember(ctx, q, callerOf(req).projectId, req.params.id, req.params.member) })),
  );

  app.get(
    '/v1/customers/:id/credits/auto-top-up',
    { schema: { params: CustomerParams, response: replies({ 200: AutoTopUp.extend({ top_ups: z.array(TopUp) }) }) }, config: { auth: 'customer' } },
    async (req) => getAutoTopUp(ctx, ctx.db, callerOf(req).projectId, req.params.id),
  );

  app.put('/v1/customers/:id/credits/auto-top-up', { schema: { params: CustomerParams, body: AutoTopUpSchema, response: replies({ 200: AutoTopUp }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await putAutoTopUp(ctx, q, callerOf(req).projectId, req.params.id, req.body) })),
  );

  app.post('/v1/credits/transfer', { schema: { summary: 'Transfer credits between customers', body: TransferSchema, response: replies({ 200: CreditTransfer, ...errorResponses('insufficient_credits', 'customer_not_found') }) } }, async (req, reply) =>
    idempotent(ctx, req, reply, async (q) => ({ body: await transfer(ctx, q, callerOf(req).projectId, req.body) })),
  );

  app.post('/v1/customers/:id/credits/holds', {
      schema: {
        summary: 'Hold credits',
        params: CustomerParams,
        body: HoldSchema,
        response: replies({ 201: Hold, ...errorResponses('insufficient_credits') }),
      },
    }, async (req, reply) => {
    const single = () =>
      idempotent(ctx, req, reply, async (q) => ({
        status: 201,
        body: await createHold(ctx, q, callerOf(req).projectId, req.params.id, req.body),
      }));
    if (!ctx.config.groupCommit.enabled) return single();
    let amount: number;
    try {
      amount = (await creditsRequired(ctx, callerOf(req).projectId, req.body)).amount;
    } catch {
      return single(); // refused as the one-at-a-time path refuses it (or replayed, if its key says so)
    }
    const op = { kind: 'hold' as const, customerId: req.params.id, amount, reason: req.body.reason ?? null, expiresIn: req.body.expires_in };
    return groupedHoldOp(ctx, req, reply, op, single);
  });

  app.get('/v1/holds/:id', { schema: { summary: 'Get a hold', params: IdParams, response: replies({ 200: Hold }) } }, async (req) => getHold(ctx.db, callerOf(req).projectId, req.params.id));

  app.post('/v1/holds/:id/capture', {
      schema: { summary: 'Capture a hold', params: IdParams, body: CaptureSchema, response: replies({ 200: Hold, ...errorResponses('conflict', 'insufficient_credits') }) },
    }, async (req, reply) => {
    const single = () =>
      idempotent(ctx, req, reply, async (q) => ({
        body: await captureHold(ctx, q, callerOf(req).projectId, req.params.id, req.body?.amount),
      }));
    const out = (
      ctx.config.groupCommit.enabled
        ? await groupedHoldOp(ctx, req, reply, { kind: 'capture', holdId: req.params.id, amount: req.body?.amount }, single)
        : await single()
    ) as { customer_id?: string };
    // After the commit: its own small step (one top-up per customer at a time).
    if (out?.customer_id) await maybeStartTopUp(ctx, callerOf(req).projectId, out.customer_id);
    return out;
  });

  app.post('/v1/holds/:id/release', { schema: { summary: 'Release a hold', params: IdParams, response: replies({ 200: Hold, ...errorResponses('conflict') }) } }, async (req, reply) => {
    const single = () => idempotent(ctx, req, reply, async (q) => ({ body: await releaseHold(ctx, q, callerOf(req).projectId, req.params.id) }));
    if (!ctx.config.groupCommit.enabled) return single();
    return groupedHoldOp(ctx, req, reply, { kind: 'release', holdId: req.params.id }, single);
  });
}
