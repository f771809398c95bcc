import type { Queryable } from '../../db/db.ts';

// One row per bucket, reset in place when the window moves on: the table never grows beyond the
// number of keys and customers, and needs no clean-up job.
const UPSERT_ONE = `INSERT INTO rate_limit_counters AS c (bucket, window_start, count) VALUES ($1, $2, 1)
  ON CONFLICT (bucket) DO UPDATE SET
    count = CASE WHEN c.window_start = EXCLUDED.window_start THEN c.count + 1 ELSE 1 END,
    window_start = EXCLUDED.window_start
  RETURNING bucket, count`;
const UPSERT_TWO = `INSERT INTO rate_limit_counters AS c (bucket, window_start, count) VALUES ($1, $3, 1), ($2, $3, 1)
  ON CONFLICT (bucket) DO UPDATE SET
    count = CASE WHEN c.window_start = EXCLUDED.window_start THEN c.count + 1 ELSE 1 END,
    window_start = EXCLUDED.window_start
  RETURNING bucket, count`;

/** Counts one request in each bucket's current window (one statement); returns the new counts. */
export async function hit(q: Queryable, buckets: string[], window: number): Promise<Map<string, number>> {
  const r =
    buckets.length === 1
      ? await q.query<{ bucket: string; count: number }>(UPSERT_ONE, [buckets[0], window])
      : await q.query<{ bucket: string; count: number }>(UPSERT_TWO, [buckets[0], buckets[1], window]);
  return new Map(r.rows.map((x) => [x.bucket, Number(x.count)]));
}
