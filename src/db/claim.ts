import type { Queryable } from './db.ts';

/**
 * "Now" on each row's project clock: the server time `$1` plus the project's test-clock offset
 * (needs `projects p` joined, which `projectClock: true` does).
 */
const PROJECT_NOW = `$1::timestamptz + (p.clock_offset_ms * interval '1 millisecond')`;

/** Which rows a background job claims: `$1` is now (server time), `$2` the batch size. */
export interface DueRows {
  /** The table and the alias the other parts use: `credit_grants` / `g`. */
  table: string;
  alias: string;
  /** What to return (default `<alias>.*`). */
  select?: string;
  /** Extra joins, e.g. the endpoint of a delivery. */
  join?: string;
  /** What else a row must satisfy to be claimed (its status). */
  where?: string;
  /** The column saying when a row falls due: due means `<= now`; the claim takes the oldest first. */
  dueAt?: string;
  /** Compare `dueAt` with the row's project clock (sandbox projects have a test clock). */
  projectClock?: boolean;
  /** Order of the claim (default: `dueAt`). */
  orderBy?: string;
}

/**
 * The one shape of "claim due rows": `SELECT … WHERE <due> ORDER BY … LIMIT $2 FOR UPDATE OF <alias>
 * SKIP LOCKED`. Rows another instance holds are skipped, not waited for, so several processes run the
 * same job without doing a row twice. Use it as a statement, or as the subquery of an UPDATE/DELETE
 * (`WHERE id IN (${claimDueSql(…)})`) to change the claimed rows in the same statement.
 */
export function claimDueSql(d: DueRows): string {
  const a = d.alias;
  const joins = [d.projectClock ? `JOIN projects p ON p.id = ${a}.project_id` : '', d.join ?? ''].filter(Boolean);
  const conditions = [d.where, d.dueAt ? `${a}.${d.dueAt} <= ${d.projectClock ? PROJECT_NOW : '$1'}` : ''].filter(Boolean);
  const order = d.orderBy ?? (d.dueAt ? `${a}.${d.dueAt}` : '');
  if (conditions.length === 0) throw new Error(`claimDueSql(${d.table}): a claim needs a condition`);
  return [
    `SELECT ${d.select ?? `${a}.*`} FROM ${d.table} ${a}`,
    ...joins,
    `WHERE ${conditions.join(' AND ')}`,
    order ? `ORDER BY ${order}` : '',
    `LIMIT $2 FOR UPDATE OF ${a} SKIP LOCKED`,
  ]
    .filter(Boolean)
    .join(' ');
}

/** Claims up to `limit` due rows (see `claimDueSql`); the caller's transaction holds them until it ends. */
export async function claimDue<T>(q: Queryable, d: DueRows, now: Date, limit: number): Promise<T[]> {
  return (await q.query<T>(claimDueSql(d), [now, limit])).rows;
}
