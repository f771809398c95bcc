import type { Queryable } from '../../db/db.ts';

// One row per bucket, reset in place when the window moves on: the table never grows beyond the
// number of keys and customers, and needs no clean-up job. Late increments of an older window are
// ignored. Buckets arrive sorted, so concurrent instances lock rows in the same order.
const ADD = `INSERT INTO rate_limit_counters AS c (bucket, window_start, count)
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[])
  ON CONFLICT (bucket) DO UPDATE SET
    count = CASE
      WHEN c.window_start = EXCLUDED.window_start THEN c.count + EXCLUDED.count
      WHEN c.window_start > EXCLUDED.window_start THEN c.count
      ELSE EXCLUDED.count END,
    window_start = GREATEST(c.window_start, EXCLUDED.window_start)
  RETURNING bucket, window_start, count`;

/** Adds counts to buckets' windows in one statement; returns each bucket's current window and count. */
export async function addCounts(
  q: Queryable,
  entries: { bucket: string; window: number; n: number }[],
): Promise<{ bucket: string; window_start: number; count: number }[]> {
  const r = await q.query<{ bucket: string; window_start: number; count: number }>(ADD, [
    entries.map((e) => e.bucket),
    entries.map((e) => e.window),
    entries.map((e) => e.n),
  ]);
  return r.rows.map((x) => ({ bucket: x.bucket, window_start: Number(x.window_start), count: Number(x.count) }));
}
