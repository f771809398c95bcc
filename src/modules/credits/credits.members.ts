import { z } from 'zod';
import type { Queryable } from '../../db/db.ts';
import { AppError, NotFoundError } from '../../domain/errors.ts';
import type { AppContext } from '../../app/context.ts';
import { CustomerIdSchema, requireCustomer } from '../customers/customers.service.ts';
import { projectNow } from '../projects/projects.service.ts';
import * as repo from './members.repository.ts';

/**
 * Team balances: a customer can be an organisation whose members (the app's own user ids) spend
 * from its balance (`member_id` on a deduct), each within an optional limit per day or month.
 */
export const MemberBody = z
  .object({
    limit: z
      .object({
        amount: z.number().int().min(0).max(1_000_000_000_000),
        period: z.enum(['day', 'month']),
      })
      .strict()
      .nullable()
      .default(null),
  })
  .strict();

export const MemberIdSchema = CustomerIdSchema;

function periodStart(period: 'day' | 'month', at: Date): Date {
  return period === 'day'
    ? new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()))
    : new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

export function memberView(m: repo.MemberRow, at: Date) {
  const limited = m.spend_limit !== null && m.limit_period !== null;
  return {
    object: 'organization_member' as const,
    organization_id: m.organization_id,
    member_id: m.member_id,
    limit: limited ? { amount: m.spend_limit as number, period: m.limit_period as 'day' | 'month' } : null,
    spent_this_period: m.spent,
    remaining_this_period: limited ? Math.max(0, (m.spend_limit as number) - m.spent) : null,
    period_start: (limited ? periodStart(m.limit_period as 'day' | 'month', at) : periodStart('month', at)).toISOString(),
    created_at: m.created_at,
  };
}

async function requireMember(q: Queryable, projectId: string, organizationId: string, memberId: string, at: Date): Promise<repo.MemberRow> {
  const m = await repo.findMember(q, projectId, organizationId, memberId, at);
  if (!m) throw new NotFoundError('member', memberId);
  return m;
}

export async function putMember(ctx: AppContext, q: Queryable, projectId: string, organizationId: string, memberId: string, body: z.infer<typeof MemberBody>) {
  await requireCustomer(q, projectId, organizationId);
  const at = await projectNow(ctx, projectId);
  await repo.upsertMember(q, { projectId, organizationId, memberId, limit: body.limit?.amount ?? null, period: body.limit?.period ?? null, at });
  return memberView(await requireMember(q, projectId, organizationId, memberId, at), at);
}

export async function getMember(ctx: AppContext, q: Queryable, projectId: string, organizationId: string, memberId: string) {
  await requireCustomer(q, projectId, organizationId);
  const at = await projectNow(ctx, projectId);
  return memberView(await requireMember(q, projectId, organizationId, memberId, at), at);
}

export async function listMembers(ctx: AppContext, q: Queryable, projectId: string, organizationId: string) {
  await requireCustomer(q, projectId, organizationId);
  const at = await projectNow(ctx, projectId);
  return { object: 'list' as const, data: (await repo.listMembers(q, projectId, organizationId, at)).map((m) => memberView(m, at)), has_more: false };
}

export async function removeMember(ctx: AppContext, q: Queryable, projectId: string, organizationId: string, memberId: string) {
  const view = await getMember(ctx, q, projectId, organizationId, memberId);
  await repo.deleteMember(q, projectId, organizationId, memberId);
  return { ...view, deleted: true };
}

/**
 * Counts `amount` against the member's limit (if any) for the period of `at`, in the caller's transaction
 * (the spend it belongs to rolls it back if it fails): 404 for someone who is not a member, 402
 * `member_limit_exceeded` when the limit would be passed.
 */
export async function chargeMember(q: Queryable, projectId: string, organizationId: string, memberId: string, amount: number, at: Date): Promise<void> {
  const m = await requireMember(q, projectId, organizationId, memberId, at);
  // A member without a limit is counted per month too, so the members list says who spent what.
  const after = await repo.addMemberSpend(q, {
    projectId,
    organizationId,
    memberId,
    period: m.limit_period ?? 'month',
    at,
    amount,
    limit: m.spend_limit ?? Number.MAX_SAFE_INTEGER,
  });
  if (after === null) {
    const fresh = await requireMember(q, projectId, organizationId, memberId, at);
    throw new AppError('member_limit_exceeded', `Member ${memberId} may spend ${m.spend_limit} credits per ${m.limit_period}; ${fresh.spent} spent, ${amount} required`, {
      member_id: memberId,
      limit: m.spend_limit,
      period: m.limit_period,
      spent: fresh.spent,
      required: amount,
    });
  }
}
