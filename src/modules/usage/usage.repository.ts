import { claimDueSql } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';

export interface UsageRead {
  known: boolean;
  plan_id: string | null;
  current_period_start: Date | null;
  used: number | null;
  period_start: Date | null;
}

/** One round trip: does the customer exist, its live plan and period, and its count for one feature. */
export async function readUsage(q: Queryable, projectId: string, customerId: string, feature: string): Promise<UsageRead> {
  const r = await q.query<UsageRead>(
    `SELECT EXISTS (SELECT 1 FROM customers WHERE project_id = $1 AND id = $2) AS known,
            s.plan_id, s.current_period_start, u.used, u.period_start
     FROM (SELECT 1) one
     LEFT JOIN LATERAL (
       SELECT plan_id, current_period_start FROM subscriptions
       WHERE project_id = $1 AND customer_id = $2 AND status IN ('trialing', 'active', 'past_due') LIMIT 1
     ) s ON true
     LEFT JOIN usage_counters u ON u.project_id = $1 AND u.customer_id = $2 AND u.feature = $3`,
    [projectId, customerId, feature],
  );
  return r.rows[0] as UsageRead;
}

export interface TrackInput {
  projectId: string;
  customerId: string;
  feature: string;
  quantity: number;
  /** Plan used when the customer has no live subscription. */
  freePlan: string | null;
  /** Metered counts belong to a period: the subscription's, else this one (null: never resets). */
  metered: boolean;
  fallbackPeriod: Date | null;
  /** Limits of this feature per plan; -1 = unlimited; a plan not listed does not include it. */
  plans: string[];
  limits: number[];
  at: Date;
}

export interface TrackResult {
  known: boolean;
  plan_id: string | null;
  lim: number | null;
  granted: boolean;
  used_after: number | null;
  used_before: number | null;
}

/**
 * The hot path of `POST /v1/track`, one statement: find the customer's plan and its limit, then
 * add to the count only if it stays within the limit. The upsert takes the counter's row lock and
 * re-checks the condition on the newest row, so parallel tracks can never pass the last unit
 * twice. A release (negative quantity) always applies and never goes below 0.
 */
export async function trackCounter(q: Queryable, t: TrackInput): Promise<TrackResult> {
  const r = await q.query<TrackResult>(
    `WITH cust AS (
       SELECT EXISTS (SELECT 1 FROM customers WHERE project_id = $1 AND id = $2) AS known
     ), sub AS (
       SELECT plan_id, current_period_start FROM subscriptions
       WHERE project_id = $1 AND customer_id = $2 AND status IN ('trialing', 'active', 'past_due') LIMIT 1
     ), ent AS (
       SELECT COALESCE((SELECT plan_id FROM sub), $5::text) AS plan_id,
              CASE WHEN $6::boolean THEN COALESCE((SELECT current_period_start FROM sub), $7::timestamptz) END AS ps
     ), pl AS (
       SELECT t.lim FROM ent JOIN unnest($8::text[], $9::bigint[]) AS t(plan, lim) ON t.plan = ent.plan_id
     ), up AS (
       INSERT INTO usage_counters AS u (project_id, customer_id, feature, used, period_start, lim, updated_at)
       SELECT $1, $2, $3, GREATEST($4::bigint, 0), ent.ps, NULLIF(pl.lim, -1), $10
       FROM cust, ent, pl
       WHERE cust.known AND ($4::bigint <= 0 OR pl.lim = -1 OR $4::bigint <= pl.lim)
       ON CONFLICT (project_id, customer_id, feature) DO UPDATE SET
         used = GREATEST(0, (CASE WHEN u.period_start IS NOT DISTINCT FROM EXCLUDED.period_start THEN u.used ELSE 0 END) + $4::bigint),
         period_start = EXCLUDED.period_start, lim = EXCLUDED.lim, updated_at = EXCLUDED.updated_at
       WHERE $4::bigint <= 0 OR EXCLUDED.lim IS NULL
          OR (CASE WHEN u.period_start IS NOT DISTINCT FROM EXCLUDED.period_start THEN u.used ELSE 0 END) + $4::bigint <= EXCLUDED.lim
       RETURNING u.used
     )
     SELECT (SELECT known FROM cust) AS known, (SELECT plan_id FROM ent) AS plan_id, (SELECT lim FROM pl) AS lim,
            EXISTS (SELECT 1 FROM pl) AS granted, (SELECT used FROM up) AS used_after,
            (SELECT CASE WHEN c.period_start IS NOT DISTINCT FROM ent.ps THEN c.used ELSE 0 END
               FROM usage_counters c, ent WHERE c.project_id = $1 AND c.customer_id = $2 AND c.feature = $3) AS used_before`,
    [t.projectId, t.customerId, t.feature, t.quantity, t.freePlan, t.metered, t.fallbackPeriod, t.plans, t.limits, t.at],
  );
  return r.rows[0] as TrackResult;
}

export async function listCounters(
  q: Queryable,
  projectId: string,
  customerId: string,
): Promise<{ feature: string; used: number; period_start: Date | null }[]> {
  return (
    await q.query<{ feature: string; used: number; period_start: Date | null }>(
      'SELECT feature, used, period_start FROM usage_counters WHERE project_id = $1 AND customer_id = $2',
      [projectId, customerId],
    )
  ).rows;
}

export interface BatchEventRow {
  event_id: string;
  customer_id: string;
  feature: string;
  quantity: number;
  occurred_at: Date | null;
}

/** Claims event ids: returns those not recorded before (a twin batch waits here for the first to commit). */
export async function claimEvents(q: Queryable, projectId: string, events: BatchEventRow[], at: Date): Promise<Set<string>> {
  const r = await q.query<{ event_id: string }>(
    `INSERT INTO usage_events (project_id, event_id, customer_id, feature, quantity, occurred_at, recorded_at)
     SELECT $1, e.event_id, e.customer_id, e.feature, e.quantity, e.occurred_at, $7
     FROM unnest($2::text[], $3::text[], $4::text[], $5::numeric[], $6::timestamptz[]) AS e(event_id, customer_id, feature, quantity, occurred_at)
     ON CONFLICT (project_id, event_id) DO NOTHING RETURNING event_id`,
    [
      projectId,
      events.map((e) => e.event_id),
      events.map((e) => e.customer_id),
      events.map((e) => e.feature),
      events.map((e) => e.quantity),
      events.map((e) => e.occurred_at),
      at,
    ],
  );
  return new Set(r.rows.map((x) => x.event_id));
}

/** Frees the ids of events that were not applied, so a resend tries them again. */
export async function unclaimEvents(q: Queryable, projectId: string, eventIds: string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await q.query('DELETE FROM usage_events WHERE project_id = $1 AND event_id = ANY($2::text[])', [projectId, eventIds]);
}

export async function knownCustomers(q: Queryable, projectId: string, ids: string[]): Promise<Set<string>> {
  const r = await q.query<{ id: string }>('SELECT id FROM customers WHERE project_id = $1 AND id = ANY($2::text[])', [projectId, ids]);
  return new Set(r.rows.map((x) => x.id));
}

/** The live subscription (plan and period) of each customer that has one. */
export async function liveSubscriptions(
  q: Queryable,
  projectId: string,
  ids: string[],
): Promise<Map<string, { plan_id: string; current_period_start: Date }>> {
  const r = await q.query<{ customer_id: string; plan_id: string; current_period_start: Date }>(
    `SELECT DISTINCT ON (customer_id) customer_id, plan_id, current_period_start FROM subscriptions
     WHERE project_id = $1 AND customer_id = ANY($2::text[]) AND status IN ('trialing', 'active', 'past_due')
     ORDER BY customer_id`,
    [projectId, ids],
  );
  return new Map(r.rows.map((x) => [x.customer_id, x]));
}

export interface CounterKey {
  customer_id: string;
  feature: string;
  period_start: Date | null;
  lim: number | null;
}

/**
 * Locks the counters of the given (customer, feature) pairs, creating absent ones at 0 first, so a
 * concurrent `POST /v1/track` waits for this transaction and the limit decisions here hold.
 */
export async function lockCounters(
  q: Queryable,
  projectId: string,
  keys: CounterKey[],
  at: Date,
): Promise<{ customer_id: string; feature: string; used: number; period_start: Date | null }[]> {
  const customers = keys.map((k) => k.customer_id);
  const features = keys.map((k) => k.feature);
  await q.query(
    `INSERT INTO usage_counters (project_id, customer_id, feature, used, period_start, lim, updated_at)
     SELECT $1, k.customer_id, k.feature, 0, k.period_start, k.lim, $6
     FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::bigint[]) AS k(customer_id, feature, period_start, lim)
     ON CONFLICT (project_id, customer_id, feature) DO NOTHING`,
    [projectId, customers, features, keys.map((k) => k.period_start), keys.map((k) => k.lim), at],
  );
  return (
    await q.query<{ customer_id: string; feature: string; used: number; period_start: Date | null }>(
      `SELECT u.customer_id, u.feature, u.used, u.period_start FROM usage_counters u
       JOIN unnest($2::text[], $3::text[]) AS k(customer_id, feature) ON u.customer_id = k.customer_id AND u.feature = k.feature
       WHERE u.project_id = $1
       ORDER BY u.customer_id, u.feature
       FOR UPDATE OF u`,
      [projectId, customers, features],
    )
  ).rows;
}

/** Writes the new counts of several counters in one statement. */
export async function writeCounters(
  q: Queryable,
  projectId: string,
  rows: { customer_id: string; feature: string; used: number; period_start: Date | null; lim: number | null }[],
  at: Date,
): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `UPDATE usage_counters u SET used = k.used, period_start = k.period_start, lim = k.lim, updated_at = $7
     FROM unnest($2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::bigint[]) AS k(customer_id, feature, used, period_start, lim)
     WHERE u.project_id = $1 AND u.customer_id = k.customer_id AND u.feature = k.feature`,
    [
      projectId,
      rows.map((r) => r.customer_id),
      rows.map((r) => r.feature),
      rows.map((r) => r.used),
      rows.map((r) => r.period_start),
      rows.map((r) => r.lim),
      at,
    ],
  );
}

/** Deletes up to `limit` events recorded before `before` (on each project's clock); returns how many. */
export async function purgeEvents(q: Queryable, before: Date, limit: number): Promise<number> {
  const due = claimDueSql({ table: 'usage_events', alias: 'e', select: 'e.project_id, e.event_id', dueAt: 'recorded_at', projectClock: true });
  const r = await q.query(`DELETE FROM usage_events WHERE (project_id, event_id) IN (${due})`, [before, limit]);
  return r.rowCount;
}

/** For a batch of tracks: which customers exist, and each one's live plan and period, in one statement. */
export async function trackInputs(
  q: Queryable,
  projectId: string,
  ids: string[],
): Promise<Map<string, { known: boolean; plan_id: string | null; current_period_start: Date | null }>> {
  const r = await q.query<{ id: string; known: boolean; plan_id: string | null; current_period_start: Date | null }>(
    `SELECT ids.id, (c.id IS NOT NULL) AS known, s.plan_id, s.current_period_start
     FROM unnest($2::text[]) AS ids(id)
     LEFT JOIN customers c ON c.project_id = $1 AND c.id = ids.id
     LEFT JOIN LATERAL (
       SELECT plan_id, current_period_start FROM subscriptions
       WHERE project_id = $1 AND customer_id = ids.id AND status IN ('trialing', 'active', 'past_due') LIMIT 1
     ) s ON true`,
    [projectId, ids],
  );
  return new Map(r.rows.map((x) => [x.id, x]));
}

/**
 * Claims Idempotency-Keys (sorted, so two batches take them in the same order); returns those
 * claimed. A key held by another open transaction waits here until it commits or rolls back.
 */
export async function claimKeys(q: Queryable, projectId: string, keys: { key: string; hash: string }[], at: Date): Promise<Set<string>> {
  const sorted = [...keys].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const r = await q.query<{ key: string }>(
    `INSERT INTO idempotency_keys (project_id, key, request_hash, created_at)
     SELECT $1, k.key, k.hash, $4 FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS k(key, hash, n) ORDER BY k.n
     ON CONFLICT (project_id, key) DO NOTHING RETURNING key`,
    [projectId, sorted.map((k) => k.key), sorted.map((k) => k.hash), at],
  );
  return new Set(r.rows.map((x) => x.key));
}

export async function priorReplies(
  q: Queryable,
  projectId: string,
  keys: string[],
): Promise<Map<string, { request_hash: string; status_code: number | null; response: unknown }>> {
  const r = await q.query<{ key: string; request_hash: string; status_code: number | null; response: unknown }>(
    'SELECT key, request_hash, status_code, response FROM idempotency_keys WHERE project_id = $1 AND key = ANY($2::text[])',
    [projectId, keys],
  );
  return new Map(r.rows.map((x) => [x.key, x]));
}

/** Stores the replies of claimed keys (status 200), in one statement. */
export async function storeReplies(q: Queryable, projectId: string, replies: Record<string, unknown>): Promise<void> {
  if (Object.keys(replies).length === 0) return;
  await q.query(
    `UPDATE idempotency_keys k SET status_code = 200, response = e.value
     FROM jsonb_each($2::jsonb) AS e(key, value) WHERE k.project_id = $1 AND k.key = e.key`,
    [projectId, JSON.stringify(replies)],
  );
}

/** readUsage for many (customer, feature) pairs in one statement, in the order given. */
export async function readUsages(q: Queryable, projectId: string, pairs: { customer: string; feature: string }[]): Promise<UsageRead[]> {
  const r = await q.query<UsageRead & { n: number }>(
    `SELECT ids.n, (c.id IS NOT NULL) AS known, s.plan_id, s.current_period_start, u.used, u.period_start
     FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS ids(customer, feature, n)
     LEFT JOIN customers c ON c.project_id = $1 AND c.id = ids.customer
     LEFT JOIN LATERAL (
       SELECT plan_id, current_period_start FROM subscriptions
       WHERE project_id = $1 AND customer_id = ids.customer AND status IN ('trialing', 'active', 'past_due') LIMIT 1
     ) s ON true
     LEFT JOIN usage_counters u ON u.project_id = $1 AND u.customer_id = ids.customer AND u.feature = ids.feature
     ORDER BY ids.n`,
    [projectId, pairs.map((p) => p.customer), pairs.map((p) => p.feature)],
  );
  return r.rows;
}
