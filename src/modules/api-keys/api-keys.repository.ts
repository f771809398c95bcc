import type { Queryable } from '../../db/db.ts';

export interface CustomerApiKeyRow {
  project_id: string;
  id: string;
  customer_id: string;
  key_hash: string;
  preview: string;
  name: string | null;
  scopes: string[];
  expires_at: Date | null;
  rate_limit: number | null;
  rate_limit_window_seconds: number | null;
  remaining: number | null;
  auto_issued: boolean;
  rolled_to: string | null;
  created_at: Date;
  revoked_at: Date | null;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function row(r: CustomerApiKeyRow): CustomerApiKeyRow {
  return { ...r, remaining: num(r.remaining), rate_limit: num(r.rate_limit), rate_limit_window_seconds: num(r.rate_limit_window_seconds) };
}

/** Inserts a key; with `auto_issued` a second automatic key of the same customer is not inserted (undefined). */
export async function insertKey(q: Queryable, k: Omit<CustomerApiKeyRow, 'revoked_at' | 'rolled_to'>): Promise<CustomerApiKeyRow | undefined> {
  const r = await q.query<CustomerApiKeyRow>(
    `INSERT INTO customer_api_keys (project_id, id, customer_id, key_hash, preview, name, scopes, expires_at, rate_limit,
       rate_limit_window_seconds, remaining, auto_issued, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (project_id, customer_id) WHERE auto_issued DO NOTHING RETURNING *`,
    [
      k.project_id,
      k.id,
      k.customer_id,
      k.key_hash,
      k.preview,
      k.name,
      k.scopes,
      k.expires_at,
      k.rate_limit,
      k.rate_limit_window_seconds,
      k.remaining,
      k.auto_issued,
      k.created_at,
    ],
  );
  return r.rows[0] ? row(r.rows[0]) : undefined;
}

export async function listKeys(q: Queryable, projectId: string, customerId: string): Promise<CustomerApiKeyRow[]> {
  const r = await q.query<CustomerApiKeyRow>(
    'SELECT * FROM customer_api_keys WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at, id',
    [projectId, customerId],
  );
  return r.rows.map(row);
}

export async function lockKey(q: Queryable, projectId: string, id: string): Promise<CustomerApiKeyRow | undefined> {
  const r = await q.query<CustomerApiKeyRow>('SELECT * FROM customer_api_keys WHERE project_id = $1 AND id = $2 FOR UPDATE', [projectId, id]);
  return r.rows[0] ? row(r.rows[0]) : undefined;
}

export async function updateKey(
  q: Queryable,
  projectId: string,
  id: string,
  patch: { expires_at?: Date | null; rolled_to?: string; revoked_at?: Date },
): Promise<CustomerApiKeyRow> {
  const r = await q.query<CustomerApiKeyRow>(
    `UPDATE customer_api_keys SET
       expires_at = CASE WHEN $3::boolean THEN $4 ELSE expires_at END,
       rolled_to = COALESCE($5, rolled_to),
       revoked_at = COALESCE(revoked_at, $6)
     WHERE project_id = $1 AND id = $2 RETURNING *`,
    [projectId, id, patch.expires_at !== undefined, patch.expires_at ?? null, patch.rolled_to ?? null, patch.revoked_at ?? null],
  );
  return row(r.rows[0] as CustomerApiKeyRow);
}

/** The verify fast path: one lookup by (project_id, key_hash), with whether the customer was erased. */
export async function findByHash(q: Queryable, projectId: string, hash: string): Promise<(CustomerApiKeyRow & { customer_deleted_at: Date | null }) | undefined> {
  const r = await q.query<CustomerApiKeyRow & { customer_deleted_at: Date | null }>(
    `SELECT k.*, c.deleted_at AS customer_deleted_at FROM customer_api_keys k
     JOIN customers c ON c.project_id = k.project_id AND c.id = k.customer_id
     WHERE k.project_id = $1 AND k.key_hash = $2`,
    [projectId, hash],
  );
  const hit = r.rows[0];
  return hit ? { ...row(hit), customer_deleted_at: hit.customer_deleted_at } : undefined;
}

/** Takes one verification from a key with a budget; undefined when none is left. */
export async function takeRemaining(q: Queryable, projectId: string, id: string): Promise<number | undefined> {
  const r = await q.query<{ remaining: string | number }>(
    'UPDATE customer_api_keys SET remaining = remaining - 1 WHERE project_id = $1 AND id = $2 AND remaining > 0 RETURNING remaining',
    [projectId, id],
  );
  return r.rows[0] ? Number(r.rows[0].remaining) : undefined;
}

/** The newest key a rolled key was replaced by (following the rolls): it holds the shared budget and rate-limit window. */
export async function chainHead(q: Queryable, projectId: string, id: string): Promise<string> {
  const r = await q.query<{ id: string }>(
    `WITH RECURSIVE chain(id, rolled_to, depth) AS (
       SELECT id, rolled_to, 0 FROM customer_api_keys WHERE project_id = $1 AND id = $2
       UNION ALL
       SELECT k.id, k.rolled_to, c.depth + 1 FROM customer_api_keys k JOIN chain c ON k.project_id = $1 AND k.id = c.rolled_to
       WHERE c.depth < 20)
     SELECT id FROM chain ORDER BY depth DESC LIMIT 1`,
    [projectId, id],
  );
  return r.rows[0]?.id ?? id;
}

/**
 * Revokes a key in one statement (no transaction of its own, so one round trip): locks it, sets
 * `revoked_at` unless it is revoked already or its customer was erased, and writes the audit entry
 * when it did. Answers the key as it stands after, whether it was revoked now, and its customer's
 * standing (the caller refuses an erased customer's key); undefined for no such key.
 */
export async function revokeKey(
  q: Queryable,
  projectId: string,
  id: string,
  at: Date,
  audit: { id: string; actor: string; ip: string | null },
): Promise<{ key: CustomerApiKeyRow; revokedNow: boolean; customerFound: boolean; customerDeleted: boolean } | undefined> {
  const r = await q.query<CustomerApiKeyRow & { customer_found: boolean; customer_deleted: boolean; revoked_now: boolean }>(
    `WITH k AS (
       SELECT k.id, k.revoked_at, c.id IS NOT NULL AS customer_found, c.deleted_at IS NOT NULL AS customer_deleted
         FROM customer_api_keys k LEFT JOIN customers c ON c.project_id = k.project_id AND c.id = k.customer_id
        WHERE k.project_id = $1 AND k.id = $2 FOR UPDATE OF k
     ), u AS (
       UPDATE customer_api_keys t SET revoked_at = $3 FROM k
        WHERE t.project_id = $1 AND t.id = k.id AND k.revoked_at IS NULL AND k.customer_found AND NOT k.customer_deleted
       RETURNING t.*
     ), a AS (
       INSERT INTO audit_log (id, project_id, actor, action, customer_id, target, details, ip, created_at)
       SELECT $4, $1, $5, 'api_key.revoked', u.customer_id, u.id, '{}', $6, $3 FROM u
     )
     SELECT u.*, k.customer_found, k.customer_deleted, true AS revoked_now FROM u, k
     UNION ALL
     SELECT t.*, k.customer_found, k.customer_deleted, false FROM k JOIN customer_api_keys t ON t.project_id = $1 AND t.id = k.id
      WHERE NOT EXISTS (SELECT 1 FROM u)`,
    [projectId, id, at, audit.id, audit.actor, audit.ip],
  );
  const x = r.rows[0];
  if (!x) return undefined;
  const { customer_found, customer_deleted, revoked_now, ...key } = x;
  return { key: row(key), revokedNow: revoked_now, customerFound: customer_found, customerDeleted: customer_deleted };
}
