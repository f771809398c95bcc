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
}

export async function readDecisionInputs(q: Queryable, projectId: string, customerIds: string[]): Promise<DecisionRow[]> {
  const r = await q.query<DecisionRow>(
    `SELECT ids.id AS customer_id,
            (c.id IS NOT NULL) AS known,
            v.seq,
            s.plan_id, s.current_period_start, s.current_period_end,
            a.balance, a.held,
            (SELECT json_agg(json_build_object('feature', u.feature, 'used', u.used, 'period_start', u.period_start))
               FROM usage_counters u WHERE u.project_id = $1 AND u.customer_id = ids.id) AS counters
     FROM unnest($2::text[]) AS ids(id)
     LEFT JOIN customers c ON c.project_id = $1 AND c.id = ids.id
     LEFT JOIN stream_versions v ON v.project_id = $1 AND v.customer_id = ids.id
     LEFT JOIN credit_accounts a ON a.project_id = $1 AND a.customer_id = ids.id
     LEFT JOIN LATERAL (
       SELECT plan_id, current_period_start, current_period_end FROM subscriptions
       WHERE project_id = $1 AND customer_id = ids.id AND status IN ('trialing', 'active', 'past_due') LIMIT 1
     ) s ON true`,
    [projectId, customerIds],
  );
  return r.rows;
}

export interface VersionRow {
  customer_id: string;
  seq: number;
}

/** Changes after `after` (by seq), oldest first; customer '' stands for every customer of the project. */
export async function changesSince(q: Queryable, projectId: string, after: number, limit: number): Promise<VersionRow[]> {
  return (
    await q.query<VersionRow>(
      'SELECT customer_id, seq FROM stream_versions WHERE project_id = $1 AND seq > $2 ORDER BY seq LIMIT $3',
      [projectId, after, limit],
    )
  ).rows;
}

/** The newest seq of the project (0 when nothing changed yet). */
export async function latestSeq(q: Queryable, projectId: string): Promise<number> {
  const r = await q.query<{ seq: number | null }>('SELECT max(seq) AS seq FROM stream_versions WHERE project_id = $1', [projectId]);
  return Number(r.rows[0]?.seq ?? 0);
}
