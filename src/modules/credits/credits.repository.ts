import { claimDue, claimDueSql } from '../../db/claim.ts';
import type { Queryable } from '../../db/db.ts';

export interface AccountRow {
  balance: number;
  held: number;
  expiring_grants: number;
}

export interface LedgerRow {
  seq: number;
  id: string;
  customer_id: string;
  amount: number;
  balance_after: number;
  kind: string;
  reason: string | null;
  source_id: string | null;
  metadata: Record<string, unknown> | null;
  expires_at: Date | null;
  created_at: Date;
}

export interface HoldRow {
  id: string;
  project_id: string;
  customer_id: string;
  amount: number;
  status: 'held' | 'captured' | 'released' | 'expired';
  captured_amount: number | null;
  reason: string | null;
  expires_at: Date;
  created_at: Date;
  closed_at: Date | null;
}

export async function insertAccount(q: Queryable, projectId: string, customerId: string, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO credit_accounts (project_id, customer_id, updated_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
    [projectId, customerId, at],
  );
}

const ACCOUNT = 'SELECT balance, held, expiring_grants FROM credit_accounts WHERE project_id = $1 AND customer_id = $2';

export async function findAccount(q: Queryable, projectId: string, customerId: string): Promise<AccountRow | undefined> {
  return (await q.query<AccountRow>(ACCOUNT, [projectId, customerId])).rows[0];
}

export async function lockAccount(q: Queryable, projectId: string, customerId: string): Promise<AccountRow | undefined> {
  return (await q.query<AccountRow>(`${ACCOUNT} FOR UPDATE`, [projectId, customerId])).rows[0];
}

export interface FastDeductInput {
  projectId: string;
  customerId: string;
  amount: number;
  entryId: string;
  reason: string | null;
  metadata: Record<string, unknown> | null;
  at: Date;
  /** Emit credits.low_balance when the balance crosses this threshold. */
  lowBalanceThreshold: number | null;
  lowBalanceEventId: string;
  /** Emit credits.deducted (opt-in per project). */
  deductedEventId: string;
}

export interface FastDeductResult {
  balance_after: number | null;
  balance_before: number | null;
  held: number | null;
  expiring_grants: number | null;
}

/**
 * The hot path: one statement that spends credits if enough are available, appends the ledger
 * entry and the outbox events it causes. The row lock on the account serialises writers of one
 * customer; nothing else is touched. Accounts with expiring grants are left to the locked path.
 */
/**
 * Whether the project currently asks for `credits.deducted` events, read inside the caller's
 * transaction (not from a cache), so an endpoint created on another instance counts at once.
 */
export async function emitsDeducted(q: Queryable, projectId: string): Promise<boolean> {
  const r = await q.query<{ on: boolean | null }>(
    "SELECT (settings->>'emit_credits_deducted')::boolean AS on FROM projects WHERE id = $1",
    [projectId],
  );
  return r.rows[0]?.on === true;
}

/** The fast deduct; it reads the project's `emit_credits_deducted` setting in the same statement. */
export async function deductFast(q: Queryable, i: FastDeductInput): Promise<FastDeductResult> {
  const r = await q.query<FastDeductResult>(
    `WITH acct AS (
       SELECT balance, held, expiring_grants FROM credit_accounts WHERE project_id = $1 AND customer_id = $2
     ), upd AS (
       UPDATE credit_accounts SET balance = balance - $3, updated_at = $6
       WHERE project_id = $1 AND customer_id = $2 AND balance - held >= $3 AND expiring_grants = 0
       RETURNING balance
     ), ins AS (
       INSERT INTO ledger_entries (id, project_id, customer_id, amount, balance_after, kind, reason, metadata, created_at)
       SELECT $4, $1, $2, -$3::bigint, upd.balance, 'deduct', $5, $7::jsonb, $6 FROM upd
       RETURNING id
     ), low AS (
       INSERT INTO outbox_events (id, project_id, type, customer_id, payload, created_at)
       SELECT $9, $1, 'credits.low_balance', $2,
         jsonb_build_object('type', 'credits.low_balance', 'customer_id', $2::text,
           'data', jsonb_build_object('balance', upd.balance, 'threshold', $8::bigint)), $6
       FROM upd, acct WHERE $8::bigint IS NOT NULL AND acct.balance > $8::bigint AND upd.balance <= $8::bigint
     ), ded AS (
       INSERT INTO outbox_events (id, project_id, type, customer_id, payload, created_at)
       SELECT $10, $1, 'credits.deducted', $2,
         jsonb_build_object('type', 'credits.deducted', 'customer_id', $2::text,
           'data', jsonb_build_object('amount', $3::bigint, 'balance', upd.balance, 'transaction_id', $4::text, 'reason', $5::text)), $6
       FROM upd WHERE COALESCE((SELECT (settings->>'emit_credits_deducted')::boolean FROM projects WHERE id = $1), false)
     )
     SELECT (SELECT balance FROM upd) AS balance_after, (SELECT balance FROM acct) AS balance_before,
            (SELECT held FROM acct) AS held, (SELECT expiring_grants FROM acct) AS expiring_grants`,
    [
      i.projectId,
      i.customerId,
      i.amount,
      i.entryId,
      i.reason,
      i.at,
      i.metadata ? JSON.stringify(i.metadata) : null,
      i.lowBalanceThreshold,
      i.lowBalanceEventId,
      i.deductedEventId,
    ],
  );
  return r.rows[0] as FastDeductResult;
}

/** Moves the balance of a locked account and appends the entry (positive or negative amount). */
export async function applyEntry(
  q: Queryable,
  e: {
    projectId: string;
    customerId: string;
    id: string;
    amount: number;
    heldDelta?: number;
    kind: string;
    reason: string | null;
    sourceId?: string | null;
    metadata?: Record<string, unknown> | null;
    expiresAt?: Date | null;
    expiringDelta?: number;
    at: Date;
  },
): Promise<{ balance: number; held: number } | undefined> {
  const r = await q.query<{ balance: number; held: number }>(
    `WITH upd AS (
       UPDATE credit_accounts SET balance = balance + $4, held = held + $11, expiring_grants = expiring_grants + $12, updated_at = $10
       WHERE project_id = $1 AND customer_id = $2 RETURNING balance, held
     ), ins AS (
       INSERT INTO ledger_entries (id, project_id, customer_id, amount, balance_after, kind, reason, source_id, metadata, expires_at, created_at)
       SELECT $3, $1, $2, $4, upd.balance, $5, $6, $7, $8::jsonb, $9, $10 FROM upd WHERE $4 <> 0
     )
     SELECT balance, held FROM upd`,
    [
      e.projectId,
      e.customerId,
      e.id,
      e.amount,
      e.kind,
      e.reason,
      e.sourceId ?? null,
      e.metadata ? JSON.stringify(e.metadata) : null,
      e.expiresAt ?? null,
      e.at,
      e.heldDelta ?? 0,
      e.expiringDelta ?? 0,
    ],
  );
  return r.rows[0];
}

export async function findEntryBySource(
  q: Queryable,
  projectId: string,
  customerId: string,
  kind: string,
  sourceId: string,
): Promise<LedgerRow | undefined> {
  return (
    await q.query<LedgerRow>(
      'SELECT * FROM ledger_entries WHERE project_id = $1 AND customer_id = $2 AND kind = $3 AND source_id = $4',
      [projectId, customerId, kind, sourceId],
    )
  ).rows[0];
}

export async function listEntries(
  q: Queryable,
  projectId: string,
  customerId: string,
  opts: { limit: number; startingAfter?: string; memberId?: string },
): Promise<LedgerRow[]> {
  return (
    await q.query<LedgerRow>(
      `SELECT * FROM ledger_entries WHERE project_id = $1 AND customer_id = $2
         AND ($3::text IS NULL OR seq < (SELECT seq FROM ledger_entries WHERE project_id = $1 AND id = $3))
         AND ($5::text IS NULL OR metadata->>'member_id' = $5)
       ORDER BY seq DESC LIMIT $4`,
      [projectId, customerId, opts.startingAfter ?? null, opts.limit + 1, opts.memberId ?? null],
    )
  ).rows;
}

// Expiring grants -------------------------------------------------------------------------

export async function insertGrant(
  q: Queryable,
  g: {
    id: string;
    projectId: string;
    customerId: string;
    amount: number;
    expiresAt: Date;
    at: Date;
    reason?: string | null;
    carrySource?: string | null;
    carryCap?: number | null;
  },
): Promise<void> {
  await q.query(
    `INSERT INTO credit_grants (id, project_id, customer_id, amount, remaining, expires_at, created_at, reason, carry_source, carry_cap)
     VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9)`,
    [g.id, g.projectId, g.customerId, g.amount, g.expiresAt, g.at, g.reason ?? null, g.carrySource ?? null, g.carryCap ?? null],
  );
}

export interface DueGrantRow {
  id: string;
  project_id: string;
  customer_id: string;
  remaining: number;
  expires_at: Date;
  reason: string | null;
  carry_source: string | null;
  carry_cap: number | null;
}

export async function grantRemaining(q: Queryable, id: string): Promise<number | undefined> {
  const r = await q.query<{ remaining: number }>('SELECT remaining FROM credit_grants WHERE id = $1', [id]);
  return r.rows[0] ? Number(r.rows[0].remaining) : undefined;
}

/** The live grant of the same source expiring next after `after` (the next period's plan credits). */
export async function lockNextCarryGrant(
  q: Queryable,
  projectId: string,
  customerId: string,
  source: string,
  after: Date,
): Promise<string | undefined> {
  const r = await q.query<{ id: string }>(
    `SELECT id FROM credit_grants WHERE project_id = $1 AND customer_id = $2 AND carry_source = $3
       AND expired_at IS NULL AND expires_at > $4 ORDER BY expires_at LIMIT 1 FOR UPDATE`,
    [projectId, customerId, source, after],
  );
  return r.rows[0]?.id;
}

/** Credits carried over into a grant: already in the balance, now counted as part of this grant. */
export async function addToGrant(q: Queryable, id: string, amount: number): Promise<void> {
  await q.query('UPDATE credit_grants SET amount = amount + $2, remaining = remaining + $2 WHERE id = $1', [id, amount]);
}

/** Consumes live grants soonest-expiring first (account already locked). */
export async function consumeGrants(q: Queryable, projectId: string, customerId: string, amount: number): Promise<void> {
  await q.query(
    `WITH g AS (
       SELECT id, remaining, SUM(remaining) OVER (ORDER BY expires_at, id) - remaining AS before
       FROM credit_grants WHERE project_id = $1 AND customer_id = $2 AND expired_at IS NULL AND remaining > 0
     )
     UPDATE credit_grants cg SET remaining = cg.remaining - LEAST(g.remaining, $3 - g.before)
     FROM g WHERE cg.id = g.id AND g.before < $3`,
    [projectId, customerId, amount],
  );
}

export async function claimDueGrants(
  q: Queryable,
  now: Date,
  limit: number,
): Promise<DueGrantRow[]> {
  return claimDue(
    q,
    {
      table: 'credit_grants',
      alias: 'g',
      select: 'g.id, g.project_id, g.customer_id, g.remaining, g.expires_at, g.reason, g.carry_source, g.carry_cap',
      where: 'g.expired_at IS NULL',
      dueAt: 'expires_at',
      projectClock: true,
    },
    now,
    limit,
  );
}

export async function markGrantExpired(q: Queryable, id: string, at: Date): Promise<void> {
  await q.query('UPDATE credit_grants SET expired_at = $2, remaining = 0 WHERE id = $1', [id, at]);
}

// Holds ----------------------------------------------------------------------------------

/** Reserves credits if enough are available; returns null when they are not. */
export async function reserve(
  q: Queryable,
  projectId: string,
  customerId: string,
  amount: number,
  at: Date,
): Promise<AccountRow | null> {
  const r = await q.query<AccountRow>(
    `UPDATE credit_accounts SET held = held + $3, updated_at = $4
     WHERE project_id = $1 AND customer_id = $2 AND balance - held >= $3 RETURNING balance, held, expiring_grants`,
    [projectId, customerId, amount, at],
  );
  return r.rows[0] ?? null;
}

export async function insertHold(
  q: Queryable,
  h: { id: string; projectId: string; customerId: string; amount: number; reason: string | null; expiresAt: Date; at: Date },
): Promise<HoldRow> {
  const r = await q.query<HoldRow>(
    `INSERT INTO credit_holds (id, project_id, customer_id, amount, status, reason, expires_at, created_at)
     VALUES ($1, $2, $3, $4, 'held', $5, $6, $7) RETURNING *`,
    [h.id, h.projectId, h.customerId, h.amount, h.reason, h.expiresAt, h.at],
  );
  return r.rows[0] as HoldRow;
}

export async function lockHold(q: Queryable, projectId: string, id: string): Promise<HoldRow | undefined> {
  return (await q.query<HoldRow>('SELECT * FROM credit_holds WHERE project_id = $1 AND id = $2 FOR UPDATE', [projectId, id]))
    .rows[0];
}

export async function findHold(q: Queryable, projectId: string, id: string): Promise<HoldRow | undefined> {
  return (await q.query<HoldRow>('SELECT * FROM credit_holds WHERE project_id = $1 AND id = $2', [projectId, id])).rows[0];
}

export async function closeHold(
  q: Queryable,
  id: string,
  status: 'captured' | 'released' | 'expired',
  captured: number | null,
  at: Date,
): Promise<HoldRow> {
  const r = await q.query<HoldRow>(
    'UPDATE credit_holds SET status = $2, captured_amount = $3, closed_at = $4 WHERE id = $1 RETURNING *',
    [id, status, captured, at],
  );
  return r.rows[0] as HoldRow;
}

export async function claimDueHolds(q: Queryable, now: Date, limit: number): Promise<HoldRow[]> {
  return claimDue<HoldRow>(q, { table: 'credit_holds', alias: 'h', where: "h.status = 'held'", dueAt: 'expires_at', projectClock: true }, now, limit);
}

// Auto top-up ------------------------------------------------------------------------------

export interface AutoTopUpRow {
  enabled: boolean;
  threshold: number;
  pack_id: string;
  monthly_cap: number;
  month: string;
  spent: number;
  running: boolean;
  attempts: number;
  last_error: string | null;
  disabled_at: Date | null;
  updated_at: Date;
}

export async function findAutoTopUp(q: Queryable, projectId: string, customerId: string): Promise<AutoTopUpRow | undefined> {
  return (await q.query<AutoTopUpRow>('SELECT * FROM credit_auto_top_ups WHERE project_id = $1 AND customer_id = $2', [projectId, customerId]))
    .rows[0];
}

export async function upsertAutoTopUp(
  q: Queryable,
  s: { projectId: string; customerId: string; enabled: boolean; threshold: number; packId: string; monthlyCap: number; at: Date },
): Promise<AutoTopUpRow> {
  const r = await q.query<AutoTopUpRow>(
    `INSERT INTO credit_auto_top_ups (project_id, customer_id, enabled, threshold, pack_id, monthly_cap, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (project_id, customer_id) DO UPDATE SET enabled = $3, threshold = $4, pack_id = $5, monthly_cap = $6,
       updated_at = $7, last_error = CASE WHEN $3 THEN NULL ELSE credit_auto_top_ups.last_error END,
       disabled_at = CASE WHEN $3 THEN NULL ELSE credit_auto_top_ups.disabled_at END
     RETURNING *`,
    [s.projectId, s.customerId, s.enabled, s.threshold, s.packId, s.monthlyCap, s.at],
  );
  return r.rows[0] as AutoTopUpRow;
}

/**
 * The one claim of a top-up: a conditional UPDATE that succeeds for exactly one caller while the
 * customer's available balance is under the threshold, no top-up is running and this month's
 * charges plus this one stay within the cap (reserved here, given back if the charge fails).
 */
export async function claimAutoTopUp(
  q: Queryable,
  c: { projectId: string; customerId: string; price: number; month: string; at: Date },
): Promise<{ attempts: number; pack_id: string } | undefined> {
  const r = await q.query<{ attempts: number; pack_id: string }>(
    `UPDATE credit_auto_top_ups t SET running = true, attempts = t.attempts + 1, month = $4,
       spent = (CASE WHEN t.month = $4 THEN t.spent ELSE 0 END) + $3, updated_at = $5
     FROM credit_accounts a
     WHERE t.project_id = $1 AND t.customer_id = $2 AND a.project_id = $1 AND a.customer_id = $2
       AND t.enabled AND NOT t.running AND a.balance - a.held < t.threshold
       AND (CASE WHEN t.month = $4 THEN t.spent ELSE 0 END) + $3 <= t.monthly_cap
     RETURNING t.attempts, t.pack_id`,
    [c.projectId, c.customerId, c.price, c.month, c.at],
  );
  return r.rows[0];
}

export async function finishAutoTopUp(
  q: Queryable,
  f: { projectId: string; customerId: string; refund: number; disable: boolean; error: string | null; at: Date },
): Promise<void> {
  await q.query(
    `UPDATE credit_auto_top_ups SET running = false, spent = GREATEST(0, spent - $3), updated_at = $6,
       enabled = CASE WHEN $4 THEN false ELSE enabled END, last_error = COALESCE($5, last_error),
       disabled_at = CASE WHEN $4 THEN $6 ELSE disabled_at END
     WHERE project_id = $1 AND customer_id = $2`,
    [f.projectId, f.customerId, f.refund, f.disable, f.error, f.at],
  );
}

export interface TopUpRow {
  project_id: string;
  id: string;
  customer_id: string;
  pack_id: string;
  credits: number;
  amount: number;
  currency: string;
  idempotency_key: string;
}

export async function insertTopUp(
  q: Queryable,
  t: { projectId: string; id: string; customerId: string; packId: string; credits: number; amount: number; currency: string; key: string; at: Date; retryAt: Date },
): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO credit_top_ups (project_id, id, customer_id, pack_id, credits, amount, currency, status, idempotency_key, created_at, retry_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10) ON CONFLICT DO NOTHING RETURNING 1`,
    [t.projectId, t.id, t.customerId, t.packId, t.credits, t.amount, t.currency, t.key, t.at, t.retryAt],
  );
  return (r.rowCount ?? 0) > 0;
}

/**
 * Claims pending top-ups whose retry time has passed on their project's clock (their process died
 * between the claim and the outcome) and leases them for `leaseMs` more, so one instance retries each.
 */
export async function claimStuckTopUps(q: Queryable, now: Date, limit: number, leaseMs: number): Promise<TopUpRow[]> {
  const due = claimDueSql({ table: 'credit_top_ups', alias: 't', where: "t.status = 'pending'", dueAt: 'retry_at', projectClock: true, select: "t.project_id, t.id, $1::timestamptz + (p.clock_offset_ms * interval '1 millisecond') AS project_now" });
  const r = await q.query<TopUpRow>(
    `UPDATE credit_top_ups u SET retry_at = d.project_now + ($3 * interval '1 millisecond')
     FROM (${due}) d WHERE u.project_id = d.project_id AND u.id = d.id
     RETURNING u.project_id, u.id, u.customer_id, u.pack_id, u.credits::int AS credits, u.amount::int AS amount, u.currency, u.idempotency_key`,
    [now, limit, leaseMs],
  );
  return r.rows;
}

export async function settleTopUp(q: Queryable, projectId: string, id: string, status: 'succeeded' | 'failed', reason: string | null) {
  const r = await q.query(
    `UPDATE credit_top_ups SET status = $3, failure_reason = $4 WHERE project_id = $1 AND id = $2 AND status = 'pending' RETURNING 1`,
    [projectId, id, status, reason],
  );
  return (r.rowCount ?? 0) > 0;
}

export async function listTopUps(q: Queryable, projectId: string, customerId: string) {
  return (
    await q.query<{ id: string; pack_id: string; credits: number; amount: number; currency: string; status: string; failure_reason: string | null; created_at: Date }>(
      'SELECT id, pack_id, credits, amount, currency, status, failure_reason, created_at FROM credit_top_ups WHERE project_id = $1 AND customer_id = $2 ORDER BY created_at DESC, id DESC LIMIT 20',
      [projectId, customerId],
    )
  ).rows;
}

// Group commit of holds (credits.holds-batch.ts): each statement covers the whole batch ---------

/** Claims Idempotency-Keys (project, key, hash) in key order; returns the `project\0key` pairs claimed. */
export async function claimKeysMany(q: Queryable, keys: { projectId: string; key: string; hash: string }[], at: Date): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const r = await q.query<{ project_id: string; key: string }>(
    `INSERT INTO idempotency_keys (project_id, key, request_hash, created_at)
     SELECT k.p, k.k, k.h, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS k(p, k, h) ORDER BY k.p, k.k
     ON CONFLICT (project_id, key) DO NOTHING RETURNING project_id, key`,
    [keys.map((k) => k.projectId), keys.map((k) => k.key), keys.map((k) => k.hash), at],
  );
  return new Set(r.rows.map((x) => `${x.project_id}\u0000${x.key}`));
}

/** The stored state of keys not claimed, by `project\0key`. */
export async function storedKeys(
  q: Queryable,
  keys: { projectId: string; key: string }[],
): Promise<Map<string, { request_hash: string; status_code: number | null; response: unknown }>> {
  if (keys.length === 0) return new Map();
  const r = await q.query<{ project_id: string; key: string; request_hash: string; status_code: number | null; response: unknown }>(
    `SELECT ik.project_id, ik.key, ik.request_hash, ik.status_code, ik.response
     FROM idempotency_keys ik JOIN unnest($1::text[], $2::text[]) AS k(p, k) ON ik.project_id = k.p AND ik.key = k.k`,
    [keys.map((k) => k.projectId), keys.map((k) => k.key)],
  );
  return new Map(r.rows.map((x) => [`${x.project_id}\u0000${x.key}`, x]));
}

/** Locks holds (project, id), in id order. */
export async function lockHolds(q: Queryable, holds: { projectId: string; id: string }[]): Promise<HoldRow[]> {
  if (holds.length === 0) return [];
  return (
    await q.query<HoldRow>(
      `SELECT h.* FROM credit_holds h JOIN unnest($1::text[], $2::text[]) AS x(p, i) ON h.project_id = x.p AND h.id = x.i
       ORDER BY h.id FOR UPDATE OF h`,
      [holds.map((h) => h.projectId), holds.map((h) => h.id)],
    )
  ).rows;
}

/**
 * Locks accounts (project, customer), in (project, customer) byte order — the order the deduct
 * batch and the expiry job lock them in, so no two of them wait on each other crosswise; `live` says the customer
 * exists and is not deleted.
 */
export async function lockAccounts(
  q: Queryable,
  accounts: { projectId: string; customerId: string }[],
): Promise<(AccountRow & { project_id: string; customer_id: string; live: boolean })[]> {
  if (accounts.length === 0) return [];
  return (
    await q.query<AccountRow & { project_id: string; customer_id: string; live: boolean }>(
      `SELECT a.project_id, a.customer_id, a.balance, a.held, a.expiring_grants, (c.id IS NOT NULL AND c.deleted_at IS NULL) AS live
       FROM credit_accounts a JOIN unnest($1::text[], $2::text[]) AS x(p, c) ON a.project_id = x.p AND a.customer_id = x.c
       LEFT JOIN customers c ON c.project_id = a.project_id AND c.id = a.customer_id
       ORDER BY a.project_id COLLATE "C", a.customer_id COLLATE "C" FOR UPDATE OF a`,
      [accounts.map((a) => a.projectId), accounts.map((a) => a.customerId)],
    )
  ).rows;
}

export interface HoldBatchWrites {
  /** Each account changed: its balance and held after the batch (one update each). */
  accounts: { projectId: string; customerId: string; balance: number; held: number; at: Date }[];
  inserts: { id: string; projectId: string; customerId: string; amount: number; reason: string | null; expiresAt: Date; at: Date }[];
  closes: { id: string; status: 'captured' | 'released'; captured: number | null; at: Date }[];
  /** The capture entries, in arrival order. */
  entries: { id: string; projectId: string; customerId: string; amount: number; balanceAfter: number; reason: string; holdId: string; held: number; at: Date }[];
  /** Replies stored with the effect. */
  stored: { projectId: string; key: string; status: number; body: unknown }[];
  /** Claims of ops that did nothing, freed (as a rolled-back request leaves them). */
  freed: { projectId: string; key: string }[];
}

/** Every write of a holds batch in ONE statement: accounts, new holds, closed holds, entries, replies, freed keys. */
export async function writeHoldBatch(q: Queryable, w: HoldBatchWrites): Promise<void> {
  if (Object.values(w).every((l) => l.length === 0)) return;
  const col = <T, K extends keyof T>(rows: T[], k: K) => rows.map((r) => r[k]);
  await q.query(
    `WITH acc AS (
       UPDATE credit_accounts a SET balance = x.b, held = x.h, updated_at = x.u
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::timestamptz[]) AS x(p, c, b, h, u)
       WHERE a.project_id = x.p AND a.customer_id = x.c RETURNING 1
     ), ins AS (
       INSERT INTO credit_holds (id, project_id, customer_id, amount, status, reason, expires_at, created_at)
       SELECT x.i, x.p, x.c, x.a, 'held', x.r, x.e, x.t
       FROM unnest($6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::timestamptz[], $12::timestamptz[]) WITH ORDINALITY AS x(i, p, c, a, r, e, t, n)
       ORDER BY x.n RETURNING 1
     ), cls AS (
       UPDATE credit_holds h SET status = x.s, captured_amount = x.c, closed_at = x.t
       FROM unnest($13::text[], $14::text[], $15::bigint[], $16::timestamptz[]) AS x(i, s, c, t)
       WHERE h.id = x.i RETURNING 1
     ), led AS (
       INSERT INTO ledger_entries (id, project_id, customer_id, amount, balance_after, kind, reason, source_id, metadata, expires_at, created_at)
       SELECT x.i, x.p, x.c, x.a, x.b, 'capture', x.r, x.h, jsonb_build_object('hold_id', x.h, 'held', x.held), NULL, x.t
       FROM unnest($17::text[], $18::text[], $19::text[], $20::bigint[], $21::bigint[], $22::text[], $23::text[], $24::bigint[], $25::timestamptz[])
         WITH ORDINALITY AS x(i, p, c, a, b, r, h, held, t, n)
       ORDER BY x.n RETURNING 1
     ), st AS (
       UPDATE idempotency_keys ik SET status_code = x.s, response = x.r::jsonb
       FROM unnest($26::text[], $27::text[], $28::int[], $29::text[]) AS x(p, k, s, r)
       WHERE ik.project_id = x.p AND ik.key = x.k RETURNING 1
     ), fr AS (
       DELETE FROM idempotency_keys ik USING unnest($30::text[], $31::text[]) AS x(p, k)
       WHERE ik.project_id = x.p AND ik.key = x.k AND ik.status_code IS NULL RETURNING 1
     )
     SELECT (SELECT count(*) FROM acc) + (SELECT count(*) FROM ins) + (SELECT count(*) FROM cls)
          + (SELECT count(*) FROM led) + (SELECT count(*) FROM st) + (SELECT count(*) FROM fr) AS n`,
    [
      col(w.accounts, 'projectId'),
      col(w.accounts, 'customerId'),
      col(w.accounts, 'balance'),
      col(w.accounts, 'held'),
      col(w.accounts, 'at'),
      col(w.inserts, 'id'),
      col(w.inserts, 'projectId'),
      col(w.inserts, 'customerId'),
      col(w.inserts, 'amount'),
      col(w.inserts, 'reason'),
      col(w.inserts, 'expiresAt'),
      col(w.inserts, 'at'),
      col(w.closes, 'id'),
      col(w.closes, 'status'),
      col(w.closes, 'captured'),
      col(w.closes, 'at'),
      col(w.entries, 'id'),
      col(w.entries, 'projectId'),
      col(w.entries, 'customerId'),
      col(w.entries, 'amount'),
      col(w.entries, 'balanceAfter'),
      col(w.entries, 'reason'),
      col(w.entries, 'holdId'),
      col(w.entries, 'held'),
      col(w.entries, 'at'),
      col(w.stored, 'projectId'),
      col(w.stored, 'key'),
      col(w.stored, 'status'),
      w.stored.map((r) => JSON.stringify(r.body ?? null)),
      col(w.freed, 'projectId'),
      col(w.freed, 'key'),
    ],
  );
}
