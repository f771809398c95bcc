import { claimDueSql } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';

export interface CustomerSessionRow {
  id: string;
  project_id: string;
  customer_id: string;
  token_hash: string;
  created_by: string;
  created_at: Date;
  expires_at: Date;
}

export async function insertSession(
  q: Queryable,
  s: { id: string; projectId: string; customerId: string; tokenHash: string; createdBy: string; at: Date; expiresAt: Date },
): Promise<CustomerSessionRow> {
  const r = await q.query<CustomerSessionRow>(
    `INSERT INTO customer_sessions (id, project_id, customer_id, token_hash, created_by, created_at, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [s.id, s.projectId, s.customerId, s.tokenHash, s.createdBy, s.at, s.expiresAt],
  );
  return r.rows[0] as CustomerSessionRow;
}

export async function findSessionByHash(q: Queryable, tokenHash: string): Promise<CustomerSessionRow | undefined> {
  return (await q.query<CustomerSessionRow>('SELECT * FROM customer_sessions WHERE token_hash = $1', [tokenHash])).rows[0];
}

/** Sessions live an hour; old rows are swept by the background runner. */
export async function deleteExpired(q: Queryable, before: Date, limit: number): Promise<number> {
  const r = await q.query(
    `DELETE FROM customer_sessions WHERE id IN (${claimDueSql({ table: 'customer_sessions', alias: 'cs', select: 'cs.id', where: 'cs.expires_at < $1', orderBy: 'cs.expires_at' })})`,
    [before, limit],
  );
  return r.rowCount ?? 0;
}

/** Whether any project lists this origin (a preflight carries no credentials to name its project). */
export async function originAllowedAnywhere(q: Queryable, origin: string): Promise<boolean> {
  const r = await q.query('SELECT 1 FROM projects WHERE $1 = ANY(cors_origins) LIMIT 1', [origin]);
  return r.rows.length > 0;
}
