import type { Queryable } from '../../db/db.ts';

export interface AuditRow {
  seq: number;
  id: string;
  project_id: string;
  actor: string;
  action: string;
  customer_id: string | null;
  target: string | null;
  details: Record<string, unknown>;
  ip: string | null;
  created_at: Date;
}

/** Newest first; `startingAfter` is the id of the last entry of the previous page. */
export async function listAudit(
  q: Queryable,
  projectId: string,
  f: { customerId?: string; actor?: string; action?: string; startingAfter?: string; limit: number },
): Promise<AuditRow[]> {
  return (
    await q.query<AuditRow>(
      `SELECT * FROM audit_log WHERE project_id = $1
         AND ($2::text IS NULL OR customer_id = $2)
         AND ($3::text IS NULL OR actor = $3)
         AND ($4::text IS NULL OR action = $4 OR left(action, length($4) + 1) = $4 || '.')
         AND ($5::text IS NULL OR seq < (SELECT seq FROM audit_log WHERE project_id = $1 AND id = $5))
       ORDER BY seq DESC LIMIT $6`,
      [projectId, f.customerId ?? null, f.actor ?? null, f.action ?? null, f.startingAfter ?? null, f.limit + 1],
    )
  ).rows;
}
