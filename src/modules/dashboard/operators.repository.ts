import { claimDueSql } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';

export interface OperatorRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: Date;
  last_login_at: Date | null;
}

export async function countOperators(q: Queryable): Promise<number> {
  return Number((await q.query<{ n: number }>('SELECT count(*)::int AS n FROM operators')).rows[0]?.n ?? 0);
}

export async function insertOperator(
  q: Queryable,
  o: { id: string; email: string; passwordHash: string; at: Date },
): Promise<OperatorRow | undefined> {
  const r = await q.query<OperatorRow>(
    `INSERT INTO operators (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING RETURNING *`,
    [o.id, o.email, o.passwordHash, o.at],
  );
  return r.rows[0];
}

export async function findOperatorByEmail(q: Queryable, email: string): Promise<OperatorRow | undefined> {
  return (await q.query<OperatorRow>('SELECT * FROM operators WHERE lower(email) = lower($1)', [email])).rows[0];
}

export async function touchLogin(q: Queryable, id: string, at: Date): Promise<void> {
  await q.query('UPDATE operators SET last_login_at = $2 WHERE id = $1', [id, at]);
}

export async function insertOperatorSession(q: Queryable, s: { tokenHash: string; operatorId: string; at: Date; expiresAt: Date }) {
  await q.query('INSERT INTO operator_sessions (token_hash, operator_id, created_at, expires_at) VALUES ($1, $2, $3, $4)', [
    s.tokenHash,
    s.operatorId,
    s.at,
    s.expiresAt,
  ]);
}

export async function findOperatorBySession(q: Queryable, tokenHash: string, now: Date): Promise<OperatorRow | undefined> {
  return (
    await q.query<OperatorRow>(
      `SELECT o.* FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
       WHERE s.token_hash = $1 AND s.expires_at > $2`,
      [tokenHash, now],
    )
  ).rows[0];
}

export async function deleteOperatorSession(q: Queryable, tokenHash: string): Promise<void> {
  await q.query('DELETE FROM operator_sessions WHERE token_hash = $1', [tokenHash]);
}

/** Deletes one batch of expired operator sessions; the runner calls again while there are more. */
export async function deleteExpiredOperatorSessions(q: Queryable, now: Date, limit: number): Promise<number> {
  const due = claimDueSql({ table: 'operator_sessions', alias: 'os', select: 'os.token_hash', where: 'os.expires_at < $1', orderBy: 'os.expires_at' });
  return (await q.query(`DELETE FROM operator_sessions WHERE token_hash IN (${due})`, [now, limit])).rowCount;
}

export async function insertSetupToken(q: Queryable, t: { tokenHash: string; at: Date; expiresAt: Date }): Promise<void> {
  await q.query('INSERT INTO operator_setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)', [
    t.tokenHash,
    t.at,
    t.expiresAt,
  ]);
}

/** Marks a setup token used; true only for the one caller that used a live, unused token. */
export async function useSetupToken(q: Queryable, tokenHash: string, now: Date): Promise<boolean> {
  const r = await q.query(
    'UPDATE operator_setup_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING 1',
    [tokenHash, now],
  );
  return r.rows.length === 1;
}
