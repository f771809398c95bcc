import type { AppContext } from '../../app/context.ts';

const IDEMPOTENCY_TTL_MS = 48 * 3600 * 1000; // kept at least 24 h, as promised

/** Background: forgets idempotency keys older than the promised window, a thousand at a time. */
export async function purgeIdempotencyKeys(ctx: AppContext): Promise<number> {
  const r = await ctx.db.query(
    `DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT 1000)`,
    [new Date(ctx.clock.now().getTime() - IDEMPOTENCY_TTL_MS)],
  );
  return r.rowCount >= 1000 ? 1 : 0;
}
