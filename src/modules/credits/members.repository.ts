import type { Queryable } from '../../db/db.ts';

export interface MemberRow {
  project_id: string;
  organization_id: string;
  member_id: string;
  spend_limit: number | null;
  limit_period: 'day' | 'month' | null;
  created_at: Date;
  updated_at: Date;
  /** Spent in the period that contains the read's time (joined). */
  spent: number;
}

const SELECT = `SELECT m.*, COALESCE(s.spent, 0)::bigint AS spent FROM organization_members m
  LEFT JOIN organization_member_spend s ON s.project_id = m.project_id AND s.organization_id = m.organization_id
    AND s.member_id = m.member_id AND s.period_start = date_trunc(COALESCE(m.limit_period, 'month'), $2::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`;

const num = (r: MemberRow): MemberRow => ({ ...r, spend_limit: r.spend_limit === null ? null : Number(r.spend_limit), spent: Number(r.spent) });

export async function upsertMember(
  q: Queryable,
  m: { projectId: string; organizationId: string; memberId: string; limit: number | null; period: 'day' | 'month' | null; at: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO organization_members (project_id, organization_id, member_id, spend_limit, limit_period, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6)
     ON CONFLICT (project_id, organization_id, member_id) DO UPDATE SET spend_limit = $4, limit_period = $5, updated_at = $6`,
    [m.projectId, m.organizationId, m.memberId, m.limit, m.period, m.at],
  );
}

export async function findMember(q: Queryable, projectId: string, organizationId: string, memberId: string, at: Date): Promise<MemberRow | undefined> {
  const r = await q.query<MemberRow>(`${SELECT} WHERE m.project_id = $1 AND m.organization_id = $3 AND m.member_id = $4`, [projectId, at, organizationId, memberId]);
  return r.rows[0] && num(r.rows[0]);
}

export async function listMembers(q: Queryable, projectId: string, organizationId: string, at: Date): Promise<MemberRow[]> {
  const r = await q.query<MemberRow>(`${SELECT} WHERE m.project_id = $1 AND m.organization_id = $3 ORDER BY m.created_at, m.member_id`, [projectId, at, organizationId]);
  return r.rows.map(num);
}

export async function deleteMember(q: Queryable, projectId: string, organizationId: string, memberId: string): Promise<boolean> {
  const r = await q.query('DELETE FROM organization_members WHERE project_id = $1 AND organization_id = $2 AND member_id = $3', [projectId, organizationId, memberId]);
  return (r.rowCount ?? 0) > 0;
}

/**
 * Adds `amount` to what the member spent in the period of `at`, only if that stays within `limit`
 * (one conditional upsert: concurrent spends of one member queue on its row). Returns what the
 * member has spent after, or null when the limit would be passed.
 */
export async function addMemberSpend(
  q: Queryable,
  s: { projectId: string; organizationId: string; memberId: string; period: 'day' | 'month'; at: Date; amount: number; limit: number },
): Promise<number | null> {
  const r = await q.query<{ spent: string }>(
    `INSERT INTO organization_member_spend (project_id, organization_id, member_id, period_start, spent)
     SELECT $1, $2, $3, date_trunc($4::text, $5::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', $6::bigint WHERE $6::bigint <= $7::bigint
     ON CONFLICT (project_id, organization_id, member_id, period_start)
       DO UPDATE SET spent = organization_member_spend.spent + EXCLUDED.spent WHERE organization_member_spend.spent + EXCLUDED.spent <= $7::bigint
     RETURNING spent`,
    [s.projectId, s.organizationId, s.memberId, s.period, s.at, s.amount, s.limit],
  );
  return r.rows[0] ? Number(r.rows[0].spent) : null;
}
