import { claimDueSql } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';

/** What a decision needs for a set of customers, read in one statement (a consistent snapshot). */
export interface DecisionRow {
  customer_id: string;
  known: boolean;
  seq: number | null;
  plan_id: string | null;
  current_period_start: Date | null;
  current_period_end: Date | null;
  balance: number | null;
  held: number | null;
  counters: { feature: string; used: number; period_start: string | null }[] | null;
  /** With `withKeys` only: when the customer was erased, and its API keys (as JSON). */
  deleted_at?: Date | string | null;
  api_keys?: ApiKeyInput[] | null;
}

/** A customer API key as the stream carries it (no secret: the SHA-256 the verify looks up). */
export interface ApiKeyInput {
  id: string;
  key_hash: string;
  name: string | null;
  scopes: string[];
  expires_at: string | null;
  revoked_at: string | null;
  rate_limit: number | null;
  rate_limit_window_seconds: number | null;
  remaining: number | string | null;
  rolled_to: string | null;
}

/**
 * Reads a decision's inputs in one statement; `withKeys` adds the customer's API keys and erasure
 * in the same statement, so a snapshot's keys are exactly as new as its seq.
 */
export async function readDecisionInputs(q: Queryable, projectId: string, customerIds: string[], withKeys = false): Promise<DecisionRow[]> {
  const r = await q.query<DecisionRow>(
    `SELECT ids.id AS customer_id,
            (c.id IS NOT NULL) AS known,
            GREATEST((SELECT max(x.seq) FROM stream_changes x WHERE x.project_id = $1 AND x.customer_id = ids.id),
                     (SELECT h.pruned_to FROM stream_horizons h WHERE h.project_id = $1)) AS seq,
            s.plan_id, s.current_period_start, s.current_period_end,
            a.balance, a.held,
            (SELECT json_agg(json_build_object('feature', u.feature, 'used', u.used, 'period_start', u.period_start))
               FROM usage_counters u WHERE u.project_id = $1 AND u.customer_id = ids.id) AS counters${
               withKeys
                 ? `,
            c.deleted_at,
            (SELECT json_agg(json_build_object('id', k.id, 'key_hash', k.key_hash, 'name', k.name, 'scopes', k.scopes,
                       'expires_at', k.expires_at, 'revoked_at', k.revoked_at, 'rate_limit', k.rate_limit,
                       'rate_limit_window_seconds', k.rate_limit_window_seconds, 'remaining', k.remaining, 'rolled_to', k.rolled_to)
                       ORDER BY k.created_at, k.id)
               FROM customer_api_keys k WHERE k.project_id = $1 AND k.customer_id = ids.id) AS api_keys`
                 : ''
             }
     FROM unnest($2::text[]) AS ids(id)
     LEFT JOIN customers c ON c.project_id = $1 AND c.id = ids.id
     LEFT JOIN credit_accounts a ON a.project_id = $1 AND a.customer_id = ids.id
     LEFT JOIN LATERAL (
       SELECT plan_id, current_period_start, current_period_end FROM subscriptions
       WHERE project_id = $1 AND customer_id = ids.id AND status IN ('trialing', 'active', 'past_due') LIMIT 1
     ) s ON true`,
    [projectId, customerIds],
  );
  return r.rows;
}

/** The customers of a project holding at least one API key (any status), by id, a page at a time. */
export async function keyHolders(q: Queryable, projectId: string, after: string, limit: number): Promise<string[]> {
  const r = await q.query<{ customer_id: string }>(
    'SELECT DISTINCT customer_id FROM customer_api_keys WHERE project_id = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3',
    [projectId, after, limit],
  );
  return r.rows.map((x) => x.customer_id);
}

export interface ChangeRow {
  customer_id: string;
  seq: number;
}

/** Changes after `after` (by seq), oldest first; customer '' stands for every customer of the project. */
export async function changesSince(q: Queryable, projectId: string, after: number, limit: number): Promise<ChangeRow[]> {
  return (
    await q.query<ChangeRow>('SELECT customer_id, seq FROM stream_changes WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [
      projectId,
      after,
      limit,
    ])
  ).rows;
}

/** The newest seq of the project and the seq up to which its log was pruned (0 when none). */
export async function cursorOf(q: Queryable, projectId: string): Promise<{ latest: number; pruned: number }> {
  const r = await q.query<{ latest: number | null; pruned: number | null }>(
    `SELECT GREATEST((SELECT max(seq) FROM stream_changes WHERE project_id = $1), h.pruned_to) AS latest, h.pruned_to AS pruned
     FROM (SELECT 1) one LEFT JOIN stream_horizons h ON h.project_id = $1`,
    [projectId],
  );
  return { latest: Number(r.rows[0]?.latest ?? 0), pruned: Number(r.rows[0]?.pruned ?? 0) };
}

/** Deletes up to `limit` log rows older than `before`, recording per project up to where it pruned. */
export async function pruneChanges(q: Queryable, before: Date, limit: number): Promise<number> {
  const due = claimDueSql({ table: 'stream_changes', alias: 'c', select: 'c.project_id, c.seq', dueAt: 'changed_at', orderBy: 'c.changed_at' });
  const r = await q.query<{ n: number }>(
    `WITH gone AS (DELETE FROM stream_changes WHERE (project_id, seq) IN (${due}) RETURNING project_id, seq),
     marked AS (
       INSERT INTO stream_horizons AS h (project_id, pruned_to) SELECT project_id, max(seq) FROM gone GROUP BY project_id
       ON CONFLICT (project_id) DO UPDATE SET pruned_to = GREATEST(h.pruned_to, EXCLUDED.pruned_to)
     )
     SELECT count(*)::int AS n FROM gone`,
    [before, limit],
  );
  return Number(r.rows[0]?.n ?? 0);
}

/** Takes or renews a stream lease: it lives `ttlSeconds` from now on the database clock. */
export async function upsertLease(q: Queryable, projectId: string, id: string, ttlSeconds: number): Promise<{ id: string; expires_at: Date }> {
  const r = await q.query<{ id: string; expires_at: Date }>(
    `INSERT INTO stream_leases AS l (project_id, id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
     ON CONFLICT (project_id, id) DO UPDATE SET expires_at = EXCLUDED.expires_at
     RETURNING id, expires_at`,
    [projectId, id, ttlSeconds],
  );
  return r.rows[0] as { id: string; expires_at: Date };
}

/** Ends a lease; false when there was none. */
export async function deleteLease(q: Queryable, projectId: string, id: string): Promise<boolean> {
  const r = await q.query('DELETE FROM stream_leases WHERE project_id = $1 AND id = $2', [projectId, id]);
  return r.rowCount > 0;
}

/** Whether the project has a live lease (its writes are logged for the stream). */
export async function hasLiveLease(q: Queryable, projectId: string): Promise<boolean> {
  const r = await q.query<{ live: boolean }>('SELECT EXISTS (SELECT 1 FROM stream_leases WHERE project_id = $1 AND expires_at > now()) AS live', [
    projectId,
  ]);
  return r.rows[0]?.live === true;
}

/** Forgets leases that lapsed over an hour ago. */
export async function pruneLeases(q: Queryable): Promise<number> {
  const r = await q.query("DELETE FROM stream_leases WHERE expires_at < now() - interval '1 hour'");
  return r.rowCount;
}
